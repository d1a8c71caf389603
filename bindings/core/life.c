/*
 * core/life.c — holds, releases and the one free path (see life.h).
 */
#include "bindings/core/life.h"

#include <assert.h>
#include <stddef.h>

#include "bindings/core/host.h"

void xcs_life_init(xcs_life *l, xcs_host *h, void (*free)(xcs_life *)) {
  l->holds = 1;
  l->host = h;
  l->free = free;
  xcs_list_init(&l->link);
}

void xcs_hold(xcs_life *l) {
  assert(l->holds > 0); /* a struct on its way to free is not held again */
  l->holds++;
}

void xcs_release(xcs_life *l) {
  assert(l->holds > 0);
  if (--l->holds > 0) return;
  if (l->host == NULL) {
    l->free(l);
    return;
  }
  xcs_list_push(&l->host->freeing, &l->link);
  xcs_host_poke(l->host);
}

static void closed_cb(uv_handle_t *uvh) { xcs_release(uvh->data); }

void xcs_life_uv_close(xcs_life *l, uv_handle_t *uvh) {
  xcs_hold(l);
  uvh->data = l;
  uv_close(uvh, closed_cb);
}

int xcs_life_sweep(xcs_host *h) {
  int any = 0;
  xcs_list *n;
  /* A free may release another life (a handle its module): that one joins
   * the list and goes in this same sweep. */
  while ((n = xcs_list_shift(&h->freeing)) != NULL) {
    xcs_life *l = xcs_container_of(n, xcs_life, link);
    l->free(l);
    any = 1;
  }
  return any;
}
