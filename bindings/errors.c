/*
 * errors.c — network outcomes as nil, message, code (each one counted), and
 * misuse raised at the line of the module that made it.
 */
#include "bindings/errors.h"

#include <lauxlib.h>
#include <stdarg.h>
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
  return xcs_push_failf(L, status, "%s", uv_strerror(status));
}

static int push_coded(lua_State *L, const char *code, const char *fmt, va_list ap) {
  if (xcs_errors_counted) xcs_errors_counted(L, code);
  lua_pushnil(L);
  lua_pushfstring(L, "%s: ", code);
  lua_pushvfstring(L, fmt, ap);
  lua_concat(L, 2);
  lua_pushstring(L, code);
  return 3;
}

int xcs_push_failf(lua_State *L, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = push_coded(L, uv_err_name(status), fmt, ap);
  va_end(ap);
  return n;
}

int xcs_push_fail_at(lua_State *L, int status, const char *where) {
  if (status == UV_ECANCELED || status == UV_EPIPE || status == UV_ENOTCONN)
    return xcs_push_fail(L, status);
  return xcs_push_failf(L, status, "%s (%s)", uv_strerror(status), where);
}

int xcs_push_coded(lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = push_coded(L, code, fmt, ap);
  va_end(ap);
  return n;
}

int xcs_push_closed(lua_State *L, const char *why) {
  return xcs_push_coded(L, XCS_ECLOSED, "%s", why);
}

/* The C functions a misuse is not told at: registered by the layers above
 * (the port-keyed socket.* functions), so this one knows none of them. */
static lua_CFunction through[4];

void xcs_errors_see_through(lua_CFunction f) {
  for (size_t i = 0; i < sizeof through / sizeof through[0]; i++) {
    if (through[i] == f) return;
    if (through[i] == NULL) {
      through[i] = f;
      return;
    }
  }
}

static int seen_through(lua_CFunction f) {
  for (size_t i = 0; f && i < sizeof through / sizeof through[0] && through[i]; i++)
    if (through[i] == f) return 1;
  return 0;
}

int xcs_raise_at_caller(lua_State *L, const char *fmt, ...) {
  lua_Debug ar;
  int level = 1;
  while (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sf", &ar)) {
    int through = strcmp(ar.source, "=prelude") == 0 || seen_through(lua_tocfunction(L, -1));
    lua_pop(L, 1);
    if (!through) break;
    level++;
  }
  luaL_where(L, level);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
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
