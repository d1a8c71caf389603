/*
 * errors.c — libuv status codes turned into nil, message, code.
 */
#include "bindings/errors.h"

#include <lauxlib.h>
#include <string.h>
#include <uv.h>

void (*xcs_errors_counted)(lua_State *L, const char *code);

int xcs_push_fail(lua_State *L, int status) {
  /* The code stays "closed" for all three, so one test covers them; the
   * words say which end closed. */
  if (status == UV_ECANCELED) return xcs_push_closed(L, "the socket is closed");
  if (status == UV_EPIPE)
    return xcs_push_closed(L, "the peer closed the connection (EPIPE: it reads no more)");
  if (status == UV_ENOTCONN) return xcs_push_closed(L, "the socket is not connected (ENOTCONN)");
  if (xcs_errors_counted) xcs_errors_counted(L, uv_err_name(status));
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", uv_err_name(status), uv_strerror(status));
  lua_pushstring(L, uv_err_name(status));
  return 3;
}

int xcs_push_closed(lua_State *L, const char *why) {
  if (xcs_errors_counted) xcs_errors_counted(L, XCS_ECLOSED);
  lua_pushnil(L);
  lua_pushfstring(L, XCS_ECLOSED ": %s", why);
  lua_pushliteral(L, XCS_ECLOSED);
  return 3;
}

void xcs_push_choices(lua_State *L, const char *const names[]) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; names[i]; i++) {
    if (i > 0) luaL_addstring(&b, names[i + 1] ? ", " : " or ");
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
}

int xcs_check_choice(lua_State *L, int idx, const char *fname, const char *what,
                     const char *const names[]) {
  const char *given = luaL_checkstring(L, idx);
  for (int i = 0; names[i]; i++)
    if (strcmp(given, names[i]) == 0) return i;
  xcs_push_choices(L, names);
  return luaL_error(L, "%s: unknown %s '%s' (expected %s)", fname, what, given,
                    lua_tostring(L, -1));
}
