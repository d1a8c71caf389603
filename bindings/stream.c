/*
 * stream.c — TCP connections: buffers, reads, writes, shutdown, close.
 */
#include "bindings/stream.h"

#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/task.h"
#include "bindings/tcp.h"
#include "host/log.h"

typedef struct write_req {
  uv_write_t req;
  xcs_conn *c;
  int ref;    /* pins the Lua string being sent */
  size_t len;
} write_req;

static xcs_conn *conn_of(void *uvh) {
  return (xcs_conn *)((uv_handle_t *)uvh)->data;
}

static void alloc_cb(uv_handle_t *uvh, size_t hint, uv_buf_t *buf) {
  (void)hint;
  xcs_host *host = conn_of(uvh)->h.m->host;
  buf->base = host->readbuf;
  buf->len = sizeof host->readbuf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void start_reading(xcs_conn *c) {
  if (c->reading || c->eof || c->err || c->uv_closed || !c->connected || c->in.ended) return;
  if (!c->draining && c->len + c->in.bytes >= XCS_READ_HIGH) return;
  int r = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  if (r == 0)
    c->reading = 1;
  else
    c->err = r;
}

static void stop_reading(xcs_conn *c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

static int append(xcs_conn *c, const char *p, size_t n) {
  if (c->off > 0 && c->off + c->len + n > c->cap) {
    memmove(c->buf, c->buf + c->off, c->len);
    c->off = 0;
  }
  if (c->len + n > c->cap) {
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < c->len + n) cap *= 2;
    char *b = realloc(c->buf, cap);
    if (b == NULL) return UV_ENOMEM;
    c->buf = b;
    c->cap = cap;
  }
  memcpy(c->buf + c->off + c->len, p, n);
  c->len += n;
  return 0;
}

static void release_buffer(xcs_conn *c) {
  free(c->buf);
  c->buf = NULL;
  c->off = c->len = c->cap = 0;
}

int xcs_conn_take(lua_State *L, xcs_conn *c) {
  if (c->len == 0) return 0;
  lua_pushlstring(L, c->buf + c->off, c->len);
  c->off = c->len = 0;
  if (c->cap > 64 * 1024) release_buffer(c); /* a burst does not pin memory */
  start_reading(c);
  return 1;
}

/* Something arrived for c (data, FIN, or an error): tell whoever reads it. */
static void notify(xcs_conn *c) {
  if (c->h.reader)
    xcs_task_wake_now(&c->h.reader, 0);
  else if (c->owner)
    xcs_listener_ready(c->owner, c);
}

static void hard_close(xcs_conn *c) {
  if (c->uv_closed) return;
  c->uv_closed = 1;
  xcs_linger_stop(&c->linger);
  xcs_inflow_close(&c->in);
  xcs_inflow_uv_close(&c->in);
  xcs_handle_uv_close(&c->h, (uv_handle_t *)&c->tcp);
}

/* Data or the end, now counted as received (past any --delay). */
static void received(xcs_inflow *in, ssize_t nread, const char *data,
                     const struct sockaddr *from, unsigned flags) {
  (void)from, (void)flags;
  xcs_conn *c = xcs_container_of(in, xcs_conn, in);
  if (nread > 0) {
    int r = append(c, data, (size_t)nread);
    if (r != 0) {
      c->err = r;
      stop_reading(c);
    } else {
      c->bytes_in += (uint64_t)nread;
      if (c->len >= XCS_READ_HIGH) stop_reading(c);
    }
  } else {
    if (nread == UV_EOF)
      c->eof = 1;
    else
      c->err = (int)nread;
    stop_reading(c);
  }
  notify(c);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  xcs_conn *c = conn_of(s);
  if (nread == 0) return; /* EAGAIN */
  if (c->in.f && !c->draining) {
    /* Held back by --delay; the end waits behind the data, and what is
     * held counts against the read limit. */
    if (nread < 0 || c->len + c->in.bytes + (size_t)nread >= XCS_READ_HIGH) stop_reading(c);
    xcs_inflow_stream(&c->in, nread, buf->base);
    return;
  }
  if (c->draining) {
    /* Closing: what the peer still sends is dropped; its FIN ends it. */
    if (nread < 0) {
      c->eof = 1;
      stop_reading(c);
      if (c->shut_done) hard_close(c);
    }
    return;
  }
  received(&c->in, nread, buf->base, NULL, 0);
}

static void write_cb(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  xcs_conn *c = w->c;
  c->queued -= w->len;
  if (status == 0)
    c->bytes_out += w->len;
  else if (c->err == 0 && status != UV_ECANCELED)
    c->err = status;
  xcs_unref(c->h.m, w->ref);
  free(w);
  if (c->queued <= XCS_WRITE_HIGH || c->err) xcs_task_wake_now(&c->h.writer, 0);
}

int xcs_conn_queue(xcs_conn *c, lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (c->err) return c->err;
  if (c->shut || c->h.closing || !c->connected) return UV_EPIPE;
  if (len == 0) return 0;
  if (c->queued == 0) {
    /* Nothing queued: try to send now, with no request and no pin. */
    uv_buf_t b = {.base = (char *)s, .len = len};
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n >= 0) {
      c->bytes_out += (uint64_t)n;
      s += n;
      len -= (size_t)n;
      if (len == 0) return 0;
    } else if (n != UV_EAGAIN) {
      c->err = n;
      return n;
    }
  }
  lua_pushvalue(L, idx);
  int ref = xcs_ref(c->h.m, L); /* may raise: before anything to free */
  write_req *w = malloc(sizeof *w);
  if (w == NULL) {
    xcs_unref(c->h.m, ref);
    return UV_ENOMEM;
  }
  w->ref = ref;
  w->c = c;
  w->len = len;
  uv_buf_t b = {.base = (char *)s, .len = len};
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
  if (r != 0) {
    xcs_unref(c->h.m, w->ref);
    free(w);
    c->err = r;
    return r;
  }
  c->queued += len;
  return 0;
}

