/*
 * lib_json_decode.c — json.decode: RFC 8259 text from outside into Lua values.
 *
 * It never raises on bad text: it returns nil and a message naming the byte
 * where the text went wrong. Nesting is bounded by max_depth, the text by
 * max_size, and what it builds by the module's memory budget (lib_json.c
 * says how null and arrays are marked).
 */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lib.h"
#include "bindings/lib_json.h"

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
      size_t n = xcs_json_utf8_len((const unsigned char *)q, (size_t)(d->end - q));
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
  lua_rawgetp(L, LUA_REGISTRYINDEX, &xcs_json_array_key);
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
      lua_pushlightuserdata(d->L, (void *)&xcs_json_null);
      return 0;
    default: return decode_number(d);
  }
}

/* json.decode(text [, opts]) -> value, or nil, message. */
int xcs_json_decode(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "json.decode", "text", &len);
  static const char *const known[] = {"max_depth", "max_size", NULL};
  int opts = xcs_json_options(L, 2, "json.decode", known, "max_depth, max_size");
  decoder d = {L, s, s, s + len, 0, xcs_json_depth(L, opts, "json.decode"), NULL, 0};
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
