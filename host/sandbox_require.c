/*
 * sandbox_require.c — a module's require: name.lua beside the module, or a
 * library under --lua-path, each run once in the module's sandbox, and the
 * env such libraries run in.
 */
#include "host/sandbox_require.h"

#include <lauxlib.h>
#include <sys/stat.h>

#include "host/sandbox.h"

/* The registry key of the table of what was required: name -> its value,
 * or the key itself while it loads (a loop). */
static const char loaded_key = 0;

static const char lib_env_key = 0;

/* The library env's __index: the module's globals, read raw, so a global
 * nobody defined is nil, as the library's author expected. */
static int lib_env_index(lua_State *L) {
  xcs_sandbox_push_env(L);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) == LUA_TNIL) xcs_sandbox_build_pending(L, 2);
  return 1;
}

/* Pushes the env that libraries from --lua-path run in, made on first use.
 * Libraries are written for plain Lua: they read globals that may be
 * missing (dkjson asks for lpeg), and Penlight reads package.config and
 * io.stdout as it loads. So their env reads the module's globals raw (a
 * missing one is nil), writes go to the module's globals, and it adds
 * three things the module itself does not see: _G (itself), a package
 * table holding only config, path and loaded (the module's required
 * libraries), and an empty io. None of them reaches anything outside. */
static void push_lib_env(lua_State *L, xcs_module *m) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &lib_env_key) != LUA_TNIL) return;
  lua_pop(L, 1);
  lua_newtable(L); /* libenv */
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
  lua_newtable(L); /* package */
  lua_pushliteral(L, "/\n;\n?\n!\n-\n");
  lua_setfield(L, -2, "config");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const xcs_options *o = &m->host->opt;
  for (int i = 0; i < o->nlua_paths; i++) {
    if (i > 0) luaL_addchar(&b, ';');
    luaL_addstring(&b, o->lua_paths[i]);
    luaL_addstring(&b, "/?.lua;");
    luaL_addstring(&b, o->lua_paths[i]);
    luaL_addstring(&b, "/?/init.lua");
  }
  luaL_pushresult(&b);
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &loaded_key);
  lua_setfield(L, -2, "loaded");
  lua_setfield(L, -2, "package");
  lua_newtable(L);
  lua_setfield(L, -2, "io");
  lua_newtable(L); /* its metatable */
  lua_pushcfunction(L, lib_env_index);
  lua_setfield(L, -2, "__index");
  xcs_sandbox_push_env(L);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &lib_env_key);
}

/* require_file(path, name, library): loads path and runs it with name, in
 * the library env when it came from --lua-path. */
static int require_file(lua_State *L) {
  xcs_sandbox_loadfile(L, lua_tostring(L, 1));
  if (lua_toboolean(L, 3)) {
    push_lib_env(L, xcs_module_of(L));
    lua_setupvalue(L, -2, 1);
  }
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  return 1;
}

/* Pushes dir/name-with-slashes followed by suffix. */
static const char *push_candidate(lua_State *L, const char *dir, const char *name, size_t len,
                                  const char *suffix) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, dir);
  luaL_addchar(&b, '/');
  for (size_t i = 0; i < len; i++) luaL_addchar(&b, name[i] == '.' ? '/' : name[i]);
  luaL_addstring(&b, suffix);
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Pushes the path of the file that name is, and whether it is a library
 * of --lua-path: beside the module first (name.lua), then each --lua-path
 * directory in order (name.lua, then name/init.lua). Raises, listing every
 * place tried, when there is none. */
static int find_module(lua_State *L, xcs_module *m, const char *name, size_t len) {
  int base = lua_gettop(L);
  const xcs_options *o = &m->host->opt;
  /* Beside the module anything there is taken, so that a directory reads
   * as one ("cannot read ...: Is a directory"). */
  struct stat st;
  if (stat(push_candidate(L, m->dir, name, len, ".lua"), &st) == 0) return 0;
  for (int i = 0; i < o->nlua_paths; i++) {
    for (int init = 0; init < 2; init++) {
      if (is_file(push_candidate(L, o->lua_paths[i], name, len, init ? "/init.lua" : ".lua"))) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
        return 1;
      }
    }
  }
  /* Beside the module, the message is the one loading a missing file gives. */
  if (o->nlua_paths == 0) {
    lua_pushfstring(L, "cannot open %s: No such file or directory", lua_tostring(L, base + 1));
    return lua_error(L); /* no position: the message is the file's, as a load's is */
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b); /* the candidates stay below it, in order */
  for (int i = base + 2; i <= base + 1 + 2 * o->nlua_paths; i++) {
    luaL_addstring(&b, i > base + 2 ? ", " : "");
    luaL_addstring(&b, lua_tostring(L, i));
  }
  luaL_pushresult(&b);
  lua_pushfstring(L, "cannot open %s: No such file or directory; nor is '%s' under --lua-path "
                     "(no %s; C modules are never loaded)",
                  lua_tostring(L, base + 1), name, lua_tostring(L, -1));
  return lua_error(L);
}

/* require(name): name.lua beside the module (dots are folders), or a
 * library under --lua-path, run once in the module's sandbox; nothing else
 * can be required. */
static int sandbox_require(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &loaded_key); /* 2 */
  if (lua_getfield(L, 2, name) != LUA_TNIL) {
    if (lua_touserdata(L, -1) == &loaded_key)
      return luaL_error(L, "require: loop requiring '%s'", name);
    return 1;
  }
  lua_pop(L, 1);
  int ok = len > 0 && name[0] != '.' && name[len - 1] != '.';
  for (size_t i = 0; ok && i < len; i++) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         (c == '.' && name[i + 1] != '.');
  }
  if (!ok)
    return luaL_argerror(L, 1, "expected a module name such as 'util' or "
                               "'lib.util' (letters, digits, _ - and .)");
  int library = find_module(L, xcs_module_of(L), name, len); /* 3: path */
  lua_pushlightuserdata(L, (void *)&loaded_key);
  lua_setfield(L, 2, name); /* marks it loading, to catch loops */
  lua_pushcfunction(L, require_file);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 1);
  lua_pushboolean(L, library);
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
    /* Not loaded after all: a later require tries again, as Lua's does. */
    lua_pushnil(L);
    lua_setfield(L, 2, name);
    return lua_error(L);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

void xcs_sandbox_require_open(lua_State *L) {
  lua_pushcfunction(L, sandbox_require);
  lua_setfield(L, -2, "require");
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &loaded_key);
}
