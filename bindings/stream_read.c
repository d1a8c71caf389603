/*
 * stream_read.c — a connection's reads, as a module calls them: whatever has
 * arrived (read(), readany), a count, a line, an integer line, everything
 * until the peer closes, or up to a delimiter (readuntil); each bounded
 * (maxline, maxall), each waiting with a timeout. What a read takes comes
 * from the receive buffer (stream_rx.c), which stream.c fills.
 */
#include <lauxlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/stream.h"
#include "bindings/task.h"

/* What a read waits for. While it waits the stack is
 *     conn, mode, n, delimiter|nil, deadline
 * so the continuation finds everything again after the yield (until the
 * first wait, the last slot holds the timeout in seconds). */
enum { RD_ANY, RD_BYTES, RD_LINE, RD_ALL, RD_UPTO, RD_UNTIL, RD_NUM };
static const char *const rd_fname[] = {"read",    "read",      "read", "read",
                                       "readany", "readuntil", "read"};

static int too_long(lua_State *L, xcs_conn *c, const char *what, size_t max,
                    const char *option) {
  xcs_push_failf(L, UV_EMSGSIZE, "%s longer than %I bytes (%s)", what, (lua_Integer)max, option);
  lua_pushlstring(L, xcs_conn_data(c), xcs_conn_buffered(c));
  return 4;
}

/* The integer a "*n" line of k bytes at p spells (an optional sign, then
 * decimal digits, nothing else), into *v; 0 if it spells none or
 * overflows. */
static int line_integer(const char *p, size_t k, lua_Integer *v) {
  size_t i = k > 0 && (p[0] == '-' || p[0] == '+');
  if (i == k) return 0;
  lua_Unsigned u = 0, max = (lua_Unsigned)LUA_MAXINTEGER + (p[0] == '-');
  for (; i < k; i++) {
    unsigned d = (unsigned char)p[i] - '0';
    if (d > 9 || u > (max - d) / 10) return 0;
    u = u * 10 + d;
  }
  *v = p[0] == '-' ? (lua_Integer)(0u - u) : (lua_Integer)u;
  return 1;
}

/* Answers a "*l" or "*n" read with the line of k bytes (LF or CRLF not
 * counted) whose LF is at i; a "*n" line that is no integer stays
 * buffered, its bytes the `partial` of the failure. */
static int push_line(lua_State *L, xcs_conn *c, int mode, size_t k, size_t i) {
  const char *p = xcs_conn_data(c);
  if (mode == RD_NUM) {
    lua_Integer v;
    if (!line_integer(p, k, &v)) {
      xcs_push_failf(L, UV_EPROTO, "the line is not an integer");
      lua_pushlstring(L, p, xcs_conn_buffered(c));
      return 4;
    }
    lua_pushinteger(L, v);
  } else {
    lua_pushlstring(L, p, k);
  }
  xcs_conn_consume(c, i + 1);
  return 1;
}

/* What a read that must wait waits for (xcs_rx_wait). */
typedef struct rd_wait {
  size_t need, want, scan;
} rd_wait;

/* Tries the read at the stack's shape above; returns its results, or 0
 * when it must wait (then *w says for what). */
static int try_read(lua_State *L, xcs_conn *c, int mode, rd_wait *w) {
  size_t n = (size_t)lua_tointeger(L, 3);
  const char *p = xcs_conn_data(c);
  size_t len = xcs_conn_buffered(c), scan = c->rx ? c->rx->scan : 0;
  *w = (rd_wait){1, 0, 0};
  switch (mode) {
    case RD_ANY:
    case RD_UPTO:
      if (len > 0) {
        size_t k = mode == RD_UPTO && n < len ? n : len;
        lua_pushlstring(L, p, k);
        xcs_conn_consume(c, k);
        return 1;
      }
      if (c->eof) {
        lua_pushliteral(L, "");
        return 1;
      }
      return 0;
    case RD_BYTES:
      if (n > c->opts->maxall) return too_long(L, c, "read", c->opts->maxall, "maxall");
      if (len >= n) {
        lua_pushlstring(L, p, n);
        xcs_conn_consume(c, n);
        return 1;
      }
      *w = (rd_wait){n, n, 0};
      return 0;
    case RD_LINE:
    case RD_NUM: {
      const char *lf = memchr(p + scan, '\n', len - scan);
      size_t max = c->opts->maxline;
      if (lf) {
        size_t i = (size_t)(lf - p), k = i;
        if (k > 0 && p[k - 1] == '\r') k--;
        if (k > max) return too_long(L, c, "line", max, "maxline");
        return push_line(L, c, mode, k, i);
      }
      if (len > max + 1) return too_long(L, c, "line", max, "maxline"); /* +1: a CR */
      *w = (rd_wait){len + 1, max + 2, len};
      return 0;
    }
    case RD_UNTIL: {
      size_t dl;
      const char *d = lua_tolstring(L, 4, &dl);
      if (n > c->opts->maxall) n = c->opts->maxall; /* the bound on every read */
      const char *hit = memmem(p + scan, len - scan, d, dl);
      if (hit) {
        size_t i = (size_t)(hit - p);
        if (i > n) return too_long(L, c, "data before the delimiter", n, "max");
        lua_pushlstring(L, p, i);
        xcs_conn_consume(c, i + dl);
        return 1;
      }
      /* Every place a delimiter could start in what is here was looked at. */
      scan = len >= dl ? len - dl + 1 : 0;
      if (scan > n) return too_long(L, c, "data before the delimiter", n, "max");
      *w = (rd_wait){len + 1, n + dl, scan};
      return 0;
    }
    case RD_ALL:
      if (len > c->opts->maxall) return too_long(L, c, "data", c->opts->maxall, "maxall");
      if (c->eof) {
        lua_pushlstring(L, p, len);
        xcs_conn_consume(c, len);
        return 1;
      }
      *w = (rd_wait){c->opts->maxall + 1, c->opts->maxall + 1, 0};
      return 0;
  }
  return 0;
}

