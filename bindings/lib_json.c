/*
 * lib_json.c — json.encode, json.null, json.array, json.is_array (json.decode
 * is in lib_json_decode.c).
 *
 * RFC 8259 JSON. Decoding never raises on bad text (it comes from outside):
 * it returns nil and a message with the byte where it went wrong. Encoding
 * raises on what JSON cannot say (a function, NaN, a table whose keys are
 * neither strings nor 1..n, a cycle), naming it. Both are bounded: nesting
 * by max_depth (default 1000), results by the state's memory budget (every
 * byte and table comes from its lua_Alloc), and time by the size of the
 * input or the output. Tables are read raw: no metamethod of the module's
 * runs inside them.
 *
 * null and empty arrays: JSON null decodes to json.null (a light userdata,
 * so a null inside an array keeps the array's length), and a decoded array
 * carries a protected metatable that marks it as one, so [] and {} decode
 * differently and encode back as they came. json.array(t) marks a table of
 * the module's the same way.
 */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lib.h"
#include "bindings/lib_json.h"
#define DEFAULT_MAX_DEPTH 1000

const char xcs_json_null = 0;
const char xcs_json_array_key = 0;

/* UTF-8 ------------------------------------------------------------------- */

/* Rejects overlong forms, surrogates and code points over U+10FFFF
 * (RFC 3629). */
size_t xcs_json_utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return len;
}

/* Options ----------------------------------------------------------------- */

int xcs_json_depth(lua_State *L, int opts, const char *fname) {
  int depth = DEFAULT_MAX_DEPTH;
  if (opts && lua_getfield(L, opts, "max_depth") != LUA_TNIL) {
    int ok;
    lua_Integer d = lua_tointegerx(L, -1, &ok);
    if (!ok || d < 1 || d > 100000)
      luaL_error(L, "%s: bad option max_depth: expected an integer from 1 to 100000", fname);
    depth = (int)d;
  }
  if (opts) lua_pop(L, 1);
  return depth;
}

int xcs_json_options(lua_State *L, int i, const char *fname, const char *const *known,
                     const char *list) {
  if (lua_isnoneornil(L, i)) return 0;
  xcs_lib_table(L, i, fname, "options");
  lua_pushnil(L);
  while (lua_next(L, i)) {
    lua_pop(L, 1);
    int found = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = known; *k && !found; k++) found = strcmp(*k, lua_tostring(L, -1)) == 0;
    if (!found)
      luaL_error(L, "%s: bad argument #%d (options): unknown option %s (it takes: %s)", fname, i,
                 luaL_tolstring(L, -1, NULL), list);
  }
  return lua_absindex(L, i);
}

/* Encoding ---------------------------------------------------------------- */

typedef struct encoder {
  lua_State *L;
  xcs_buf *b;
  int sort, max_depth;
  const char *indent; /* NULL: compact */
  size_t indent_len;
} encoder;

static void newline(encoder *e, int depth) {
  if (e->indent == NULL) return;
  xcs_buf_addchar(e->b, '\n');
  for (int i = 0; i < depth; i++) xcs_buf_add(e->b, e->indent, e->indent_len);
}

static void encode_string(encoder *e, int idx) {
  size_t len;
  const char *s = lua_tolstring(e->L, idx, &len);
  xcs_buf *b = e->b;
  xcs_buf_reserve(b, len + 2);
  xcs_buf_addchar(b, '"');
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x80 &&
           s[run] != '"' && s[run] != '\\')
      run++;
    xcs_buf_add(b, s + i, run - i);
    i = run;
    if (i >= len) break;
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      size_t n = xcs_json_utf8_len((const unsigned char *)s + i, len - i);
      if (n == 0)
        luaL_error(e->L, "json.encode: a string is not valid UTF-8 (byte %d of %d); "
                         "encode binary data with base64 or hex first", (int)i + 1, (int)len);
      xcs_buf_add(b, s + i, n);
      i += n;
      continue;
    }
    char esc[8];
    switch (c) {
      case '"': xcs_buf_add(b, "\\\"", 2); break;
      case '\\': xcs_buf_add(b, "\\\\", 2); break;
      case '\n': xcs_buf_add(b, "\\n", 2); break;
      case '\r': xcs_buf_add(b, "\\r", 2); break;
      case '\t': xcs_buf_add(b, "\\t", 2); break;
      case '\b': xcs_buf_add(b, "\\b", 2); break;
      case '\f': xcs_buf_add(b, "\\f", 2); break;
      default:
        snprintf(esc, sizeof esc, "\\u%04x", c);
        xcs_buf_add(b, esc, 6);
    }
    i++;
  }
  xcs_buf_addchar(b, '"');
}

