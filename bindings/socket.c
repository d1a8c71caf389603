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
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "bindings/timer.h"
#include "bindings/udp.h"
#include "bindings/unix.h"
#include "host/log.h"

extern const char xcs_prelude[];
extern const size_t xcs_prelude_len;

/* log(line): one line of the module's log, tagged with its name. */
static int l_log(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  xcs_module *m = xcs_module_of(L);
  xcs_log_bytes(m->host, m->name, s, len);
  return 0;
}

/* kind(v): "listener", "tcp", "udp", "udp-connected", "unixdgram" or
 * "unixdgram-connected" for an open handle;
 * nil for a closed one; false for anything that is not a handle. */
static int l_kind(lua_State *L) {
  if (!xcs_handle_is(L, 1)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  xcs_handle *h = xcs_handle_get(L, 1, NULL);
  if (h == NULL) return 0;
  if (h->type == &xcs_udp_type)
    lua_pushstring(L, xcs_udp_connected(h) ? "udp-connected" : "udp");
  else if (h->type == &xcs_listener_type)
    lua_pushliteral(L, "listener");
  else if (h->type == &xcs_conn_type)
    lua_pushliteral(L, "tcp");
  else if (h->type == &xcs_unixdgram_type)
    lua_pushstring(L, xcs_unixdgram_connected(h) ? "unixdgram-connected" : "unixdgram");
  else
    lua_pushboolean(L, 0);
  return 1;
}

/* isaddress(s): whether s is an "ip:port" the sockets accept. */
static int l_isaddress(lua_State *L) {
  struct sockaddr_storage sa;
  lua_pushboolean(L, lua_type(L, 1) == LUA_TSTRING &&
                         xcs_addr_parse(lua_tostring(L, 1), &sa) == 0);
  return 1;
}

void xcs_socket_open(lua_State *L, int sandboxed) {
  int target = lua_absindex(L, -1);
  lua_newtable(L); /* core */
  xcs_task_open(L);
  xcs_tcp_open(L);
  xcs_udp_open(L);
  xcs_unix_open(L);
  xcs_timer_open(L);
  static const luaL_Reg core_fns[] = {
      {"log", l_log},
      {"kind", l_kind},
      {"on_unload", xcs_module_l_on_unload},
      {"list", xcs_handle_list},
      {"isaddress", l_isaddress},
      {NULL, NULL}};
  luaL_setfuncs(L, core_fns, 0);

  if (luaL_loadbufferx(L, xcs_prelude, xcs_prelude_len, "=prelude", "t") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, target);
  lua_pushvalue(L, -3);
  lua_pushboolean(L, sandboxed);
  lua_call(L, 3, 0);
  lua_pop(L, 1); /* core */
  xcs_fs_open(L, target);
  xcs_env_open(L, target);
}
