/*
 * lib_http.c — HTTP/1.1 message heads and chunked bodies (RFC 9112), for
 * modules that keep their own receive buffer.
 *
 * Every parser takes (buffer, init) and looks at the buffer from init on:
 *
 *   value, next   the message part was complete; next is the position just
 *                 after it (where the body, or the next message, begins)
 *   false         incomplete: read more and call again with the same init
 *   nil, msg, status
 *                 malformed or over a limit; status is the HTTP status to
 *                 answer with (400, 413, 431, 501, 505)
 *
 * so a pipelined stream is parsed by moving init along one buffer. Lines
 * end with CRLF or a bare LF (RFC 9112 §2.2 lets a recipient accept it); a
 * bare CR, a control character, obsolete line folding, a space before a
 * field's colon, conflicting Content-Length values, and Content-Length with
 * Transfer-Encoding in a request (the usual request-smuggling shapes) are
 * refused. Nothing is looked at past max_head (a head) or max_body (a
 * chunked body) bytes, so a slow or huge peer costs bounded work per call.
 */
#include <lauxlib.h>
#include <stdarg.h>
#include <string.h>

#include "bindings/lib.h"

#define DEFAULT_MAX_HEAD (16 * 1024)
#define DEFAULT_MAX_HEADERS 100
#define DEFAULT_MAX_BODY ((lua_Integer)16 << 20)

typedef struct limits {
  lua_Integer max_head, max_headers, max_body;
} limits;

static int tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The options table at index i: max_head, max_headers, max_body. */
static limits get_limits(lua_State *L, int i, const char *fname) {
  limits lim = {DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS, DEFAULT_MAX_BODY};
  if (lua_isnoneornil(L, i)) return lim;
  xcs_lib_table(L, i, fname, "options");
  lua_pushnil(L);
  while (lua_next(L, i)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    lua_Integer *slot = strcmp(k, "max_head") == 0      ? &lim.max_head
                        : strcmp(k, "max_headers") == 0 ? &lim.max_headers
                        : strcmp(k, "max_body") == 0    ? &lim.max_body
                                                        : NULL;
    if (slot == NULL)
      luaL_error(L, "%s: bad argument #%d (options): unknown option %s (it takes: max_head, "
                    "max_headers, max_body)", fname, i, luaL_tolstring(L, -2, NULL));
    int ok;
    *slot = lua_tointegerx(L, -1, &ok);
    if (!ok || *slot < 1 || *slot > ((lua_Integer)1 << 53))
      luaL_error(L, "%s: bad option %s: expected a positive integer (up to 2^53)", fname, k);
    lua_pop(L, 1);
  }
  return lim;
}

static size_t get_init(lua_State *L, int i, size_t len, const char *fname) {
  lua_Integer init = xcs_lib_optinteger(L, i, fname, "init", 1);
  if (init < 1 || (size_t)init > len + 1)
    xcs_lib_argerror(L, i, fname, "init", "expected a position from 1 to %d (one past the "
                     "buffer's end), got %I", (int)len + 1, init);
  return (size_t)init - 1;
}

/* nil, "http.parse_X: why", status; returns 3. */
static int refuse(lua_State *L, const char *fname, int status, const char *fmt, ...) {
  lua_pushnil(L);
  va_list ap;
  va_start(ap, fmt);
  const char *why = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushfstring(L, "%s: %s", fname, why);
  lua_remove(L, -2);
  lua_pushinteger(L, status);
  return 3;
}

/* A line from p: its end (before CR LF or LF) and the start of the next,
 * or NULL when the buffer ends first. *bad is set for a bare CR. */
static const char *line_end(const char *p, const char *end, const char **next, int *bad) {
  const char *lf = memchr(p, '\n', (size_t)(end - p));
  if (lf == NULL) return NULL;
  *next = lf + 1;
  const char *e = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
  *bad = memchr(p, '\r', (size_t)(e - p)) != NULL;
  return e;
}

/* The first blank line from q (a line start) on: what follows it, or NULL. */
static const char *blank_line_after(const char *q, const char *end) {
  while (q < end) {
    const char *lf = memchr(q, '\n', (size_t)(end - q));
    if (lf == NULL) return NULL;
    if (lf == q || (lf == q + 1 && *q == '\r')) return lf + 1;
    q = lf + 1;
  }
  return NULL;
}