/* An integer's decimal digits at the end of buf (which holds 21 bytes):
 * returns where they start. snprintf's parsing of a format cost more than
 * the rest of encoding a number-heavy document. */
static char *integer_digits(lua_Integer i, char *end) {
  lua_Unsigned u = i < 0 ? (lua_Unsigned)0 - (lua_Unsigned)i : (lua_Unsigned)i; /* no overflow at the minimum */
  char *p = end;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (i < 0) *--p = '-';
  return p;
}

static void encode_number(encoder *e, int idx) {
  char num[48];
  int n;
  if (lua_isinteger(e->L, idx)) {
    char *start = integer_digits(lua_tointeger(e->L, idx), num + sizeof num);
    xcs_buf_add(e->b, start, (size_t)(num + sizeof num - start));
    return;
  } else {
    double v = (double)lua_tonumber(e->L, idx);
    if (isnan(v) || isinf(v))
      luaL_error(e->L, "json.encode: cannot encode %s (JSON has no NaN or infinity)",
                 isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
    /* The shortest of %.15g and %.17g that reads back the same. */
    n = snprintf(num, sizeof num, "%.15g", v);
    if (strtod(num, NULL) != v) n = snprintf(num, sizeof num, "%.17g", v);
    for (int i = 0; i < n; i++)
      if (num[i] == ',') num[i] = '.'; /* a locale's decimal comma */
    /* A float stays a float: 1.0 encodes as 1.0, which decodes as 1.0. */
    if (strspn(num, "-0123456789") == (size_t)n) {
      num[n++] = '.';
      num[n++] = '0';
    }
  }
  xcs_buf_add(e->b, num, (size_t)n);
}

static int is_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &xcs_json_null;
}

static int is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &xcs_json_array_key);
  int yes = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return yes;
}

static void encode_value(encoder *e, int idx, int depth);

typedef struct key {
  const char *s;
  size_t len;
} key;

