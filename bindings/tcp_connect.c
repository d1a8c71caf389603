/*
 * tcp_connect.c — socket.connect over TCP (and TLS over it): the name
 * looked up without blocking, each address it gave tried in turn until one
 * answers, within the connect timeout; what only a connect in progress
 * needs lives in its dial record, which goes once it is over.
 */
#include "bindings/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/task.h"
#include "bindings/admit.h"
#include "bindings/tls_opts.h"
#include "bindings/tls_stream.h"

/* A connect's name look-up: it outlives a connection closed meanwhile. */
typedef struct xcs_resolve {
  uv_getaddrinfo_t req;
  xcs_module *m;
  xcs_conn *c; /* NULL once the connection closed */
} xcs_resolve;

static void attempt(xcs_conn *c);

/* A connect in progress, made by socket.connect so a connection that is
 * connected (or accepted) carries none of it: the name look-up in flight,
 * then the addresses it gave (IPv4 first, at most 16), tried in order. */
struct xcs_dial {
  xcs_resolve *resolve;
  xcs_conn_opts opts; /* socket.connect's, for the socket once connected */
  int naddrs, next;
  struct sockaddr_storage addrs[];
};

static xcs_dial *dial_new(int naddrs, const xcs_conn_opts *opts) {
  xcs_dial *d = calloc(1, sizeof *d + (size_t)naddrs * sizeof d->addrs[0]);
  if (d == NULL) return NULL;
  d->naddrs = naddrs;
  d->opts = *opts;
  return d;
}

void xcs_tcp_dial_end(xcs_conn *c) {
  xcs_dial *d = c->is_client || c->draining ? NULL : c->dial;
  if (d == NULL) return;
  if (d->resolve) { /* resolved_cb frees the look-up, finding no connection */
    d->resolve->c = NULL;
    uv_cancel((uv_req_t *)&d->resolve->req);
  }
  free(d);
  c->dial = NULL;
}

/* The socket of a failed attempt is closed (a failed connect leaves a
 * socket in an unspecified state, and the next address may be of another
 * family); a fresh one tries the next address. */
static void recycled_cb(uv_handle_t *uvh) {
  xcs_conn *c = (xcs_conn *)uvh->data;
  c->recycling = 0;
  if (c->h.closing) { /* closed meanwhile: this socket was its last */
    xcs_release(&c->h.life);
    return;
  }
  xcs_release(&c->h.life); /* not the last: the handle holds its own */
  uv_tcp_init(&c->h.m->host->loop, &c->io.tcp);
  c->io.handle.data = &c->h;
  attempt(c);
}

/* An attempt failed with c->err: on to the next address, or give up and
 * wake the connecting task with that error. */
static void next_or_fail(xcs_conn *c) {
  if (c->dial->next < c->dial->naddrs) {
    c->recycling = 1;
    xcs_hold(&c->h.life); /* until recycled_cb */
    c->io.handle.data = &c->h;
    uv_close(&c->io.handle, recycled_cb);
    return;
  }
  xcs_tcp_dial_end(c);
  xcs_task_wake_now(&c->h.writer, c->err);
}

static void connect_cb(uv_connect_t *req, int status) {
  xcs_conn *c = (xcs_conn *)req->handle->data;
  free(req); /* made for the attempt (attempt) */
  if (c->h.closing) return; /* closed (or timed out) meanwhile: nobody waits */
  if (status != 0) {
    c->err = status;
    next_or_fail(c);
    return;
  }
  c->err = 0; /* an earlier address's failure is history */
  xcs_conn_opts opts = c->dial->opts;
  xcs_tcp_dial_end(c);
  xcs_conn_started(c, &opts, NULL);
  xcs_task_wake_now(&c->h.writer, 0);
}

static void attempt(xcs_conn *c) {
  struct sockaddr *sa = (struct sockaddr *)&c->dial->addrs[c->dial->next++];
  /* Made per attempt: an accepted connection carries no connect request. */
  uv_connect_t *req = malloc(sizeof *req);
  int r = req ? uv_tcp_connect(req, &c->io.tcp, sa, connect_cb) : UV_ENOMEM;
  if (r == 0) return;
  free(req);
  c->err = r;
  next_or_fail(c);
}

/* Keeps the look-up's addresses to try, IPv4 first: "localhost" should
 * reach a server on 127.0.0.1 without a refused attempt on ::1 first. */
