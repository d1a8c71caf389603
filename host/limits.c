/*
 * limits.c — the per-module allocator and the runaway guard.
 */
#include "host/limits.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <uv.h>

#include "host/module.h"

void *xcs_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  xcs_limits *lim = ud;
  /* Without a block, osize is a type tag, not a size (lua_Alloc contract). */
  size_t old = ptr ? osize : 0;

  if (nsize == 0) {
    free(ptr);
    lim->used -= old;
    return NULL;
  }
  if (lim->budget && nsize > old && lim->used - old + nsize > lim->budget)
    return NULL; /* Lua collects garbage, retries, then raises "not enough memory" */
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  lim->used = lim->used - old + nsize;
  if (lim->used > lim->peak) lim->peak = lim->used;
  return p;
}

/* How many VM instructions run between two looks at the clock: rare enough
 * to cost nothing measurable, often enough to stop a loop within ~1 ms. */
#define CHECK_EVERY 10000

static void guard_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  xcs_module *m = xcs_module_of(L);
  if (m == NULL) return;
  xcs_limits *lim = &m->limits;
  if (!lim->killed) {
    if (lim->burst_ns == 0 || lim->slice_start == 0) return;
    if (uv_hrtime() - lim->slice_start < lim->burst_ns) return;
    lim->killed = 1;
    /* From now on every line raises, so pcall cannot swallow the kill
     * (the way Redis stops a script that ignores its timeout). */
    lua_sethook(L, guard_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
  }
  luaL_error(L, "CPU limit: ran %f s without waiting (--cpu-limit)",
             (double)lim->burst_ns / 1e9);
}

void xcs_limits_watch(lua_State *L) {
  lua_sethook(L, guard_hook, LUA_MASKCOUNT, CHECK_EVERY);
}
