/*
 * fuzz_methods.c — every method of every handle type, called with arbitrary
 * selves and arguments, from contexts that can and cannot wait. Nothing a
 * module passes to a method may crash the host: a wrong self or argument
 * raises, a network outcome returns nil, msg, code (issue 14: close with a
 * wrong self was a SIGSEGV; a write that could not wait parked its task
 * anyway, and a use-after-free followed).
 *
 * Per input: a fresh interpreter with the test API (luaopen_xcs, its own
 * host and loop) and fuzz/fuzz_methods.lua, compiled in, as the driver.
 * This file cuts the input into ops of small integers and hands them over;
 * the driver maps them onto the metatables it finds in the registry (so a
 * new method is fuzzed without a change here), a pool of values, and a
 * calling context, runs each op in a task of its own, and ends the run,
 * which closes whatever is still open and cancels every wait. A Lua error
 * escaping the driver is a finding (it aborts); so is any sanitizer report.
 *
 * Input: ops of 4 bytes, then as many argument bytes as the op asks for
 * (missing bytes read as 0); at most MAX_OPS ops:
 *   TYPE    which metatable (by sorted name, modulo their number)
 *   METHOD  which of its methods (by sorted name, modulo their number)
 *   SELF    < 0x80: the driver's own handle of that type; else pool value
 *           SELF - 0x80 (modulo the pool)
 *   CTX     low 2 bits: 0 a plain task, 1 a coroutine in the task, 2 a
 *           coroutine resumed inside a table.sort comparator (cannot wait),
 *           3 the task, after a loop turn; bits 2-4 (modulo 5): how many
 *           arguments follow, each a pool index byte; bits 5-7: how many
 *           times the call is made in a row, 1, 2, 4, 16, 64, 256, 1024
 *           or 2048 (to fill a queue), a loop turn after each, stopping after
 *           50 ms.
 *
 * XCS_FUZZ_VERBOSE=1 prints each call and what it returned.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HARNESS "fuzz_methods"
#include "driver.h"

#define MAX_OPS 32

extern const char fuzz_methods_lua[];
extern const size_t fuzz_methods_lua_len;

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* Pushes the op the input starts with: {type, method, self, ctx, args}. */
static int decode_op(lua_State *L, input *in) {
  if (in->n == 0) return 0;
  lua_createtable(L, 0, 5);
  set_int(L, "type", u8(in));
  set_int(L, "method", u8(in));
  set_int(L, "self", u8(in));
  unsigned ctx = u8(in);
  set_int(L, "ctx", ctx & 3);
  static const int times[] = {1, 2, 4, 16, 64, 256, 1024, 2048};
  set_int(L, "times", times[ctx >> 5]);
  int nargs = ((ctx >> 2) & 7) % 5;
  lua_createtable(L, nargs, 0);
  for (int i = 1; i <= nargs; i++) {
    lua_pushinteger(L, u8(in));
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "args");
  return 1;
}

/* The UNIX sockets' directory (--unix-dir): one per process, made once. */
static const char *unix_dir(void) {
  static char dir[64];
  if (dir[0] == 0) {
    snprintf(dir, sizeof dir, "/tmp/fuzz_methods.XXXXXX");
    if (mkdtemp(dir) == NULL) FAIL("mkdtemp: cannot make %s", dir);
  }
  return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, fuzz_methods_lua, fuzz_methods_lua_len, "=fuzz_methods.lua") != LUA_OK)
    FAIL("%s", lua_tostring(L, -1));
  luaL_requiref(L, "xcs", luaopen_xcs, 0);
  input in = {data, size, 0};
  lua_createtable(L, MAX_OPS, 0);
  for (int i = 1; i <= MAX_OPS && decode_op(L, &in); i++) lua_rawseti(L, -2, i);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, unix_dir());
  lua_setfield(L, -2, "dir");
  const char *bind = getenv("XCS_FUZZ_BIND");
  lua_pushstring(L, bind && *bind ? bind : "127.0.0.43");
  lua_setfield(L, -2, "bind");
  const char *v = getenv("XCS_FUZZ_VERBOSE");
  lua_pushboolean(L, v && *v && strcmp(v, "0") != 0);
  lua_setfield(L, -2, "verbose");
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) FAIL("%s", luaL_tolstring(L, -1, NULL));
  lua_close(L); /* closes the host: the loop and everything left on it */
  return 0;
}
