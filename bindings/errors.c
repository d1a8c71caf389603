/*
 * errors.c — libuv status codes turned into nil, message, code.
 */
#include "bindings/errors.h"

#include <uv.h>

void (*xcs_errors_counted)(lua_State *L, const char *code);

int xcs_push_fail(lua_State *L, int status) {
  if (status == UV_ECANCELED || status == UV_EPIPE || status == UV_ENOTCONN)
    return xcs_push_closed(L, "the socket is closed");
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
