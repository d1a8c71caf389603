/*
 * xcs_configure.c — xcs.configure, and how long what it sets lasts.
 *
 * A setting lasts until the end of the innermost block it was made in:
 * an xcs.run, a busted test (`it`), a `describe` block, or a spec file. So
 * a test that configures cannot change the tests after it, whatever their
 * order, and a before_each's setting holds for each test of its block. The
 * blocks are told apart by busted's own events (test, describe and file
 * start/end), to which luaopen_xcs subscribes when busted is running; each
 * begin saves the options, each end puts them back.
 */
#include <lauxlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/errors.h"
#include "bindings/faults.h"
#include "bindings/guard.h"
#include "host/xcs.h"

static const char anchors_key = 0; /* registry: strings the options point into */

/* Keeps the string at idx alive for as long as the host may point at it
 * (a restored scope may point at a string replaced since). */
static const char *anchor(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &anchors_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &anchors_key);
  }
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return lua_tostring(L, idx);
}

void xcs_test_scope_begin(xcs_test *x) {
  if (x->nscopes < XCS_MAX_SCOPES) x->scopes[x->nscopes] = x->host.opt;
  x->nscopes++;
}

void xcs_test_scope_end(xcs_test *x) {
  if (x->nscopes == 0) return;
  if (--x->nscopes < XCS_MAX_SCOPES) x->host.opt = x->scopes[x->nscopes];
}

/* xcs._scope(event): busted's block events, "begin", "end", or "file"
 * (a spec file ended: back to the options xcs started with). */
static int l_scope(lua_State *L) {
  static const char *const events[] = {"begin", "end", "file", NULL};
  xcs_test *x = xcs_test_of(L);
  switch (luaL_checkoption(L, 1, NULL, events)) {
    case 0: xcs_test_scope_begin(x); break;
    case 1: xcs_test_scope_end(x); break;
    default:
      x->nscopes = 0;
      x->host.opt = x->defaults;
  }
  return 0;
}

/* Fault options ------------------------------------------------------------------ */

static const char *const fault_keys[] = {"udp_loss", "udp_dup", "udp_reorder", "delay_ms",
                                         "seed", NULL};

int xcs_test_read_faults(lua_State *L, int idx, const char *fname, xcs_fault_options *o) {
  int any = 0;
  double *probs[] = {&o->udp_loss, &o->udp_dup, &o->udp_reorder};
  for (int i = 0; fault_keys[i]; i++) {
    if (lua_getfield(L, idx, fault_keys[i]) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    any = 1;
    int isnum;
    if (i < 3) {
      lua_Number p = lua_tonumberx(L, -1, &isnum);
      if (!isnum || !(p >= 0 && p <= 1))
        luaL_error(L, "%s: %s must be a probability from 0 to 1, got %s", fname, fault_keys[i],
                   luaL_tolstring(L, -1, NULL));
      *probs[i] = p;
    } else {
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      lua_Integer top = i == 3 ? XCS_FAULT_MAX_DELAY_MS : LUA_MAXINTEGER;
      if (!isnum || v < 0 || v > top)
        luaL_error(L, "%s: %s must be an integer from 0 to %I, got %s", fname, fault_keys[i],
                   top, luaL_tolstring(L, -1, NULL));
      if (i == 3) {
        o->delay_ms = (unsigned)v;
      } else {
        o->seed = (uint64_t)v;
        o->seed_set = 1;
      }
    }
    lua_pop(L, 1);
  }
  return any;
}

/* xcs.configure ------------------------------------------------------------------ */

static const char *const config_keys[] = {
    "bind", "memory_limit", "cpu_limit", "linger_ms", "max_sockets", "max_connections",
    "ports", "unix_dir", "udp_loss", "udp_dup", "udp_reorder", "delay_ms", "seed",
    "max_clients", "max_per_address", "accept_rate", "accept_burst", "first_data_timeout",
    "idle_timeout", "max_queued", "report_interval", "read_dirs", "data_dir", "data_quota",
    "env", "strict", "proxy_protocol_from", "lua_path", "tls_dir", NULL};

/* A string or a list of strings at idx into list (at most max; false or
 * {}: none). Raises naming the option. */
static int read_list(lua_State *L, int idx, const char *name, const char **list, int max) {
  idx = lua_absindex(L, idx);
  if (lua_isboolean(L, idx) && !lua_toboolean(L, idx)) return 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    list[0] = anchor(L, idx);
    return 1;
  }
  if (!lua_istable(L, idx))
    luaL_error(L, "xcs.configure: %s must be a string, a list of strings or false, not a %s",
               name, luaL_typename(L, idx));
  int n = (int)luaL_len(L, idx);
  if (n > max) luaL_error(L, "xcs.configure: %s holds at most %d, not %d", name, max, n);
  for (int i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
      luaL_error(L, "xcs.configure: %s[%d] must be a string, not a %s", name, i,
                 luaL_typename(L, -1));
    list[i - 1] = anchor(L, -1);
    lua_pop(L, 1);
  }
  return n;
}