static void linger_expired(xcs_linger *l) {
  hard_close(xcs_container_of(l, xcs_conn, linger));
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  xcs_conn *c = conn_of(req->handle);
  if (c->uv_closed) return;
  c->shut_done = 1;
  if (status < 0 && status != UV_ECANCELED && c->err == 0) c->err = status;
  if (!c->h.closing) return;
  if (status < 0 || c->eof || c->err)
    hard_close(c);
  else
    start_reading(c); /* our FIN is out; wait for the peer's, dropping data */
}

static void conn_close(xcs_handle *h, int graceful) {
  xcs_conn *c = (xcs_conn *)h;
  /* Closed by the module: what it has not read is dropped, held back or not;
   * an end that was held back did come, so the peer's FIN is not awaited. */
  xcs_inflow_close(&c->in);
  if (c->in.ended && !c->err) c->eof = 1;
  if (c->owner) xcs_listener_forget(c->owner, c);
  if (c->resolve) xcs_tcp_cancel_resolve(c);
  if (!graceful || c->err || !c->connected) {
    hard_close(c);
    return;
  }
  c->draining = 1;
  release_buffer(c);
  if (!c->shut) {
    c->shut = 1;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
      hard_close(c);
      return;
    }
  } else if (c->shut_done && c->eof) {
    hard_close(c);
    return;
  }
  start_reading(c);
  xcs_linger_start(h->m->host, &c->linger, linger_expired);
}

static void conn_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_conn *c = (xcs_conn *)h;
  snprintf(buf, size, "%s -> %s (%s)", c->local, c->peer,
           c->err ? uv_err_name(c->err) : c->eof ? "peer closed" : "open");
}

/* conn:read(): whatever has arrived, waiting for something if nothing has;
 * "" once the peer closed; nil, err, code on a failure. */
static int conn_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 1, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed");
  if (xcs_conn_take(L, c)) return 1;
  if (c->eof) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (c->err) return xcs_push_fail(L, c->err);
  if (c->h.reader) return luaL_error(L, "read: socket busy reading (another task is reading it)");
  xcs_task_check(L, "read");
  start_reading(c);
  return xcs_task_wait(L, &c->h.reader, conn_read_k, 0);
}

