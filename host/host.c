/*
 * host.c — the loop and the work deferred to its next turn.
 *
 * Code running inside a module never resumes another task or closes a
 * handle under its own feet: it queues the task or handle here, and the idle
 * "tick" does it once the running step is over (libuv's rule that nothing
 * calls back inside the call that started it).
 */
#include "host/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/guard.h"
#include "bindings/handle.h"
#include "bindings/task.h"
#include "host/limits.h"
#include "host/module.h"

void xcs_options_default(xcs_options *o) {
  o->binds[0] = XCS_DEFAULT_BIND;
  o->nbinds = 1;
  o->memory_limit = (size_t)XCS_DEFAULT_MEMORY_MB << 20;
  o->cpu_limit = XCS_DEFAULT_CPU_LIMIT;
  o->linger_ms = XCS_DEFAULT_LINGER_MS;
  o->stop_timeout = XCS_DEFAULT_STOP_TIMEOUT;
  o->max_sockets = XCS_DEFAULT_MAX_SOCKETS;
  o->max_connections = XCS_DEFAULT_MAX_CONNECTIONS;
  xcs_ports_parse(XCS_DEFAULT_PORTS, o);
  o->faults = (xcs_fault_options){0};
  o->unix_dir = NULL;
  o->nread_dirs = 0;
  o->data_dir = NULL;
  o->data_quota = XCS_DEFAULT_DATA_QUOTA;
  o->nenv = 0;
  o->strict = 0;
  xcs_guard_options_default(&o->guard);
}

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

static void tick_cb(uv_idle_t *idle) {
  xcs_host *h = idle->data;

  /* Only the tasks queued before this turn run now; those they wake run on
   * the next, so a pair of tasks waking each other cannot starve the I/O. */
  xcs_list batch;
  xcs_list_init(&batch);
  if (!xcs_list_empty(&h->ready)) {
    batch.next = h->ready.next;
    batch.prev = h->ready.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    xcs_list_init(&h->ready);
  }
  xcs_list *n;
  while ((n = xcs_list_shift(&batch)) != NULL)
    xcs_task_run(xcs_container_of(n, xcs_task, ready));

  while ((n = xcs_list_shift(&h->deferred)) != NULL)
    xcs_handle_close(xcs_container_of(n, xcs_handle, deferred), 1);

  while ((n = xcs_list_shift(&h->dead)) != NULL)
    xcs_module_destroy(xcs_container_of(n, xcs_module, dead));

  if (xcs_list_empty(&h->ready) && xcs_list_empty(&h->deferred) &&
      xcs_list_empty(&h->dead))
    uv_idle_stop(idle);
}

void xcs_host_poke(xcs_host *h) { uv_idle_start(&h->tick, tick_cb); }

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

int xcs_host_init(xcs_host *h, const xcs_options *o) {
  memset(h, 0, sizeof *h);
  h->opt = *o;
  h->log = xcs_log_stderr;
  h->worker = h->workers = 1;
  xcs_list_init(&h->modules);
  xcs_list_init(&h->ready);
  xcs_list_init(&h->deferred);
  xcs_list_init(&h->dead);
  xcs_list_init(&h->lingering);
  /* Without the watchdog a runaway module could only be stopped by a signal
   * to the host; keep going, but the CPU limit is then not enforced. */
  h->watchdog = xcs_limits_watchdog() == 0;
  if (!h->watchdog)
    xcs_log(h, "xcshost", "warning: no CPU watchdog; --cpu-limit is not enforced");
  int r = uv_loop_init(&h->loop);
  if (r != 0) return r;
  h->loop.data = h;
  uv_idle_init(&h->loop, &h->tick);
  h->tick.data = h;
  uv_timer_init(&h->loop, &h->linger);
  h->linger.data = h;
  return 0;
}

void xcs_host_stop(xcs_host *h, int force) {
  h->stopping = 1;
  for (xcs_list *n = h->modules.next; n != &h->modules; n = n->next) {
    xcs_module *m = xcs_container_of(n, xcs_module, link);
    if (force)
      xcs_module_unload(m, 0);
    else
      xcs_module_stop(m);
  }
  if (force) {
    xcs_list *n;
    while ((n = xcs_list_shift(&h->lingering)) != NULL)
      xcs_container_of(n, xcs_linger, link)->expire(xcs_container_of(n, xcs_linger, link));
  }
}

static void close_walk_cb(uv_handle_t *uvh, void *arg) {
  (void)arg;
  if (!uv_is_closing(uvh)) uv_close(uvh, NULL);
}

void xcs_host_close(xcs_host *h) {
  xcs_host_stop(h, 1);
  /* Bounded: every module is unloading and every handle closing. */
  for (int i = 0; i < 1000 && !xcs_list_empty(&h->modules); i++)
    uv_run(&h->loop, UV_RUN_ONCE);
  uv_walk(&h->loop, close_walk_cb, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_loop_close(&h->loop);
  xcs_guard_free(h);
  if (h->watchdog) xcs_limits_unwatch();
  h->watchdog = 0;
}
