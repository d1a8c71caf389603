/*
 * udp.c — a UDP socket: receiving (in batches) and sending datagrams, its
 * cache of senders' addresses, closing. Opening, binding and resolving are
 * udp_open.c's; socket options and multicast membership udp_opts.c's.
 */
#include "bindings/udp.h"
#include "bindings/udp_impl.h"

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
#include "bindings/udp_batch.h"
#include "bindings/admit.h"
#include "bindings/core/log.h"

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

void xcs_udp_start_receiving(xcs_udp *u) {
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
  u->offering = u->noffers > 1; /* one datagram's reply costs less sent at once */
  xcs_task_wake_now(&u->h.reader, 0);
  u->offering = 0;
  xcs_udp_batch_flush(&u->udp); /* its replies */
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

xcs_udp *xcs_udp_alloc(lua_State *L, xcs_module *m) {
  xcs_udp *u = xcs_handle_new(L, m, sizeof *u, &xcs_udp_type);
  xcs_list_init(&u->queue);
  uv_udp_init_ex(&m->host->loop, &u->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
  u->udp.data = &u->h;
  xcs_inflow_init(&u->in, &u->h, m->faults, deliver);
  return u;
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
  xcs_udp_batch_flush(&u->udp); /* written before the close: sent */
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

/* sa as a key, and the slot of the cache it hashes to. */
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
  uint64_t hash = ((uint64_t)(a ^ b ^ k->scope) << 16 | k->port) * 0x9e3779b97f4a7c15u;
  return (unsigned)(hash >> 57); /* 7 bits: PEERS */
}

static unsigned str_slot(const char *s) {
  return (unsigned)((((uintptr_t)s >> 4) * 0x9e3779b97f4a7c15u) >> 56); /* 8 bits: 2 * PEERS */
}

static int same_key(const peer_key *a, const peer_key *b) { return memcmp(a, b, sizeof *a) == 0; }

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
  peers *p = u->keys;
  peer_key k;
  unsigned i = key_of(sa, &k);
  while (p->key[i].family != 0 && !same_key(&p->key[i], &k)) i = (i + 1) % PEERS;
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->peers_ref);
  if (p->key[i].family != 0) { /* known: its string is in the table */
    lua_rawgeti(L, -1, i + 1);
    lua_remove(L, -2);
    return;
  }
  char from[XCS_ADDRSTRLEN];
  xcs_addr_format(sa, from, sizeof from);
  const char *str = lua_pushstring(L, from); /* may raise: the cache is as it was */
  if (p->n == PEERS_MAX) { /* full: start over (the table's strings stay till replaced) */
    memset(p, 0, sizeof *p);
    i = key_of(sa, &k);
  }
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, i + 1);
  p->key[i] = k;
  p->str[i] = str;
  p->n++;
  unsigned j = str_slot(str);
  while (p->by_str[j] != 0) j = (j + 1) % (2 * PEERS);
  p->by_str[j] = (unsigned char)(i + 1);
  lua_remove(L, -2);
}

/* Whether s is the string of a sender in the cache: its address into sa. */
static int known(const xcs_udp *u, const char *s, struct sockaddr_storage *sa) {
  const peers *p = u->keys;
  if (p == NULL) return 0;
  unsigned j = str_slot(s), i;
  for (;; j = (j + 1) % (2 * PEERS)) {
    if (p->by_str[j] == 0) return 0;
    if (p->str[i = p->by_str[j] - 1u] == s) break;
  }
  const peer_key *k = &p->key[i];
  if (k->family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
    memset(a, 0, sizeof *a);
    a->sin6_family = AF_INET6;
    a->sin6_port = k->port;
    a->sin6_scope_id = k->scope;
    memcpy(&a->sin6_addr, k->ip, 16);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)sa;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = k->port;
    memcpy(&a->sin_addr, k->ip, 4);
  }
  return 1;
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

/* Pushes the next datagram waiting, data, from [, "truncated"], and returns
 * how many values; 0 when none waits. */
static int take(lua_State *L, xcs_udp *u) {
  if (u->next_offer < u->noffers) { /* the queue is empty while offers last */
    offered *o = &u->offers[u->next_offer];
    int nres = push_datagram(L, u, o->data, o->len, o->from, o->truncated);
    u->next_offer++; /* after the pushes: a memory error leaves it offered */
    return nres;
  }
  xcs_list *n = u->queue.next;
  if (n == &u->queue) return 0;
  dgram *d = xcs_container_of(n, dgram, link);
  /* Pushed before it is freed; a memory error there leaves it queued. */
  int nres = push_datagram(L, u, d->data, d->len, (struct sockaddr *)&d->from, d->truncated);
  xcs_list_remove(n);
  free(d);
  u->queued--;
  xcs_udp_start_receiving(u);
  return nres;
}

/* What a read returns at once: a datagram, or the error a send left
 * (an ICMP error is news about one send, not the socket's end); how many
 * values it pushed, 0 for none. */
static int read_now(lua_State *L, xcs_udp *u) {
  int nres = take(L, u);
  if (nres > 0 || u->err == 0) return nres;
  int err = u->err;
  u->err = 0;
  return xcs_push_fail(L, err);
}

/* The calling task waits for a datagram, continuing in k. */
static int wait_read(lua_State *L, xcs_udp *u, double timeout, lua_KFunction k, lua_KContext ctx) {
  if (u->h.reader)
    return xcs_raise_at_caller(L, "read: socket busy reading (another task is reading it)");
  xcs_task_check(L, "read");
  return xcs_task_park(L, &u->h.reader, timeout, k, ctx);
}

