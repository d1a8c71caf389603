/*
 * tls_stream.c — the TLS engine (tls.h) as a transport under the stream,
 * its handshake deadline, and conn:starttls / conn:tlsinfo.
 */
#include "bindings/tls_stream.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "bindings/tls_opts.h"

typedef struct tls_conn {
  xcs_life life;       /* the socket's hold, one per call into the engine, the timer's close */
  xcs_conn *c;
  xcs_tls *t;
  uv_timer_t timer;    /* the handshake's deadline */
  int timing;          /* the timer runs (and is to be closed) */
  double timeout;      /* seconds; < 0: none */
  size_t held;         /* bytes written before the handshake, counted as queued */
  int dead;            /* the socket closed: the engine is freed with the last hold */
} tls_conn;

/* The state of c's TLS while its socket is open, else NULL. */
static tls_conn *tc_of(xcs_conn *c) { return c->tr_open ? (tls_conn *)c->tr_data : NULL; }

/* Every call into the engine is bracketed so: a callback may wake a task
 * at once (xcs_task_wake_now), and that task may close the connection
 * while the engine is still working on its input; the call's hold keeps
 * the engine until it returns. */
static void enter(tls_conn *tc) { xcs_hold(&tc->life); }
static void leave(tls_conn *tc) { xcs_release(&tc->life); }

static void tc_free(xcs_life *l) {
  tls_conn *tc = xcs_container_of(l, tls_conn, life);
  xcs_tls_free(tc->t);
  free(tc);
}

/* The engine's callbacks ------------------------------------------------------------ */

static int send_cb(void *ud, const char *data, size_t n, size_t plain) {
  tls_conn *tc = ud;
  if (tc->dead) return UV_EPIPE;
  return xcs_conn_send(tc->c, data, n, plain);
}

static void plain_cb(void *ud, const char *data, size_t n) {
  tls_conn *tc = ud;
  if (!tc->dead) xcs_conn_deliver(tc->c, data, n);
}

static void stop_timer(tls_conn *tc) {
  if (!tc->timing) return;
  tc->timing = 0;
  xcs_life_uv_close(&tc->life, (uv_handle_t *)&tc->timer);
}

static void handshake_cb(void *ud, int status) {
  tls_conn *tc = ud;
  xcs_conn *c = tc->c;
  if (tc->dead) return;
  stop_timer(tc);
  c->handshaking = 0;
  c->queued -= tc->held; /* the engine sends them now, counted as they go */
  tc->held = 0;
  if (status != 0) {
    if (xcs_conn_owner(c)) {
      /* A port-keyed client the module never saw: closed, and logged by
       * the gate (summed up when many come). */
      if (c->guard.gate) xcs_gate_tls_failed(c->guard.gate, xcs_conn_peer(c));
      c->err = status;
      xcs_handle_defer_close(&c->h, &c->client->deferred);
    } else {
      xcs_conn_end(c, status);
    }
  }
  xcs_task_wake_now(&c->h.writer, 0); /* connect, starttls or tlsinfo waits there */
}

static const xcs_tls_io io = {send_cb, plain_cb, handshake_cb};

static void expired_cb(uv_timer_t *timer) {
  tls_conn *tc = xcs_container_of(timer, tls_conn, timer);
  enter(tc);
  xcs_tls_abort(tc->t, XCS_TLS_EHANDSHAKE, "the TLS handshake timed out"); /* input ends */
  handshake_cb(tc, UV_ETIMEDOUT);
  leave(tc);
}

/* The transport ---------------------------------------------------------------------- */

/* An error of the engine ends the stream (once). */
static void check(tls_conn *tc, int r) {
  if (r != 0 && !tc->dead && !tc->c->handshaking) xcs_conn_end(tc->c, r);
}

static void tr_start(xcs_conn *c) {
  tls_conn *tc = tc_of(c);
  if (tc->timeout >= 0) {
    uv_timer_init(&c->h.m->host->loop, &tc->timer);
    tc->timing = 1;
    uv_timer_start(&tc->timer, expired_cb, (uint64_t)ceil(tc->timeout * 1000), 0);
  }
  enter(tc);
  check(tc, xcs_tls_start(tc->t));
  leave(tc);
}

