/*
 * lib_json.c — json.encode, json.decode, json.null, json.array, json.is_array.
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

#define DEFAULT_MAX_DEPTH 1000

static const char null_sentinel = 0; /* json.null is its address */
static const char array_key = 0;     /* registry: the metatable of arrays */

/* UTF-8 ------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. Rejects
 * overlong forms, surrogates and code points over U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n) {
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

static size_t utf8_put(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Options ----------------------------------------------------------------- */

static int opt_depth(lua_State *L, int opts, const char *fname) {
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

/* Checks that opts (at index i) is nil or a table of only the known keys. */
static int check_opts(lua_State *L, int i, const char *fname, const char *const *known,
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

/* Decoding ---------------------------------------------------------------- */

typedef struct decoder {
  lua_State *L;
  const char *start, *p, *end;
  int depth, max_depth;
  const char *err; /* set on the first error; everything unwinds */
  size_t err_at;
} decoder;

static int fail(decoder *d, const char *at, const char *msg) {
  if (d->err == NULL) {
    d->err = msg;
    d->err_at = (size_t)(at - d->start) + 1;
  }
  return -1;
}

static void skip_ws(decoder *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')) d->p++;
}

static int hex4(const char *p, unsigned long *out) {
  unsigned long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned long)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned long)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned long)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* At the opening quote: pushes the string. */
static int decode_string(decoder *d) {
  const char *s = ++d->p;
  /* Fast path: no escapes. */
  const char *q = s;
  while (q < d->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 &&
         (unsigned char)*q < 0x80)
    q++;
  if (q < d->end && *q == '"') {
    lua_pushlstring(d->L, s, (size_t)(q - s));
    d->p = q + 1;
    return 0;
  }
  luaL_Buffer b;
  luaL_buffinit(d->L, &b);
  luaL_addlstring(&b, s, (size_t)(q - s));
  while (1) {
    if (q >= d->end) return fail(d, q, "unterminated string");
    unsigned char c = (unsigned char)*q;
    if (c == '"') break;
    if (c < 0x20) return fail(d, q, "control character in a string (escape it)");
    if (c >= 0x80) {
      size_t n = utf8_len((const unsigned char *)q, (size_t)(d->end - q));
      if (n == 0) return fail(d, q, "invalid UTF-8 in a string");
      luaL_addlstring(&b, q, n);
      q += n;
      continue;
    }
    if (c != '\\') {
      luaL_addchar(&b, (char)c);
      q++;
      continue;
    }
    if (q + 1 >= d->end) return fail(d, q, "unterminated string");
    char e = q[1];
    const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
    const char *hit = NULL;
    for (const char *m = map; *m; m += 2)
      if (*m == e) hit = m;
    if (hit) {
      luaL_addchar(&b, hit[1]);
      q += 2;
      continue;
    }
    if (e != 'u') return fail(d, q, "invalid escape in a string");
    unsigned long cp, lo;
    if (d->end - q < 6 || hex4(q + 2, &cp) != 0) return fail(d, q, "invalid \\u escape");
    q += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff) return fail(d, q - 6, "lone low surrogate in a \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (d->end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) != 0 || lo < 0xdc00 ||
          lo > 0xdfff)
        return fail(d, q - 6, "high surrogate not followed by a low one in a \\u escape");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      q += 6;
    }
    char out[4];
    luaL_addlstring(&b, out, utf8_put(out, cp));
  }
  luaL_pushresult(&b);
  d->p = q + 1;
  return 0;
}

static int decode_number(decoder *d) {
  const char *s = d->p, *q = s;
  if (q < d->end && *q == '-') q++;
  if (q < d->end && *q == '0') q++;
  else if (q < d->end && *q >= '1' && *q <= '9')
    while (q < d->end && *q >= '0' && *q <= '9') q++;
  else
    return fail(d, s, "expected a value");
  if (q < d->end && *q == '.') {
    q++;
    if (q >= d->end || *q < '0' || *q > '9') return fail(d, q, "expected a digit after '.'");
    while (q < d->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < d->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < d->end && (*q == '+' || *q == '-')) q++;
    if (q >= d->end || *q < '0' || *q > '9') return fail(d, q, "expected a digit in the exponent");
    while (q < d->end && *q >= '0' && *q <= '9') q++;
  }
  size_t len = (size_t)(q - s);
  char small[64];
  const char *text = small;
  if (len < sizeof small) {
    memcpy(small, s, len);
    small[len] = '\0';
  } else {
    lua_pushlstring(d->L, s, len); /* a 1000-digit number is still JSON */
    text = lua_tostring(d->L, -1);
  }
  /* Lua's own conversion: an integer when it fits, else a float. */
  size_t ok = lua_stringtonumber(d->L, text);
  if (text != small) lua_remove(d->L, -2);
  if (ok == 0) return fail(d, s, "number out of range"); /* not reached: JSON's are Lua's */
  d->p = q;
  return 0;
}

static int literal(decoder *d, const char *word, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0) return fail(d, d->p, "expected a value");
  d->p += n;
  return 0;
}

static int decode_value(decoder *d);

