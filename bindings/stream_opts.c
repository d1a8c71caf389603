/*
 * stream_opts.c — what a stream connection may be told: timeouts (the
 * per-call argument and the deadline a wait ends at), the options of
 * socket.open / listen / connect, setoption and settimeouts, and errors
 * raised where the module called from.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/stream.h"
#include "bindings/task.h"

/* Timeouts ------------------------------------------------------------------------- */

/* The value at idx as a misuse message shows it: 70000, "x", true, table. */
static const char *got(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
    case LUA_TBOOLEAN: return lua_pushfstring(L, "%s", luaL_tolstring(L, idx, NULL));
    case LUA_TSTRING: return lua_pushfstring(L, "\"%s\"", lua_tostring(L, idx));
    default: return luaL_typename(L, idx);
  }
}

double xcs_timeout_arg(lua_State *L, int idx, double dflt) {
  if (lua_isnoneornil(L, idx)) return dflt;
  int isnum;
  lua_Number s = lua_tonumberx(L, idx, &isnum);
  if (!isnum || !(s >= 0))
    luaL_argerror(L, idx, lua_pushfstring(L, "expected a timeout in seconds (a number >= 0), got %s",
                                          got(L, idx)));
  return isinf(s) ? -1 : s;
}

double xcs_deadline(xcs_module *m, double seconds) {
  if (seconds < 0) return -1;
  /* The loop's cached time may be a busy turn old; the timer that ends
   * the wait is started from the same, now fresh, time. */
  uv_update_time(&m->host->loop);
  return (double)uv_now(&m->host->loop) + ceil(seconds * 1000);
}

int xcs_wait_until(lua_State *L, xcs_task **slot, lua_KFunction k, double deadline) {
  double left = -1;
  if (deadline >= 0) {
    double now = (double)uv_now(&xcs_module_of(L)->host->loop);
    left = deadline > now ? (deadline - now) / 1000 : 0;
  }
  return xcs_task_park(L, slot, left, k, 1);
}

int xcs_timed_out(lua_State *L, double deadline) {
  return xcs_task_status(L) == UV_ETIMEDOUT ||
         (deadline >= 0 && (double)uv_now(&xcs_module_of(L)->host->loop) >= deadline);
}

/* Options -------------------------------------------------------------------------- */

/* Kept options, shared: 10,000 connections of one listener need one copy,
 * and a connection copies only when the module changes one of its own. */
typedef struct shared_kept {
  xcs_conn_kept k; /* first: a connection points here */
  unsigned refs;   /* its holders; 0: the defaults, never freed */
} shared_kept;

static shared_kept defaults = {
    {XCS_SEND_TIMEOUT, XCS_READ_TIMEOUT, XCS_MAXLINE, XCS_MAXALL}, 0};

static int same_kept(const xcs_conn_kept *a, const xcs_conn_kept *b) {
  return a->send_timeout == b->send_timeout && a->read_timeout == b->read_timeout &&
         a->maxline == b->maxline && a->maxall == b->maxall;
}

xcs_conn_kept *xcs_kept_make(const xcs_conn_kept *k) {
  if (k == NULL || same_kept(k, &defaults.k)) return &defaults.k;
  shared_kept *s = malloc(sizeof *s);
  if (s == NULL) return NULL;
  s->k = *k;
  s->refs = 1;
  return &s->k;
}

xcs_conn_kept *xcs_kept_share(xcs_conn_kept *k) {
  shared_kept *s = (shared_kept *)k;
  if (s->refs) s->refs++;
  return k;
}

void xcs_kept_drop(xcs_conn_kept *k) {
  shared_kept *s = (shared_kept *)k;
  if (s && s->refs && --s->refs == 0) free(s);
}

int xcs_conn_keep(xcs_conn *c, const xcs_conn_kept *k) {
  shared_kept *s = (shared_kept *)c->opts;
  if (same_kept(k, &s->k)) return 0;
  if (s->refs == 1 && !same_kept(k, &defaults.k)) { /* its own: changed in place */
    s->k = *k;
    return 0;
  }
  xcs_conn_kept *n = xcs_kept_make(k);
  if (n == NULL) return UV_ENOMEM;
  xcs_kept_drop(c->opts);
  c->opts = n;
  return 0;
}

