/*
 * sandbox.c — the allow-listed environment and load for modules (require:
 * sandbox_require.c).
 */
#include "host/sandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lib.h"
#include "bindings/pattern.h"
#include "bindings/socket.h"
#include "host/sandbox_require.h"

static const char env_key = 0;

void xcs_sandbox_push_env(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &env_key);
}

int xcs_sandbox_readfile(lua_State *L, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
    return 0;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t n;
  do {
    char *p = luaL_prepbuffer(&b);
    n = fread(p, 1, LUAL_BUFFERSIZE, f);
    luaL_addsize(&b, n);
  } while (n == LUAL_BUFFERSIZE);
  int bad = ferror(f) ? errno : 0;
  fclose(f);
  luaL_pushresult(&b);
  if (bad) {
    lua_pop(L, 1);
    lua_pushfstring(L, "cannot read %s: %s", path, strerror(bad));
    return 0;
  }
  return 1;
}

void xcs_sandbox_loadfile(lua_State *L, const char *path) {
  if (!xcs_sandbox_readfile(L, path)) lua_error(L);
  size_t len;
  const char *src = lua_tolstring(L, -1, &len);
  /* A leading #! line is allowed, as in lua(1); keep the newline so line
   * numbers stay right. */
  if (len > 0 && src[0] == '#') {
    const char *nl = memchr(src, '\n', len);
    len -= nl ? (size_t)(nl - src) : len;
    src = nl ? nl : src + len;
  }
  lua_pushfstring(L, "@%s", path);
  /* "t": binary chunks could break the VM's invariants, so never load them.
   * Lua's message for one names no file: add it. */
  if (luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t") != LUA_OK) {
    if (len > 0 && src[0] == LUA_SIGNATURE[0])
      luaL_error(L, "%s: a binary chunk, not Lua text: modules are loaded from source", path);
    lua_error(L);
  }
  xcs_sandbox_push_env(L);
  lua_setupvalue(L, -2, 1);
  lua_replace(L, -3); /* drop the text and the chunk name */
  lua_pop(L, 1);
}

/* The module library (bindings/lib.c) is built in a module's env only when
 * the module first touches one of its globals: most modules use few of
 * them, and they weighed a twentieth of an empty module. What a module sees
 * is the same: reading, assigning, pairs, next, rawget, rawset and
 * setmetatable on the env (and --lua-path libraries, and `xcshost check`)
 * find every library there. The registry's pending table holds the names
 * not built yet; they are built in the module's state, so the memory limit
 * counts them. */
static const char pending_key = 0;

int xcs_sandbox_build_pending(lua_State *L, int key) {
  key = lua_absindex(L, key);
  if (lua_type(L, key) != LUA_TSTRING) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key);
  lua_pushvalue(L, key);
  int pending = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  if (!pending) return 0;
  xcs_lib_push(L, lua_tostring(L, key));
  xcs_sandbox_push_env(L);
  lua_pushvalue(L, key);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3); /* may raise (memory): then it is still pending */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key);
  lua_pushvalue(L, key);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 2);
  return 1;
}

/* Builds every library not built yet, before the env is read raw or
 * walked. */
static void build_all(lua_State *L) {
  for (const char *const *n = xcs_lib_names; *n; n++) {
    lua_pushstring(L, *n);
    lua_pop(L, xcs_sandbox_build_pending(L, -1) + 1);
  }
}

void xcs_sandbox_push_env_built(lua_State *L) {
  build_all(L);
  xcs_sandbox_push_env(L);
}

/* env's __index: a library not built yet is built; any other global nobody
 * defined is a bug, say so. */
static int undefined_global(lua_State *L) {
  if (xcs_sandbox_build_pending(L, 2)) return 1;
  return luaL_error(L, "undefined global '%s'", luaL_tolstring(L, 2, NULL));
}

/* env's __newindex: a module assigning a library's name before touching it
 * replaces it (and assigning nil removes it), as it would a built one. */
static int assign_global(lua_State *L) {
  lua_settop(L, 3);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key);
    lua_pushvalue(L, 2);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_rawset(L, 1);
  return 0;
}

/* next, pairs, rawget and rawset: as Lua's (the original is upvalue 1),
 * but on the env they build every library first, so they see what the
 * module would. Their arguments are checked here, by upvalue 2 ("t" a
 * table, "a" any value), so that a message names the function the module
 * called (the original, called from C, has no name). */
