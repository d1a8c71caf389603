/*
 * udp.c — binding, receiving and sending datagrams.
 */
#include "bindings/udp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/addr.h"
#include "bindings/errors.h"
#include "bindings/task.h"
#include "host/log.h"
#include "host/reload.h"

typedef struct dgram {
  xcs_list link;
  struct sockaddr_storage from;
  size_t len;
  int truncated;
  char data[];
} dgram;

typedef struct xcs_udp {
  xcs_handle h;
  uv_udp_t udp;
  xcs_list queue;   /* dgram.link, oldest first */
  int queued;
  int receiving;
  int err;          /* e.g. ECONNREFUSED on a connected socket */
  int connected;
  int port;
  uint64_t bytes_in, bytes_out;
  char addr[XCS_ADDRSTRLEN], peer[XCS_ADDRSTRLEN];
} xcs_udp;

typedef struct send_req {
  uv_udp_send_t req;
  xcs_udp *u;
  int ref; /* pins the Lua string being sent */
} send_req;

int xcs_udp_connected(xcs_handle *h) { return ((xcs_udp *)h)->connected; }

static void alloc_cb(uv_handle_t *uvh, size_t hint, uv_buf_t *buf) {
  (void)hint;
  xcs_host *host = ((xcs_handle *)uvh->data)->m->host;
  buf->base = host->readbuf;
  buf->len = sizeof host->readbuf;
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags);

static void start_receiving(xcs_udp *u) {
  if (u->receiving || u->h.closing || u->queued >= XCS_UDP_QUEUE) return;
  if (uv_udp_recv_start(&u->udp, alloc_cb, recv_cb) == 0) u->receiving = 1;
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags) {
  xcs_udp *u = (xcs_udp *)h->data;
  if (nread == 0 && from == NULL) return; /* nothing more for now */
  if (nread < 0) {
    u->err = (int)nread;
  } else {
    dgram *d = malloc(sizeof *d + (size_t)nread);
    if (d == NULL) return; /* dropped, as the network might have */
    memcpy(d->data, buf->base, (size_t)nread);
    d->len = (size_t)nread;
    d->truncated = (flags & UV_UDP_PARTIAL) != 0;
    memcpy(&d->from, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in));
    xcs_list_push(&u->queue, &d->link);
    u->bytes_in += (uint64_t)nread;
    if (++u->queued >= XCS_UDP_QUEUE) {
      uv_udp_recv_stop(&u->udp);
      u->receiving = 0;
    }
  }
  xcs_task_wake_now(&u->h.reader, 0);
}

static void udp_close(xcs_handle *h, int graceful) {
  (void)graceful;
  xcs_udp *u = (xcs_udp *)h;
  if (u->port) xcs_log(h->m->host, h->m->name, "closed %s (UDP)", u->addr);
  xcs_list *n;
  while ((n = xcs_list_shift(&u->queue)) != NULL) free(xcs_container_of(n, dgram, link));
  xcs_handle_uv_close(h, (uv_handle_t *)&u->udp);
}

static void udp_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_udp *u = (xcs_udp *)h;
  snprintf(buf, size, "%s%s%s (%d datagrams waiting)", u->addr,
           u->connected ? " -> " : "", u->connected ? u->peer : "", u->queued);
}

/* read() -> data, from  (a third value "truncated" if the datagram was cut) */
static int udp_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_udp *u = (xcs_udp *)xcs_handle_get(L, 1, &xcs_udp_type);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed");
  xcs_list *n = u->queue.next;
  if (n != &u->queue) {
    dgram *d = xcs_container_of(n, dgram, link);
    char from[XCS_ADDRSTRLEN];
    xcs_addr_format((struct sockaddr *)&d->from, from, sizeof from);
    lua_pushlstring(L, d->data, d->len);
    lua_pushstring(L, from);
    int nres = 2;
    if (d->truncated) {
      lua_pushliteral(L, "truncated");
      nres = 3;
    }
    xcs_list_remove(n);
    free(d);
    u->queued--;
    start_receiving(u);
    return nres;
  }
  if (u->err) {
    int err = u->err;
    u->err = 0; /* an ICMP error is news about one send, not the socket's end */
    return xcs_push_fail(L, err);
  }
  if (u->h.reader) return luaL_error(L, "read: socket busy reading (another task is reading it)");
  xcs_task_check(L, "read");
  return xcs_task_wait(L, &u->h.reader, udp_read_k, 0);
}

static int udp_read(lua_State *L) {
  xcs_handle_check(L, 1, &xcs_udp_type);
  return udp_read_k(L, LUA_OK, 0);
}

static void send_cb(uv_udp_send_t *req, int status) {
  send_req *s = (send_req *)req;
  if (status < 0 && status != UV_ECANCELED) s->u->err = status;
  xcs_unref(s->u->h.m, s->ref);
  free(s);
}

/* write(data [, to]) -> #data | nil, err, code. to is "ip:port"; without it
 * the datagram goes to the connected peer. */
