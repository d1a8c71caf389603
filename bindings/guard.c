/*
 * guard.c — the defence: admission at each listener's gate, connections
 * counted per remote address, the idle watch over port-keyed clients, the
 * queue cap. What they log is guard_log.c's.
 */
#include "bindings/guard.h"
#include "bindings/guard_impl.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bindings/proxied.h"
#include "bindings/stream.h"
#include "bindings/core/log.h"

static xcs_guard *guard_of(xcs_host *h) {
  if (h->guard == NULL) h->guard = calloc(1, sizeof *h->guard);
  return h->guard;
}

void xcs_guard_free(xcs_host *h) {
  free(h->guard);
  h->guard = NULL;
}

void xcs_guard_options_default(xcs_guard_options *o) {
  o->max_clients = XCS_DEFAULT_MAX_CLIENTS;
  o->max_per_address = XCS_DEFAULT_MAX_PER_ADDRESS;
  o->accept_rate = XCS_DEFAULT_ACCEPT_RATE;
  o->accept_burst = XCS_DEFAULT_ACCEPT_BURST;
  o->first_data_timeout = XCS_DEFAULT_FIRST_DATA_TIMEOUT;
  o->idle_timeout = XCS_DEFAULT_IDLE_TIMEOUT;
  o->max_queued = XCS_DEFAULT_MAX_QUEUED;
  o->report_interval = XCS_DEFAULT_REPORT_INTERVAL;
  o->nproxy_from = 0; /* no source is trusted to send a PROXY header */
}

/* Addresses ------------------------------------------------------------------ */

/* The key an address counts under, and the text the log shows for it. An
 * IPv4-mapped IPv6 address is the IPv4 address it maps; any other IPv6
 * address counts by its /64. */
static void key_of(const struct sockaddr *sa, unsigned char key[KEYLEN], char *text,
                   size_t size) {
  memset(key, 0, KEYLEN);
  const unsigned char *v4 = NULL;
  if (sa->sa_family == AF_INET) {
    v4 = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      v4 = a->s6_addr + 12;
    } else {
      struct in6_addr net = *a;
      memset(net.s6_addr + 8, 0, 8);
      key[0] = 6;
      memcpy(key + 1, net.s6_addr, 8);
      if (text) {
        inet_ntop(AF_INET6, &net, text, (socklen_t)size);
        strncat(text, "/64", size - strlen(text) - 1);
      }
      return;
    }
  }
  if (v4 == NULL) {
    if (text) snprintf(text, size, "?");
    return;
  }
  key[0] = 4;
  memcpy(key + 1, v4, 4);
  if (text) inet_ntop(AF_INET, v4, text, (socklen_t)size);
}

static unsigned hash(const unsigned char key[KEYLEN]) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (int i = 0; i < KEYLEN; i++) h = (h ^ key[i]) * 16777619u;
  return h % NBUCKETS;
}

static xcs_peer *peer_find(xcs_host *h, const unsigned char key[KEYLEN]) {
  if (h->guard == NULL) return NULL;
  for (xcs_peer *p = h->guard->buckets[hash(key)]; p; p = p->next)
    if (memcmp(p->key, key, KEYLEN) == 0) return p;
  return NULL;
}

/* The entry for key, made if need be; NULL when out of memory. */
static xcs_peer *peer_get(xcs_host *h, const unsigned char key[KEYLEN]) {
  xcs_peer *p = peer_find(h, key);
  if (p) return p;
  if (guard_of(h) == NULL || (p = calloc(1, sizeof *p)) == NULL) return NULL;
  memcpy(p->key, key, KEYLEN);
  xcs_list_init(&p->conns);
  unsigned b = hash(key);
  p->next = h->guard->buckets[b];
  h->guard->buckets[b] = p;
  h->guard->n++;
  return p;
}

static void peer_put(xcs_host *h, xcs_peer *p) {
  if (--p->count > 0) return;
  xcs_peer **pp = &h->guard->buckets[hash(p->key)];
  while (*pp != p) pp = &(*pp)->next;
  *pp = p->next;
  free(p);
  h->guard->n--;
}

/* Descriptors ------------------------------------------------------------------ */

