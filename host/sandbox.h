/*
 * sandbox.h — the environment a module's code runs in.
 *
 * Built by allow-list in the module's own state: the safe base functions,
 * string (without dump), table, math, utf8, coroutine, os.time/clock/date/
 * difftime, text-only load, require of .lua files beside the module, and
 * collectgarbage("count"). Reading an undefined global raises, so a typo is
 * an error rather than a nil. The prelude then adds socket, request, spawn,
 * sleep, now, log, print and exit.
 */
#ifndef XCS_SANDBOX_H
#define XCS_SANDBOX_H

#include <lua.h>

#include "host/module.h"

/* Builds the env of m in L, runs the prelude into it, leaves it on top. */
void xcs_sandbox_open(lua_State *L, xcs_module *m);
/* Pushes m's env (from its registry). */
void xcs_sandbox_push_env(lua_State *L);
/* The same, with every library of the module library built in it first
 * (they are built when first touched): for reading it raw or walking it. */
void xcs_sandbox_push_env_built(lua_State *L);
/* Builds the library of the module library (bindings/lib.h) named by the
 * string at key into the env, if it is one not built yet, and pushes it;
 * else pushes nothing and returns 0. */
int xcs_sandbox_build_pending(lua_State *L, int key);
/* Reads a whole file: pushes its text, or returns an error message. */
int xcs_sandbox_readfile(lua_State *L, const char *path);
/* Loads text-only Lua from a file with the module's env; pushes the chunk
 * or raises with the file and line of what was wrong. */
void xcs_sandbox_loadfile(lua_State *L, const char *path);

#endif
