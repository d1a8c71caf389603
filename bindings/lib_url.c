/*
 * lib_url.c — percent-encoding (RFC 3986), query strings
 * (application/x-www-form-urlencoded) and splitting a URL into its parts.
 *
 * All of it reads text from outside: malformed input returns nil and a
 * message naming the byte, never raises. Only wrong argument types raise.
 */
#include <lauxlib.h>
#include <string.h>

#include "bindings/lib.h"

#define DEFAULT_MAX_ARGS 1000 /* as PHP's max_input_vars: far past any form a person fills in */

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Appends s percent-encoded: all but the unreserved characters. */
static void escape_into(xcs_buf *b, const char *s, size_t len) {
  static const char digits[] = "0123456789ABCDEF";
  xcs_buf_reserve(b, len);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      xcs_buf_addchar(b, (char)c);
    } else {
      char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
      xcs_buf_add(b, esc, 3);
    }
  }
}

/* Pushes s with %XX decoded (and '+' as a space if plus); or returns the
 * 1-based byte of a bad escape, pushing nothing. */
static size_t unescape_push(lua_State *L, const char *s, size_t len, int plus) {
  if (memchr(s, '%', len) == NULL && (!plus || memchr(s, '+', len) == NULL)) {
    lua_pushlstring(L, s, len);
    return 0;
  }
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 2 < len ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        luaL_pushresultsize(&b, 0);
        lua_pop(L, 1);
        return i + 1;
      }
      p[n++] = (char)(hi << 4 | lo);
      i += 2;
      continue;
    }
    p[n++] = plus && c == '+' ? ' ' : c;
  }
  luaL_pushresultsize(&b, n);
  return 0;
}

static int bad_escape(lua_State *L, const char *fname, size_t at) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: a '%%' not followed by two hex digits at byte %d", fname, (int)at);
  return 2;
}

/* url.escape(s): every byte but A-Z a-z 0-9 - . _ ~ as %XX. */
static int l_escape(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "url.escape", "s", &len);
  xcs_buf *b = xcs_buf_new(L);
  escape_into(b, s, len);
  xcs_buf_push(b);
  return 1;
}

/* url.unescape(s [, plus]): %XX decoded; '+' as a space too when plus. */
static int l_unescape(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "url.unescape", "s", &len);
  size_t at = unescape_push(L, s, len, lua_toboolean(L, 2));
  return at ? bad_escape(L, "url.unescape", at) : 1;
}

/* url.parse_query(s [, max]) -> { name = value }: a name without '=' is
 * true, a repeated name a list of its values in order. More than max
 * (default 1000) arguments, or a bad escape, returns nil, message. */
static int l_parse_query(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "url.parse_query", "query", &len);
  lua_Integer max = xcs_lib_optinteger(L, 2, "url.parse_query", "max", DEFAULT_MAX_ARGS);
  if (max < 1)
    return xcs_lib_argerror(L, 2, "url.parse_query", "max", "expected a positive count, got %I", max);
  lua_settop(L, 2);
  if (len > 0 && s[0] == '?') s++, len--; /* a query as it appears in a URL */
  lua_newtable(L); /* 3 */
  lua_Integer count = 0;
  size_t i = 0;
  while (i < len) {
    const char *amp = memchr(s + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - s) : len;
    if (end > i) {
      if (++count > max) {
        lua_pushnil(L);
        lua_pushfstring(L, "url.parse_query: more than %I arguments (max)", max);
        return 2;
      }
      const char *eq = memchr(s + i, '=', end - i);
      size_t klen = eq ? (size_t)(eq - s) - i : end - i;
      size_t at = unescape_push(L, s + i, klen, 1); /* 4: name */
      if (at) return bad_escape(L, "url.parse_query", i + at);
      if (eq) {
        size_t v = (size_t)(eq - s) + 1;
        at = unescape_push(L, s + v, end - v, 1); /* 5: value */
        if (at) return bad_escape(L, "url.parse_query", v + at);
      } else {
        lua_pushboolean(L, 1);
      }
      lua_pushvalue(L, 4);
      int t = lua_rawget(L, 3);
      if (t == LUA_TNIL) {
        lua_pop(L, 1);
        lua_rawset(L, 3);
      } else if (t == LUA_TTABLE) {
        lua_insert(L, -2); /* 4 name, 5 list, 6 value */
        lua_rawseti(L, 5, (lua_Integer)lua_rawlen(L, 5) + 1);
        lua_pop(L, 2);
      } else {
        lua_createtable(L, 2, 0); /* 4 name, 5 value, 6 first, 7 list */
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 2);
        lua_rawset(L, 3);
      }
    }
    i = end + 1;
  }
  return 1;
}

static void check_value(lua_State *L, int idx, const char *name) {
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER || (t == LUA_TBOOLEAN && lua_toboolean(L, idx))) return;
  luaL_error(L, "url.build_query: argument '%s' is a %s (expected a string, a number, true, or a "
                "list of those)", name, luaL_typename(L, idx));
}

/* Appends name=value (the value on top; true: the name alone). */
static void add_pair(lua_State *L, xcs_buf *b, const char *k, size_t klen) {
  check_value(L, -1, k);
  if (b->n > 0) xcs_buf_addchar(b, '&');
  escape_into(b, k, klen);
  if (lua_type(L, -1) == LUA_TBOOLEAN) return;
  size_t vlen;
  const char *v = lua_tolstring(L, -1, &vlen); /* a number becomes a string in its slot */
  xcs_buf_addchar(b, '=');
  escape_into(b, v, vlen);
}

/* url.build_query(t): names sorted, so equal tables give equal strings;
 * a list value repeats its name; false leaves the name out. */
