/*
 * fuzz_bytecode.c — the globals walker of `xcshost check` (host/bytecode.c).
 *
 * Each input is used twice:
 *   1. as Lua source, as a module's file: when Lua compiles it, the walker
 *      must read the dump of it to the end (return 0), and every use it
 *      reports must be a name of at most the dump's size;
 *   2. as raw bytes given to the walker: it must not read out of bounds or
 *      loop, only answer 0 or -1.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/bytecode.h"
#include "bindings/core/text.h"

static int writer(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  xcs_text_put(ud, p, n);
  return ((xcs_text *)ud)->oom;
}

static size_t limit;
static void check_use(void *ud, const xcs_global_use *u) {
  (void)ud;
  if (u->len > limit || (u->field && u->flen > limit)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lua_State *L;
  if (L == NULL) L = luaL_newstate();
  xcs_text b = {0};
  if (luaL_loadbufferx(L, (const char *)data, size, "=fuzz", "t") == LUA_OK) {
    if (lua_dump(L, writer, &b, 0) == 0) {
      limit = b.len;
      if (xcs_bytecode_globals(b.s, b.len, check_use, NULL) != 0) {
        fprintf(stderr, "fuzz_bytecode: the dump of a compiled chunk was refused\n");
        abort();
      }
    }
  }
  lua_settop(L, 0);
  free(b.s);
  char *raw = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
  if (raw == NULL) return 0;
  memcpy(raw, data, size);
  limit = size;
  int r = xcs_bytecode_globals(raw, size, check_use, NULL);
  if (r != 0 && r != -1) abort();
  free(raw);
  return 0;
}
