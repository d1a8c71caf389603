/*
 * errors.c — libuv status codes turned into nil, message, code.
 */
#include "bindings/errors.h"

#include <uv.h>

int xcs_push_fail(lua_State *L, int status) {
  if (status == UV_ECANCELED || status == UV_EPIPE || status == UV_ENOTCONN)
    return xcs_push_closed(L, "the socket is closed");
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", uv_err_name(status), uv_strerror(status));
  lua_pushstring(L, uv_err_name(status));
  return 3;
}

int xcs_push_closed(lua_State *L, const char *why) {
  lua_pushnil(L);
  lua_pushfstring(L, XCS_ECLOSED ": %s", why);
  lua_pushliteral(L, XCS_ECLOSED);
  return 3;
}
