/*
 * core/wait.c — slots and deadlines of waiting tasks (see wait.h).
 */
#include "bindings/core/wait.h"

#include <stdint.h>
#include <stdlib.h>

#include "bindings/core/host.h"

/* A wait's timeout: its own timer, alive until its close callback. */
typedef struct xcs_deadline {
  uv_timer_t timer;
  xcs_life life;     /* freed once closed; holds the owner meanwhile */
  xcs_life *owner;
  xcs_wait *w;       /* NULL once the wait ended */
  void (*expire)(xcs_wait *w);
} xcs_deadline;

static void deadline_free(xcs_life *l) {
  xcs_deadline *d = xcs_container_of(l, xcs_deadline, life);
  xcs_life *owner = d->owner;
  free(d);
  xcs_release(owner);
}

static void deadline_cb(uv_timer_t *timer) {
  xcs_deadline *d = xcs_container_of(timer, xcs_deadline, timer);
  if (d->w && d->w->slot) d->expire(d->w);
}

static void deadline_close(xcs_wait *w) {
  xcs_deadline *d = w->deadline;
  if (d == NULL) return;
  w->deadline = NULL;
  d->w = NULL;
  xcs_life_uv_close(&d->life, (uv_handle_t *)&d->timer);
  xcs_release(&d->life); /* the maker's: the close callback frees it */
}

/* The wait is the first member of its task (wait.h). */
static xcs_wait *wait_of(xcs_task *t) { return (xcs_wait *)(void *)t; }

void xcs_wait_end(xcs_wait *w) {
  if (w->slot) *w->slot = NULL;
  w->slot = NULL;
  deadline_close(w);
}

int xcs_wait_arm(xcs_wait *w, xcs_task **slot, double seconds, xcs_host *h, xcs_life *owner,
                 void (*expire)(xcs_wait *w)) {
  xcs_task *self = (xcs_task *)(void *)w;
  if (*slot != NULL && *slot != self) return UV_EBUSY;
  xcs_deadline *d = NULL;
  /* A finite timeout past what a uint64_t of milliseconds holds (1e300 s)
   * is as good as none: converting it would be undefined. */
  if (seconds >= 0 && seconds < 1e15) {
    d = malloc(sizeof *d);
    if (d == NULL) return UV_ENOMEM;
  }
  xcs_wait_end(w);
  if (d) {
    xcs_life_init(&d->life, h, deadline_free);
    d->owner = owner;
    xcs_hold(owner);
    d->w = w;
    d->expire = expire;
    uv_timer_init(&h->loop, &d->timer);
    uv_timer_start(&d->timer, deadline_cb, (uint64_t)(seconds * 1000 + 0.5), 0);
    w->deadline = d;
  }
  *slot = self;
  w->slot = slot;
  return 0;
}

xcs_task *xcs_wait_take(xcs_task **slot) {
  xcs_task *t = *slot;
  if (t == NULL) return NULL;
  xcs_wait *w = wait_of(t);
  *slot = NULL;
  w->slot = NULL;
  return t;
}
