/*
 * stream.c — stream connections (TCP, or UNIX sockets): the receive buffer
 * and its framed reads, the write queue and backpressure, shutdown, close.
 * Their options and timeouts are in stream_opts.c, their names in
 * stream_names.c.
 */
#include "bindings/stream.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/task.h"
#include "bindings/core/log.h"

static void no_conn(xcs_conn *c) { (void)c; }
static void no_ready(xcs_conn *c, int now) { (void)c, (void)now; }
static void no_methods(lua_State *L) { (void)L; }
static const xcs_conn_hooks no_hooks = {no_ready, no_conn, no_conn, no_methods};
static const xcs_conn_hooks *hooks = &no_hooks; /* until tcp.c sets its own */

void xcs_conn_set_hooks(const xcs_conn_hooks *h) { hooks = h; }

typedef struct write_req {
  uv_write_t req;
  xcs_conn *c;
  int ref;    /* pins the Lua string being sent (LUA_NOREF: the bytes follow) */
  size_t len; /* the module's bytes in it */
} write_req;

static xcs_conn *conn_of(void *uvh) {
  return (xcs_conn *)((uv_handle_t *)uvh)->data;
}

/* Receiving --------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *uvh, size_t hint, uv_buf_t *buf) {
  (void)hint;
  xcs_host *host = conn_of(uvh)->h.m->host;
  buf->base = host->readbuf;
  buf->len = sizeof host->readbuf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reading pauses at XCS_READ_HIGH buffered bytes, or later if the framed
 * read waiting now needs more to complete. */
static size_t high_mark(const xcs_conn *c) {
  size_t want = c->rx ? c->rx->want : 0;
  return want > XCS_READ_HIGH ? want : XCS_READ_HIGH;
}

void xcs_conn_start_reading(xcs_conn *c) {
  xcs_inflow *in = xcs_conn_inflow(c);
  if (c->reading || c->eof || c->err || c->uv_closed || !c->connected || (in && in->ended))
    return;
  if (!c->draining && xcs_conn_buffered(c) + xcs_conn_held(c) >= high_mark(c)) return;
  int r = uv_read_start(&c->io.stream, alloc_cb, read_cb);
  if (r == 0)
    c->reading = 1;
  else
    c->err = r;
}

static void stop_reading(xcs_conn *c) {
  if (!c->reading) return;
  uv_read_stop(&c->io.stream);
  c->reading = 0;
}

const char *xcs_conn_data(const xcs_conn *c) {
  return c->rx && c->rx->buf ? c->rx->buf + c->rx->off : "";
}

void xcs_conn_consume(xcs_conn *c, size_t n) {
  xcs_rx *rx = c->rx; /* NULL only for n = 0 */
  if (rx) {
    rx->off += n;
    rx->len -= n;
    rx->scan = 0;
    if (rx->len == 0) xcs_rx_release(c); /* drained: an idle connection holds nothing */
  }
  if (!c->reading) xcs_conn_start_reading(c); /* (the common case, looked at here) */
}

int xcs_conn_take(lua_State *L, xcs_conn *c) {
  if (xcs_conn_buffered(c) == 0) return 0;
  lua_pushlstring(L, xcs_conn_data(c), c->rx->len);
  xcs_rx_release(c);
  xcs_conn_start_reading(c);
  return 1;
}

/* Something arrived for c (data, FIN, or an error): tell whoever reads it.
 * A framed read is only woken once it may complete. */
static void notify(xcs_conn *c) {
  if (c->h.reader) {
    if (xcs_conn_buffered(c) >= (c->rx ? c->rx->need : 1) || c->eof || c->err)
      xcs_task_wake_now(&c->h.reader, 0);
  } else if (xcs_conn_owner(c)) {
    hooks->ready(c, 1);
  }
}

/* The transport lets go as the socket closes. */
static void drop_transport(xcs_conn *c) {
  if (c->tr_open) c->tr->close(c);
}

/* What --delay held back is dropped, its timer closed. */
static void close_inflow(xcs_conn *c) {
  xcs_inflow *in = xcs_conn_inflow(c);
  if (in == NULL) return;
  xcs_inflow_close(in);
  xcs_inflow_uv_close(in);
}

/* A closed connection flushing within the linger deadline: the record is
 * made by the close (conn_close), so an open connection carries none. */
