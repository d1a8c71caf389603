/*
 * env.h — env(name): the environment variables exposed with --env NAME.
 */
#ifndef XCS_ENV_H
#define XCS_ENV_H

#include <lua.h>

/* Sets env[idx].env, the function. */
void xcs_env_open(lua_State *L, int env);

#endif