/* Raises on a key of the table at idx that is not one of keys, listing them. */
static void check_keys(lua_State *L, int idx, const char *fname, const char *const keys[]) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int known = 0;
    for (int i = 0; k && keys[i] && !known; i++) known = strcmp(k, keys[i]) == 0;
    if (known) continue;
    xcs_push_choices(L, keys);
    const char *list = lua_tostring(L, -1);
    luaL_error(L, "%s: unknown option %s (expected %s)", fname, luaL_tolstring(L, -2, NULL),
               list);
  }
}

/* A directory option of the table at 1: a path, or false for none. */
static void dir_option(lua_State *L, const char *name, const char **dir) {
  if (lua_getfield(L, 1, name) == LUA_TNIL) return;
  if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
    *dir = NULL;
  else if (lua_type(L, -1) == LUA_TSTRING)
    *dir = anchor(L, -1);
  else
    luaL_error(L, "xcs.configure: %s must be a path or false, not a %s", name,
               luaL_typename(L, -1));
}

/* xcs.configure{ ... }: host options for the modules loaded from now on,
 * and for the spec's own sockets, until the block it is called in ends. */
static int l_configure(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  check_keys(L, 1, "xcs.configure", config_keys);
  xcs_test *x = xcs_test_of(L);
  xcs_options o = x->host.opt; /* applied only once every value was read */
  if (lua_getfield(L, 1, "bind") != LUA_TNIL) {
    if (lua_isboolean(L, -1)) luaL_checktype(L, -1, LUA_TSTRING);
    o.nbinds = read_list(L, -1, "bind", o.binds, XCS_MAX_BINDS);
    struct sockaddr_storage sa;
    for (int i = 0; i < o.nbinds; i++)
      if (xcs_addr_from(o.binds[i], 0, &sa) != 0)
        return luaL_error(L, "xcs.configure: bind needs IP addresses, not '%s'", o.binds[i]);
    if (o.nbinds == 0) return luaL_error(L, "xcs.configure: bind needs an IP address");
  }
  if (lua_getfield(L, 1, "memory_limit") != LUA_TNIL)
    o.memory_limit = (size_t)luaL_checkinteger(L, -1) << 20;
  if (lua_getfield(L, 1, "cpu_limit") != LUA_TNIL) o.cpu_limit = luaL_checknumber(L, -1);
  if (lua_getfield(L, 1, "max_sockets") != LUA_TNIL)
    o.max_sockets = (int)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "max_connections") != LUA_TNIL)
    o.max_connections = (int)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "ports") != LUA_TNIL && xcs_ports_parse(luaL_checkstring(L, -1), &o) != 0)
    return luaL_error(L, "xcs.configure: ports must be a list such as \"0,1024-65535\"");
  if (lua_getfield(L, 1, "linger_ms") != LUA_TNIL)
    o.linger_ms = (unsigned)luaL_checkinteger(L, -1);
  dir_option(L, "unix_dir", &o.unix_dir);
  dir_option(L, "tls_dir", &o.tls_dir);
  if (lua_getfield(L, 1, "strict") != LUA_TNIL) {
    luaL_checktype(L, -1, LUA_TBOOLEAN);
    o.strict = lua_toboolean(L, -1);
  }
  if (lua_getfield(L, 1, "lua_path") != LUA_TNIL) /* as --lua-path given once for each */
    o.nlua_paths = read_list(L, -1, "lua_path", o.lua_paths, XCS_MAX_LUA_PATHS);
  if (lua_getfield(L, 1, "read_dirs") != LUA_TNIL)
    o.nread_dirs = read_list(L, -1, "read_dirs", o.read_dirs, XCS_MAX_DIRS);
  if (lua_getfield(L, 1, "env") != LUA_TNIL) {
    o.nenv = read_list(L, -1, "env", o.env_names, XCS_MAX_ENV);
    for (int i = 0; i < o.nenv; i++)
      if (o.env_names[i][0] == '\0' || strchr(o.env_names[i], '='))
        return luaL_error(L, "xcs.configure: env names a variable, not \"%s\"", o.env_names[i]);
  }
  dir_option(L, "data_dir", &o.data_dir);
  if (lua_getfield(L, 1, "data_quota") != LUA_TNIL) {
    lua_Integer q = luaL_checkinteger(L, -1);
    if (q < 0) return luaL_error(L, "xcs.configure: data_quota must be bytes, not %I", q);
    o.data_quota = (size_t)q;
  }
  lua_settop(L, 1);
  xcs_guard_options_read(L, 1, "xcs.configure", &o.guard);
  int faults = xcs_test_read_faults(L, 1, "xcs.configure", &o.faults);
  x->host.opt = o;
  if (faults) xcs_faults_announce(&x->host); /* picks a seed if none was given */
  return 0;
}

void xcs_test_configure_open(lua_State *L) {
  lua_pushcfunction(L, l_configure);
  lua_setfield(L, -2, "configure");
  lua_pushcfunction(L, l_scope);
  lua_setfield(L, -2, "_scope");
}