/* Skips the empty lines a head may come after (RFC 9112 §2.2). */
static const char *skip_empty_lines(const char *p, const char *end) {
  while (p < end) {
    if (*p == '\n') p++;
    else if (*p == '\r' && p + 1 < end && p[1] == '\n') p += 2;
    else break;
  }
  return p;
}

typedef struct framing {
  int has_length, chunked, te_other, has_host, hosts, keep_token, close_token;
  lua_Integer length;
  const char *bad; /* why the fields are malformed, or NULL */
  int bad_status;
} framing;

static int ieq(const char *a, size_t n, const char *b) {
  if (strlen(b) != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
    if (c != b[i]) return 0;
  }
  return 1;
}

/* Calls fn on each comma-separated token of v (trimmed). */
static void tokens(const char *v, size_t n, framing *f,
                   void (*fn)(framing *f, const char *t, size_t len, int last)) {
  size_t i = 0;
  while (i <= n) {
    const char *comma = memchr(v + i, ',', n - i);
    size_t e = comma ? (size_t)(comma - v) : n;
    size_t a = i, b = e;
    while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
    if (b > a) fn(f, v + a, b - a, comma == NULL);
    if (comma == NULL) break;
    i = e + 1;
  }
}

static void connection_token(framing *f, const char *t, size_t n, int last) {
  (void)last;
  if (ieq(t, n, "close")) f->close_token = 1;
  if (ieq(t, n, "keep-alive")) f->keep_token = 1;
}

static void te_token(framing *f, const char *t, size_t n, int last) {
  if (ieq(t, n, "chunked") && last && !f->chunked) f->chunked = 1;
  else f->te_other = 1;
}

static void length_token(framing *f, const char *t, size_t n, int last) {
  (void)last;
  lua_Integer v = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i] < '0' || t[i] > '9' || v > ((lua_Integer)1 << 53)) {
      f->bad = "a Content-Length that is not a number";
      f->bad_status = 400;
      return;
    }
    v = v * 10 + (t[i] - '0');
  }
  if (f->has_length && v != f->length) {
    f->bad = "conflicting Content-Length values";
    f->bad_status = 400;
  }
  f->has_length = 1;
  f->length = v;
}

/* Parses the field lines from p to end (the head's blank line excluded)
 * into a table pushed on L: lower-case name -> value, repeats joined with
 * ", " (RFC 9110 §5.3). Returns NULL, or why the fields are malformed. */
static const char *parse_fields(lua_State *L, const char *p, const char *end, lua_Integer max,
                                framing *f, int *status) {
  lua_newtable(L);
  lua_Integer count = 0;
  *status = 400;
  while (p < end) {
    const char *next;
    int bad;
    const char *e = line_end(p, end, &next, &bad);
    if (e == NULL) e = next = end; /* not reached: the head ends in a blank line */
    if (e == p) break;
    if (bad) return "a bare CR in a header line";
    if (*p == ' ' || *p == '\t') return "obsolete line folding in a header";
    if (++count > max) {
      *status = 431;
      return "too many header lines (max_headers)";
    }
    const char *c = p;
    while (c < e && tchar((unsigned char)*c)) c++;
    if (c == p || c >= e || *c != ':') {
      const char *w = c;
      while (w < e && (*w == ' ' || *w == '\t')) w++;
      return c > p && w > c && w < e && *w == ':' ? "a space before a header's colon"
                                                   : "a malformed header line";
    }
    const char *v = c + 1, *ve = e;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    for (const char *x = v; x < ve; x++)
      if (((unsigned char)*x < 0x20 && *x != '\t') || *x == 0x7f)
        return "a control character in a header value";
    size_t nlen = (size_t)(c - p), vlen = (size_t)(ve - v);
    luaL_Buffer b;
    char *name = luaL_buffinitsize(L, &b, nlen);
    for (size_t i = 0; i < nlen; i++) name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
    luaL_pushresultsize(&b, nlen); /* name */
    const char *lname = lua_tostring(L, -1);
    if (strcmp(lname, "content-length") == 0) tokens(v, vlen, f, length_token);
    else if (strcmp(lname, "transfer-encoding") == 0) tokens(v, vlen, f, te_token);
    else if (strcmp(lname, "connection") == 0) tokens(v, vlen, f, connection_token);
    else if (strcmp(lname, "host") == 0) f->hosts++;
    if (f->bad) {
      *status = f->bad_status;
      return f->bad;
    }
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushlstring(L, v, vlen);
    } else {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, v, vlen);
      lua_concat(L, 3);
    }
    lua_rawset(L, -3);
    p = next;
  }
  return NULL;
}