static int take_addrs(xcs_conn *c, struct addrinfo *res) {
  int n = 0;
  for (struct addrinfo *p = res; p; p = p->ai_next)
    if (p->ai_family == AF_INET || p->ai_family == AF_INET6) n++;
  if (n == 0) return UV_EAI_NONAME;
  if (n > 16) n = 16;
  xcs_dial *d = dial_new(n, &c->dial->opts);
  if (d == NULL) return UV_ENOMEM;
  int k = 0;
  for (int pass = 0; pass < 2; pass++)
    for (struct addrinfo *p = res; p && k < n; p = p->ai_next)
      if (p->ai_family == (pass == 0 ? AF_INET : AF_INET6))
        memcpy(&d->addrs[k++], p->ai_addr, p->ai_addrlen);
  d->naddrs = k;
  free(c->dial); /* the look-up's, with no addresses: the look-up is done */
  c->dial = d;
  return 0;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  xcs_resolve *rs = (xcs_resolve *)req;
  xcs_conn *c = rs->c;
  if (c != NULL) {
    c->dial->resolve = NULL;
    if (status == 0) status = take_addrs(c, res);
    if (status == 0) {
      attempt(c);
    } else {
      c->err = status;
      xcs_tcp_dial_end(c);
      xcs_task_wake_now(&c->h.writer, status);
    }
  }
  uv_freeaddrinfo(res);
  xcs_module *m = rs->m;
  free(rs);
  xcs_release(&m->life); /* the look-up's hold */
}

/* Stack: host, port (TLS: the context's box), deadline, conn. */
static int connect_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 4, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed while connecting");
  if (c->connected && !c->handshaking && !c->err) {
    lua_settop(L, 4);
    return 1;
  }
  /* still looking up, trying addresses, or (TLS) in the handshake */
  int busy = c->dial || (c->connected && c->handshaking);
  if (!busy || (again && xcs_timed_out(L, lua_tonumber(L, 3)))) {
    int n = busy ? xcs_push_failf(L, UV_ETIMEDOUT, "connecting to %s timed out", xcs_conn_peer(c))
                 : xcs_conn_push_error(L, c, c->err ? c->err : UV_ECONNREFUSED);
    xcs_handle_close(&c->h, 0);
    return n;
  }
  return xcs_wait_until(L, &c->h.writer, connect_k, lua_tonumber(L, 3));
}

/* core.tcp_connect(host, port [, opts]) -> conn | nil, err, code */
static int l_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1); /* brackets were taken off by the prelude */
  int port = (int)luaL_checkinteger(L, 2);
  xcs_conn_opts opts;
  xcs_conn_opts_default(&opts);
  double timeout = XCS_CONNECT_TIMEOUT;
  xcs_conn_opts_read(L, 3, "socket.connect", &opts, NULL, &timeout);
  xcs_task_check(L, "socket.connect");
  xcs_module *m = xcs_module_of(L);
  xcs_tls_ctx *tls = NULL;
  xcs_tls_opts tlso;
  if (!lua_isnoneornil(L, 4)) {
    int anchor = xcs_tls_opts_read(L, 4, "socket.connect", 0, host, &tlso);
    tls = xcs_tls_opts_ctx(L, anchor, &tlso, "socket.connect");
    lua_replace(L, 2); /* the port is read: its slot keeps the context's box */
  }
  lua_settop(L, 2);
  lua_pushnumber(L, xcs_deadline(m, timeout)); /* 3 */
  struct sockaddr_storage sa;
  int literal = xcs_addr_from(host, port, &sa) == 0;
  int refused = xcs_admit(m, 0, -1);
  if (refused) return xcs_admit_refused(L, m, refused, port);
  xcs_conn *c = xcs_conn_new(L, m, 0); /* 4; raises before anything is malloc'd */
  xcs_admit_count(&c->h, 0);
  if (xcs_conn_keep(c, &opts.kept) != 0) {
    xcs_handle_close(&c->h, 0);
    return luaL_error(L, "not enough memory");
  }
  if (tls) {
    int r = xcs_tls_attach(c, tls, tlso.servername, tlso.handshake_timeout);
    if (r != 0) {
      xcs_handle_close(&c->h, 0);
      return luaL_error(L, "not enough memory");
    }
  }
  if (literal) {
    char peer[XCS_ADDRSTRLEN];
    xcs_addr_format((struct sockaddr *)&sa, peer, sizeof peer);
    xcs_conn_name(c, NULL, peer);
    if ((c->dial = dial_new(1, &opts)) == NULL) {
      xcs_handle_close(&c->h, 0);
      return luaL_error(L, "not enough memory");
    }
    memcpy(c->dial->addrs, &sa, sizeof sa);
    attempt(c); /* nobody waits yet: a failure now is returned below */
  } else {
    char peer[XCS_NAMESTRLEN];
    snprintf(peer, sizeof peer, "%s:%d", host, port);
    xcs_conn_name(c, NULL, peer);
    xcs_resolve *rs = calloc(1, sizeof *rs);
    if (rs == NULL || (c->dial = dial_new(0, &opts)) == NULL) {
      free(rs);
      xcs_handle_close(&c->h, 0);
      return luaL_error(L, "not enough memory");
    }
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rs->m = m;
    rs->c = c;
    int r = uv_getaddrinfo(&m->host->loop, &rs->req, resolved_cb, host, service, &hints);
    if (r != 0) {
      free(rs);
      c->err = r;
      xcs_tcp_dial_end(c);
    } else {
      c->dial->resolve = rs;
      xcs_hold(&m->life); /* until resolved_cb, cancelled or not */
    }
  }
  return connect_k(L, LUA_OK, 0);
}

void xcs_tcp_connect_open(lua_State *L) {
  lua_pushcfunction(L, l_connect);
  lua_setfield(L, -2, "tcp_connect");
}