struct xcs_conn_linger {
  xcs_linger l;
  xcs_conn *c;
};

static void stop_linger(xcs_conn *c) {
  if (!c->draining || c->linger == NULL) return; /* (else the union is another's) */
  xcs_linger_stop(&c->linger->l);
  free(c->linger);
  c->linger = NULL;
}

static void close_socket(xcs_conn *c) {
  c->uv_closed = 1;
  drop_transport(c);
  stop_linger(c);
  close_inflow(c);
  xcs_rx_release(c); /* nothing reads it once the socket is closing */
  if (c->recycling) return; /* the failed attempt's socket is closing already */
  if (c->reset && !c->is_unix) {
    /* SO_LINGER 0: the peer gets RST. Refused while a shutdown is pending,
     * and then this is an ordinary close. (A UNIX socket has no RST: its
     * queued writes are dropped by the close below.) */
    xcs_hold(&c->h.life); /* until the reset's close callback */
    c->io.handle.data = &c->h;
    if (uv_tcp_close_reset(&c->io.tcp, xcs_handle_closed_cb) == 0) return;
    xcs_release(&c->h.life);
  }
  xcs_handle_uv_close(&c->h, &c->io.handle);
}

/* The socket goes now. A connection that was draining after its close
 * (conn_close) held its struct for that time: the hold goes too, now that
 * the socket's close holds it. */
static void drop_drain_hold(xcs_conn *c) {
  if (!c->drain_hold) return;
  c->drain_hold = 0;
  xcs_release(&c->h.life);
}

static void hard_close(xcs_conn *c) {
  if (c->uv_closed) return;
  close_socket(c);
  drop_drain_hold(c);
}

/* A fatal error has just been reported to the module: the socket is closed
 * now rather than when the module gets round to closing the handle, which
 * stays open and keeps answering with the error; the handle's own hold
 * keeps the struct after the socket's close callback (see conn_close).
 * A port-keyed listener's client is left to its listener. */
static void release_socket(xcs_conn *c) {
  if (c->released || c->uv_closed || xcs_conn_owner(c) || !c->connected) return;
  xcs_guard_leave(&c->guard);
  c->released = 1;
  c->uv_closed = 1;
  c->reading = 0;
  drop_transport(c);
  xcs_rx_release(c);
  hooks->dial_end(c);
  close_inflow(c);
  xcs_handle_uv_close(&c->h, &c->io.handle);
  drop_drain_hold(c);
  xcs_task_wake(&c->h.reader, 0);
  xcs_task_wake(&c->h.writer, 0);
}

int xcs_conn_push_error(lua_State *L, xcs_conn *c, int status) {
  int n = c->tr ? c->tr->push_error(L, c, status) : 0;
  return n ? n : xcs_push_fail(L, status);
}

/* nil, msg, code for the connection's error [, partial], and release it. */
int xcs_conn_fail(lua_State *L, xcs_conn *c, int partial) {
  int n = xcs_conn_push_error(L, c, c->err);
  if (partial) lua_pushlstring(L, xcs_conn_data(c), xcs_conn_buffered(c));
  release_socket(c);
  return n + partial;
}

void xcs_conn_deliver(xcs_conn *c, const char *data, size_t n) {
  if (c->err || c->eof) return;
  xcs_rx lent;
  int r = xcs_rx_append(c, data, n, &lent);
  if (r != 0) {
    c->err = r;
    stop_reading(c);
  } else {
    c->bytes_in += (uint64_t)n;
    c->h.m->stats.bytes_in[xcs_conn_proto(c)] += (uint64_t)n;
    if (xcs_conn_buffered(c) >= high_mark(c)) stop_reading(c);
  }
  notify(c);
  /* data is only lent for this call (the shared read buffer, what --delay
   * held, or the transport's plaintext); c outlives it, as its struct lives
   * until the host's next tick at least. What is left unread is copied. */
  if ((r = xcs_rx_keep(c)) != 0 && c->err == 0) {
    c->err = r;
    stop_reading(c);
    notify(c);
  }
}

void xcs_conn_end(xcs_conn *c, int status) {
  if (c->err || c->eof) return;
  if (status == UV_EOF)
    c->eof = 1;
  else
    c->err = status;
  stop_reading(c);
  notify(c);
}