int xcs_udp_read(lua_State *L, xcs_handle *h, lua_KFunction k) {
  xcs_udp *u = (xcs_udp *)h;
  int nres = read_now(L, u);
  return nres > 0 ? nres : wait_read(L, u, -1, k, 0);
}

/* read([timeout]) -> data, from  (a third value "truncated" if the datagram
 * was cut), or nil, "ETIMEDOUT: ...", "ETIMEDOUT" once timeout seconds pass
 * with nothing. ctx is 1 in the continuation after a wait. */
static int udp_read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  xcs_udp *u = (xcs_udp *)xcs_handle_again(L, 1);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed");
  int nres = read_now(L, u);
  if (nres > 0) return nres;
  double timeout = lua_isnoneornil(L, 2) ? -1 : lua_tonumber(L, 2);
  if (timeout == 0 || (ctx && xcs_task_status(L) == UV_ETIMEDOUT)) {
    char secs[32]; /* lua_pushfstring has no %g */
    snprintf(secs, sizeof secs, "%g", timeout);
    return xcs_push_failf(L, UV_ETIMEDOUT, "no datagram within %s s", secs);
  }
  return wait_read(L, u, timeout, udp_read_k, 1);
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
 * when the task waits for a name to be looked up; *reply says whether it
 * is a sender a read returned. */
static int destination(lua_State *L, xcs_udp *u, struct sockaddr_storage *to, int *reply) {
  const char *s = lua_tostring(L, 3);
  if ((*reply = known(u, s, to)) || xcs_addr_parse(s, to) == 0) return 0;
  if (!xcs_names_is_name(s))
    return xcs_raise_at_caller(L, "udp:write: bad argument #2 (to): expected an address such "
                                  "as \"127.0.0.1:7000\" or \"localhost:7000\", got \"%s\"", s);
  int r = xcs_names_find(u->names, s, uv_now(&u->h.m->host->loop), to);
  if (r <= 0) return r == 0 ? 0 : xcs_push_fail(L, r);
  xcs_task_check(L, "udp:write"); /* a name not looked up yet: the task waits for it */
  r = xcs_names_lookup(&u->names, u->h.m, &u->h.writer, s, u->family);
  if (r == UV_EBUSY)
    return xcs_push_failf(L, UV_EBUSY, "another task's write on this socket is looking up a "
                          "name; try again, or give the address");
  if (r != 0) return xcs_push_fail(L, r);
  return -1;
}

/* Sends data (the string at 2) to dest (NULL: the connected peer) and
 * pushes what write returns. A reply (dest is a sender a read returned)
 * written while the reader runs on a batch goes with the batch's other
 * replies at its end (bindings/udp_batch.h). */
static int send_to(lua_State *L, xcs_udp *u, const char *data, size_t len,
                   const struct sockaddr *dest, int reply) {
  /* Say so before the kernel does, and in words: a datagram is never cut. */
  int v6 = (dest ? dest->sa_family : u->family) == AF_INET6;
  size_t max = v6 ? XCS_UDP_MAX_IPV6 : XCS_UDP_MAX_IPV4;
  if (len > max)
    return xcs_push_failf(L, UV_EMSGSIZE, "a UDP datagram over %s carries at most %d bytes, "
                          "not %I", v6 ? "IPv6" : "IPv4", (int)max, (lua_Integer)len);
  int r;
  if (reply && u->offering && xcs_udp_batch_add(&u->udp, &u->err, data, len, dest)) {
    r = 0;
    goto sent;
  }
  xcs_udp_batch_flush(&u->udp); /* what waits goes first */
  uv_buf_t b = {.base = (char *)data, .len = len};
  r = uv_udp_try_send(&u->udp, &b, 1, dest);
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
  if (r == UV_EACCES)
    return xcs_push_failf(L, r, "%s (sending to a broadcast address needs "
                          "udp:setoption(\"broadcast\", true))", uv_strerror(r));
  if (r < 0) return xcs_push_fail(L, r);
sent:
  u->bytes_out += len;
  u->h.m->stats.bytes_out[XCS_P_UDP] += len;
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

int xcs_udp_send(lua_State *L, xcs_handle *h) {
  xcs_udp *u = (xcs_udp *)h;
  struct sockaddr_storage to;
  const char *s;
  int reply = 0;
  if (u->connected || lua_type(L, 2) != LUA_TSTRING || lua_type(L, 3) != LUA_TSTRING ||
      !((reply = known(u, s = lua_tostring(L, 3), &to)) || xcs_addr_parse(s, &to) == 0))
    return -1;
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  return send_to(L, u, data, len, (struct sockaddr *)&to, reply);
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
  int reply = 0;
  if (u->connected && !lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TSTRING || strcmp(lua_tostring(L, 3), u->peer) != 0)
      return xcs_raise_at_caller(L, "udp:write: bad argument #2 (to): this socket sends only "
                                    "to %s", u->peer);
  } else if (!lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TSTRING)
      return xcs_raise_at_caller(L, "udp:write: bad argument #2 (to): expected an address "
                                    "string, got %s", luaL_typename(L, 3));
    lua_settop(L, 3);
    int n = destination(L, u, &to, &reply);
    if (n < 0) return xcs_task_park(L, &u->h.writer, -1, write_k, 0);
    if (n > 0) return n;
    dest = (struct sockaddr *)&to;
  } else if (!u->connected) {
    return xcs_raise_at_caller(L, "udp:write: bad argument #2 (to): expected the address to "
                                  "send to");
  }
  return send_to(L, u, data, len, dest, reply);
}

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
    {"read", udp_read},       {"write", udp_write}, {"setoption", xcs_udp_setoption},
    {"join", xcs_udp_join},       {"leave", xcs_udp_leave}, {"port", udp_port},
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
                                      udp_info, NULL, offsetof(xcs_udp, binding), NULL, 0};