void xcs_conn_opts_default(xcs_conn_opts *o) {
  memset(o, 0, sizeof *o);
  o->kept = defaults.k;
  o->nodelay = 1; /* request/response traffic is the common case */
}

static int bad_option(lua_State *L, const char *fname, const char *name, int vidx,
                      const char *expected) {
  const char *g = got(L, vidx);
  return xcs_raise_at_caller(L, "%s: bad option '%s': expected %s, got %s", fname, name,
                             expected, g);
}

static lua_Integer opt_int(lua_State *L, const char *fname, const char *name, int vidx,
                           lua_Integer lo, lua_Integer hi, const char *expected) {
  int isint;
  lua_Integer v = lua_tointegerx(L, vidx, &isint);
  if (lua_type(L, vidx) != LUA_TNUMBER || !isint || v < lo || v > hi)
    bad_option(L, fname, name, vidx, expected);
  return v;
}

static double opt_seconds(lua_State *L, const char *fname, const char *name, int vidx) {
  lua_Number s = lua_tonumber(L, vidx);
  if (lua_type(L, vidx) != LUA_TNUMBER || !(s >= 0))
    bad_option(L, fname, name, vidx, "seconds (a number >= 0, or math.huge)");
  return isinf(s) ? -1 : s;
}

#define MAX_BYTES ((lua_Integer)1 << 40)

/* Sets one connection option from the value at vidx; 0 if name is none. */
static int opts_set(lua_State *L, xcs_conn_opts *o, const char *fname, const char *name,
                    int vidx) {
  if (strcmp(name, "nodelay") == 0) {
    if (!lua_isboolean(L, vidx)) bad_option(L, fname, name, vidx, "true or false");
    o->nodelay = lua_toboolean(L, vidx);
  } else if (strcmp(name, "keepalive") == 0) {
    if (lua_isboolean(L, vidx) && !lua_toboolean(L, vidx))
      o->keepalive = 0;
    else
      o->keepalive = (int)opt_int(L, fname, name, vidx, 1, INT_MAX,
                                  "seconds of idle before probes (an integer > 0), or false");
  } else if (strcmp(name, "sndbuf") == 0 || strcmp(name, "rcvbuf") == 0) {
    int v = (int)opt_int(L, fname, name, vidx, 1, INT_MAX, "bytes (an integer > 0)");
    *(name[0] == 's' ? &o->sndbuf : &o->rcvbuf) = v;
  } else if (strcmp(name, "maxline") == 0) {
    o->kept.maxline = (size_t)opt_int(L, fname, name, vidx, 1, MAX_BYTES, "bytes (an integer > 0)");
  } else if (strcmp(name, "maxall") == 0) {
    o->kept.maxall = (size_t)opt_int(L, fname, name, vidx, 1, MAX_BYTES, "bytes (an integer > 0)");
  } else if (strcmp(name, "read_timeout") == 0) {
    o->kept.read_timeout = opt_seconds(L, fname, name, vidx);
  } else if (strcmp(name, "send_timeout") == 0) {
    o->kept.send_timeout = opt_seconds(L, fname, name, vidx);
  } else {
    return 0;
  }
  return 1;
}