static int key_cmp(const void *a, const void *b) {
  const key *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void encode_table(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  if (depth >= e->max_depth)
    luaL_error(L, "json.encode: tables nested deeper than %d levels (a cycle?)", e->max_depth);
  luaL_checkstack(L, 6, "json.encode");
  int array = is_marked_array(L, idx);
  lua_Integer n = 0, count = 0;
  int strings = 1, ints = 1;
  if (array) {
    n = (lua_Integer)lua_rawlen(L, idx);
  } else {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      count++;
      if (lua_type(L, -1) == LUA_TSTRING) {
        ints = 0;
      } else {
        strings = 0;
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
          if (lua_tointeger(L, -1) > n) n = lua_tointeger(L, -1);
        } else {
          ints = 0;
        }
      }
    }
    if (count > 0 && !strings && !(ints && n == count)) {
      /* Find a key to name in the message. */
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING && !(ints && lua_isinteger(L, -1))) break;
      }
      const char *k = lua_isnil(L, -1) ? NULL : luaL_tolstring(L, -1, NULL);
      if (ints)
        luaL_error(L, "json.encode: a table with integer keys that are not 1..n "
                      "(%d keys, the largest %I): JSON arrays have no holes (use json.null)",
                   (int)count, n);
      luaL_error(L, "json.encode: a table mixes keys JSON cannot hold together (key %s): "
                    "an object takes string keys, an array the keys 1..n",
                 k ? k : "?");
    }
    array = count > 0 && ints;
  }
  xcs_buf *b = e->b;
  if (array) {
    xcs_buf_addchar(b, '[');
    for (lua_Integer i = 1; i <= n; i++) {
      if (i > 1) xcs_buf_addchar(b, ',');
      newline(e, depth + 1);
      lua_rawgeti(L, idx, i);
      encode_value(e, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    if (n > 0) newline(e, depth);
    xcs_buf_addchar(b, ']');
    return;
  }
  xcs_buf_addchar(b, '{');
  const char *colon = e->indent ? ": " : ":";
  size_t colon_len = e->indent ? 2 : 1;
  if (e->sort && count > 1) {
    key *keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys, 0); /* strings stay in t */
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      keys[k].s = lua_tolstring(L, -1, &keys[k].len);
      k++;
    }
    qsort(keys, (size_t)count, sizeof *keys, key_cmp);
    for (lua_Integer i = 0; i < count; i++) {
      if (i > 0) xcs_buf_addchar(b, ',');
      newline(e, depth + 1);
      lua_pushlstring(L, keys[i].s, keys[i].len);
      encode_string(e, -1);
      xcs_buf_add(b, colon, colon_len);
      lua_rawget(L, idx);
      encode_value(e, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else {
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (!first) xcs_buf_addchar(b, ',');
      first = 0;
      newline(e, depth + 1);
      encode_string(e, -2);
      xcs_buf_add(b, colon, colon_len);
      encode_value(e, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
  }
  if (count > 0) newline(e, depth);
  xcs_buf_addchar(b, '}');
}

static void encode_value(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: xcs_buf_add(e->b, "null", 4); break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) xcs_buf_add(e->b, "true", 4);
      else xcs_buf_add(e->b, "false", 5);
      break;
    case LUA_TNUMBER: encode_number(e, idx); break;
    case LUA_TSTRING: encode_string(e, idx); break;
    case LUA_TTABLE: encode_table(e, idx, depth); break;
    default:
      if (is_null(L, idx)) {
        xcs_buf_add(e->b, "null", 4);
        break;
      }
      luaL_error(L, "json.encode: cannot encode a %s value", luaL_typename(L, idx));
  }
}

/* json.encode(value [, opts]) -> text. opts: sort_keys, indent, max_depth. */
static int l_encode(lua_State *L) {
  if (lua_isnone(L, 1)) return xcs_lib_argerror(L, 1, "json.encode", "value", "expected a value");
  static const char *const known[] = {"sort_keys", "indent", "max_depth", NULL};
  int opts = xcs_json_options(L, 2, "json.encode", known, "sort_keys, indent, max_depth");
  encoder e = {L, NULL, 0, xcs_json_depth(L, opts, "json.encode"), NULL, 0};
  if (opts) {
    lua_getfield(L, opts, "sort_keys");
    e.sort = lua_toboolean(L, -1);
    lua_pop(L, 1);
    int t = lua_getfield(L, opts, "indent");
    if (t == LUA_TSTRING) {
      e.indent = lua_tolstring(L, -1, &e.indent_len);
      if (strspn(e.indent, " \t") != e.indent_len)
        luaL_error(L, "json.encode: bad option indent: expected spaces or tabs, or true");
    } else if (t == LUA_TBOOLEAN) {
      if (lua_toboolean(L, -1)) e.indent = "  ", e.indent_len = 2;
    } else if (t != LUA_TNIL) {
      luaL_error(L, "json.encode: bad option indent: expected a string of spaces, or a boolean");
    }
    lua_pop(L, 1); /* the string stays alive in opts */
  }
  lua_settop(L, 2);
  e.b = xcs_buf_new(L); /* 3 */
  encode_value(&e, 1, 0);
  xcs_buf_push(e.b);
  return 1;
}

/* json.array([t]) -> t, marked as an array (so {} encodes as []). */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  xcs_lib_table(L, 1, "json.array", "t");
  lua_settop(L, 1);
  if (lua_getmetatable(L, 1)) {
    if (!is_marked_array(L, 1))
      return xcs_lib_argerror(L, 1, "json.array", "t", "the table has a metatable of its own");
    lua_pop(L, 1);
    return 1;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &xcs_json_array_key);
  lua_setmetatable(L, 1);
  return 1;
}

/* json.is_array(v) -> whether v is a table marked as an array. */
static int l_is_array(lua_State *L) {
  lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && is_marked_array(L, 1));
  return 1;
}

void xcs_lib_json_open(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &xcs_json_array_key) == LUA_TNIL) {
    lua_pop(L, 1);
    /* Protected: a module can neither read it (to add a __gc the sandbox
     * would never see) nor replace it on a decoded array. */
    lua_newtable(L);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__metatable");
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &xcs_json_array_key);
  } else {
    lua_pop(L, 1);
  }
  static const luaL_Reg fns[] = {{"encode", l_encode},
                                 {"decode", xcs_json_decode},
                                 {"array", l_array},
                                 {"is_array", l_is_array},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushlightuserdata(L, (void *)&xcs_json_null);
  lua_setfield(L, -2, "null");
}