static void tr_input(xcs_conn *c, ssize_t nread, const char *data) {
  tls_conn *tc = tc_of(c);
  if (tc == NULL) return; /* the socket is closing */
  enter(tc);
  if (nread > 0) {
    check(tc, xcs_tls_input(tc->t, data, (size_t)nread));
    if (!tc->dead && xcs_tls_peer_closed(tc->t)) xcs_conn_end(c, UV_EOF); /* close_notify */
  } else if (nread == UV_EOF) {
    int r = xcs_tls_eof(tc->t);
    if (!tc->dead) xcs_conn_end(c, r ? r : UV_EOF);
  } else {
    xcs_tls_abort(tc->t, XCS_TLS_EPROTO, uv_strerror((int)nread));
    if (c->handshaking)
      handshake_cb(tc, (int)nread);
    else
      xcs_conn_end(c, (int)nread);
  }
  leave(tc);
}

static int tr_queue(xcs_conn *c, const char *data, size_t n) {
  tls_conn *tc = tc_of(c);
  if (tc == NULL) return UV_EPIPE;
  int held = c->handshaking;
  enter(tc);
  int r = xcs_tls_write(tc->t, data, n);
  if (r == 0 && held && !tc->dead) { /* waits for the handshake, counted as queued meanwhile */
    c->queued += n;
    tc->held += n;
  }
  leave(tc);
  return r;
}

static void tr_shutdown(xcs_conn *c) {
  tls_conn *tc = tc_of(c);
  if (tc == NULL) return;
  enter(tc);
  xcs_tls_shutdown(tc->t);
  leave(tc);
}

static int tr_push_error(lua_State *L, xcs_conn *c, int status) {
  tls_conn *tc = tc_of(c);
  if (status == UV_ETIMEDOUT && tc && !xcs_tls_done(tc->t))
    return xcs_push_failf(L, UV_ETIMEDOUT, "the TLS handshake timed out");
  if (!xcs_tls_is_error(status)) return 0;
  return xcs_push_coded(L, xcs_tls_code(status), "%s",
                        tc ? xcs_tls_message(tc->t) : c->tr_why);
}

/* The socket closes: the engine goes (once no call into it is under way),
 * its words for the error stay. */
static void tr_close(xcs_conn *c) {
  tls_conn *tc = tc_of(c);
  stop_timer(tc);
  c->tr_open = 0;
  c->tr_why = xcs_tls_message(tc->t); /* in tr_data's place */
  tc->dead = 1;
  xcs_release(&tc->life); /* the socket's */
}

static size_t tr_memory(xcs_conn *c) { return xcs_tls_memory(tc_of(c)->t) + sizeof(tls_conn); }

static const xcs_transport tls_transport = {"TLS",         tr_start,      tr_input,
                                            tr_queue,      tr_shutdown,   tr_push_error,
                                            tr_close,      tr_memory};

int xcs_tls_attach(xcs_conn *c, xcs_tls_ctx *ctx, const char *servername, double timeout) {
  tls_conn *tc = calloc(1, sizeof *tc);
  if (tc == NULL) return XCS_TLS_ENOMEM;
  int status;
  tc->t = xcs_tls_new(ctx, servername, &io, tc, &status);
  if (tc->t == NULL) {
    free(tc);
    return status;
  }
  xcs_life_init(&tc->life, c->h.m->host, tc_free);
  tc->c = c;
  tc->timeout = timeout;
  c->tr = &tls_transport;
  c->tr_data = tc;
  c->tr_open = 1;
  c->handshaking = 1;
  if (c->connected) tr_start(c);
  return 0;
}

/* conn:starttls and conn:tlsinfo --------------------------------------------------- */

