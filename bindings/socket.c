/*
 * socket.c — the one entry point that opens every binding in order, then
 * runs the prelude (like luasocket's mod[] table).
 */
#include "bindings/socket.h"

#include <lauxlib.h>
#include <string.h>

#include "bindings/handle.h"
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "bindings/timer.h"
#include "bindings/udp.h"
#include "host/log.h"

extern const char xcs_prelude[];
extern const size_t xcs_prelude_len;

/* log(line): one line of the module's log, tagged with its name. */
static int l_log(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  xcs_module *m = xcs_module_of(L);
  xcs_log(m->host, m->name, "%.*s", (int)len, s);
  return 0;
}

static int l_isclosed(lua_State *L) {
  lua_pushboolean(L, xcs_handle_get(L, 1, NULL) == NULL);
  return 1;
}

/* needs_to(h): whether a write on h must say where to (a listener, or a UDP
 * socket with no default peer), so the prelude can name the missing `to`. */
static int l_needs_to(lua_State *L) {
  xcs_handle *h = xcs_handle_check(L, 1, NULL);
  lua_pushboolean(L, h->type == &xcs_listener_type ||
                         (h->type == &xcs_udp_type && !xcs_udp_connected(h)));
  return 1;
}

void xcs_socket_open(lua_State *L, int sandboxed) {
  int target = lua_absindex(L, -1);
  lua_newtable(L); /* core */
  xcs_task_open(L);
  xcs_tcp_open(L);
  xcs_udp_open(L);
  xcs_timer_open(L);
  lua_pushcfunction(L, l_log);
  lua_setfield(L, -2, "log");
  lua_pushcfunction(L, l_isclosed);
  lua_setfield(L, -2, "isclosed");
  lua_pushcfunction(L, l_needs_to);
  lua_setfield(L, -2, "needs_to");

  if (luaL_loadbufferx(L, xcs_prelude, xcs_prelude_len, "=prelude", "t") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, target);
  lua_pushvalue(L, -3);
  lua_pushboolean(L, sandboxed);
  lua_call(L, 3, 0);
  lua_pop(L, 1); /* core */
}