/* Data or the end, now counted as received (past any --delay). */
static void received(xcs_conn *c, ssize_t nread, const char *data) {
  if (c->tr)
    c->tr->input(c, nread, data);
  else if (nread > 0)
    xcs_conn_deliver(c, data, (size_t)nread);
  else
    xcs_conn_end(c, (int)nread);
}

/* ...once --delay let it go. */
static void released_by_delay(xcs_inflow *in, ssize_t nread, const char *data,
                              const struct sockaddr *from, unsigned flags) {
  (void)from, (void)flags;
  received((xcs_conn *)in->h, nread, data);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  xcs_conn *c = conn_of(s);
  if (nread == 0) return; /* EAGAIN */
  xcs_inflow *in = xcs_conn_inflow(c);
  if (in && !c->draining) {
    /* Held back by --delay; the end waits behind the data, and what is
     * held counts against the read limit. */
    if (nread < 0 || xcs_conn_buffered(c) + in->bytes + (size_t)nread >= high_mark(c))
      stop_reading(c);
    xcs_inflow_stream(in, nread, buf->base);
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
  received(c, nread, buf->base);
}

/* Sending ------------------------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  xcs_conn *c = w->c;
  c->queued -= w->len;
  if (status == 0) {
    c->bytes_out += w->len;
    c->h.m->stats.bytes_out[xcs_conn_proto(c)] += w->len;
  } else if (c->err == 0 && status != UV_ECANCELED)
    c->err = status;
  if (w->ref != LUA_NOREF) xcs_unref(c->h.m, w->ref);
  free(w);
  if (c->queued <= (c->flushing ? 0 : XCS_WRITE_HIGH) || c->err)
    xcs_task_wake_now(&c->h.writer, 0);
}

int xcs_conn_queue(xcs_conn *c, lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (c->err) return c->err;
  if (c->shut) return UV_EPIPE;
  if (c->h.closing || !c->connected) return UV_ECANCELED; /* closed here, not by the peer */
  if (len == 0) return 0;
  if (c->tr) {
    int r = c->tr->queue(c, s, len);
    if (r != 0 && c->err == 0) c->err = r;
    return r;
  }
  if (c->queued == 0) {
    /* Nothing queued: try to send now, with no request and no pin. */
    uv_buf_t b = {.base = (char *)s, .len = len};
    int n = uv_try_write(&c->io.stream, &b, 1);
    if (n >= 0) {
      c->bytes_out += (uint64_t)n;
      c->h.m->stats.bytes_out[xcs_conn_proto(c)] += (uint64_t)n;
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
  int r = uv_write(&w->req, &c->io.stream, &b, 1, write_cb);
  if (r != 0) {
    xcs_unref(c->h.m, w->ref);
    free(w);
    c->err = r;
    return r;
  }
  c->queued += len;
  return 0;
}

int xcs_conn_send(xcs_conn *c, const char *data, size_t n, size_t plain) {
  if (c->uv_closed || !c->connected) return UV_EPIPE;
  uv_buf_t b = {.base = (char *)data, .len = n};
  int k = uv_try_write(&c->io.stream, &b, 1); /* EAGAIN while writes are queued */
  if (k == (int)n) {
    c->bytes_out += plain;
    c->h.m->stats.bytes_out[xcs_conn_proto(c)] += plain;
    return 0;
  }
  if (k < 0 && k != UV_EAGAIN) return k;
  if (k < 0) k = 0;
  write_req *w = malloc(sizeof *w + n - (size_t)k);
  if (w == NULL) return UV_ENOMEM;
  memcpy(w + 1, data + k, n - (size_t)k);
  w->ref = LUA_NOREF;
  w->c = c;
  w->len = plain;
  b.base = (char *)(w + 1);
  b.len = n - (size_t)k;
  int r = uv_write(&w->req, &c->io.stream, &b, 1, write_cb);
  if (r != 0) {
    free(w);
    return r;
  }
  c->queued += plain;
  return 0;
}

/* Closing --------------------------------------------------------------------------- */

static void linger_expired(xcs_linger *l) {
  hard_close(xcs_container_of(l, struct xcs_conn_linger, l)->c);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  xcs_conn *c = conn_of(req->handle);
  free(req);
  if (c->uv_closed) return;
  c->shut_done = 1;
  if (status < 0 && status != UV_ECANCELED && c->err == 0) c->err = status;
  if (!c->h.closing) return;
  if (status < 0 || c->eof || c->err)
    hard_close(c);
  else
    xcs_conn_start_reading(c); /* our FIN is out; wait for the peer's, dropping data */
}

/* Sends FIN after what is queued (the transport's close first:
 * close_notify). The request is made for it: most connections never shut
 * down, and carry none. 0 or a libuv error. */
int xcs_conn_send_fin(xcs_conn *c) {
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL) return UV_ENOMEM;
  if (c->tr) c->tr->shutdown(c);
  int r = uv_shutdown(req, &c->io.stream, shutdown_cb);
  if (r != 0) free(req);
  return r;
}

void xcs_conn_expire(xcs_conn *c, int status) {
  if (c->err || c->h.closing || !c->connected) return;
  c->err = status;
  stop_reading(c);
  /* The peer hears of it now (FIN after what is queued), even while the
   * module is busy elsewhere; the socket goes when the module reads "". */
  if (!c->shut && xcs_conn_send_fin(c) == 0) c->shut = 1;
  notify(c);
}

void xcs_conn_shed(xcs_conn *c) {
  xcs_guard_leave(&c->guard);
  if (c->h.closing || c->released || c->uv_closed || !c->connected) return;
  if (!c->err) c->err = UV_ECONNABORTED;
  stop_reading(c);
  /* Its reader learns of it on the next turn: this runs inside another
   * client's admission, maybe of another module. */
  xcs_listener *owner = xcs_conn_owner(c);
  if (owner) {
    hooks->ready(c, 0);
    c->client->owner = NULL; /* release_socket leaves a port-keyed client alone */
  }
  release_socket(c);
  if (owner) c->client->owner = owner;
}

static void conn_close(xcs_handle *h, int graceful) {
  xcs_conn *c = (xcs_conn *)h;
  /* Closed by the module: what it has not read is dropped, held back or not;
   * an end that was held back did come, so the peer's FIN is not awaited. */
  xcs_inflow *in = xcs_conn_inflow(c);
  if (in) xcs_inflow_close(in);
  if (in && in->ended && !c->err) c->eof = 1;
  xcs_guard_leave(&c->guard);
  if (xcs_conn_owner(c)) hooks->forget(c);
  if (c->is_client) { /* the listener let go of it: its record goes */
    xcs_list_remove(&c->client->deferred.link);
    free(c->client);
    c->client = NULL;
    c->is_client = 0;
  }
  xcs_list_remove(&c->ready); /* accept()'s queue (tcp.c) */
  hooks->dial_end(c);
  xcs_conn_free_names(c); /* the box reads as closed now: no one asks for them */
  xcs_rx_free(c);          /* ...nor reads what is buffered */
  xcs_kept_drop(c->opts);  /* ...nor reads or writes with these */
  c->opts = xcs_kept_make(NULL);
  if (c->released) return; /* the socket went after an error: nothing to close */
  if (!graceful || c->err || !c->connected) {
    hard_close(c);
    return;
  }
  c->draining = 1;
  xcs_hold(&h->life); /* the socket flushes on after the module let go */
  c->drain_hold = 1;
  if (!c->shut) {
    c->shut = 1;
    if (xcs_conn_send_fin(c) != 0) {
      hard_close(c);
      return;
    }
  } else if (c->shut_done && c->eof) {
    hard_close(c);
    return;
  }
  if ((c->linger = malloc(sizeof *c->linger)) == NULL) {
    hard_close(c); /* no memory to wait: the close cannot wait either */
    return;
  }
  c->linger->c = c;
  xcs_list_init(&c->linger->l.link);
  xcs_conn_start_reading(c);
  xcs_linger_start(h->m->host, &c->linger->l, linger_expired);
}

/* What c's transport holds (0 without one, or once it let go). */
static size_t transport_memory(xcs_conn *c) {
  return c->tr_open && c->tr->memory ? c->tr->memory(c) : 0;
}

static void conn_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_conn *c = (xcs_conn *)h;
  int n = snprintf(buf, size, "%s -> %s (%s; %llu bytes in, %llu out, %zu queued",
                   xcs_conn_local(c), xcs_conn_peer(c),
                   c->err ? uv_err_name(c->err) : c->eof ? "peer closed" : "open",
                   (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out, c->queued);
  if (n < 0 || (size_t)n >= size) return;
  if (c->tr)
    snprintf(buf + n, size - (size_t)n, "; %s %zu KiB)", c->tr->name,
             (transport_memory(c) + 1023) >> 10);
  else
    snprintf(buf + n, size - (size_t)n, ")");
}

void xcs_conn_reset(xcs_handle *h) {
  if (h->type != &xcs_conn_type || h->closing) return;
  ((xcs_conn *)h)->reset = 1;
  xcs_handle_close(h, 0);
}

/* conn:close([how]): graceful (flush, FIN), or with "reset" an abort (RST,
 * queued data dropped). Closing a closed connection does nothing. */
static int conn_close_method(lua_State *L) {
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 1, &xcs_conn_type);
  int reset = 0;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "reset") != 0)
      return luaL_argerror(L, 2, "expected \"reset\" or nothing");
    reset = 1;
  }
  if (c) {
    c->reset = (unsigned)reset;
    xcs_handle_close(&c->h, !reset);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg conn_methods[] = {
    {"read", xcs_conn_read},     {"readany", xcs_conn_readany},
    {"readuntil", xcs_conn_readuntil}, {"write", xcs_conn_write_method},
    {"flush", xcs_conn_flush},       {"shutdown", xcs_conn_shutdown},
    {"trywrite", xcs_conn_trywrite}, {"buffered", xcs_conn_buffered_method},
    {"close", conn_close_method}, {"settimeouts", xcs_conn_settimeouts},
    {"setoption", xcs_conn_setoption}, {"address", xcs_conn_address},
    {"peer", xcs_conn_peer_method},         {"port", xcs_conn_port},
    {NULL, NULL}};

static void conn_info(xcs_handle *h, lua_State *L) {
  xcs_conn *c = (xcs_conn *)h;
  xcs_info_str(L, "protocol", c->tr ? c->tr->name : c->is_unix ? "UNIX" : "TCP");
  xcs_info_str(L, "kind", xcs_conn_owner(c) ? "client" : "connection");
  xcs_info_str(L, "local", xcs_conn_local(c));
  xcs_info_str(L, "remote", xcs_conn_peer(c));
  xcs_info_int(L, "bytes_in", c->bytes_in);
  xcs_info_int(L, "bytes_out", c->bytes_out);
  xcs_info_int(L, "queued", c->queued);
  if (c->tr) xcs_info_int(L, "memory", transport_memory(c));
}

/* The methods no luaL_Reg holds, as the class is made: read, with its
 * cache of short strings (push_short), and the layers' above (hooks). */
static void conn_extend(lua_State *L) {
  /* stack: methods */
  xcs_conn_push_read(L);
  lua_setfield(L, -2, "read");
  hooks->methods(L);
}

const xcs_handle_type xcs_conn_type = {XCS_T_CONN, "xcs.tcp", conn_close, conn_describe,
                                       conn_methods, conn_info, xcs_conn_reset, 0,
                                       conn_extend, XCS_CONN_MORE_METHODS};

xcs_conn *xcs_conn_new(lua_State *L, xcs_module *m, int is_unix) {
  xcs_faults *f = m->faults && m->faults->opt.delay_ms ? m->faults : NULL;
  size_t size = f ? sizeof(xcs_conn_delayed)
                : is_unix ? sizeof(xcs_conn)
                          : offsetof(xcs_conn, io) + sizeof(uv_tcp_t);
  xcs_conn *c = xcs_handle_new(L, m, size, &xcs_conn_type);
  if (f) {
    c->delayed = 1;
    xcs_inflow_init(xcs_conn_inflow(c), &c->h, f, released_by_delay);
  }
  c->is_unix = (unsigned)(is_unix != 0);
  if (is_unix)
    uv_pipe_init(&m->host->loop, &c->io.pipe, 0);
  else
    uv_tcp_init(&m->host->loop, &c->io.tcp);
  c->io.handle.data = &c->h;
  xcs_list_init(&c->ready);
  c->opts = xcs_kept_make(NULL);
  return c;
}

void xcs_conn_started(xcs_conn *c, const xcs_conn_opts *o, const struct sockaddr *peer) {
  c->connected = 1;
  xcs_conn_note_names(c, peer);
  xcs_conn_opts d;
  if (o == NULL) xcs_conn_opts_default(&d);
  xcs_conn_apply_options(c, o ? o : &d, NULL); /* best effort: a refused option leaves the default */
  if (c->tr) c->tr->start(c);
  xcs_conn_start_reading(c);
}