static xcs_conn *check_conn(lua_State *L) {
  return (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
}

static void push_info(lua_State *L, xcs_conn *c) {
  xcs_tls_info in;
  xcs_tls_get_info(tc_of(c)->t, &in);
  lua_createtable(L, 0, 8);
  xcs_info_str(L, "version", in.version);
  xcs_info_str(L, "cipher", in.cipher);
  if (in.alpn[0]) xcs_info_str(L, "alpn", in.alpn);
  if (in.servername) xcs_info_str(L, "servername", in.servername);
  lua_pushboolean(L, in.verified);
  lua_setfield(L, -2, "verified");
  lua_pushboolean(L, in.resumed);
  lua_setfield(L, -2, "resumed");
  if (in.subject[0]) xcs_info_str(L, "subject", in.subject);
  if (in.issuer[0]) xcs_info_str(L, "issuer", in.issuer);
}

/* Waits (in the writer's slot) for the handshake of the connection at 1;
 * then `info` pushes what the caller returns. */
static int handshake_k(lua_State *L, int status, lua_KContext info) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 1, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed");
  if (c->tr == NULL) {
    lua_pushnil(L);
    return 1;
  }
  if (tc_of(c) == NULL) return xcs_conn_push_error(L, c, c->err ? c->err : UV_EPIPE);
  if (c->handshaking) {
    const char *fname = info ? "tlsinfo" : "starttls";
    if (c->h.writer)
      return xcs_raise_at_caller(L, "%s: socket busy writing (another task waits on it)", fname);
    return xcs_task_park(L, &c->h.writer, -1, handshake_k, info); /* the handshake has its own timeout */
  }
  if (!xcs_tls_done(tc_of(c)->t)) return xcs_conn_push_error(L, c, c->err ? c->err : XCS_TLS_EHANDSHAKE);
  if (info) {
    push_info(L, c);
  } else {
    lua_pushboolean(L, 1);
  }
  return 1;
}

/* conn:tlsinfo() -> { version, cipher, alpn, servername, verified, subject,
 * issuer, resumed }, nil for a connection without TLS, or nil, err, code
 * if the handshake failed. Waits for a handshake in progress. */
static int l_tlsinfo(lua_State *L) {
  check_conn(L);
  lua_settop(L, 1);
  return handshake_k(L, LUA_OK, 1);
}

/* conn:starttls([opts]) -> true | nil, err, code: TLS from now on, as the
 * client, or with opts.server = true as the server. What arrived and was
 * not read yet is taken as the start of the handshake. */
static int l_starttls(lua_State *L) {
  xcs_conn *c = check_conn(L);
  if (!lua_isnoneornil(L, 2) && !lua_istable(L, 2))
    return luaL_argerror(L, 2, "expected a table of TLS options");
  lua_settop(L, 2);
  int server = 0;
  lua_newtable(L); /* 3: the options without `server` */
  if (lua_istable(L, 2)) {
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "server") == 0) {
        if (!lua_isboolean(L, -1))
          xcs_raise_at_caller(L, "starttls: bad option 'server': expected true or false");
        server = lua_toboolean(L, -1);
        lua_pop(L, 1);
        continue;
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 3);
    }
  }
  if (c->tr) return xcs_raise_at_caller(L, "starttls: the connection speaks TLS already");
  xcs_tls_opts o;
  int anchor = xcs_tls_opts_read(L, 3, "starttls", server, NULL, &o); /* 4 */
  if (!server && o.cfg.verify && o.servername == NULL)
    return xcs_raise_at_caller(L, "starttls: bad option 'servername': the name to check the "
                                  "server's certificate against (or verify = false)");
  xcs_task_check(L, "starttls");
  if (c->err) return xcs_conn_push_error(L, c, c->err);
  if (!c->connected || c->eof || c->shut || c->uv_closed)
    return xcs_push_closed(L, "the connection is closed");
  xcs_tls_ctx *ctx = xcs_tls_opts_ctx(L, anchor, &o, "starttls"); /* 5 */
  int early = xcs_conn_take(L, c);                        /* 6: the peer's first bytes */
  int r = xcs_tls_attach(c, ctx, o.servername, o.handshake_timeout);
  if (r != 0) return xcs_push_fail(L, r == XCS_TLS_ENOMEM ? UV_ENOMEM : UV_EBUSY);
  if (early) {
    size_t n;
    const char *p = lua_tolstring(L, 6, &n);
    tr_input(c, (ssize_t)n, p);
  }
  lua_settop(L, 1);
  return handshake_k(L, LUA_OK, 0);
}

void xcs_tls_stream_methods(lua_State *L) {
  static const luaL_Reg methods[] = {{"starttls", l_starttls}, {"tlsinfo", l_tlsinfo}, {NULL, NULL}};
  luaL_setfuncs(L, methods, 0);
}
