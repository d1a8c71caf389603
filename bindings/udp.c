/*
 * udp.c — binding, resolving, receiving and sending datagrams; socket
 * options and multicast membership.
 */
#include "bindings/udp.h"

#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/addr.h"
#include "bindings/errors.h"
#include "bindings/faults.h"
#include "bindings/inherit.h"
#include "bindings/names.h"
#include "bindings/task.h"
#include "bindings/admit.h"
#include "bindings/core/log.h"

typedef struct dgram {
  xcs_list link;
  struct sockaddr_storage from;
  size_t len;
  int truncated;
  char data[];
} dgram;

typedef struct udp_resolve udp_resolve;

/* Datagrams received per recvmmsg (see batch_buf below). */
#define BATCH 16

/* A datagram offered straight to the waiting reader, still in the receive
 * buffer: nothing is copied or allocated unless the reader leaves it. The
 * datagrams of one recvmmsg batch are offered together, at its end, so the
 * reader's task runs once for them all and reads them without waiting. */
typedef struct offered {
  const char *data;
  size_t len;
  const struct sockaddr *from;
  int truncated;
} offered;

/* A sender's address, as a key of the socket's cache of formatted ones. */
typedef struct peer_key {
  uint32_t scope;
  uint16_t family, port;
  unsigned char ip[16];
} peer_key;

/* Senders whose "ip:port" strings a socket keeps (a table of Lua strings,
 * slot i for the key key[i]): a read from a known sender formats nothing,
 * and a write to one parses nothing (its string, anchored in the table, is
 * found by its pointer: by_str maps a pointer's hash to a slot). A sender
 * goes in the slot its address hashes to or the one beside it (i ^ 1). */
#define PEERS 128

typedef struct peers {
  peer_key key[PEERS];
  const char *str[PEERS];
  unsigned char by_str[2 * PEERS];
} peers;

typedef struct xcs_udp {
  xcs_handle h;
  xcs_binding binding; /* its port, for a reload (handle.h) */
  uv_udp_t udp;
  xcs_inflow in;    /* injected faults, between the kernel and the queue */
  xcs_list queue;   /* dgram.link, oldest first */
  int queued;
  int receiving;
  int batch;        /* inside a batch of recvmmsg: pause only at its end */
  int chunk;        /* delivering a batch's datagram: offer it at the end */
  int noffers, next_offer; /* offers[next_offer..noffers) not read yet */
  offered offers[BATCH];   /* a batch waiting for its end */
  int err;          /* e.g. ECONNREFUSED on a connected socket */
  int connected;
  int port;
  int family;       /* of the local address, once bound */
  udp_resolve *resolve; /* name look-up in flight for a connect */
  xcs_names *names;     /* names written to (bindings/names.h) */
  uint64_t bytes_in, bytes_out;
  peers *keys;      /* once a datagram came; NULL before */
  int peers_ref;    /* the table of their strings; 0 for none yet */
  char addr[XCS_ADDRSTRLEN], peer[XCS_ADDRSTRLEN];
} xcs_udp;

struct udp_resolve {
  uv_getaddrinfo_t req;
  xcs_module *m;
  xcs_udp *u; /* NULL once the socket closed */
};

typedef struct send_req {
  uv_udp_send_t req;
  xcs_udp *u;
  int ref; /* pins the Lua string being sent */
} send_req;

int xcs_udp_connected(xcs_handle *h) { return ((xcs_udp *)h)->connected; }

/* Receiving -------------------------------------------------------------------- */

/* Datagrams are received in batches (recvmmsg) into one buffer for every
 * socket: libuv cuts it into 64 KiB pieces, one per datagram, so none is
 * ever truncated. One loop per process and each datagram is consumed or
 * copied before its callback returns, so one buffer serves every host. */
#define PIECE (64 * 1024)
static char batch_buf[BATCH * PIECE];

/* Datagrams waiting, in the queue or held back by faults: the bound. */
static int held(const xcs_udp *u) { return u->queued + u->noffers + u->in.count; }
static int full(const xcs_udp *u) { return held(u) >= XCS_UDP_QUEUE; }

/* A batch never takes more than the queue has room for. */
static void alloc_cb(uv_handle_t *uvh, size_t hint, uv_buf_t *buf) {
  (void)hint;
  int room = XCS_UDP_QUEUE - held((xcs_udp *)uvh->data);
  buf->base = batch_buf;
  buf->len = (size_t)(room >= BATCH ? BATCH : room > 1 ? room : 1) * PIECE;
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags);

