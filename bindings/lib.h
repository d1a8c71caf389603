/*
 * lib.h — the small standard library every module has: json, base64, hex,
 * crypto, url, http and the wall clock (README "Libraries").
 *
 * Each library is one file (bindings/lib_<name>.c) with one opener that
 * pushes its table. Everything they build lives in the calling state and is
 * allocated through its lua_Alloc, so a module's use counts against its
 * memory budget; every loop is linear in its input or its output, which
 * the memory budget bounds, so no call holds the CPU watchdog off for long.
 * Misuse raises, naming the function and the argument; malformed input
 * (text from outside) returns nil and a message.
 */
#ifndef XCS_LIB_H
#define XCS_LIB_H

#include <lua.h>
#include <stddef.h>
#include <string.h>

/* Sets json, base64, hex, crypto, url, http and wallclock in the table on
 * top of the stack (the test API's table). */
void xcs_lib_open(lua_State *L);
/* Their names, NULL-ended; a module's env builds each when first touched
 * (host/sandbox.c). */
extern const char *const xcs_lib_names[];
/* Pushes a new copy of the library (or wallclock) called name, one of
 * xcs_lib_names. */
void xcs_lib_push(lua_State *L, const char *name);

/* Each pushes its library's table. */
void xcs_lib_json_open(lua_State *L);
void xcs_lib_base64_open(lua_State *L);
void xcs_lib_hex_open(lua_State *L);
void xcs_lib_crypto_open(lua_State *L);
void xcs_lib_url_open(lua_State *L);
void xcs_lib_http_open(lua_State *L);
/* Sets http's date, parse_date and reason in the table on top (lib_http_values.c). */
void xcs_lib_http_values(lua_State *L);

/* Misuse raises naming the function and the argument, as the socket
 * table's calls do: "json.decode: bad argument #1 (text): expected a
 * string, got table". (Lua's own luaL_check* name a library function only
 * when called by its field name, and never through pcall.) */
int xcs_lib_argerror(lua_State *L, int arg, const char *fname, const char *argname,
                     const char *fmt, ...);
/* A string (or a number, as Lua converts it) at arg. */
const char *xcs_lib_string(lua_State *L, int arg, const char *fname, const char *argname,
                           size_t *len);
lua_Integer xcs_lib_integer(lua_State *L, int arg, const char *fname, const char *argname);
/* ... or def when arg is none or nil. */
lua_Integer xcs_lib_optinteger(lua_State *L, int arg, const char *fname, const char *argname,
                               lua_Integer def);
void xcs_lib_table(lua_State *L, int arg, const char *fname, const char *argname);

/* A growing byte buffer for builders that must keep values on the stack
 * while they append (luaL_Buffer cannot: its use of the stack must stay
 * balanced). Its memory comes from the state's lua_Alloc and is held by a
 * userdata pushed by xcs_buf_new, which frees it when collected, so an
 * error raised half-way leaks nothing. */
typedef struct xcs_buf {
  lua_State *L;
  char *p;
  size_t n, cap;
} xcs_buf;

/* Pushes the holder; returns the buffer inside it. */
xcs_buf *xcs_buf_new(lua_State *L);
/* Makes room for `more` bytes (raises "not enough memory" at the budget);
 * returns where they go. */
char *xcs_buf_reserve(xcs_buf *b, size_t more);
/* Inline: encoders add many short pieces (an escape, one UTF-8 character),
 * and a call for each cost a third of encoding a string. */
static inline void xcs_buf_add(xcs_buf *b, const char *s, size_t len) {
  if (len == 0) return;
  if (b->cap - b->n < len || b->p == NULL) xcs_buf_reserve(b, len);
  memcpy(b->p + b->n, s, len);
  b->n += len;
}
static inline void xcs_buf_addchar(xcs_buf *b, char c) {
  if (b->n == b->cap) xcs_buf_reserve(b, 1);
  b->p[b->n++] = c;
}
/* Pushes the contents as a string and frees the memory at once. */
void xcs_buf_push(xcs_buf *b);

#endif