/* "HTTP/d.d" at p (8 bytes): the minor version, or -1; *major set. */
static int version_at(const char *p, const char *e, int *major) {
  if (e - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
      p[7] < '0' || p[7] > '9')
    return -1;
  *major = p[5] - '0';
  return p[7] - '0';
}

static void set_framing(lua_State *L, const framing *f, int minor) {
  lua_pushboolean(L, minor >= 1 ? !f->close_token : f->keep_token && !f->close_token);
  lua_setfield(L, -2, "keep_alive");
  lua_pushboolean(L, f->chunked);
  lua_setfield(L, -2, "chunked");
  if (f->has_length && !f->chunked) {
    lua_pushinteger(L, f->length);
    lua_setfield(L, -2, "length");
  }
}

/* Where the head from *at ends (moving *at past empty lines before it);
 * or NULL, with false or nil, msg, 431 pushed and counted in *results. */
static const char *find_head(lua_State *L, const char *fname, const char **at, const char *end,
                             const limits *lim, int *results) {
  size_t avail = (size_t)(end - *at);
  const char *stop = avail > (size_t)lim->max_head ? *at + lim->max_head : end;
  const char *start = skip_empty_lines(*at, stop);
  const char *he = start < stop ? blank_line_after(start, stop) : NULL;
  if (he != NULL) {
    *at = start;
    return he;
  }
  if (avail >= (size_t)lim->max_head) {
    *results = refuse(L, fname, 431, "the head is over %I bytes (max_head)", lim->max_head);
  } else {
    lua_pushboolean(L, 0);
    *results = 1;
  }
  return NULL;
}

/* A head as both parsers begin it: the buffer, the limits, where the head
 * starts (at) and ends (he), and its first line (up to e; the fields from
 * next). */
typedef struct head {
  const char *buf, *at, *he, *e, *next;
  limits lim;
} head;

/* Reads the arguments (buf [, init [, opts]]) and finds the head and its
 * first line. 0 when there is one; otherwise the count of results pushed:
 * false while the head is incomplete, or a refusal (431, or 400 naming
 * `line` for a bare CR in it). */
static int open_head(lua_State *L, const char *fname, const char *line, head *h) {
  size_t len;
  h->buf = xcs_lib_string(L, 1, fname, "buffer", &len);
  size_t init = get_init(L, 2, len, fname);
  h->lim = get_limits(L, 3, fname);
  lua_settop(L, 3);
  h->at = h->buf + init;
  int results;
  h->he = find_head(L, fname, &h->at, h->buf + len, &h->lim, &results);
  if (h->he == NULL) return results;
  int bad;
  h->e = line_end(h->at, h->he, &h->next, &bad);
  if (bad) return refuse(L, fname, 400, "a bare CR in the %s line", line);
  return 0;
}

/* The head's fields into the message table at 4 (as "headers"); 0, or a
 * refusal's count of results. */
static int read_fields(lua_State *L, const char *fname, const head *h, framing *f) {
  memset(f, 0, sizeof *f);
  int status;
  const char *why = parse_fields(L, h->next, h->he, h->lim.max_headers, f, &status); /* 5 */
  if (why) return refuse(L, fname, status, "%s", why);
  lua_setfield(L, 4, "headers");
  return 0;
}