static int l_build_query(lua_State *L) {
  xcs_lib_table(L, 1, "url.build_query", "args");
  lua_settop(L, 1);
  lua_newtable(L); /* 2: the names, sorted by insertion (queries are small) */
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "url.build_query: a name is a %s (expected strings)", luaL_typename(L, -1));
    lua_Integer j = ++n;
    for (; j > 1; j--) {
      lua_rawgeti(L, 2, j - 1);
      int less = lua_compare(L, -2, -1, LUA_OPLT);
      if (!less) {
        lua_pop(L, 1);
        break;
      }
      lua_rawseti(L, 2, j);
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, 2, j);
  }
  xcs_buf *b = xcs_buf_new(L); /* 3 */
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i); /* 4: name */
    size_t klen;
    const char *k = lua_tolstring(L, 4, &klen);
    lua_pushvalue(L, 4);
    lua_rawget(L, 1); /* 5: value */
    if (lua_type(L, 5) == LUA_TTABLE) {
      lua_Integer m = (lua_Integer)lua_rawlen(L, 5);
      for (lua_Integer j = 1; j <= m; j++) {
        lua_rawgeti(L, 5, j);
        add_pair(L, b, k, klen);
        lua_pop(L, 1);
      }
    } else if (!(lua_type(L, 5) == LUA_TBOOLEAN && !lua_toboolean(L, 5))) {
      add_pair(L, b, k, klen);
    }
    lua_settop(L, 3);
  }
  xcs_buf_push(b);
  return 1;
}

static void set_part(lua_State *L, const char *name, const char *s, size_t len) {
  lua_pushlstring(L, s, len);
  lua_setfield(L, -2, name);
}

static int parse_fail(lua_State *L, const char *what, size_t at) {
  lua_pushnil(L);
  lua_pushfstring(L, "url.parse: %s at byte %d", what, (int)at);
  return 2;
}

/* url.parse(s) -> { scheme, user, password, host, port, path, query,
 * fragment }, each only when present, as written (still percent-encoded),
 * except that scheme is lower-cased, an IPv6 host loses its brackets and
 * port is an integer. A reference without a scheme ("/a?b") parses too. */
static int l_parse(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "url.parse", "url", &len);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
      return parse_fail(L, "a space or control character", i + 1);
  lua_settop(L, 1);
  lua_newtable(L);
  const char *p = s, *end = s + len;
  const char *hash = memchr(s, '#', len);
  if (hash) {
    set_part(L, "fragment", hash + 1, (size_t)(end - hash - 1));
    end = hash;
  }
  const char *q = memchr(s, '?', (size_t)(end - s));
  if (q) {
    set_part(L, "query", q + 1, (size_t)(end - q - 1));
    end = q;
  }
  /* scheme ":" — only if what comes before the first ':' is a scheme. */
  const char *c = p;
  if (c < end && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
    while (c < end && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                       (*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))
      c++;
    if (c < end && *c == ':') {
      luaL_Buffer b;
      char *out = luaL_buffinitsize(L, &b, (size_t)(c - p));
      for (const char *x = p; x < c; x++) out[x - p] = (char)(*x >= 'A' && *x <= 'Z' ? *x + 32 : *x);
      luaL_pushresultsize(&b, (size_t)(c - p));
      lua_setfield(L, -2, "scheme");
      p = c + 1;
    }
  }
  if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
    const char *a = p + 2, *ae = a;
    while (ae < end && *ae != '/') ae++;
    const char *at = NULL;
    for (const char *x = a; x < ae; x++)
      if (*x == '@') at = x;
    if (at) {
      const char *colon = memchr(a, ':', (size_t)(at - a));
      set_part(L, "user", a, (size_t)((colon ? colon : at) - a));
      if (colon) set_part(L, "password", colon + 1, (size_t)(at - colon - 1));
      a = at + 1;
    }
    const char *he;
    if (a < ae && *a == '[') {
      const char *rb = memchr(a, ']', (size_t)(ae - a));
      if (rb == NULL) return parse_fail(L, "an IPv6 host without its ']'", (size_t)(a - s) + 1);
      set_part(L, "host", a + 1, (size_t)(rb - a - 1));
      he = rb + 1;
      if (he < ae && *he != ':') return parse_fail(L, "text after an IPv6 host's ']'", (size_t)(he - s) + 1);
    } else {
      he = a;
      while (he < ae && *he != ':') he++;
      for (const char *x = a; x < he; x++)
        if (*x == '[' || *x == ']' || *x == '@')
          return parse_fail(L, "a character a host cannot hold", (size_t)(x - s) + 1);
      set_part(L, "host", a, (size_t)(he - a));
    }
    if (he < ae) { /* ':' port */
      lua_Integer port = 0;
      const char *d = he + 1;
      if (d == ae) goto no_port; /* "host:" means the default port */
      for (; d < ae; d++) {
        if (*d < '0' || *d > '9') return parse_fail(L, "a port that is not a number", (size_t)(d - s) + 1);
        port = port * 10 + (*d - '0');
        if (port > 65535) return parse_fail(L, "a port over 65535", (size_t)(he - s) + 2);
      }
      lua_pushinteger(L, port);
      lua_setfield(L, -2, "port");
    }
  no_port:
    p = ae;
  }
  set_part(L, "path", p, (size_t)(end - p));
  return 1;
}

void xcs_lib_url_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"escape", l_escape},
                                 {"unescape", l_unescape},
                                 {"parse_query", l_parse_query},
                                 {"build_query", l_build_query},
                                 {"parse", l_parse},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
}