static int udp_write(lua_State *L) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  luaL_checktype(L, 2, LUA_TSTRING); /* a number is not data: say so */
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  struct sockaddr_storage to;
  const struct sockaddr *dest = NULL;
  if (u->connected && !lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TSTRING || strcmp(lua_tostring(L, 3), u->peer) != 0)
      return luaL_argerror(L, 3, lua_pushfstring(L, "this socket sends only to %s", u->peer));
  } else if (!lua_isnoneornil(L, 3)) {
    const char *s = luaL_checkstring(L, 3);
    if (xcs_addr_parse(s, &to) != 0)
      return luaL_argerror(L, 3, lua_pushfstring(L, "expected an address such as "
                                                    "\"127.0.0.1:7000\", got \"%s\"", s));
    dest = (struct sockaddr *)&to;
  } else if (!u->connected) {
    return luaL_argerror(L, 3, "expected the address to send to");
  }
  uv_buf_t b = {.base = (char *)data, .len = len};
  int r = uv_udp_try_send(&u->udp, &b, 1, dest);
  if (r == UV_EAGAIN) {
    /* The socket buffer is full: queue it, pinning the string until sent. */
    lua_pushvalue(L, 2);
    int ref = xcs_ref(u->h.m, L); /* may raise: before anything to free */
    send_req *s = malloc(sizeof *s);
    if (s == NULL) {
      xcs_unref(u->h.m, ref);
      return luaL_error(L, "not enough memory");
    }
    s->ref = ref;
    s->u = u;
    r = uv_udp_send(&s->req, &u->udp, &b, 1, dest, send_cb);
    if (r != 0) {
      xcs_unref(u->h.m, s->ref);
      free(s);
    }
  }
  if (r < 0) return xcs_push_fail(L, r);
  u->bytes_out += len;
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

static int udp_port(lua_State *L) {
  lua_pushinteger(L, ((xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type))->port);
  return 1;
}

static int udp_address(lua_State *L) {
  lua_pushstring(L, ((xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type))->addr);
  return 1;
}

static int udp_peer(lua_State *L) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  if (!u->connected) return 0;
  lua_pushstring(L, u->peer);
  return 1;
}

static const luaL_Reg udp_methods[] = {{"read", udp_read},       {"write", udp_write},
                                       {"port", udp_port},       {"address", udp_address},
                                       {"peer", udp_peer},       {NULL, NULL}};

const xcs_handle_type xcs_udp_type = {XCS_T_UDP, "xcs.udp", udp_close, udp_describe, udp_methods};

/* Binds a new UDP socket to ip:port; pushes it, or nil, err, code. */
static int open_udp(lua_State *L, const char *ip, int port, const struct sockaddr *peer) {
  xcs_module *m = xcs_module_of(L);
  struct sockaddr_storage sa;
  if (xcs_addr_from(ip, port, &sa) != 0)
    return luaL_error(L, "socket.open: bad bind address '%s'", ip);
  xcs_udp *u = xcs_handle_new(L, m, sizeof *u, &xcs_udp_type);
  xcs_list_init(&u->queue);
  uv_udp_init(&m->host->loop, &u->udp);
  u->udp.data = &u->h;
  uv_os_sock_t fd;
  int r;
  if (peer == NULL && xcs_reload_takeover(m, &xcs_udp_type, port, &fd)) {
    if ((r = uv_udp_open(&u->udp, fd)) != 0) close(fd);
  } else {
    r = uv_udp_bind(&u->udp, (struct sockaddr *)&sa, 0);
  }
  if (r == 0 && peer) r = uv_udp_connect(&u->udp, peer);
  if (r != 0) {
    xcs_handle_close(&u->h, 0);
    return xcs_push_fail(L, r);
  }
  int len = sizeof sa;
  uv_udp_getsockname(&u->udp, (struct sockaddr *)&sa, &len);
  u->port = xcs_addr_port((struct sockaddr *)&sa);
  xcs_addr_format((struct sockaddr *)&sa, u->addr, sizeof u->addr);
  if (peer) {
    u->connected = 1;
    xcs_addr_format(peer, u->peer, sizeof u->peer);
    xcs_log(m->host, m->name, "sending from %s to %s (UDP)", u->addr, u->peer);
  } else {
    if (m->first_port == 0) m->first_port = u->port;
    if (port != 0) {
      u->h.bound = (uv_handle_t *)&u->udp;
      u->h.port = port;
    }
    xcs_log(m->host, m->name, "bound to %s (UDP)", u->addr);
  }
  start_receiving(u);
  return 1;
}

static int l_udp_open(lua_State *L) {
  int port = (int)luaL_checkinteger(L, 1);
  return open_udp(L, xcs_module_of(L)->host->opt.bind, port, NULL);
}

/* core.udp_connect(host, port): a UDP socket whose writes go to host:port.
 * host is an IP literal or "localhost". */
static int l_udp_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  struct sockaddr_storage peer;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (xcs_addr_from(host, port, &peer) != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "EAI_NONAME: UDP connects to an IP address, not \"%s\"", host);
    lua_pushliteral(L, "EAI_NONAME");
    return 3;
  }
  const char *any = peer.ss_family == AF_INET6 ? "::" : "0.0.0.0";
  if (strncmp(host, "127.", 4) == 0) any = "127.0.0.1";
  if (strcmp(host, "::1") == 0) any = "::1";
  return open_udp(L, any, 0, (struct sockaddr *)&peer);
}

void xcs_udp_open(lua_State *L) {
  xcs_handle_register(L, &xcs_udp_type);
  lua_pushcfunction(L, l_udp_open);
  lua_setfield(L, -2, "udp_open");
  lua_pushcfunction(L, l_udp_connect);
  lua_setfield(L, -2, "udp_connect");
}
