/*
 * sandbox_require.h — require in a module's sandbox (host/sandbox.c builds
 * the rest of the env).
 */
#ifndef XCS_SANDBOX_REQUIRE_H
#define XCS_SANDBOX_REQUIRE_H

#include <lua.h>

/* Sets require in the env on top of L, and makes the state's table of what
 * was required. */
void xcs_sandbox_require_open(lua_State *L);

#endif