static int read_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_again(L, 1);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed");
  int mode = (int)lua_tointeger(L, 2);
  int framed = mode != RD_ANY && mode != RD_UPTO; /* failures return `partial` */
  /* After a fatal error every read answers with it, even one that needs no
   * byte (read(0)). */
  if (c->released) return xcs_conn_fail(L, c, framed);
  if (c->rx) c->rx->want = 0; /* set again only while waiting */
  rd_wait w;
  int n = try_read(L, c, mode, &w);
  if (n > 0) return n;
  if (c->eof) {
    xcs_push_closed(L, "the peer closed the connection");
    if (!framed) return 3;
    lua_pushlstring(L, xcs_conn_data(c), xcs_conn_buffered(c));
    return 4;
  }
  if (c->err) return xcs_conn_fail(L, c, framed);
  double deadline = lua_tonumber(L, 5);
  if (again && xcs_timed_out(L, deadline)) {
    xcs_push_failf(L, UV_ETIMEDOUT, "read timed out");
    if (!framed) return 3;
    lua_pushlstring(L, xcs_conn_data(c), xcs_conn_buffered(c));
    return 4;
  }
  if (!again) {
    if (c->h.reader)
      return xcs_raise_at_caller(L, "%s: socket busy reading (another task is reading it)",
                                 rd_fname[mode]);
    xcs_task_check(L, rd_fname[mode]);
    deadline = xcs_deadline(c->h.m, deadline); /* slot 5 held the seconds */
    lua_pushnumber(L, deadline);
    lua_replace(L, 5);
  }
  if (xcs_rx_wait(c, w.need, w.want, w.scan) != 0) {
    c->err = UV_ENOMEM; /* no record to wait with: the connection fails */
    return xcs_conn_fail(L, c, framed);
  }
  xcs_conn_start_reading(c);
  return xcs_wait_until(L, &c->h.reader, read_k, deadline);
}

/* Sets up the stack read_k expects and starts the read. */
static int start_read(lua_State *L, xcs_conn *c, int mode, lua_Integer n, int delim_idx,
                      int timeout_idx) {
  double secs = xcs_timeout_arg(L, timeout_idx, c->opts->read_timeout);
  lua_pushinteger(L, mode);
  lua_pushinteger(L, n);
  if (delim_idx)
    lua_pushvalue(L, delim_idx);
  else
    lua_pushnil(L);
  lua_pushnumber(L, secs);
  lua_rotate(L, 2, 4); /* conn, mode, n, delimiter, seconds, args... */
  lua_settop(L, 5);
  if (c->rx) c->rx->scan = 0;
  return read_k(L, LUA_OK, 0);
}

static lua_Integer check_count(lua_State *L, int idx, lua_Integer lo, const char *expected) {
  int isint;
  lua_Integer n = lua_tointegerx(L, idx, &isint);
  if (lua_type(L, idx) != LUA_TNUMBER || !isint || n < lo) luaL_argerror(L, idx, expected);
  return n;
}

/* A length-prefixed protocol reads short strings most (RESP's type bytes
 * and CRLFs, command names), and making one costs a hash and a search of
 * Lua's string table, more than the rest of the read. conn:read keeps the
 * last SHORT_SLOTS strings of 1 to SHORT_MAX bytes it made as its own
 * upvalues (2...), their bytes in upvalue 1 (a userdata), so the next is a
 * few compares and a copy. A new one takes the slots in turn. */
#define SHORT_MAX 4
#define SHORT_SLOTS 12

typedef struct short_cache {
  uint64_t key[SHORT_SLOTS]; /* the length << 32 | the bytes; 0: empty */
  int next;                  /* the slot the next new string takes */
} short_cache;