static void start_receiving(xcs_udp *u) {
  if (u->receiving || u->h.closing || u->port == 0 || full(u)) return;
  if (uv_udp_recv_start(&u->udp, alloc_cb, recv_cb) == 0) u->receiving = 1;
}

/* Stopping inside a batch would drop the datagrams libuv has already read
 * for it (a duplicating fault can fill the queue early): reception pauses
 * at the batch's end. */
static void pause_if_full(xcs_udp *u) {
  if (u->receiving && !u->batch && full(u)) {
    uv_udp_recv_stop(&u->udp);
    u->receiving = 0;
  }
}

/* Queues a copy of a datagram for a later read(). */
static void enqueue(xcs_udp *u, const offered *o) {
  dgram *d = malloc(sizeof *d + o->len);
  if (d == NULL) { /* dropped, as the network might have */
    u->bytes_in -= (uint64_t)o->len;
    u->h.m->stats.bytes_in[XCS_P_UDP] -= (uint64_t)o->len;
    return;
  }
  memcpy(d->data, o->data, o->len);
  d->len = o->len;
  d->truncated = o->truncated;
  memcpy(&d->from, o->from, o->from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in));
  xcs_list_push(&u->queue, &d->link);
  u->queued++;
}

/* Runs the waiting reader on the offered datagrams; what it leaves (it
 * stopped reading, or could not run now) is copied into the queue. */
static void offer_all(xcs_udp *u) {
  if (u->noffers == 0) return;
  u->next_offer = 0;
  xcs_task_wake_now(&u->h.reader, 0);
  if (!u->h.closing)
    for (int i = u->next_offer; i < u->noffers; i++) enqueue(u, &u->offers[i]);
  u->noffers = u->next_offer = 0;
  if (!u->h.closing) pause_if_full(u);
}

/* A datagram past the faults: offered to the reader, or queued for read(). */
static void deliver(xcs_inflow *in, ssize_t n, const char *data, const struct sockaddr *from,
                    unsigned flags) {
  xcs_udp *u = xcs_container_of(in, xcs_udp, in);
  u->bytes_in += (uint64_t)n; /* received: read now, or queued */
  u->h.m->stats.bytes_in[XCS_P_UDP] += (uint64_t)n;
  offered o = {data, (size_t)n, from, (flags & UV_UDP_PARTIAL) != 0};
  if (u->chunk && u->h.reader && u->queued == 0 && u->noffers < BATCH) {
    u->offers[u->noffers++] = o; /* read at the batch's end */
    return;
  }
  offer_all(u); /* what came before goes first */
  if (u->h.closing) return;
  if (u->h.reader && u->queued == 0) {
    u->offers[u->noffers++] = o;
    offer_all(u);
    return;
  }
  enqueue(u, &o);
  pause_if_full(u);
  xcs_task_wake_now(&u->h.reader, 0);
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags) {
  xcs_udp *u = (xcs_udp *)h->data;
  if (nread == 0 && from == NULL) { /* nothing more for now, or a batch's end */
    u->batch = 0;
    if (!u->h.closing) offer_all(u); /* the buffer and addresses live until now */
    if (!u->h.closing) pause_if_full(u);
    return;
  }
  if (u->h.closing) return;
  u->batch = (flags & UV_UDP_MMSG_CHUNK) != 0;
  if (nread < 0) {
    offer_all(u);
    u->err = (int)nread;
    xcs_task_wake_now(&u->h.reader, 0);
    return;
  }
  /* Faults may hand on, during this call, a datagram held in memory they
   * free after it: only the kernel's batch waits for its end. */
  u->chunk = u->batch && u->in.f == NULL;
  xcs_inflow_datagram(&u->in, nread, buf->base, from, flags);
  u->chunk = 0;
  if (!u->h.closing) pause_if_full(u);
}

static void udp_close(xcs_handle *h, int graceful) {
  (void)graceful;
  xcs_udp *u = (xcs_udp *)h;
  if (u->port) {
    char faults[200];
    xcs_inflow_describe(&u->in, faults, sizeof faults);
    xcs_log_socket(h->m->host, h->m->name, "close", u->addr, NULL, "UDP", "closed %s (UDP)%s", u->addr,
                   faults);
  }
  if (u->resolve) {
    u->resolve->u = NULL;
    uv_cancel((uv_req_t *)&u->resolve->req);
    u->resolve = NULL;
  }
  xcs_names_free(u->names);
  u->names = NULL;
  free(u->keys);
  u->keys = NULL;
  if (u->peers_ref > 0 && h->m->phase != XCS_GONE) xcs_unref(h->m, u->peers_ref);
  u->peers_ref = 0;
  xcs_list *n;
  while ((n = xcs_list_shift(&u->queue)) != NULL) free(xcs_container_of(n, dgram, link));
  xcs_inflow_close(&u->in);
  xcs_inflow_uv_close(&u->in);
  xcs_handle_uv_close(h, (uv_handle_t *)&u->udp);
}