/* http.parse_request(buf [, init [, opts]]) -> request, next. */
static int l_parse_request(lua_State *L) {
  static const char fname[] = "http.parse_request";
  head h;
  int results = open_head(L, fname, "request", &h);
  if (results) return results;
  const char *at = h.at, *e = h.e;
  const char *sp1 = memchr(at, ' ', (size_t)(e - at));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1)) : NULL;
  if (sp1 == NULL || sp2 == NULL || sp1 == at || sp2 == sp1 + 1)
    return refuse(L, fname, 400, "a malformed request line");
  for (const char *x = at; x < sp1; x++)
    if (!tchar((unsigned char)*x)) return refuse(L, fname, 400, "a malformed method");
  for (const char *x = sp1 + 1; x < sp2; x++)
    if ((unsigned char)*x <= 0x20 || (unsigned char)*x >= 0x7f)
      return refuse(L, fname, 400, "a malformed request target");
  int major;
  int minor = version_at(sp2 + 1, e, &major);
  if (minor < 0) return refuse(L, fname, 400, "a malformed HTTP version");
  if (major != 1) return refuse(L, fname, 505, "HTTP/%d.%d is not supported", major, minor);

  lua_createtable(L, 0, 10); /* 4: the request */
  lua_pushlstring(L, at, (size_t)(sp1 - at));
  lua_setfield(L, 4, "method");
  lua_pushlstring(L, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  lua_setfield(L, 4, "target");
  const char *qm = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
  lua_pushlstring(L, sp1 + 1, (size_t)((qm ? qm : sp2) - sp1 - 1));
  lua_setfield(L, 4, "path");
  if (qm) {
    lua_pushlstring(L, qm + 1, (size_t)(sp2 - qm - 1));
    lua_setfield(L, 4, "query");
  }
  lua_pushlstring(L, sp2 + 6, 3);
  lua_setfield(L, 4, "version");

  framing f;
  if ((results = read_fields(L, fname, &h, &f))) return results;
  if (minor >= 1 && f.hosts != 1)
    return refuse(L, fname, 400, f.hosts ? "more than one Host header" : "no Host header (HTTP/1.1 needs one)");
  if (f.te_other || (f.chunked && minor == 0)) {
    if (minor == 0) return refuse(L, fname, 400, "Transfer-Encoding in an HTTP/1.0 request");
    return refuse(L, fname, 501, "a transfer coding other than chunked");
  }
  if (f.chunked && f.has_length)
    return refuse(L, fname, 400, "both Content-Length and Transfer-Encoding");
  set_framing(L, &f, minor);
  lua_pushinteger(L, (lua_Integer)(h.he - h.buf) + 1);
  return 2;
}

