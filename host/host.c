/*
 * host.c — the loop and the work deferred to its next turn.
 *
 * Code running inside a module never resumes another task or closes a
 * handle under its own feet: it queues the task or handle here, and the idle
 * "tick" does it once the running step is over (libuv's rule that nothing
 * calls back inside the call that started it).
 */
#include "host/host.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindings/errors.h"
#include "bindings/guard.h"
#include "bindings/handle.h"
#include "bindings/task.h"
#include "host/limits.h"
#include "host/metrics.h"
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
  o->tls_dir = NULL;
  o->sighup_certs = 0;
  o->nlua_paths = 0;
  xcs_guard_options_default(&o->guard);
  o->log_level = XCS_LOG_DEFAULT;
  o->log_json = 0;
}

/* Every network outcome a module is told of, counted for the metrics. */
static void count_error(lua_State *L, const char *code) {
  xcs_module *m = xcs_module_of(L); /* NULL: a thread the test API never saw */
  if (m) xcs_stats_errors(&m->stats, code, 1);
}

/* The thread's CPU time in ns: what a task step cost. */
static uint64_t cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
  while ((n = xcs_list_shift(&batch)) != NULL) {
    xcs_task *t = xcs_container_of(n, xcs_task, ready);
    if (h->metrics == NULL) {
      xcs_task_run(t);
      continue;
    }
    xcs_module *m = xcs_task_module(t); /* the task may be gone after its step; m is not */
    uint64_t before = cpu_now();
    xcs_task_run(t);
    m->stats.cpu_ns += cpu_now() - before;
  }

  while ((n = xcs_list_shift(&h->deferred)) != NULL)
    xcs_handle_close(xcs_container_of(n, xcs_deferred, link)->h, 1);

  while ((n = xcs_list_shift(&h->dead)) != NULL)
    xcs_module_destroy(xcs_container_of(n, xcs_module, dead));

  /* Last: what the closes above released is freed here, on this turn. */
  xcs_life_sweep(h);

  if (xcs_list_empty(&h->ready) && xcs_list_empty(&h->deferred) &&
      xcs_list_empty(&h->dead) && xcs_list_empty(&h->freeing))
    uv_idle_stop(idle);
}

int xcs_host_init(xcs_host *h, const xcs_options *o) {
  /* All but the read buffer (the last field), which every read writes
   * before it is read: zeroing it was 64 KiB of memory touched at start. */
  memset(h, 0, offsetof(xcs_host, readbuf));
  h->opt = *o;
  h->log = o->log_json ? xcs_log_json : xcs_log_stderr;
  xcs_errors_counted = count_error;
  h->worker = h->workers = 1;
  xcs_list_init(&h->modules);
  xcs_list_init(&h->ready);
  xcs_list_init(&h->deferred);
  xcs_list_init(&h->dead);
  xcs_list_init(&h->freeing);
  xcs_list_init(&h->lingering);
  /* Without the watchdog a runaway module could only be stopped by a signal
   * to the host; keep going, but the CPU limit is then not enforced. */
  h->watchdog = xcs_limits_watchdog() == 0;
  if (!h->watchdog)
    xcs_log_at(h, XCS_LOG_WARN, "xcshost", "warning: no CPU watchdog; --cpu-limit is not enforced");
  int r = uv_loop_init(&h->loop);
  if (r != 0) return r;
  h->loop.data = h;
  uv_idle_init(&h->loop, &h->tick);
  h->tick.data = h;
  h->tick_cb = tick_cb;
  h->mgr = &xcs_module_manager;
  xcs_linger_init(h);
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
  xcs_metrics_free(h);
  uv_walk(&h->loop, close_walk_cb, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_loop_close(&h->loop);
  xcs_guard_free(h);
  if (h->watchdog) xcs_limits_unwatch();
  h->watchdog = 0;
}
