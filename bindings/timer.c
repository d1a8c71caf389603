/*
 * timer.c — sleeping tasks, and timers that run a function. Each is a
 * timer handle owned by the module, so unloading a module closes them.
 *
 *   local t = after(5, function() log("five seconds later") end)
 *   local tick = every(1, flush_stats)   -- tick:cancel() stops it
 *
 * A timer's function runs as a task of its own each time it fires (so it
 * may wait, and its error fails only what a task's error fails).
 */
#include "bindings/timer.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>

#include "bindings/handle.h"
#include "bindings/task.h"

typedef struct xcs_timer {
  xcs_handle h;
  uv_timer_t timer;
  int fn_ref;       /* after/every: the function each firing runs; else LUA_NOREF */
  uint64_t every;   /* ms between firings; 0: once */
  uint64_t fired;   /* how many times it fired */
  int kept;         /* fires only when started, and stays (on_memory's) */
  int counted;      /* in m->ntimers: an after/every that keeps its module running */
} xcs_timer;

static void timer_close(xcs_handle *h, int graceful) {
  (void)graceful;
  xcs_timer *t = (xcs_timer *)h;
  if (t->counted) h->m->ntimers--;
  t->counted = 0;
  xcs_unref(h->m, t->fn_ref);
  t->fn_ref = LUA_NOREF;
  xcs_limits *lim = &h->m->limits;
  if (lim->pressure_ud == t) { /* on_memory's: the allocator must not reach it now */
    lim->pressure_at = 0;
    lim->pressure_ud = NULL;
  }
  xcs_handle_uv_close(h, (uv_handle_t *)&t->timer);
}

static void timer_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_timer *t = (xcs_timer *)h;
  if (t->every)
    snprintf(buf, size, "(every %llu ms, fired %llu times)", (unsigned long long)t->every,
             (unsigned long long)t->fired);
  else
    snprintf(buf, size, "(due in %llu ms)", (unsigned long long)uv_timer_get_due_in(&t->timer));
}


/* t:cancel(): it fires no more (what it started goes on). Again: nothing. */
static int timer_cancel(lua_State *L) {
  xcs_handle *h = xcs_handle_get(L, 1, &xcs_timer_type);
  if (h) xcs_handle_close(h, 0);
  return 0;
}

static const luaL_Reg timer_methods[] = {{"cancel", timer_cancel}, {NULL, NULL}};
const xcs_handle_type xcs_timer_type = {XCS_T_TIMER, "xcs.timer", timer_close, timer_describe,
                                           timer_methods, NULL, NULL, 0, NULL, 0};

static void fired_cb(uv_timer_t *t) {
  xcs_task_wake_now(&((xcs_handle *)t->data)->reader, 0);
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_handle *h = xcs_handle_get(L, 2, &xcs_timer_type);
  if (h) xcs_handle_close(h, 0);
  return 0;
}

static int slept_k(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;
}

/* sleep(seconds): lets the loop run other work for that long. */
static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s < 1e9, 1, "expected seconds from 0 to 1e9");
  lua_settop(L, 1);
  xcs_task_check(L, "sleep");
  if (s == 0) return xcs_task_pass(L, slept_k, 0); /* after the tasks already due */
  xcs_module *m = xcs_module_of(L);
  xcs_timer *t = xcs_handle_new(L, m, sizeof *t, &xcs_timer_type); /* 2 */
  t->fn_ref = LUA_NOREF;
  uv_timer_init(&m->host->loop, &t->timer);
  t->timer.data = &t->h;
  uv_timer_start(&t->timer, fired_cb, (uint64_t)ceil(s * 1000), 0);
  return xcs_task_park(L, &t->h.reader, -1, sleep_k, 0);
}

/* Runs protected on the module's svc thread: the timer's function as a
 * new task. */
static int spawn_fn(lua_State *L) {
  xcs_timer *t = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
  xcs_task_spawn(t->h.m, L, 0);
  return 0;
}

static void run_cb(uv_timer_t *timer) {
  xcs_timer *t = (xcs_timer *)timer->data;
  xcs_module *m = t->h.m;
  if (t->h.closing || m->phase != XCS_RUNNING) return;
  t->fired++;
  const char *err = m->host->mgr->pcall(m, spawn_fn, t);
  if (!t->every && !t->kept) xcs_handle_close(&t->h, 0); /* once: done */
  if (err) m->host->mgr->fail(m, err);
}

void *xcs_timer_new(lua_State *L, int fn, double seconds, double every) {
  fn = lua_absindex(L, fn);
  xcs_module *m = xcs_module_of(L);
  xcs_timer *t = xcs_handle_new(L, m, sizeof *t, &xcs_timer_type);
  t->fn_ref = LUA_NOREF;
  uv_timer_init(&m->host->loop, &t->timer);
  t->timer.data = &t->h;
  lua_pushvalue(L, fn);
  t->fn_ref = xcs_ref(m, L);
  t->every = every > 0 ? (uint64_t)ceil(every * 1000) : 0;
  t->kept = every < 0;
  t->counted = !t->kept;
  m->ntimers += t->counted;
  if (seconds >= 0) xcs_timer_start(t, seconds);
  return t;
}

void xcs_timer_start(void *timer, double seconds) {
  xcs_timer *t = timer;
  if (t->h.closing) return;
  uv_timer_start(&t->timer, run_cb, (uint64_t)ceil(seconds * 1000), t->every);
}

static double check_seconds(lua_State *L, const char *fname, double lowest) {
  int isnum;
  lua_Number s = lua_tonumberx(L, 1, &isnum);
  if (!isnum || !(s >= lowest && s < 1e9))
    luaL_error(L, "%s: bad argument #1 (seconds): expected a number from %s to 1e9, got %s",
               fname, lowest > 0 ? "0.001" : "0", luaL_tolstring(L, 1, NULL));
  if (lua_type(L, 2) != LUA_TFUNCTION)
    luaL_error(L, "%s: bad argument #2 (fn): expected a function, got %s", fname,
               luaL_typename(L, 2));
  return s;
}

/* after(seconds, fn) -> timer: runs fn() as a task once, that much later. */
static int l_after(lua_State *L) {
  double s = check_seconds(L, "after", 0);
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->phase != XCS_RUNNING) return luaL_error(L, "after: the module is not running");
  xcs_timer_new(L, 2, s, 0);
  return 1;
}

/* every(seconds, fn) -> timer: runs fn() as a task every that many
 * seconds, from that much later on, until t:cancel(). */
static int l_every(lua_State *L) {
  double s = check_seconds(L, "every", 0.001);
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->phase != XCS_RUNNING) return luaL_error(L, "every: the module is not running");
  xcs_timer_new(L, 2, s, s);
  return 1;
}

/* now(): seconds on a monotonic clock, for measuring intervals. */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}

void xcs_timer_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"sleep", l_sleep}, {"now", l_now}, {"after", l_after},
                                 {"every", l_every}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
