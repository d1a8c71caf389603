/*
 * timer.c — sleeping tasks. Each sleep is a timer handle owned by the
 * module, so unloading a module with sleeping tasks closes their timers.
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
} xcs_timer;

static void timer_close(xcs_handle *h, int graceful) {
  (void)graceful;
  xcs_handle_uv_close(h, (uv_handle_t *)&((xcs_timer *)h)->timer);
}

static void timer_describe(xcs_handle *h, char *buf, size_t size) {
  snprintf(buf, size, "(due in %llu ms)",
           (unsigned long long)uv_timer_get_due_in(&((xcs_timer *)h)->timer));
}

static const luaL_Reg timer_methods[] = {{NULL, NULL}};
static const xcs_handle_type timer_type = {XCS_T_TIMER, "xcs.timer", timer_close, timer_describe,
                                           timer_methods, NULL};

static void fired_cb(uv_timer_t *t) {
  xcs_task_wake_now(&((xcs_handle *)t->data)->reader, 0);
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_handle *h = xcs_handle_get(L, 2, &timer_type);
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
  xcs_timer *t = xcs_handle_new(L, m, sizeof *t, &timer_type); /* 2 */
  uv_timer_init(&m->host->loop, &t->timer);
  t->timer.data = &t->h;
  uv_timer_start(&t->timer, fired_cb, (uint64_t)ceil(s * 1000), 0);
  return xcs_task_park(L, &t->h.reader, -1, sleep_k, 0);
}

/* now(): seconds on a monotonic clock, for measuring intervals. */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}

void xcs_timer_open(lua_State *L) {
  xcs_handle_register(L, &timer_type);
  static const luaL_Reg fns[] = {{"sleep", l_sleep}, {"now", l_now}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
