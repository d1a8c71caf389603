/*
 * limits.c — the per-module allocator and the runaway watchdog.
 */
#include "host/limits.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bindings/handle.h"
#include "host/module.h"

/* Read by the signal handler, written only by the loop thread it interrupts. */
static lua_State *volatile running;

void *xcs_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  xcs_limits *lim = ud;
  /* Without a block, osize is a type tag, not a size (lua_Alloc contract). */
  size_t old = ptr ? osize : 0;

  if (nsize == 0) {
    /* lua_close frees the state it closes while it is still the one the
     * watchdog would hook (finalizers run guarded): the handler must not
     * find it once its block is gone. A thread's block starts at its extra
     * space. */
    if (ptr != NULL && running != NULL && ptr == lua_getextraspace(running)) running = NULL;
    free(ptr);
    lim->used -= old;
    if (lim->used < lim->pressure_at) lim->pressure_next = lim->pressure_at; /* a real fall */
    return NULL;
  }
  if (lim->budget && nsize > old && lim->used - old + nsize > lim->budget)
    return NULL; /* Lua collects garbage, retries, then raises "not enough memory" */
  /* A new block (most: strings, tables) by malloc: realloc(NULL, n) is
   * malloc behind a few more tests on every string a read makes. */
  void *p = ptr ? realloc(ptr, nsize) : malloc(nsize);
  if (p == NULL) return NULL;
  lim->used = lim->used - old + nsize;
  if (lim->used > lim->peak) lim->peak = lim->used;
  if (lim->used < lim->pressure_at) {
    lim->pressure_next = lim->pressure_at;
  } else if (lim->pressure_at && lim->pressure_armed && lim->used >= lim->pressure_next) {
    lim->pressure_armed = 0;
    lim->on_pressure(lim);
  }
  return p;
}

lua_State *xcs_limits_running(lua_State *L) {
  lua_State *prev = running;
  running = L;
  return prev;
}

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock uv_hrtime reads */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int over_budget(xcs_limits *lim, uint64_t now) {
  return lim->burst_ns && lim->burst_start && now - lim->burst_start >= lim->burst_ns;
}

/* Whether L is a task that has run its slice and can be preempted: only a
 * task's own thread, since a yield from a module's coroutine would look to
 * the module like a yield of its own. */
static int over_slice(xcs_module *m, lua_State *L, uint64_t now) {
  xcs_limits *lim = &m->limits;
  return lim->burst_ns && lim->slice_start &&
         now - lim->slice_start >= (uint64_t)XCS_SLICE_MS * 1000000u &&
         xcs_module_preemptible(m, L);
}

static void guard_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  xcs_module *m = xcs_module_of(L);
  if (m == NULL) return;
  xcs_limits *lim = &m->limits;
  uint64_t now = monotonic_ns();
  if (!lim->killed) {
    if (!over_budget(lim, now)) {
      lua_sethook(L, NULL, 0, 0);
      /* Preempted: the hook yields with no values (Lua 5.4 allows it from
       * a count hook); xcs_task_run requeues the task. Otherwise the hook
       * was set late, after the code had waited: it stands down. */
      if (over_slice(m, L, now) && lua_isyieldable(L)) lua_yield(L, 0);
      return;
    }
    lim->killed = 1;
  }
  /* On every line of this thread from now on. */
  lua_sethook(L, guard_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
  luaL_error(L, "CPU limit: ran %f s without waiting (--cpu-limit)",
             (double)lim->burst_ns / 1e9);
}

void xcs_limits_check(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  if (m != NULL && m->limits.killed) guard_hook(L, NULL);
}

static void watchdog_cb(int sig) {
  (void)sig;
  lua_State *L = running;
  if (L == NULL) return;
  xcs_module *m = xcs_module_of(L);
  uint64_t now = monotonic_ns();
  if (m != NULL && (m->limits.killed || over_budget(&m->limits, now) || over_slice(m, L, now)))
    lua_sethook(L, guard_hook, LUA_MASKCOUNT, 1);
}

static int watchers;
static timer_t watch_timer;
static struct sigaction old_action;

int xcs_limits_watchdog(void) {
  if (watchers > 0) {
    watchers++;
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = watchdog_cb;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPROF, &sa, &old_action) != 0) return -1;
  /* The signal goes to this thread only, never to libuv's thread pool. */
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev._sigev_un._tid = gettid();
  struct itimerspec every = {{0, XCS_WATCH_MS * 1000000L}, {0, XCS_WATCH_MS * 1000000L}};
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &watch_timer) != 0) {
    sigaction(SIGPROF, &old_action, NULL);
    return -1;
  }
  if (timer_settime(watch_timer, 0, &every, NULL) != 0) {
    timer_delete(watch_timer);
    sigaction(SIGPROF, &old_action, NULL);
    return -1;
  }
  watchers = 1;
  return 0;
}

void xcs_limits_unwatch(void) {
  if (watchers == 0 || --watchers > 0) return;
  timer_delete(watch_timer);
  sigaction(SIGPROF, &old_action, NULL);
}