/* Refusing or shedding is only right when a resource is really short, and
 * for a connection that is the host's file descriptors. How many are open
 * is what the host counts (module sockets, admitted connections) plus a
 * base measured from /proc/self/fd: once at the first listener, and again
 * (at most every 100 ms) whenever the count says they are short, so files
 * opened behind the count's back (a spec's, libuv's) cannot fool it for
 * long. A reserve is kept for what needs a descriptor besides clients: the
 * module's own connections, a reload, the operator's socket. */
#define RECOUNT_MS 100

static int count_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own */
}

static int counted_fds(xcs_host *h) {
  int n = h->guard->admitted;
  for (xcs_list *l = h->modules.next; l != &h->modules; l = l->next)
    n += xcs_container_of(l, xcs_module, link)->nsockets;
  return n;
}

static void calibrate(xcs_host *h) {
  xcs_guard *G = h->guard;
  struct rlimit rl;
  G->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)1 << 30
                    ? (int)rl.rlim_cur
                    : 1 << 30;
  int open = count_open_fds();
  int counted = counted_fds(h);
  G->fd_base = open >= counted ? open - counted : 0;
  G->calibrated = uv_now(&h->loop);
  G->measured = 1;
}

/* Descriptors kept back from clients: an eighth of the limit, 32 to 4096. */
static int reserve_of(int limit) {
  int r = limit / 8;
  return r < 32 ? 32 : r > 4096 ? 4096 : r;
}

/* Whether `extra` more descriptors would leave less than the reserve free. */
static int fds_short(xcs_host *h, int extra) {
  xcs_guard *G = h->guard;
  if (!G->measured) calibrate(h);
  int cap = G->fd_limit - reserve_of(G->fd_limit);
  if (G->fd_base + counted_fds(h) + extra <= cap) return 0;
  if (uv_now(&h->loop) - G->calibrated < RECOUNT_MS) return 1;
  calibrate(h); /* the count says short: make sure */
  return G->fd_base + counted_fds(h) + extra > G->fd_limit - reserve_of(G->fd_limit);
}

/* The address holding the most connections, or NULL. */
static xcs_peer *top_peer(xcs_host *h) {
  xcs_peer *top = NULL;
  for (int b = 0; b < NBUCKETS; b++)
    for (xcs_peer *p = h->guard->buckets[b]; p; p = p->next)
      if (top == NULL || p->count > top->count) top = p;
  return top;
}

/* Sheds one connection of p: one that never sent a byte if there is such
 * among its oldest few, else its oldest. It goes at once (its descriptor
 * is what is short); the module reads "" for it, or its reads and writes
 * fail with ECONNABORTED. */
#define SHED_LOOK 32
static void shed_one(xcs_peer *p) {
  xcs_guard_slot *victim = NULL;
  int looked = 0;
  for (xcs_list *n = p->conns.next; n != &p->conns && looked < SHED_LOOK; n = n->next, looked++) {
    xcs_guard_slot *s = xcs_container_of(n, xcs_guard_slot, by_peer);
    if (victim == NULL) victim = s;
    if (xcs_container_of(s, xcs_conn, guard)->bytes_in == 0) {
      victim = s;
      break;
    }
  }
  if (victim == NULL) return;
  xcs_conn *c = xcs_container_of(victim, xcs_conn, guard);
  xcs_gate_event_from(victim->gate, EV_SHED, xcs_conn_peer(c));
  xcs_conn_shed(c); /* leaves the guard: p may be gone now */
}

/* Gates ---------------------------------------------------------------------------- */

static void gate_free(xcs_life *l) { free(xcs_container_of(l, xcs_gate, life)); }

/* Its last user left: the last word of its reports, and the timers go. */
static void gate_unused(xcs_life *l) {
  xcs_gate *g = xcs_container_of(l, xcs_gate, users);
  xcs_gate_reports_close(g);
  xcs_life_uv_close(&g->life, (uv_handle_t *)&g->sweep);
  xcs_life_uv_close(&g->life, (uv_handle_t *)&g->tick);
  xcs_release(&g->life); /* the users' hold */
}