void xcs_conn_opts_read(lua_State *L, int idx, const char *fname, xcs_conn_opts *o,
                        int *backlog, double *timeout) {
  if (lua_isnoneornil(L, idx)) return;
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    /* stack: ... key value */
    int v = lua_gettop(L);
    if (lua_type(L, v - 1) != LUA_TSTRING)
      xcs_raise_at_caller(L, "%s: bad option: names are strings, got %s", fname,
                          luaL_typename(L, v - 1));
    const char *name = lua_tostring(L, v - 1);
    if (backlog && strcmp(name, "backlog") == 0) {
      *backlog = (int)opt_int(L, fname, name, v, 1, INT_MAX, "an integer > 0");
    } else if (backlog && strcmp(name, "reuseaddr") == 0) {
      /* libuv sets SO_REUSEADDR on every TCP socket it binds. */
      if (lua_toboolean(L, v) != 1)
        bad_option(L, fname, name, v, "true (listeners always reuse addresses)");
    } else if (backlog && strcmp(name, "address") == 0) {
      /* the listener's own: tcp.c reads it */
    } else if (backlog && strcmp(name, "proxy_protocol") == 0) {
      if (!lua_isboolean(L, v)) bad_option(L, fname, name, v, "true or false"); /* tcp.c reads it */
    } else if (!backlog && strcmp(name, "timeout") == 0) {
      *timeout = opt_seconds(L, fname, name, v);
    } else if (!opts_set(L, o, fname, name, v)) {
      xcs_raise_at_caller(L, "%s: unknown option '%s' (expected nodelay, keepalive, sndbuf, "
                          "rcvbuf, maxline, maxall, read_timeout, send_timeout%s)", fname, name,
                          backlog ? ", backlog, reuseaddr, address or proxy_protocol"
                                  : " or timeout");
    }
    lua_pop(L, 1);
  }
}

static int keep_first(int r, int e) { return r ? r : e; }

/* Applies the socket options of o to the connected socket: all of them
 * (only NULL) as it starts, or the one setoption changed. */
int xcs_conn_apply_options(xcs_conn *c, const xcs_conn_opts *o, const char *only) {
  int r = 0;
  if (c->is_unix) {
    /* nodelay and keepalive are TCP's; setoption refuses them before here */
  } else {
    if (only == NULL || strcmp(only, "nodelay") == 0)
      r = keep_first(r, uv_tcp_nodelay(&c->io.tcp, o->nodelay));
    if ((only == NULL && o->keepalive) || (only && strcmp(only, "keepalive") == 0))
      r = keep_first(r, uv_tcp_keepalive(&c->io.tcp, o->keepalive > 0, (unsigned)o->keepalive));
  }
  if ((only == NULL && o->sndbuf) || (only && strcmp(only, "sndbuf") == 0)) {
    int v = o->sndbuf;
    r = keep_first(r, uv_send_buffer_size(&c->io.handle, &v));
  }
  if ((only == NULL && o->rcvbuf) || (only && strcmp(only, "rcvbuf") == 0)) {
    int v = o->rcvbuf;
    r = keep_first(r, uv_recv_buffer_size(&c->io.handle, &v));
  }
  return r;
}

/* conn:setoption(name, value) -> true | nil, msg, code */
int xcs_conn_setoption(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
  const char *name = luaL_checkstring(L, 2);
  luaL_checkany(L, 3);
  xcs_conn_opts o;
  xcs_conn_opts_default(&o); /* for the socket option it sets: the rest stay */
  o.kept = *c->opts;
  if (c->is_unix && (strcmp(name, "nodelay") == 0 || strcmp(name, "keepalive") == 0))
    return luaL_argerror(L, 2, lua_pushfstring(L, "\"%s\" is a TCP option; a UNIX socket "
                                                  "has none such", name));
  if (!opts_set(L, &o, "setoption", name, 3))
    return luaL_argerror(L, 2, lua_pushfstring(L, "unknown option \"%s\" (expected nodelay, "
                                                  "keepalive, sndbuf, rcvbuf, maxline, maxall, "
                                                  "read_timeout or send_timeout)", name));
  if (xcs_conn_keep(c, &o.kept) != 0) return luaL_error(L, "not enough memory");
  if (c->err) return xcs_conn_fail(L, c, 0);
  int r = c->connected && !c->uv_closed ? xcs_conn_apply_options(c, &o, name) : 0;
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:settimeouts(connect, send, read): seconds each; nil keeps one. The
 * connect timeout is checked and has nothing left to time: a connection is
 * connected already (socket.connect's timeout was its own). */
int xcs_conn_settimeouts(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
  xcs_conn_kept o = *c->opts;
  double t[3] = {-1, o.send_timeout, o.read_timeout};
  for (int i = 0; i < 3; i++) t[i] = xcs_timeout_arg(L, i + 2, t[i]);
  o.send_timeout = t[1];
  o.read_timeout = t[2];
  if (xcs_conn_keep(c, &o) != 0) return luaL_error(L, "not enough memory");
  lua_pushboolean(L, 1);
  return 1;
}
