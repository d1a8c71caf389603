/*
 * env.c — env(name): the environment variables the operator exposed with
 * --env NAME, and no other.
 *
 *   local token = env("API_TOKEN")   -- nil when set by --env but not present
 */
#include "bindings/env.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/core/module.h"

/* env(name) -> its value | nil. A name the operator did not expose raises. */
static int l_env(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const xcs_options *o = &xcs_module_of(L)->host->opt;
  for (int i = 0; i < o->nenv; i++) {
    if (strcmp(o->env_names[i], name) != 0) continue;
    const char *v = getenv(name);
    if (v == NULL) return 0;
    lua_pushstring(L, v);
    return 1;
  }
  if (o->nenv == 0)
    return luaL_error(L, "env: this host exposes no environment variable (start it with "
                         "--env %s to expose %s)", name, name);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < o->nenv; i++) {
    if (i > 0) luaL_addstring(&b, i + 1 < o->nenv ? ", " : " and ");
    luaL_addstring(&b, o->env_names[i]);
  }
  luaL_pushresult(&b);
  return luaL_error(L, "env: %s is not exposed to modules (this host exposes %s; --env %s "
                       "would expose it)", name, lua_tostring(L, -1), name);
}

void xcs_env_open(lua_State *L, int env) {
  env = lua_absindex(L, env);
  lua_pushcfunction(L, l_env);
  lua_setfield(L, env, "env");
}