static int env_raw(lua_State *L) {
  const char *checks = lua_tostring(L, lua_upvalueindex(2));
  for (int i = 0; checks[i]; i++) {
    if (checks[i] == 't') luaL_checktype(L, i + 1, LUA_TTABLE);
    else luaL_checkany(L, i + 1);
  }
  if (lua_type(L, 1) == LUA_TTABLE) {
    xcs_sandbox_push_env(L);
    if (lua_rawequal(L, 1, -1)) build_all(L);
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* load(chunk [, name [, mode [, env]]]): text only; env defaults to the
 * module's. */
static int sandbox_load(lua_State *L) {
  const char *mode = luaL_optstring(L, 3, "t");
  if (strchr(mode, 't') == NULL)
    return luaL_argerror(L, 3, "binary chunks are not allowed in a module");
  int has_env = lua_gettop(L) >= 4;
  lua_settop(L, 4);
  lua_pushvalue(L, lua_upvalueindex(1)); /* the real load */
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushliteral(L, "t");
  if (has_env)
    lua_pushvalue(L, 4);
  else
    xcs_sandbox_push_env(L);
  lua_call(L, 4, 2); /* chunk, nil  or  nil, message */
  if (lua_isnil(L, -2)) return 2;
  lua_pop(L, 1);
  return 1;
}

/* setmetatable(t, mt): as Lua's, but no __gc. Lua runs finalizers with hooks
 * off, where the CPU watchdog cannot stop them, and at unload, after the
 * module's tasks are gone; the host owns every resource, so a module never
 * needs one. (Lua marks an object for finalization only if __gc is there
 * when its metatable is set, so checking here is enough.) */
static int sandbox_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  xcs_sandbox_push_env(L);
  if (lua_rawequal(L, 1, -1)) build_all(L); /* its __index builds them no more */
  lua_pop(L, 1);
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_argerror(L, 2, "__gc metamethods are not allowed in a module");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* string.rep(s, n [, sep]): as Lua's, but an empty result is made at once;
 * Lua would loop n times copying nothing, in C, where the watchdog cannot
 * reach. A non-empty result is bounded by the memory limit. */
static int sandbox_rep(lua_State *L) {
  size_t l, lsep = 0;
  luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0 || (l == 0 && (lsep == 0 || n == 1))) {
    lua_pushliteral(L, "");
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* table.move(a1, f, e, t [, a2]): as Lua's, but at most XCS_MOVE_MAX
 * elements: a range of nils costs no memory, so only a cap bounds it. */
#define XCS_MOVE_MAX ((lua_Integer)1 << 24)
static int sandbox_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  if (e >= f) {
    /* e - f overflows only when f <= 0 and e is near the top: that is a
     * range far beyond the cap too. */
    int too_many = (f <= 0 && e >= LUA_MAXINTEGER + f) || e - f >= XCS_MOVE_MAX;
    if (too_many)
      return luaL_error(L, "table.move: a module moves at most %I elements at once",
                        XCS_MOVE_MAX);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* Replaces lib.name (lib on top of L) by f, with the original as upvalue. */
static void wrap(lua_State *L, const char *name, lua_CFunction f) {
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

/* collectgarbage: "count", and the collector's mode, "generational" or
 * "incremental" (as Lua's, with their tuning arguments; it returns the
 * mode before). A full "collect" or "step" stays out: it could stall the
 * loop for as long as the heap is big, beyond the CPU watchdog's reach. */
static int sandbox_collectgarbage(lua_State *L) {
  static const char *const opts[] = {"count", "generational", "incremental", NULL};
  const char *opt = luaL_optstring(L, 1, "count");
  int which = -1;
  for (int i = 0; opts[i]; i++)
    if (strcmp(opt, opts[i]) == 0) which = i;
  if (which < 0)
    return luaL_error(L, "collectgarbage: bad argument #1: \"%s\" is not allowed in a module "
                         "(allowed: count, generational or incremental)", opt);
  if (which == 0) {
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                          (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024);
    return 1;
  }
  int a = (int)luaL_optinteger(L, 2, 0), b = (int)luaL_optinteger(L, 3, 0);
  int old = which == 1 ? lua_gc(L, LUA_GCGEN, a, b)
                       : lua_gc(L, LUA_GCINC, a, b, (int)luaL_optinteger(L, 4, 0));
  lua_pushstring(L, old == LUA_GCGEN ? "generational" : "incremental");
  return 1;
}

static void copy_fields(lua_State *L, const char *lib, const char *const *names) {
  /* stack: env */
  lua_getglobal(L, lib);
  lua_newtable(L);
  for (; *names; names++) {
    lua_getfield(L, -2, *names);
    lua_setfield(L, -2, *names);
  }
  lua_setfield(L, -3, lib);
  lua_pop(L, 1);
}

static void copy_library(lua_State *L, const char *lib) {
  /* stack: env */
  lua_getglobal(L, lib);
  int n = 0;
  for (lua_pushnil(L); lua_next(L, -2); n++) lua_pop(L, 1);
  lua_createtable(L, 0, n); /* sized once: no rehash per field */
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -4);
  }
  lua_setfield(L, -3, lib);
  lua_pop(L, 1);
}

/* The libraries the sandbox copies from, and debug for the prelude's own
 * use; io and package are never opened (a module has neither, and making
 * them is a fifth of a module's start). */
static void open_libraries(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                  {LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_OSLIBNAME, luaopen_os},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8},
                                  {LUA_DBLIBNAME, luaopen_debug},
                                  {NULL, NULL}};
  for (const luaL_Reg *lib = libs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
}

void xcs_sandbox_open(lua_State *L, xcs_module *m) {
  (void)m;
  open_libraries(L);

  /* The string metatable's __index is the real string table, so dump must
   * go from it, not only from the module's copy; and the bounded pattern
   * functions go into it before the copy is made, so s:find and
   * string.find are the same. */
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  wrap(L, "rep", sandbox_rep);
  xcs_pattern_open(L);
  lua_pop(L, 1);

  /* env, sized for what it will hold (47 names today) at once: grown one
   * name at a time it was rehashed 6 times. */
  lua_createtable(L, 0, 64);
  /* The base functions, and whole libraries handed over as they are: once
   * the globals are emptied below, nothing but env reaches them (copying
   * them made 4 tables and 50 entries at each start, only for the
   * collector to free the originals). */
  static const char *const base[] = {
      "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
      "rawequal", "rawget", "rawlen", "rawset", "select", "setmetatable",
      "tonumber", "tostring", "type", "xpcall", "_VERSION",
      "table", "math", "utf8", "coroutine", NULL};
  for (const char *const *n = base; *n; n++) {
    lua_getglobal(L, *n);
    lua_setfield(L, -2, *n);
  }
  /* string is copied: the string metatable's __index stays the table set
   * up above, whatever the module does to its own string. */
  copy_library(L, "string");
  static const char *const os_safe[] = {"time", "clock", "date", "difftime",
                                        NULL};
  copy_fields(L, "os", os_safe);

  lua_getglobal(L, "load");
  lua_pushcclosure(L, sandbox_load, 1);
  lua_setfield(L, -2, "load");
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, sandbox_setmetatable, 1);
  lua_setfield(L, -2, "setmetatable");
  lua_getfield(L, -1, "table");
  wrap(L, "move", sandbox_move);
  lua_pop(L, 1);
  static const char *const raw[][2] = {
      {"next", "t"}, {"pairs", "a"}, {"rawget", "ta"}, {"rawset", "taa"}, {NULL, NULL}};
  for (int i = 0; raw[i][0]; i++) {
    lua_getfield(L, -1, raw[i][0]);
    lua_pushstring(L, raw[i][1]);
    lua_pushcclosure(L, env_raw, 2);
    lua_setfield(L, -2, raw[i][0]);
  }
  xcs_sandbox_require_open(L);
  lua_pushcfunction(L, sandbox_collectgarbage);
  lua_setfield(L, -2, "collectgarbage");
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
  lua_newtable(L);
  lua_setfield(L, -2, "arg");

  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &env_key);

  lua_createtable(L, 0, 8); /* json, base64, hex, crypto, url, http, wallclock: built when touched */
  for (const char *const *n = xcs_lib_names; *n; n++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, *n);
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
  xcs_socket_open(L, 1); /* runs the prelude into env */

  lua_newtable(L);
  lua_pushcfunction(L, undefined_global);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, assign_global);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);

  /* Nothing of the full library set stays reachable: the globals table is
   * emptied, so not even a leaked reference to it leads anywhere. */
  lua_pushglobaltable(L);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  lua_pop(L, 1);
  /* Lua names a function in an error message by finding it in the loaded
   * table; give it the module's globals to search, and nothing else. */
  lua_createtable(L, 0, 16);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, LUA_GNAME);
  xcs_socket_names(L, -2, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
}