/* Pushes the string of n bytes (1 <= n <= SHORT_MAX) at p. */
static void push_short(lua_State *L, const char *p, size_t n) {
  uint64_t key = (uint64_t)n << 32;
  for (size_t i = 0; i < n; i++) key |= (uint64_t)(unsigned char)p[i] << (8 * i);
  short_cache *sc = lua_touserdata(L, lua_upvalueindex(1)); /* NULL: a plain C function */
  if (sc == NULL) {
    lua_pushlstring(L, p, n);
    return;
  }
  for (int i = 0; i < SHORT_SLOTS; i++)
    if (sc->key[i] == key) {
      lua_pushvalue(L, lua_upvalueindex(2 + i));
      return;
    }
  lua_pushlstring(L, p, n);
  lua_pushvalue(L, -1);
  lua_replace(L, lua_upvalueindex(2 + sc->next));
  sc->key[sc->next] = key;
  sc->next = (sc->next + 1) % SHORT_SLOTS;
}

/* A framed read whose bytes have all arrived, answered with no stack to
 * stage for a wait: a pipelining client's commands are mostly this. 0:
 * not so (the full path decides, and words any failure). Only for a call
 * with no timeout argument, which the caller has seen. */
static int read_now(lua_State *L, xcs_conn *c, int mode, size_t n) {
  if (c->released || c->h.reader) return 0;
  const char *p = xcs_conn_data(c);
  size_t len = xcs_conn_buffered(c);
  if (mode == RD_BYTES) {
    if (n > c->opts->maxall || len < n) return 0;
    if (n - 1 < SHORT_MAX) /* 1 to SHORT_MAX */
      push_short(L, p, n);
    else
      lua_pushlstring(L, p, n);
    xcs_conn_consume(c, n);
    return 1;
  }
  const char *lf = len ? memchr(p, '\n', len) : NULL;
  if (lf == NULL) return 0;
  size_t i = (size_t)(lf - p), k = i;
  if (k > 0 && p[k - 1] == '\r') k--;
  if (k > c->opts->maxline) return 0;
  return push_line(L, c, mode, k, i);
}

/* The mode a read's pattern string names ("*l" or "l", "*n", "*a"), or -1. */
static int read_mode(lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, 2, &len);
  if (len == 2 && s[0] == '*') s++, len--;
  if (len != 1) return -1;
  switch (s[0]) {
    case 'l': return RD_LINE;
    case 'n': return RD_NUM;
    case 'a': return RD_ALL;
    default: return -1;
  }
}

/* conn:read([pattern [, timeout]]): nothing for whatever has arrived (""
 * once the peer closed), a count for exactly that many bytes, "*l" for a
 * line, "*n" for a line that is an integer, as one, "*a" for everything
 * until the peer closes. The calls a pipelining server makes most, a
 * count or a line with no timeout, cost as few calls into Lua as can be. */
int xcs_conn_read(lua_State *L) {
  xcs_conn *c = xcs_conn_check(L);
  static const char expected[] = "expected a byte count, \"*l\", \"*n\" or \"*a\"";
  int now = lua_gettop(L) <= 2; /* no timeout: read_now may answer */
  switch (lua_type(L, 2)) {
    case LUA_TNONE:
    case LUA_TNIL:
      return start_read(L, c, RD_ANY, 0, 0, 3);
    case LUA_TNUMBER: {
      int isint;
      lua_Integer n = lua_tointegerx(L, 2, &isint);
      if (!isint || n < 0) return luaL_argerror(L, 2, expected);
      if (now && read_now(L, c, RD_BYTES, (size_t)n)) return 1;
      return start_read(L, c, RD_BYTES, n, 0, 3);
    }
    case LUA_TSTRING: {
      int mode = read_mode(L);
      if (mode < 0) break;
      if (mode != RD_ALL && now) {
        int r = read_now(L, c, mode, 0);
        if (r) return r;
      }
      return start_read(L, c, mode, 0, 0, 3);
    }
  }
  return luaL_argerror(L, 2, expected);
}

/* conn:readany(max [, timeout]): whatever has arrived, at most max bytes. */
int xcs_conn_readany(lua_State *L) {
  xcs_conn *c = xcs_conn_check(L);
  lua_Integer max = check_count(L, 2, 1, "expected the most bytes to return (an integer > 0)");
  return start_read(L, c, RD_UPTO, max, 0, 3);
}

/* conn:readuntil(delimiter [, max [, timeout]]): up to the delimiter, which
 * is consumed and not returned; at most max bytes before it (maxline). */
int xcs_conn_readuntil(lua_State *L) {
  xcs_conn *c = xcs_conn_check(L);
  size_t dl;
  if (lua_type(L, 2) != LUA_TSTRING || (lua_tolstring(L, 2, &dl), dl == 0))
    return luaL_argerror(L, 2, "expected a delimiter (a non-empty string)");
  lua_Integer max = lua_isnoneornil(L, 3)
                        ? (lua_Integer)c->opts->maxline
                        : check_count(L, 3, 0, "expected the most bytes before the "
                                               "delimiter (an integer >= 0)");
  return start_read(L, c, RD_UNTIL, max, 2, 4);
}

void xcs_conn_push_read(lua_State *L) {
  short_cache *sc = lua_newuserdatauv(L, sizeof *sc, 0);
  memset(sc, 0, sizeof *sc);
  for (int i = 0; i < SHORT_SLOTS; i++) lua_pushboolean(L, 0);
  lua_pushcclosure(L, xcs_conn_read, 1 + SHORT_SLOTS);
}