/* http.parse_response(buf [, init [, opts]]) -> response, next. */
static int l_parse_response(lua_State *L) {
  static const char fname[] = "http.parse_response";
  head h;
  int results = open_head(L, fname, "status", &h);
  if (results) return results;
  const char *at = h.at, *e = h.e;
  int major;
  int minor = e - at >= 8 ? version_at(at, at + 8, &major) : -1;
  if (minor < 0) return refuse(L, fname, 400, "a malformed status line");
  if (major != 1) return refuse(L, fname, 505, "HTTP/%d.%d is not supported", major, minor);
  const char *s = at + 8;
  if (e - s < 4 || s[0] != ' ' || s[1] < '1' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
      s[3] < '0' || s[3] > '9' || (e - s > 4 && s[4] != ' '))
    return refuse(L, fname, 400, "a malformed status code");
  for (const char *x = s + 4; x < e; x++)
    if (((unsigned char)*x < 0x20 && *x != '\t') || *x == 0x7f)
      return refuse(L, fname, 400, "a control character in the reason phrase");
  lua_createtable(L, 0, 8); /* 4 */
  lua_pushlstring(L, at + 5, 3);
  lua_setfield(L, 4, "version");
  lua_pushinteger(L, (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
  lua_setfield(L, 4, "status");
  lua_pushlstring(L, e - s > 4 ? s + 5 : e, e - s > 4 ? (size_t)(e - s - 5) : 0);
  lua_setfield(L, 4, "reason");
  framing f;
  if ((results = read_fields(L, fname, &h, &f))) return results;
  if (f.te_other) return refuse(L, fname, 501, "a transfer coding other than chunked");
  set_framing(L, &f, minor); /* Transfer-Encoding overrides Content-Length (§6.3) */
  lua_pushinteger(L, (lua_Integer)(h.he - h.buf) + 1);
  return 2;
}

/* http.parse_chunked(buf [, init [, opts]]) -> body, next, trailers: the
 * whole chunked body from init (chunk extensions ignored), or false while
 * it is incomplete. */
static int l_parse_chunked(lua_State *L) {
  static const char fname[] = "http.parse_chunked";
  size_t len;
  const char *buf = xcs_lib_string(L, 1, fname, "buffer", &len);
  size_t init = get_init(L, 2, len, fname);
  limits lim = get_limits(L, 3, fname);
  lua_settop(L, 3);
  const char *p = buf + init, *end = buf + len;
  /* First pass: find the end and the size, copying nothing. */
  lua_Integer total = 0;
  const char *last = NULL; /* after the last chunk's size line */
  while (last == NULL) {
    const char *next;
    int bad;
    const char *e = line_end(p, end, &next, &bad);
    if (e == NULL) {
      /* 1024 bytes and a CR may still end well. */
      if ((size_t)(end - p) > 1025) return refuse(L, fname, 400, "a chunk-size line over 1024 bytes");
      lua_pushboolean(L, 0);
      return 1;
    }
    if (bad) return refuse(L, fname, 400, "a bare CR in a chunk-size line");
    if (e - p > 1024) return refuse(L, fname, 400, "a chunk-size line over 1024 bytes");
    lua_Integer size = 0;
    const char *x = p;
    for (; x < e; x++) {
      int d = *x >= '0' && *x <= '9' ? *x - '0' : *x >= 'a' && *x <= 'f' ? *x - 'a' + 10
              : *x >= 'A' && *x <= 'F' ? *x - 'A' + 10 : -1;
      if (d < 0) break;
      if (size > lim.max_body) break; /* caught below */
      size = size * 16 + d;
    }
    if (x == p) return refuse(L, fname, 400, "a malformed chunk size");
    if (x < e && *x != ';' && *x != ' ' && *x != '\t') {
      if ((*x >= '0' && *x <= '9') || (*x >= 'a' && *x <= 'f') || (*x >= 'A' && *x <= 'F'))
        return refuse(L, fname, 413, "the body is over %I bytes (max_body)", lim.max_body);
      return refuse(L, fname, 400, "a malformed chunk size");
    }
    for (const char *y = x; y < e; y++)
      if (((unsigned char)*y < 0x20 && *y != '\t') || *y == 0x7f)
        return refuse(L, fname, 400, "a control character in a chunk extension");
    if (size > lim.max_body - total)
      return refuse(L, fname, 413, "the body is over %I bytes (max_body)", lim.max_body);
    if (size == 0) {
      last = next;
      break;
    }
    total += size;
    if ((size_t)(end - next) < (size_t)size + 1) {
      lua_pushboolean(L, 0);
      return 1;
    }
    const char *after = next + size;
    if (*after == '\n') p = after + 1;
    else if (*after == '\r' && after + 1 < end && after[1] == '\n') p = after + 2;
    else if (*after == '\r' && after + 1 == end) {
      lua_pushboolean(L, 0);
      return 1;
    } else
      return refuse(L, fname, 400, "a chunk not followed by CRLF");
  }
  /* The trailer section: field lines, then a blank line. */
  const char *te;
  if (last < end && (*last == '\n' || (*last == '\r' && last + 1 < end && last[1] == '\n'))) {
    te = last + (*last == '\n' ? 1 : 2);
  } else {
    te = blank_line_after(last, end);
    if (te == NULL) {
      if ((size_t)(end - last) > (size_t)lim.max_head)
        return refuse(L, fname, 431, "the trailers are over %I bytes (max_head)", lim.max_head);
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  /* Second pass: copy the data. */
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, (size_t)total);
  size_t n = 0;
  p = buf + init;
  while (1) {
    const char *next;
    int bad;
    line_end(p, end, &next, &bad);
    size_t size = 0;
    for (const char *x = p;; x++) {
      int d = *x >= '0' && *x <= '9' ? *x - '0' : *x >= 'a' && *x <= 'f' ? *x - 'a' + 10
              : *x >= 'A' && *x <= 'F' ? *x - 'A' + 10 : -1;
      if (d < 0) break;
      size = size * 16 + (size_t)d;
    }
    if (size == 0) break;
    memcpy(out + n, next, size);
    n += size;
    p = next + size + (next[size] == '\n' ? 1 : 2);
  }
  luaL_pushresultsize(&b, n); /* 4: body */
  lua_pushinteger(L, (lua_Integer)(te - buf) + 1);
  framing f;
  memset(&f, 0, sizeof f);
  int status;
  const char *why = parse_fields(L, last, te, lim.max_headers, &f, &status); /* 6 */
  if (why) return refuse(L, fname, status, "%s in the trailers", why);
  return 3;
}

void xcs_lib_http_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"parse_request", l_parse_request},
                                 {"parse_response", l_parse_response},
                                 {"parse_chunked", l_parse_chunked},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  xcs_lib_http_values(L); /* date, parse_date, reason */
}