static void udp_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_udp *u = (xcs_udp *)h;
  if (u->resolve) {
    snprintf(buf, size, "(resolving %s)", u->peer);
    return;
  }
  snprintf(buf, size, "%s%s%s (%d datagrams waiting; %llu bytes in, %llu out)", u->addr,
           u->connected ? " -> " : "", u->connected ? u->peer : "", u->queued,
           (unsigned long long)u->bytes_in, (unsigned long long)u->bytes_out);
}

/* sa as a key, and the slot of the cache it goes in. */
static unsigned key_of(const struct sockaddr *sa, peer_key *k) {
  memset(k, 0, sizeof *k);
  k->family = sa->sa_family;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    k->port = a->sin6_port;
    k->scope = a->sin6_scope_id;
    memcpy(k->ip, &a->sin6_addr, 16);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    k->port = a->sin_port;
    memcpy(k->ip, &a->sin_addr, 4);
  }
  uint32_t a, b;
  memcpy(&a, k->ip, 4);
  memcpy(&b, k->ip + 12, 4);
  uint32_t hash = (a ^ b ^ k->port) * 2654435761u;
  return (hash >> 16) % PEERS;
}

static unsigned str_slot(const char *s) { return (unsigned)(((uintptr_t)s >> 4) % (2 * PEERS)); }

/* Pushes the sender's "ip:port", from the cache when it wrote before. */
static void push_from(lua_State *L, xcs_udp *u, const struct sockaddr *sa) {
  if (u->keys == NULL && (u->keys = calloc(1, sizeof *u->keys)) == NULL) {
    char from[XCS_ADDRSTRLEN]; /* no cache: format it each time */
    xcs_addr_format(sa, from, sizeof from);
    lua_pushstring(L, from);
    return;
  }
  if (u->peers_ref == 0) { /* may raise: nothing is taken yet */
    lua_createtable(L, PEERS, 0);
    u->peers_ref = xcs_ref(u->h.m, L);
  }
  peer_key k;
  unsigned i = key_of(sa, &k);
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->peers_ref);
  peer_key *keys = u->keys->key;
  if (memcmp(&keys[i], &k, sizeof k) != 0 && memcmp(&keys[i ^ 1], &k, sizeof k) == 0) i ^= 1;
  if (memcmp(&keys[i], &k, sizeof k) == 0 && lua_rawgeti(L, -1, i + 1) == LUA_TSTRING) {
    lua_remove(L, -2);
    return;
  }
  if (lua_type(L, -1) != LUA_TTABLE) lua_pop(L, 1); /* the slot, empty */
  if (keys[i].family != 0 && keys[i ^ 1].family == 0) i ^= 1; /* an empty one first */
  char from[XCS_ADDRSTRLEN];
  xcs_addr_format(sa, from, sizeof from);
  const char *str = lua_pushstring(L, from);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, i + 1);
  u->keys->key[i] = k;
  u->keys->str[i] = str;
  u->keys->by_str[str_slot(str)] = (unsigned char)i;
  lua_remove(L, -2);
}

/* Whether s is the string of a sender in the cache: its address into sa. */
static int known(const xcs_udp *u, const char *s, struct sockaddr_storage *sa) {
  if (u->keys == NULL) return 0;
  unsigned i = u->keys->by_str[str_slot(s)];
  if (u->keys->str[i] != s) return 0;
  const peer_key *k = &u->keys->key[i];
  memset(sa, 0, sizeof *sa);
  if (k->family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = k->port;
    a->sin6_scope_id = k->scope;
    memcpy(&a->sin6_addr, k->ip, 16);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)sa;
    a->sin_family = AF_INET;
    a->sin_port = k->port;
    memcpy(&a->sin_addr, k->ip, 4);
  }
  return 1;
}

int xcs_udp_known(xcs_handle *h, const char *s) {
  struct sockaddr_storage sa;
  return known((xcs_udp *)h, s, &sa);
}

