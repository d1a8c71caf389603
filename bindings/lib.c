/*
 * lib.c — registers the module library (see lib.h), the byte buffer its
 * builders share, and the wall clock.
 */
#include "bindings/lib.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int xcs_lib_argerror(lua_State *L, int arg, const char *fname, const char *argname,
                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *why = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return luaL_error(L, "%s: bad argument #%d (%s): %s", fname, arg, argname, why);
}

static int expected(lua_State *L, int arg, const char *fname, const char *argname, const char *what) {
  return xcs_lib_argerror(L, arg, fname, argname, "expected %s, got %s", what,
                          lua_isnone(L, arg) ? "no value" : luaL_typename(L, arg));
}

const char *xcs_lib_string(lua_State *L, int arg, const char *fname, const char *argname,
                           size_t *len) {
  int t = lua_type(L, arg);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) expected(L, arg, fname, argname, "a string");
  return lua_tolstring(L, arg, len);
}

lua_Integer xcs_lib_integer(lua_State *L, int arg, const char *fname, const char *argname) {
  int ok;
  lua_Integer v = lua_tointegerx(L, arg, &ok);
  if (!ok) expected(L, arg, fname, argname, "an integer");
  return v;
}

lua_Integer xcs_lib_optinteger(lua_State *L, int arg, const char *fname, const char *argname,
                               lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : xcs_lib_integer(L, arg, fname, argname);
}

void xcs_lib_table(lua_State *L, int arg, const char *fname, const char *argname) {
  if (lua_type(L, arg) != LUA_TTABLE) expected(L, arg, fname, argname, "a table");
}

static int buf_gc(lua_State *L) {
  xcs_buf *b = lua_touserdata(L, 1);
  if (b->p != NULL) {
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    f(ud, b->p, b->cap, 0);
    b->p = NULL;
    b->cap = b->n = 0;
  }
  return 0;
}

static const char buf_meta = 0;

xcs_buf *xcs_buf_new(lua_State *L) {
  xcs_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  b->L = L;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &buf_meta) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &buf_meta);
  }
  lua_setmetatable(L, -2);
  return b;
}

char *xcs_buf_reserve(xcs_buf *b, size_t more) {
  if (b->cap - b->n < more || b->p == NULL) {
    if (more > (size_t)-1 / 2 - b->n) luaL_error(b->L, "not enough memory");
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < more) cap *= 2;
    void *ud;
    lua_Alloc f = lua_getallocf(b->L, &ud);
    char *p = f(ud, b->p, b->cap, cap);
    if (p == NULL) {
      lua_gc(b->L, LUA_GCCOLLECT); /* as Lua does before it gives up */
      p = f(ud, b->p, b->cap, cap);
    }
    /* The message Lua gives (lauxlib's buffers raise the same). */
    if (p == NULL) luaL_error(b->L, "not enough memory");
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->n;
}

void xcs_buf_push(xcs_buf *b) {
  lua_pushlstring(b->L, b->p ? b->p : "", b->n);
  void *ud;
  lua_Alloc f = lua_getallocf(b->L, &ud);
  if (b->p != NULL) f(ud, b->p, b->cap, 0);
  b->p = NULL;
  b->cap = b->n = 0;
}

/* wallclock(): milliseconds since 1970-01-01 UTC, an integer, from the
 * system's real-time clock (os.time() has only seconds, and now() is
 * monotonic: for intervals, not dates). */
static int l_wallclock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  return 1;
}

static void wallclock_open(lua_State *L) { lua_pushcfunction(L, l_wallclock); }

const char *const xcs_lib_names[] = {"json", "base64", "hex", "crypto", "url", "http", "wallclock",
                                     NULL};
static void (*const openers[])(lua_State *) = {xcs_lib_json_open, xcs_lib_base64_open,
                                               xcs_lib_hex_open, xcs_lib_crypto_open,
                                               xcs_lib_url_open, xcs_lib_http_open,
                                               wallclock_open};

void xcs_lib_push(lua_State *L, const char *name) {
  for (int i = 0; xcs_lib_names[i]; i++)
    if (strcmp(name, xcs_lib_names[i]) == 0) {
      openers[i](L);
      return;
    }
  luaL_error(L, "no library '%s'", name); /* a caller's bug: names come from xcs_lib_names */
}

void xcs_lib_open(lua_State *L) {
  int target = lua_absindex(L, -1);
  for (int i = 0; xcs_lib_names[i]; i++) {
    openers[i](L);
    lua_setfield(L, target, xcs_lib_names[i]);
  }
}
