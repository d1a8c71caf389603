/*
 * memory.c — what a module may use and uses now (limits()), and a word
 * before its memory runs out (on_memory), so a cache can shed instead of
 * failing the module.
 *
 *   on_memory(0.8, function() cache:evict_half() end)  -- past 80% of --memory-limit
 *
 * The allocator notices the crossing (it may not run Lua), and starts a
 * timer handle of the module's; the timer runs the function as a task on
 * the next turn of the loop. One call at a time: the watch is armed again
 * once the function has returned (or raised). What a shed frees is only
 * garbage until the collector gets to it, so usage may stay over the mark
 * for a while: the next call comes when usage falls under the mark and
 * passes it again, or grows by another eighth of the room between the
 * mark and the limit (it did not shed enough).
 */
#include "bindings/memory.h"

#include <lauxlib.h>

#include "bindings/handle.h"
#include "bindings/timer.h"
#include "bindings/core/module.h"

static const char watch_key = 0; /* registry: the on_memory timer's box */

static void pressure_cb(xcs_limits *lim) { xcs_timer_start(lim->pressure_ud, 0); }

/* Runs as the timer's task: the module's function, then the watch armed
 * again, whether it returned or raised (the error goes on as the task's). */
static int after_call(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  xcs_limits *lim = &xcs_module_of(L)->limits;
  size_t step = (lim->budget - lim->pressure_at) / 8 + 1, next = lim->used + step;
  lim->pressure_next = next > lim->pressure_at ? next : lim->pressure_at;
  lim->pressure_armed = 1;
  if (status != LUA_OK && status != LUA_YIELD) return lua_error(L);
  return 0;
}

static int call_fn(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  int status = lua_pcallk(L, 0, 0, 0, 0, after_call);
  return after_call(L, status, 0);
}

/* limits() -> { memory, memory_peak, memory_limit, cpu_limit, sockets,
 * max_sockets, connections, max_connections }: bytes, seconds and counts;
 * a limit of 0 is none. */
static int l_limits(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  const xcs_options *o = &m->host->opt;
  lua_createtable(L, 0, 8);
  const struct {
    const char *name;
    lua_Integer v;
  } ints[] = {{"memory", (lua_Integer)m->limits.used},
              {"memory_peak", (lua_Integer)m->limits.peak},
              {"memory_limit", (lua_Integer)m->limits.budget},
              {"sockets", m->nsockets},
              {"max_sockets", o->max_sockets},
              {"connections", m->nconnections},
              {"max_connections", o->max_connections}};
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
    lua_pushinteger(L, ints[i].v);
    lua_setfield(L, -2, ints[i].name);
  }
  lua_pushnumber(L, (lua_Number)m->limits.burst_ns / 1e9);
  lua_setfield(L, -2, "cpu_limit");
  return 1;
}

/* on_memory(fraction, fn) -> true; on_memory(nil): no more. fn() runs as a
 * task once the module's memory passes fraction of its limit. */
static int l_on_memory(lua_State *L) {
  xcs_module *m = xcs_module_of(L);
  if (m == NULL || m->phase != XCS_RUNNING)
    return luaL_error(L, "on_memory: the module is not running");
  /* The watch before, if any, goes (its box is in the registry). */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &watch_key) == LUA_TUSERDATA) {
    xcs_handle *h = xcs_handle_get(L, -1, NULL);
    if (h) xcs_handle_close(h, 0);
  }
  lua_pop(L, 1);
  if (lua_isnoneornil(L, 1)) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &watch_key);
    return 0;
  }
  int isnum;
  lua_Number f = lua_tonumberx(L, 1, &isnum);
  if (!isnum || !(f > 0 && f <= 1))
    return luaL_error(L, "on_memory: bad argument #1 (fraction): expected a number above 0 "
                         "and at most 1, got %s", luaL_tolstring(L, 1, NULL));
  if (lua_type(L, 2) != LUA_TFUNCTION)
    return luaL_error(L, "on_memory: bad argument #2 (fn): expected a function, got %s",
                      luaL_typename(L, 2));
  if (m->limits.budget == 0)
    return luaL_error(L, "on_memory: this module has no memory limit to pass "
                         "(--memory-limit 0)");
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, call_fn, 1); /* 3 */
  void *t = xcs_timer_new(L, 3, -1, -1); /* 4: started by the allocator */
  lua_pushvalue(L, 4);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &watch_key);
  xcs_limits *lim = &m->limits;
  lim->pressure_ud = t;
  lim->on_pressure = pressure_cb;
  lim->pressure_at = lim->pressure_next = (size_t)(f * (lua_Number)lim->budget);
  lim->pressure_armed = 1;
  if (lim->used >= lim->pressure_at) { /* past it already: say so now */
    lim->pressure_armed = 0;
    xcs_timer_start(t, 0);
  }
  lua_pushboolean(L, 1);
  return 1;
}

void xcs_memory_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"limits", l_limits}, {"on_memory", l_on_memory}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