static int decode_array(decoder *d) {
  lua_State *L = d->L;
  const char *open = d->p++;
  if (++d->depth > d->max_depth) return fail(d, open, "nested too deep (max_depth)");
  luaL_checkstack(L, 4, "json.decode");
  lua_newtable(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
  lua_setmetatable(L, -2);
  skip_ws(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
    d->depth--;
    return 0;
  }
  for (lua_Integer i = 1;; i++) {
    if (decode_value(d) != 0) return -1;
    lua_rawseti(L, -2, i);
    skip_ws(d);
    if (d->p >= d->end) return fail(d, d->p, "unexpected end of text in an array");
    if (*d->p == ']') break;
    if (*d->p != ',') return fail(d, d->p, "expected ',' or ']' in an array");
    d->p++;
  }
  d->p++;
  d->depth--;
  return 0;
}

static int decode_object(decoder *d) {
  lua_State *L = d->L;
  const char *open = d->p++;
  if (++d->depth > d->max_depth) return fail(d, open, "nested too deep (max_depth)");
  luaL_checkstack(L, 4, "json.decode");
  lua_newtable(L);
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    d->depth--;
    return 0;
  }
  while (1) {
    skip_ws(d);
    if (d->p >= d->end) return fail(d, d->p, "unexpected end of text in an object");
    if (*d->p != '"') return fail(d, d->p, "expected a string key in an object");
    if (decode_string(d) != 0) return -1;
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') return fail(d, d->p, "expected ':' after a key");
    d->p++;
    if (decode_value(d) != 0) return -1;
    lua_rawset(L, -3); /* a repeated key: the last one wins */
    skip_ws(d);
    if (d->p >= d->end) return fail(d, d->p, "unexpected end of text in an object");
    if (*d->p == '}') break;
    if (*d->p != ',') return fail(d, d->p, "expected ',' or '}' in an object");
    d->p++;
  }
  d->p++;
  d->depth--;
  return 0;
}

static int decode_value(decoder *d) {
  skip_ws(d);
  if (d->p >= d->end) return fail(d, d->p, "unexpected end of text, expected a value");
  switch (*d->p) {
    case '{': return decode_object(d);
    case '[': return decode_array(d);
    case '"': return decode_string(d);
    case 't':
      if (literal(d, "true", 4)) return -1;
      lua_pushboolean(d->L, 1);
      return 0;
    case 'f':
      if (literal(d, "false", 5)) return -1;
      lua_pushboolean(d->L, 0);
      return 0;
    case 'n':
      if (literal(d, "null", 4)) return -1;
      lua_pushlightuserdata(d->L, (void *)&null_sentinel);
      return 0;
    default: return decode_number(d);
  }
}

/* json.decode(text [, opts]) -> value, or nil, message. */
static int l_decode(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "json.decode", "text", &len);
  static const char *const known[] = {"max_depth", "max_size", NULL};
  int opts = check_opts(L, 2, "json.decode", known, "max_depth, max_size");
  decoder d = {L, s, s, s + len, 0, opt_depth(L, opts, "json.decode"), NULL, 0};
  /* max_size: a bound on text from a peer, checked before any work (the
   * memory budget bounds the rest, but a big text costs time first). */
  if (opts && lua_getfield(L, opts, "max_size") != LUA_TNIL) {
    int ok;
    lua_Integer max = lua_tointegerx(L, -1, &ok);
    if (!ok || max < 0)
      return luaL_error(L, "json.decode: bad option max_size: expected an integer of 0 or more bytes");
    if ((lua_Unsigned)len > (lua_Unsigned)max) {
      lua_pushnil(L);
      lua_pushfstring(L, "json.decode: the text is %I bytes, over max_size (%I)", (lua_Integer)len, max);
      return 2;
    }
  }
  lua_settop(L, 2);
  if (decode_value(&d) == 0) {
    skip_ws(&d);
    if (d.p < d.end) fail(&d, d.p, "unexpected text after the value");
  }
  if (d.err == NULL) return 1;
  lua_settop(L, 2);
  lua_pushnil(L);
  unsigned char c = d.err_at <= len ? (unsigned char)s[d.err_at - 1] : 0;
  if (d.err_at > len)
    lua_pushfstring(L, "json.decode: %s at byte %d (the end of the text)", d.err, (int)d.err_at);
  else if (c >= 0x20 && c < 0x7f)
    lua_pushfstring(L, "json.decode: %s at byte %d ('%c')", d.err, (int)d.err_at, (int)c);
  else {
    char byte[8];
    snprintf(byte, sizeof byte, "0x%02x", (unsigned)c);
    lua_pushfstring(L, "json.decode: %s at byte %d (byte %s)", d.err, (int)d.err_at, byte);
  }
  return 2;
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
      size_t n = utf8_len((const unsigned char *)s + i, len - i);
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
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &null_sentinel;
}

static int is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
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
  int opts = check_opts(L, 2, "json.encode", known, "sort_keys, indent, max_depth");
  encoder e = {L, NULL, 0, opt_depth(L, opts, "json.encode"), NULL, 0};
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
  lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
  lua_setmetatable(L, 1);
  return 1;
}

/* json.is_array(v) -> whether v is a table marked as an array. */
static int l_is_array(lua_State *L) {
  lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && is_marked_array(L, 1));
  return 1;
}

void xcs_lib_json_open(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key) == LUA_TNIL) {
    lua_pop(L, 1);
    /* Protected: a module can neither read it (to add a __gc the sandbox
     * would never see) nor replace it on a decoded array. */
    lua_newtable(L);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__metatable");
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_key);
  } else {
    lua_pop(L, 1);
  }
  static const luaL_Reg fns[] = {{"encode", l_encode},
                                 {"decode", l_decode},
                                 {"array", l_array},
                                 {"is_array", l_is_array},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushlightuserdata(L, (void *)&null_sentinel);
  lua_setfield(L, -2, "null");
}
