/*
 * socket.c — the one entry point that opens every binding in order, then
 * runs the prelude (like luasocket's mod[] table).
 */
#include "bindings/socket.h"

#include <lauxlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/env.h"
#include "bindings/fs.h"
#include "bindings/handle.h"
#include "bindings/memory.h"
#include "bindings/names.h"
#include "bindings/portkeyed.h"
#include "bindings/sync.h"
#include "bindings/taskbox.h"
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "bindings/timer.h"
#include "bindings/tls_stream.h"
#include "bindings/udp.h"
#include "bindings/unix.h"
#include "bindings/core/log.h"

extern const char xcs_prelude[];
extern const size_t xcs_prelude_len;
extern const unsigned char xcs_prelude_bc[]; /* its bytecode (cmake/precompile.c) */
extern const size_t xcs_prelude_bc_len;

/* The prelude's chunk: its bytecode, made at build time for this liblua; a
 * liblua that refuses it (another version) parses the text. */
static void load_prelude(lua_State *L) {
  if (luaL_loadbufferx(L, (const char *)xcs_prelude_bc, xcs_prelude_bc_len, "=prelude", "b") ==
      LUA_OK)
    return;
  lua_pop(L, 1);
  if (luaL_loadbufferx(L, xcs_prelude, xcs_prelude_len, "=prelude", "t") != LUA_OK)
    lua_error(L);
}

/* log(line [, level]): one line of the module's log, tagged with its name,
 * at "error", "warn", "info" (the default) or "debug". */
static int l_log(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int level = XCS_LOG_INFO;
  if (!lua_isnoneornil(L, 2) &&
      (level = xcs_log_level_parse(luaL_checkstring(L, 2))) < 0)
    return luaL_argerror(L, 2, "expected \"error\", \"warn\", \"info\" or \"debug\"");
  xcs_module *m = xcs_module_of(L);
  xcs_log_bytes(m->host, level, m->name, s, len);
  return 0;
}

/* worker() -> this worker's number, the number of workers (1, 1 without
 * --workers). */
static int l_worker(lua_State *L) {
  xcs_host *h = xcs_module_of(L)->host;
  lua_pushinteger(L, h->worker);
  lua_pushinteger(L, h->workers);
  return 2;
}

/* kind(v): "listener", "tcp", "udp", "udp-connected", "unixdgram" or
 * "unixdgram-connected" for an open handle;
 * nil for a closed one; false for anything that is not a handle. */
static int l_kind(lua_State *L) {
  /* Every port-keyed call asks: the answers are the closure's upvalues, in
   * the order of kind_names, so none is hashed and interned again. */
  if (!xcs_handle_is(L, 1)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  xcs_handle *h = xcs_handle_get(L, 1, NULL);
  if (h == NULL) return 0;
  int k;
  if (h->type == &xcs_udp_type)
    k = xcs_udp_connected(h) ? 4 : 3;
  else if (h->type == &xcs_listener_type)
    k = 1;
  else if (h->type == &xcs_conn_type)
    k = 2;
  else if (h->type == &xcs_unixdgram_type)
    k = xcs_unixdgram_connected(h) ? 6 : 5;
  else
    k = 0;
  if (k == 0)
    lua_pushboolean(L, 0);
  else
    lua_pushvalue(L, lua_upvalueindex(k));
  return 1;
}

static const char *const kind_names[] = {"listener", "tcp", "udp", "udp-connected", "unixdgram",
                                         "unixdgram-connected"};

/* isaddress(s [, names]): whether s is an "ip:port" the sockets accept
 * (or, with names, a "name:port" a UDP write looks up). */
static int l_isaddress(lua_State *L) {
  struct sockaddr_storage sa;
  const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
  lua_pushboolean(L, s && (xcs_addr_parse(s, &sa) == 0 ||
                           (lua_toboolean(L, 2) && xcs_names_is_name(s))));
  return 1;
}

void xcs_socket_names(lua_State *L, int env, int loaded) {
  env = lua_absindex(L, env);
  loaded = lua_absindex(L, loaded);
  static const char *const tables[] = {"socket", "fs", NULL};
  for (int i = 0; tables[i]; i++) {
    lua_getfield(L, env, tables[i]);
    lua_setfield(L, loaded, tables[i]);
  }
  /* The classes' methods ("udp" for xcs.udp), as each class is made. */
  xcs_class_names(L, loaded);
}

/* The test API's state (host/xcs.c) has every class from the start, for
 * its specs find them in the registry; a module's are each made with its
 * first object (handle.h). */
static void open_classes(lua_State *L) {
  static const xcs_handle_type *const types[] = {&xcs_conn_type, &xcs_listener_type, &xcs_udp_type,
                                                 &xcs_unixdgram_type, &xcs_timer_type};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) xcs_handle_class(L, types[i]);
  static const xcs_class *const classes[] = {&xcs_queue_class, &xcs_cond_class,
                                             &xcs_taskbox_class};
  for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) xcs_sync_class(L, classes[i]);
  lua_pop(L, (int)(sizeof types / sizeof *types + sizeof classes / sizeof *classes));
}

/* on_unload(fn | nil): the module's unload hook, which the manager keeps. */
static int l_on_unload(lua_State *L) { return xcs_module_of(L)->host->mgr->on_unload(L); }

void xcs_socket_open(lua_State *L, int sandboxed) {
  int target = lua_absindex(L, -1);
  lua_createtable(L, 0, 32); /* core: 31 functions today, sized at once */
  xcs_task_open(L);
  xcs_tcp_open(L); /* first: it sets the hooks the connection class uses */
  if (!sandboxed) open_classes(L);
  xcs_udp_open(L);
  xcs_unix_open(L);
  xcs_timer_open(L);
  xcs_portkeyed_open(L);
  xcs_memory_open(L);
  xcs_sync_open(L);
  static const luaL_Reg core_fns[] = {
      {"log", l_log},
      {"on_unload", l_on_unload},
      {"list", xcs_handle_list},
      {"isaddress", l_isaddress},
      {"worker", l_worker},
      {NULL, NULL}};
  luaL_setfuncs(L, core_fns, 0);
  for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
    lua_pushstring(L, kind_names[i]);
  lua_pushcclosure(L, l_kind, (int)(sizeof kind_names / sizeof *kind_names));
  lua_setfield(L, -2, "kind");

  load_prelude(L);
  lua_pushvalue(L, target);
  lua_pushvalue(L, -3);
  lua_pushboolean(L, sandboxed);
  lua_call(L, 3, 0);
  lua_pop(L, 1); /* core */
  xcs_fs_open(L, target);
  xcs_env_open(L, target);
}