xcs_gate *xcs_gate_new(xcs_module *m, const char *addr, int watch) {
  xcs_guard *G = guard_of(m->host);
  xcs_gate *g = G ? calloc(1, sizeof *g) : NULL;
  if (g == NULL) return NULL;
  if (!G->measured) calibrate(m->host);
  g->m = m;
  /* Both free at once (no host): the users' last release comes from a
   * listener's or client's close, the struct's from a close callback. */
  xcs_life_init(&g->users, NULL, gate_unused);
  xcs_life_init(&g->life, NULL, gate_free);
  g->watch = watch;
  g->tokens = opts(g)->accept_burst;
  g->refill = now_of(g);
  xcs_list_init(&g->watched);
  xcs_list_init(&g->waiting);
  snprintf(g->addr, sizeof g->addr, "%s", addr);
  uv_timer_init(&m->host->loop, &g->sweep);
  uv_timer_init(&m->host->loop, &g->tick);
  g->sweep.data = g->tick.data = g;
  /* Neither keeps the host running: the listener and its clients do. */
  uv_unref((uv_handle_t *)&g->sweep);
  uv_unref((uv_handle_t *)&g->tick);
  return g;
}

void xcs_gate_release(xcs_gate *g) {
  if (g == NULL) return;
  xcs_list *n;
  while ((n = g->waiting.next) != &g->waiting) xcs_proxied_abort(n); /* unlinks n */
  xcs_release(&g->users);
}

void xcs_gate_expect_proxy(xcs_gate *g) { g->proxy = 1; }

int xcs_gate_expects_header(xcs_gate *g, const struct sockaddr *peer) {
  const xcs_guard_options *o = opts(g);
  return g->proxy || xcs_cidr_match(o->proxy_from, o->nproxy_from, peer);
}

double xcs_gate_header_timeout(xcs_gate *g) {
  double t = opts(g)->first_data_timeout;
  return t > 0 ? t : 10;
}

void xcs_gate_hold(xcs_gate *g, xcs_list *link) {
  xcs_list_push(&g->waiting, link);
  xcs_hold(&g->users);
}

void xcs_gate_unhold(xcs_gate *g) { xcs_release(&g->users); }

int xcs_gate_full(xcs_gate *g) {
  int max = opts(g)->max_clients;
  if (max <= 0 || g->nclients < max) return 0;
  xcs_gate_event(g, EV_FULL, NULL);
  return 1;
}

static int take_token(xcs_gate *g, const xcs_guard_options *o) {
  uint64_t now = now_of(g);
  double burst = o->accept_burst > 0 ? o->accept_burst : 1;
  g->tokens += (double)(now - g->refill) * o->accept_rate / 1000;
  if (g->tokens > burst) g->tokens = burst;
  g->refill = now;
  if (g->tokens < 1) return 0;
  g->tokens -= 1;
  return 1;
}

/* How often the watched clients are looked at (ms): a quarter of the
 * shortest timeout, between 10 ms and 1 s; 0 when neither is on. */
static uint64_t sweep_every(const xcs_guard_options *o) {
  double t = o->first_data_timeout;
  if (t <= 0 || (o->idle_timeout > 0 && o->idle_timeout < t)) t = o->idle_timeout;
  if (t <= 0) return 0;
  double ms = t * 1000 / 4;
  return ms < 10 ? 10 : ms > 1000 ? 1000 : (uint64_t)ms;
}

static void sweep_cb(uv_timer_t *t);

/* A client under the idle watch: made by its admission, so a connection
 * that is not watched (an accepted one: its module keeps its own time)
 * carries none of it. */
typedef struct xcs_watched {
  xcs_list link;       /* gate->watched */
  xcs_guard_slot *s;   /* whose: its connection */
  uint64_t seen;       /* bytes in and out at the last look */
  uint64_t since;      /* uv_now (ms) when they last changed, or it connected */
  int active;          /* a byte passed since it connected */
} xcs_watched;