/* Pushes data, from [, "truncated"]; returns how many. */
static int push_datagram(lua_State *L, xcs_udp *u, const char *data, size_t len,
                         const struct sockaddr *sa, int truncated) {
  lua_pushlstring(L, data, len);
  push_from(L, u, sa);
  if (!truncated) return 2;
  lua_pushliteral(L, "truncated");
  return 3;
}

/* read([timeout]) -> data, from  (a third value "truncated" if the datagram
 * was cut), or nil, "ETIMEDOUT: ...", "ETIMEDOUT" once timeout seconds pass
 * with nothing. ctx is 1 in the continuation after a wait. */
static int udp_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  xcs_udp *u = (xcs_udp *)xcs_handle_again(L, 1);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed");
  if (u->next_offer < u->noffers) { /* the queue is empty while offers last */
    offered *o = &u->offers[u->next_offer];
    int nres = push_datagram(L, u, o->data, o->len, o->from, o->truncated);
    u->next_offer++; /* after the pushes: a memory error leaves it offered */
    return nres;
  }
  xcs_list *n = u->queue.next;
  if (n != &u->queue) {
    dgram *d = xcs_container_of(n, dgram, link);
    /* Pushed before it is freed; a memory error there leaves it queued. */
    int nres = push_datagram(L, u, d->data, d->len, (struct sockaddr *)&d->from, d->truncated);
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
  double timeout = lua_isnoneornil(L, 2) ? -1 : lua_tonumber(L, 2);
  if (timeout == 0 || (ctx && xcs_task_status(L) == UV_ETIMEDOUT)) {
    char msg[80];
    snprintf(msg, sizeof msg, "ETIMEDOUT: no datagram within %g s", timeout);
    lua_pushnil(L);
    lua_pushstring(L, msg);
    lua_pushliteral(L, "ETIMEDOUT");
    return 3;
  }
  if (u->h.reader) return luaL_error(L, "read: socket busy reading (another task is reading it)");
  xcs_task_check(L, "read");
  return xcs_task_park(L, &u->h.reader, timeout, udp_read_k, 1);
}

static int udp_read(lua_State *L) {
  xcs_handle_check(L, 1, &xcs_udp_type);
  if (!lua_isnoneornil(L, 2)) {
    lua_Number t = luaL_checknumber(L, 2);
    luaL_argcheck(L, t >= 0 && t < 1e9, 2, "expected a timeout in seconds from 0 to 1e9");
  }
  lua_settop(L, 2);
  return udp_read_k(L, LUA_OK, 0);
}

/* Sending ---------------------------------------------------------------------- */

static void send_cb(uv_udp_send_t *req, int status) {
  send_req *s = (send_req *)req;
  if (status < 0 && status != UV_ECANCELED) s->u->err = status;
  xcs_unref(s->u->h.m, s->ref);
  free(s);
}

static int udp_write(lua_State *L);
static int write_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (xcs_handle_get(L, 1, &xcs_udp_type) == NULL)
    return xcs_push_closed(L, "the socket was closed while a name was looked up");
  return udp_write(L);
}

/* The address `to` (at 3) names: 0, a network outcome pushed (> 0), or -1
 * when the task waits for a name to be looked up. */
static int destination(lua_State *L, xcs_udp *u, struct sockaddr_storage *to) {
  const char *s = lua_tostring(L, 3);
  if (known(u, s, to) || xcs_addr_parse(s, to) == 0) return 0;
  if (!xcs_names_is_name(s))
    return luaL_error(L, "udp:write: bad argument #2 (to): expected an address such as "
                         "\"127.0.0.1:7000\" or \"localhost:7000\", got \"%s\"", s);
  int r = xcs_names_find(u->names, s, uv_now(&u->h.m->host->loop), to);
  if (r <= 0) return r == 0 ? 0 : xcs_push_fail(L, r);
  xcs_task_check(L, "udp:write"); /* a name not looked up yet: the task waits for it */
  r = xcs_names_lookup(&u->names, u->h.m, &u->h.writer, s, u->family);
  if (r == UV_EBUSY) {
    lua_pushnil(L);
    lua_pushfstring(L, "EBUSY: another task's write on this socket is looking up a name; "
                       "try again, or give the address");
    lua_pushliteral(L, "EBUSY");
    return 3;
  }
  if (r != 0) return xcs_push_fail(L, r);
  return -1;
}

/* write(data [, to]) -> #data | nil, err, code. to is "ip:port" or
 * "name:port" (looked up without blocking, and kept: bindings/names.h);
 * without it the datagram goes to the connected peer. */