static int conn_read(lua_State *L) {
  xcs_handle_check(L, 1, &xcs_conn_type);
  return conn_read_k(L, LUA_OK, 0);
}

/* After queueing: wait while over the high-water mark (backpressure). */
static int conn_write_k(lua_State *L, int status, lua_KContext len) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 1, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed");
  if (c->err) return xcs_push_fail(L, c->err);
  xcs_module *m = c->h.m;
  if (c->queued > XCS_WRITE_HIGH && c->h.writer == NULL && m->current &&
      lua_isyieldable(L))
    return xcs_task_wait(L, &c->h.writer, conn_write_k, len);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

int xcs_conn_write(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
  luaL_checktype(L, 2, LUA_TSTRING); /* a number is not data: say so */
  size_t len = lua_rawlen(L, 2);
  int r = xcs_conn_queue(c, L, 2);
  if (r == UV_EPIPE && c->shut) return xcs_push_closed(L, "the connection was shut down");
  if (r < 0) return xcs_push_fail(L, r);
  return conn_write_k(L, LUA_OK, (lua_KContext)len);
}

static int conn_write(lua_State *L) {
  if (!lua_isnoneornil(L, 3))
    return luaL_argerror(L, 3, "a connection writes only to its peer");
  return xcs_conn_write(L);
}

/* conn:shutdown(): send FIN after what is queued; reading goes on. */
static int conn_shutdown(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
  if (c->shut) {
    lua_pushboolean(L, 1);
    return 1;
  }
  int r = c->err ? c->err
                 : uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, shutdown_cb);
  if (r != 0) return xcs_push_fail(L, r);
  c->shut = 1;
  lua_pushboolean(L, 1);
  return 1;
}

static int conn_address(lua_State *L) {
  lua_pushstring(L, ((xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type))->local);
  return 1;
}

static int conn_peer(lua_State *L) {
  lua_pushstring(L, ((xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type))->peer);
  return 1;
}

static int conn_port(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_check(L, 1, &xcs_conn_type);
  struct sockaddr_storage sa;
  int len = sizeof sa;
  if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&sa, &len) != 0) return 0;
  lua_pushinteger(L, xcs_addr_port((struct sockaddr *)&sa));
  return 1;
}

static const luaL_Reg conn_methods[] = {
    {"read", conn_read},       {"write", conn_write}, {"shutdown", conn_shutdown},
    {"address", conn_address}, {"peer", conn_peer},   {"port", conn_port},
    {NULL, NULL}};

const xcs_handle_type xcs_conn_type = {XCS_T_CONN, "xcs.tcp", conn_close, conn_describe,
                                       conn_methods};

xcs_conn *xcs_conn_new(lua_State *L, xcs_module *m) {
  xcs_conn *c = xcs_handle_new(L, m, sizeof *c, &xcs_conn_type);
  uv_tcp_init(&m->host->loop, &c->tcp);
  c->tcp.data = &c->h;
  xcs_list_init(&c->peers);
  xcs_list_init(&c->ready);
  xcs_list_init(&c->linger.link);
  xcs_faults *f = m->faults;
  xcs_inflow_init(&c->in, &c->h, f && f->opt.delay_ms ? f : NULL, received);
  strcpy(c->local, "?");
  strcpy(c->peer, "?");
  return c;
}

void xcs_conn_started(xcs_conn *c) {
  struct sockaddr_storage sa;
  int len = sizeof sa;
  c->connected = 1;
  if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&sa, &len) == 0)
    xcs_addr_format((struct sockaddr *)&sa, c->local, sizeof c->local);
  len = sizeof sa;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0)
    xcs_addr_format((struct sockaddr *)&sa, c->peer, sizeof c->peer);
  /* Request/response traffic is the common case: do not hold small writes. */
  uv_tcp_nodelay(&c->tcp, 1);
  start_reading(c);
}

void xcs_stream_open(lua_State *L) {
  xcs_handle_register(L, &xcs_conn_type);
}