int xcs_guard_admit(xcs_gate *g, xcs_guard_slot *s, const struct sockaddr *sa) {
  const xcs_guard_options *o = opts(g);
  xcs_host *h = g->m->host;
  char text[64];
  unsigned char key[KEYLEN];
  key_of(sa, key, text, sizeof text);
  if (o->max_clients > 0 && g->nclients >= o->max_clients) {
    xcs_gate_event(g, EV_FULL, NULL);
    return 0;
  }
  if (guard_of(h) == NULL) return 0; /* out of memory: a refusal under real scarcity */
  uint64_t every = g->watch ? sweep_every(o) : 0;
  xcs_watched *w = every ? malloc(sizeof *w) : NULL;
  if (every && w == NULL) return 0; /* the same: it must not escape the watch */
  xcs_peer *p = key[0] ? peer_find(h, key) : NULL;
  if (o->max_per_address > 0 && p && p->count >= o->max_per_address) {
    xcs_gate_event(g, EV_ADDRESS, text);
    free(w);
    return 0;
  }
  /* This client's descriptor is open already (accepted): counted with +1. */
  if (fds_short(h, 1)) {
    /* Fair shedding: the address holding the most connections gives one
     * up, unless this client's own address holds as many (a flood meets
     * its own refusal, never another address's). */
    xcs_peer *top = top_peer(h);
    if (top == NULL || (p ? p->count : 0) >= top->count) {
      xcs_gate_event(g, EV_SCARCE, text);
      free(w);
      return 0;
    }
    shed_one(top);
    p = key[0] ? peer_find(h, key) : NULL;
  }
  if (o->accept_rate > 0 && !take_token(g, o)) {
    xcs_gate_event(g, EV_RATE, text);
    free(w);
    return 0;
  }
  /* Out of memory for the count: admitted uncounted rather than refused. */
  if (key[0] && (p || (p = peer_get(h, key)) != NULL)) {
    p->count++;
    xcs_list_push(&p->conns, &s->by_peer);
  } else {
    xcs_list_init(&s->by_peer);
  }
  s->gate = g;
  s->peer = p;
  h->guard->admitted++;
  xcs_hold(&g->users);
  g->nclients++;
  s->watched = w;
  if (w) {
    w->s = s;
    w->seen = 0;
    w->since = now_of(g);
    w->active = 0;
    xcs_list_push(&g->watched, &w->link);
    if (!uv_is_active((uv_handle_t *)&g->sweep)) uv_timer_start(&g->sweep, sweep_cb, every, every);
  }
  return 1;
}

void xcs_guard_leave(xcs_guard_slot *s) {
  if (s->wait) xcs_proxied_cancel(s->wait);
  xcs_gate *g = s->gate;
  if (g == NULL) return;
  s->gate = NULL;
  if (s->watched) {
    xcs_list_remove(&s->watched->link);
    free(s->watched);
    s->watched = NULL;
  }
  xcs_list_remove(&s->by_peer);
  xcs_host *h = g->m->host;
  if (s->peer) {
    peer_put(h, s->peer);
    s->peer = NULL;
  }
  h->guard->admitted--;
  g->nclients--;
  xcs_release(&g->users);
}

/* The idle watch --------------------------------------------------------------------- */

static void sweep_cb(uv_timer_t *t) {
  xcs_gate *g = t->data;
  const xcs_guard_options *o = opts(g);
  uint64_t now = now_of(g);
  /* Those to end are moved out first: ending one wakes the module's reader,
   * which may close any of the others before this loop gets to them. */
  xcs_list ending;
  xcs_list_init(&ending);
  xcs_list *n, *next;
  for (n = g->watched.next; n != &g->watched; n = next) {
    next = n->next;
    xcs_watched *w = xcs_container_of(n, xcs_watched, link);
    xcs_conn *c = xcs_container_of(w->s, xcs_conn, guard);
    uint64_t seen = c->bytes_in + c->bytes_out;
    if (seen != w->seen || xcs_conn_buffered(c) > 0 || xcs_conn_held(c) > 0) {
      /* Bytes passed, or the module has not read what came: not idle. */
      w->active |= seen != 0;
      w->seen = seen;
      w->since = now;
      continue;
    }
    double limit = w->active ? o->idle_timeout : o->first_data_timeout;
    if (limit <= 0 || (double)(now - w->since) < limit * 1000) continue;
    xcs_list_remove(n);
    xcs_list_push(&ending, n);
  }
  while ((n = xcs_list_shift(&ending)) != NULL) {
    xcs_watched *w = xcs_container_of(n, xcs_watched, link);
    xcs_conn *c = xcs_container_of(w->s, xcs_conn, guard);
    xcs_gate_event_from(g, w->active ? EV_IDLE : EV_FIRST, xcs_conn_peer(c));
    xcs_conn_expire(c, UV_ETIMEDOUT);
  }
  if (xcs_list_empty(&g->watched)) uv_timer_stop(t);
}