static int udp_write(lua_State *L) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  luaL_checktype(L, 2, LUA_TSTRING); /* a number is not data: say so */
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  struct sockaddr_storage to;
  const struct sockaddr *dest = NULL;
  if (u->connected && !lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TSTRING || strcmp(lua_tostring(L, 3), u->peer) != 0)
      return luaL_error(L, "udp:write: bad argument #2 (to): this socket sends only to %s",
                        u->peer);
  } else if (!lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TSTRING)
      return luaL_error(L, "udp:write: bad argument #2 (to): expected an address string, "
                           "got %s", luaL_typename(L, 3));
    lua_settop(L, 3);
    int n = destination(L, u, &to);
    if (n < 0) return xcs_task_park(L, &u->h.writer, -1, write_k, 0);
    if (n > 0) return n;
    dest = (struct sockaddr *)&to;
  } else if (!u->connected) {
    return luaL_error(L, "udp:write: bad argument #2 (to): expected the address to send to");
  }
  /* Say so before the kernel does, and in words: a datagram is never cut. */
  int v6 = (dest ? dest->sa_family : u->family) == AF_INET6;
  size_t max = v6 ? XCS_UDP_MAX_IPV6 : XCS_UDP_MAX_IPV4;
  if (len > max) {
    lua_pushnil(L);
    lua_pushfstring(L, "EMSGSIZE: a UDP datagram over %s carries at most %d bytes, not %I",
                    v6 ? "IPv6" : "IPv4", (int)max, (lua_Integer)len);
    lua_pushliteral(L, "EMSGSIZE");
    return 3;
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
  if (r == UV_EACCES) {
    lua_pushnil(L);
    lua_pushfstring(L, "EACCES: %s (sending to a broadcast address needs "
                       "udp:setoption(\"broadcast\", true))", uv_strerror(r));
    lua_pushliteral(L, "EACCES");
    return 3;
  }
  if (r < 0) return xcs_push_fail(L, r);
  u->bytes_out += len;
  u->h.m->stats.bytes_out[XCS_P_UDP] += len;
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

/* Options and multicast ---------------------------------------------------------- */

static int check_flag(lua_State *L, int idx) {
  luaL_argexpected(L, lua_isboolean(L, idx), idx, "boolean");
  return lua_toboolean(L, idx);
}

static int check_ttl(lua_State *L, int idx, int lowest) {
  lua_Integer v = luaL_checkinteger(L, idx);
  if (v < lowest || v > 255)
    luaL_argerror(L, idx, lua_pushfstring(L, "expected an integer from %d to 255, got %I",
                                          lowest, v));
  return (int)v;
}

static int check_bytes(lua_State *L, int idx) {
  int isint;
  lua_Integer v = lua_tointegerx(L, idx, &isint);
  if (!isint || v < 1 || v > INT_MAX)
    luaL_error(L, "udp:setoption: %s must be bytes (an integer > 0), got %s", lua_tostring(L, 2),
               luaL_tolstring(L, idx, NULL));
  return (int)v;
}

static const char *check_ip(lua_State *L, int idx, const char *what) {
  const char *s = luaL_checkstring(L, idx);
  struct sockaddr_storage sa;
  if (xcs_addr_from(s, 0, &sa) != 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "expected %s, got \"%s\"", what, s));
  return s;
}

/* setoption(name, value) -> true | nil, err, code */
static int udp_setoption(lua_State *L) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  static const char *const names[] = {"broadcast", "ttl", "multicast_loop", "multicast_ttl",
                                      "multicast_interface", "rcvbuf", "sndbuf", NULL};
  int r, v;
  switch (xcs_check_choice(L, 2, "udp:setoption", "option", names)) {
    case 0: r = uv_udp_set_broadcast(&u->udp, check_flag(L, 3)); break;
    case 1: r = uv_udp_set_ttl(&u->udp, check_ttl(L, 3, 1)); break;
    case 2: r = uv_udp_set_multicast_loop(&u->udp, check_flag(L, 3)); break;
    case 3: r = uv_udp_set_multicast_ttl(&u->udp, check_ttl(L, 3, 0)); break;
    case 4:
      r = uv_udp_set_multicast_interface(
          &u->udp, check_ip(L, 3, "the IP address of an interface, such as \"127.0.0.1\""));
      break;
    default: /* the kernel doubles what it is given (for its bookkeeping) */
      v = check_bytes(L, 3);
      r = lua_tostring(L, 2)[0] == 'r' ? uv_recv_buffer_size((uv_handle_t *)&u->udp, &v)
                                       : uv_send_buffer_size((uv_handle_t *)&u->udp, &v);
  }
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int is_multicast(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 28) == 0xe;
  return sa->sa_family == AF_INET6 &&
         ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[0] == 0xff;
}

