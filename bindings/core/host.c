/*
 * core/host.c — the Lua-free parts of the host's data: the --ports list,
 * and the sweep of connections still flushing after their close (linger).
 */
#include "bindings/core/host.h"

#include <stdio.h>
#include <stdlib.h>

int xcs_ports_parse(const char *spec, xcs_options *o) {
  int n = 0;
  const char *p = spec;
  while (*p) {
    char *end;
    long lo = strtol(p, &end, 10), hi = lo;
    if (end == p || lo < 0 || lo > 65535) return -1;
    p = end;
    if (*p == '-') {
      hi = strtol(++p, &end, 10);
      if (end == p || hi < lo || hi > 65535) return -1;
      p = end;
    }
    if (n == XCS_MAX_PORT_RANGES) return -1;
    if (*p == ',' && p[1] != '\0')
      p++;
    else if (*p != '\0')
      return -1;
    o->ports[n].lo = (int)lo;
    o->ports[n++].hi = (int)hi;
  }
  if (n == 0) return -1;
  o->nports = n;
  return 0;
}

void xcs_ports_format(const xcs_options *o, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < o->nports && len < size; i++) {
    const xcs_port_range *r = &o->ports[i];
    len += (size_t)(r->lo == r->hi ? snprintf(buf + len, size - len, "%s%d", i ? "," : "", r->lo)
                                   : snprintf(buf + len, size - len, "%s%d-%d", i ? "," : "",
                                              r->lo, r->hi));
  }
}


static void linger_cb(uv_timer_t *t) {
  xcs_host *h = t->data;
  uint64_t now = uv_now(&h->loop);
  xcs_list *n, *next;
  for (n = h->lingering.next; n != &h->lingering; n = next) {
    next = n->next;
    xcs_linger *l = xcs_container_of(n, xcs_linger, link);
    if (l->until <= now) {
      xcs_list_remove(n);
      l->expire(l);
    }
  }
  if (xcs_list_empty(&h->lingering)) uv_timer_stop(t);
}

void xcs_linger_start(xcs_host *h, xcs_linger *l, void (*expire)(xcs_linger *)) {
  l->until = uv_now(&h->loop) + h->opt.linger_ms;
  l->expire = expire;
  if (!xcs_list_linked(&l->link)) xcs_list_push(&h->lingering, &l->link);
  if (!uv_is_active((uv_handle_t *)&h->linger)) {
    uint64_t every = h->opt.linger_ms < 100 ? h->opt.linger_ms + 1 : 100;
    uv_timer_start(&h->linger, linger_cb, every, every);
  }
}

void xcs_linger_stop(xcs_linger *l) {
  if (xcs_list_linked(&l->link)) xcs_list_remove(&l->link);
}

void xcs_linger_init(xcs_host *h) {
  uv_timer_init(&h->loop, &h->linger);
  h->linger.data = h;
}