/* The queue cap ------------------------------------------------------------------------ */

int xcs_guard_over_queue(xcs_host *h, size_t queued, size_t len) {
  size_t max = h->opt.guard.max_queued;
  return max > 0 && queued > 0 && (queued > max || len > max - queued);
}

void xcs_gate_accept_failed(xcs_gate *g, int status) {
  xcs_gate_event(g, EV_FAILED, uv_err_name(status));
  xcs_host *h = g->m->host;
  if ((status != UV_EMFILE && status != UV_ENFILE) || h->guard == NULL) return;
  /* Out of descriptors after all (files the count could not see): libuv
   * has just closed the clients waiting in the backlog. Make room at once,
   * from the addresses holding the most, so the next ones get in. */
  h->guard->measured = 0;
  for (int i = 0; i < SHED_LOOK; i++) {
    xcs_peer *top = top_peer(h);
    if (top == NULL) break;
    shed_one(top);
  }
}

/* Options from Lua (xcs.configure) ------------------------------------------------------ */

void xcs_guard_options_read(lua_State *L, int idx, const char *fname, xcs_guard_options *o) {
  static const char *const ints[] = {"max_clients", "max_per_address", "accept_burst",
                                     "max_queued", NULL};
  static const char *const secs[] = {"accept_rate", "first_data_timeout", "idle_timeout",
                                     "report_interval", NULL};
  for (int i = 0; ints[i]; i++) {
    if (lua_getfield(L, idx, ints[i]) != LUA_TNIL) {
      int isint;
      lua_Integer v = lua_tointegerx(L, -1, &isint);
      lua_Integer top = i == 3 ? (lua_Integer)1 << 40 : 1 << 24;
      if (!isint || v < (i == 2) || v > top)
        luaL_error(L, "%s: %s must be an integer from %d to %I, got %s", fname, ints[i], i == 2,
                   top, luaL_tolstring(L, -1, NULL));
      if (i == 0) o->max_clients = (int)v;
      if (i == 1) o->max_per_address = (int)v;
      if (i == 2) o->accept_burst = (int)v;
      if (i == 3) o->max_queued = (size_t)v;
    }
    lua_pop(L, 1);
  }
  int t = lua_getfield(L, idx, "proxy_protocol_from");
  if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    o->nproxy_from = 0;
  } else if (t != LUA_TNIL) {
    const char *spec = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int n = spec ? xcs_cidr_parse_list(spec, o->proxy_from, XCS_MAX_CIDRS) : -1;
    if (n < 0)
      luaL_error(L, "%s: proxy_protocol_from must be a list of addresses and CIDRs such as "
                    "\"127.0.0.1,10.0.0.0/8,::1\" (or false), got %s", fname,
                 luaL_tolstring(L, -1, NULL));
    o->nproxy_from = n;
  }
  lua_pop(L, 1);
  double *dst[] = {&o->accept_rate, &o->first_data_timeout, &o->idle_timeout,
                   &o->report_interval};
  for (int i = 0; secs[i]; i++) {
    if (lua_getfield(L, idx, secs[i]) != LUA_TNIL) {
      int isnum;
      lua_Number v = lua_tonumberx(L, -1, &isnum);
      if (!isnum || !(v >= 0 && v <= 1e6))
        luaL_error(L, "%s: %s must be a number from 0 to 1e6, got %s", fname, secs[i],
                   luaL_tolstring(L, -1, NULL));
      *dst[i] = v;
    }
    lua_pop(L, 1);
  }
}