/* join(group [, interface]) / leave(...) -> true | nil, err, code. The
 * interface defaults to the host's bind address when that is one address
 * (so a loopback host joins on loopback), else the system's choice. */
static int membership(lua_State *L, uv_membership how) {
  xcs_udp *u = (xcs_udp *)xcs_handle_check(L, 1, &xcs_udp_type);
  const char *fname = how == UV_JOIN_GROUP ? "join" : "leave";
  const char *group = luaL_checkstring(L, 2);
  struct sockaddr_storage g, local;
  if (xcs_addr_from(group, 0, &g) != 0 || !is_multicast((struct sockaddr *)&g))
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected a multicast group address such "
                                                  "as \"239.1.2.3\", got \"%s\"", group));
  const char *iface = lua_isnoneornil(L, 3)
                          ? NULL
                          : check_ip(L, 3, "the IP address of an interface, such as \"127.0.0.1\"");
  int len = sizeof local;
  if (uv_udp_getsockname(&u->udp, (struct sockaddr *)&local, &len) == 0 &&
      !xcs_addr_is_wildcard((struct sockaddr *)&local) && !is_multicast((struct sockaddr *)&local))
    return luaL_error(L, "%s: this socket is bound to %s and never sees a group's datagrams; "
                         "open it with socket.open(port, \"UDP\", { address = \"%s\" })",
                      fname, u->addr, group);
  if (iface == NULL && g.ss_family == AF_INET) {
    struct sockaddr_storage b;
    const char *bind = u->h.m->host->opt.binds[0];
    if (xcs_addr_from(bind, 0, &b) == 0 && b.ss_family == AF_INET &&
        !xcs_addr_is_wildcard((struct sockaddr *)&b))
      iface = bind;
  }
  int r = uv_udp_set_membership(&u->udp, group, iface, how);
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int udp_join(lua_State *L) { return membership(L, UV_JOIN_GROUP); }
static int udp_leave(lua_State *L) { return membership(L, UV_LEAVE_GROUP); }

/* Addresses -------------------------------------------------------------------- */

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

static const luaL_Reg udp_methods[] = {
    {"read", udp_read},       {"write", udp_write}, {"setoption", udp_setoption},
    {"join", udp_join},       {"leave", udp_leave}, {"port", udp_port},
    {"address", udp_address}, {"peer", udp_peer},   {NULL, NULL}};

static void udp_info(xcs_handle *h, lua_State *L) {
  xcs_udp *u = (xcs_udp *)h;
  xcs_info_str(L, "protocol", "UDP");
  xcs_info_str(L, "kind", u->connected ? "connected" : "socket");
  xcs_info_str(L, "local", u->addr);
  if (u->connected) xcs_info_str(L, "remote", u->peer);
  xcs_info_int(L, "bytes_in", u->bytes_in);
  xcs_info_int(L, "bytes_out", u->bytes_out);
}

const xcs_handle_type xcs_udp_type = {XCS_T_UDP, "xcs.udp", udp_close, udp_describe, udp_methods,
                                      udp_info, NULL, offsetof(xcs_udp, binding)};

/* Opening ------------------------------------------------------------------------ */

/* A new socket of the running module, not yet bound; pushes its box. */
/* A new UDP socket of the calling module, its box pushed; or NULL with
 * nil, msg, code pushed when the module may not open one (port < 0: a
 * connected socket, whose local port the system picks). */
