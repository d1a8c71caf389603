/*
 * lib_props.h — the frame of the module library's harnesses (fuzz_json,
 * fuzz_url, fuzz_http): one Lua state with the library (bindings/lib.c) as
 * globals, and a Lua chunk of properties called with each input. The
 * library is C, so libFuzzer's coverage sees it; the properties are
 * easier to say in Lua. A property that breaks raises, and the harness
 * aborts with the message (libFuzzer reports it as a crash).
 */
#ifndef XCS_FUZZ_LIB_PROPS_H
#define XCS_FUZZ_LIB_PROPS_H

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lib.h"

static int props_ref = LUA_NOREF;

/* The state, made on the first call, with props (Lua text) compiled. */
static lua_State *props_state(const char *props, const char *name) {
  static lua_State *L;
  if (L != NULL) return L;
  L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  lua_pushglobaltable(L);
  xcs_lib_open(L);
  lua_pop(L, 1);
  if (luaL_loadbufferx(L, props, strlen(props), name, "t") != LUA_OK) {
    fprintf(stderr, "%s: %s\n", name, lua_tostring(L, -1));
    abort();
  }
  props_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return L;
}

/* Calls the properties with the input as a string. */
static void props_run(const char *props, const char *name, const uint8_t *data, size_t size) {
  lua_State *L = props_state(props, name);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, props_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "%s: a property broke: %s\n", name, luaL_tolstring(L, -1, NULL));
    abort();
  }
  lua_gc(L, LUA_GCSTEP, 0);
}

#endif