static xcs_udp *udp_new(lua_State *L, int port) {
  xcs_module *m = xcs_module_of(L);
  int refused = xcs_admit(m, 0, port);
  if (refused) {
    xcs_admit_refused(L, m, refused, port);
    return NULL;
  }
  xcs_udp *u = xcs_handle_new(L, m, sizeof *u, &xcs_udp_type);
  xcs_admit_count(&u->h, 0);
  xcs_list_init(&u->queue);
  uv_udp_init_ex(&m->host->loop, &u->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
  u->udp.data = &u->h;
  xcs_inflow_init(&u->in, &u->h, m->faults, deliver);
  return u;
}

/* Binds u to sa, or, when a reload hands it the running version's socket
 * on that port, opens that one (the manager's takeover). */
static int udp_bind(xcs_udp *u, const struct sockaddr *sa, unsigned flags, int opened) {
  uv_os_sock_t fd;
  /* Under --workers a port socket.open binds is shared; a client's is not. */
  const xcs_share *share = flags == 0 && opened ? u->h.m->host->share : NULL;
  int port = xcs_addr_port(sa), r;
  const char *name;
  if ((flags == 0 && u->h.m->host->mgr->takeover(u->h.m, &xcs_udp_type, port, &fd)) ||
      (share && share->get(u->h.m, "udp", sa, &fd))) {
    if ((r = uv_udp_open(&u->udp, fd)) != 0) close(fd);
  } else if (flags == 0 && xcs_inherit_take(SOCK_DGRAM, port, &fd, &name)) {
    if ((r = uv_udp_open(&u->udp, fd)) != 0) close(fd);
    if (r == 0)
      xcs_log(u->h.m->host, u->h.m->name, "port %d (UDP): the socket systemd passed (%s)", port,
              *name ? name : "unnamed");
  } else {
    r = uv_udp_bind(&u->udp, sa, flags);
    uv_os_fd_t bound = -1;
    if (share && r == 0 && uv_fileno((uv_handle_t *)&u->udp, &bound) == 0) share->put(u->h.m, bound);
  }
  if (r != 0) return r;
  if (port != 0 && flags == 0) {
    u->binding.bound = (uv_handle_t *)&u->udp;
    u->binding.port = port;
  }
  struct sockaddr_storage local;
  int len = sizeof local;
  r = uv_udp_getsockname(&u->udp, (struct sockaddr *)&local, &len);
  if (r != 0) return r;
  u->port = xcs_addr_port((struct sockaddr *)&local);
  u->family = local.ss_family;
  xcs_addr_format((struct sockaddr *)&local, u->addr, sizeof u->addr);
  return 0;
}

/* Binds the local side a datagram to peer leaves from, and connects. A
 * loopback peer is reached from loopback, anything else from any address. */
static int bind_connect(xcs_udp *u, const struct sockaddr *peer) {
  struct sockaddr_storage local;
  const char *any = peer->sa_family == AF_INET6 ? "::" : "0.0.0.0";
  if (peer->sa_family == AF_INET &&
      (ntohl(((const struct sockaddr_in *)peer)->sin_addr.s_addr) >> 24) == 127)
    any = "127.0.0.1";
  if (peer->sa_family == AF_INET6 &&
      IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)peer)->sin6_addr))
    any = "::1";
  xcs_addr_from(any, 0, &local);
  int r = udp_bind(u, (struct sockaddr *)&local, 0, 0);
  if (r == 0) r = uv_udp_connect(&u->udp, peer);
  if (r != 0) return r;
  u->connected = 1;
  xcs_addr_format(peer, u->peer, sizeof u->peer);
  xcs_log_socket(u->h.m->host, u->h.m->name, "connect", u->addr, u->peer, "UDP",
                 "sending from %s to %s (UDP)", u->addr, u->peer);
  start_receiving(u);
  return 0;
}

/* Whether sa is a broadcast address: the limited one, or one of an
 * interface's (its address with every host bit set). */
static int is_broadcast(const struct sockaddr *sa) {
  if (sa->sa_family != AF_INET) return 0;
  uint32_t a = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
  if (a == htonl(INADDR_BROADCAST)) return 1;
  uv_interface_address_t *ifs;
  int n, yes = 0;
  if (uv_interface_addresses(&ifs, &n) != 0) return 0;
  for (int i = 0; i < n && !yes; i++) {
    if (ifs[i].address.address4.sin_family != AF_INET) continue;
    uint32_t mask = ifs[i].netmask.netmask4.sin_addr.s_addr;
    yes = mask != htonl(0xffffffffu) && (ifs[i].address.address4.sin_addr.s_addr | ~mask) == a;
  }
  uv_free_interface_addresses(ifs, n);
  return yes;
}

/* core.udp_open(port [, address]) -> udp | nil, err, code | false, misuse.
 * The address is the first of --bind's, one of them the module names, or
 * a multicast group or broadcast address: those only choose which
 * datagrams it gets, not which network it serves, and several sockets may
 * share such an address and port. */
static int l_udp_open(lua_State *L) {
  int port = (int)luaL_checkinteger(L, 1);
  xcs_module *m = xcs_module_of(L);
  const xcs_options *o = &m->host->opt;
  const char *ip = luaL_optstring(L, 2, NULL);
  unsigned flags = 0;
  struct sockaddr_storage sa;
  int r = xcs_addr_choose(o->binds, o->nbinds, ip, port, &sa);
  if (r != 0 && ip && xcs_addr_from(ip, port, &sa) == 0 &&
      (is_multicast((struct sockaddr *)&sa) || is_broadcast((struct sockaddr *)&sa))) {
    flags = UV_UDP_REUSEADDR;
  } else if (r != 0) {
    char binds[XCS_MAX_BINDS * (XCS_ADDRSTRLEN + 5)];
    xcs_addr_list(o->binds, o->nbinds, binds, sizeof binds);
    lua_pushboolean(L, 0);
    lua_pushfstring(L, "socket.open: bad argument #3 (options): address must be one of the "
                       "host's --bind addresses (%s), a multicast group or a broadcast "
                       "address, got \"%s\"", binds, ip ? ip : "");
    return 2;
  }
  xcs_udp *u = udp_new(L, port);
  if (u == NULL) return 3;
  r = udp_bind(u, (struct sockaddr *)&sa, flags, 1);
  if (r != 0) {
    xcs_handle_close(&u->h, 0);
    return xcs_push_fail(L, r);
  }
  if (m->first_port == 0) m->first_port = u->port;
  xcs_log_socket(m->host, m->name, "bind", u->addr, NULL, "UDP", "bound to %s (UDP)", u->addr);
  start_receiving(u);
  return 1;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  udp_resolve *rs = (udp_resolve *)req;
  xcs_udp *u = rs->u;
  if (u != NULL) {
    u->resolve = NULL;
    if (status == 0) {
      /* Prefer IPv4, as TCP connects do: "localhost" reaches 127.0.0.1. */
      struct addrinfo *ai = res;
      for (struct addrinfo *p = res; p; p = p->ai_next)
        if (p->ai_family == AF_INET) {
          ai = p;
          break;
        }
      status = bind_connect(u, ai->ai_addr);
    }
    if (status != 0) u->err = status;
    xcs_task_wake_now(&u->h.writer, status);
  }
  uv_freeaddrinfo(res);
  xcs_module *m = rs->m;
  free(rs);
  xcs_release(&m->life); /* the look-up's hold */
}

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  xcs_udp *u = (xcs_udp *)xcs_handle_get(L, 3, &xcs_udp_type);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed while resolving");
  if (u->err) {
    int err = u->err;
    xcs_handle_close(&u->h, 0);
    return xcs_push_fail(L, err);
  }
  lua_settop(L, 3);
  return 1;
}

/* core.udp_connect(host, port) -> udp | nil, err, code: a UDP socket whose
 * writes go to host:port. A name is looked up without blocking the loop. */
static int l_udp_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  lua_settop(L, 2);
  struct sockaddr_storage peer;
  if (xcs_addr_from(host, port, &peer) == 0) {
    xcs_udp *u = udp_new(L, -1); /* 3 */
    if (u == NULL) return 3;
    int r = bind_connect(u, (struct sockaddr *)&peer);
    if (r != 0) {
      xcs_handle_close(&u->h, 0);
      return xcs_push_fail(L, r);
    }
    return 1;
  }
  xcs_task_check(L, "socket.connect");
  xcs_module *m = xcs_module_of(L);
  xcs_udp *u = udp_new(L, -1); /* 3; may raise: before anything to free */
  if (u == NULL) return 3;
  snprintf(u->peer, sizeof u->peer, "%s:%d", host, port);
  udp_resolve *rs = calloc(1, sizeof *rs);
  if (rs == NULL) {
    xcs_handle_close(&u->h, 0);
    return luaL_error(L, "not enough memory");
  }
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  rs->m = m;
  rs->u = u;
  int r = uv_getaddrinfo(&m->host->loop, &rs->req, resolved_cb, host, service, &hints);
  if (r != 0) {
    free(rs);
    u->err = r;
    return connect_k(L, LUA_OK, 0);
  }
  u->resolve = rs;
  xcs_hold(&m->life); /* until resolved_cb, cancelled or not */
  return xcs_task_park(L, &u->h.writer, -1, connect_k, 0);
}

void xcs_udp_open(lua_State *L) {
  xcs_handle_register(L, &xcs_udp_type);
  static const luaL_Reg fns[] = {{"udp_open", l_udp_open}, {"udp_connect", l_udp_connect}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
