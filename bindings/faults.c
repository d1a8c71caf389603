/*
 * faults.c — loss, duplicates, reordering and delay for what a module
 * receives, from a seeded generator so a run can be repeated exactly.
 */
#include "bindings/faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/handle.h"
#include "bindings/core/log.h"

/* The generator ----------------------------------------------------------------- */

/* splitmix64 (Steele, Lea, Flood): one add and two multiplies a number, every
 * seed a full-period stream, and no state beyond one word. */
static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits, as many as a double holds. */
static double draw(xcs_faults *f) {
  return (double)(splitmix64(&f->rng) >> 11) * 0x1.0p-53;
}

/* FNV-1a: two modules given one seed still get different streams. */
static uint64_t hash_name(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

uint64_t xcs_faults_random_seed(void) {
  uint64_t s = uv_hrtime() ^ ((uint64_t)getpid() << 32);
  /* Small enough to read and type back: --seed 1234567. */
  return splitmix64(&s) % 2147483647u + 1;
}

/* Settings ------------------------------------------------------------------------ */

int xcs_faults_any(const xcs_fault_options *o) {
  return o->udp_loss > 0 || o->udp_dup > 0 || o->udp_reorder > 0 || o->delay_ms > 0;
}

void xcs_faults_describe(const xcs_fault_options *o, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = '\0';
#define PART(...)                                                        \
  do {                                                                   \
    if (n < size) n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__); \
  } while (0)
  if (o->udp_loss > 0) PART("udp loss %g, ", o->udp_loss);
  if (o->udp_dup > 0) PART("udp dup %g, ", o->udp_dup);
  if (o->udp_reorder > 0) PART("udp reorder %g, ", o->udp_reorder);
  if (o->delay_ms > 0) PART("delay %u ms, ", o->delay_ms);
  PART("seed %llu", (unsigned long long)o->seed);
#undef PART
}

xcs_faults *xcs_faults_new(const xcs_fault_options *o, const char *name) {
  if (!xcs_faults_any(o)) return NULL;
  xcs_faults *f = calloc(1, sizeof *f);
  if (f == NULL) return NULL; /* a host out of memory injects no faults */
  f->opt = *o;
  f->rng = o->seed ^ hash_name(name);
  return f;
}

void xcs_faults_free(xcs_faults *f) { free(f); }

void xcs_faults_announce(xcs_host *h) {
  xcs_fault_options *o = &h->opt.faults;
  if (!xcs_faults_any(o)) return;
  int picked = !o->seed_set;
  if (picked) {
    o->seed = xcs_faults_random_seed();
    o->seed_set = 1;
  }
  char desc[160];
  xcs_faults_describe(o, desc, sizeof desc);
  xcs_log(h, "xcshost", "injecting faults: %s%s", desc,
          picked ? " (picked for this run)" : "");
}

/* What a socket receives ------------------------------------------------------------ */

/* What only a socket with faults needs: made with the inflow, freed with
 * its timer (a socket without faults carries a pointer, no more). */
struct xcs_inflow_state {
  uv_timer_t timer;       /* due deliveries and the reorder hold */
  int timer_init;
  xcs_list delayed;       /* xcs_held, oldest (and first due) first */
  xcs_held *held;         /* the datagram held back for reordering */
  uint64_t held_until;
  xcs_fault_stats stats;  /* this socket's share of f->stats */
};

struct xcs_held {
  xcs_list link;          /* in->x->delayed */
  uint64_t arrived, due;  /* uv_now, ms */
  ssize_t n;              /* bytes, or a TCP end (< 0) */
  unsigned flags;
  int copies;             /* a held datagram drawn to be duplicated: 2 */
  int has_from;
  struct sockaddr_storage from;
  char data[];
};

static uv_loop_t *loop_of(xcs_inflow *in) { return &in->h->m->host->loop; }

#define COUNT(in, what)        \
  do {                         \
    (in)->x->stats.what++;        \
    (in)->f->stats.what++;     \
  } while (0)

static xcs_held *held_new(ssize_t n, const char *data, const struct sockaddr *from,
                          unsigned flags, uint64_t now) {
  size_t len = n > 0 ? (size_t)n : 0;
  xcs_held *it = malloc(sizeof *it + len);
  if (it == NULL) return NULL;
  xcs_list_init(&it->link);
  it->arrived = it->due = now;
  it->n = n;
  it->flags = flags;
  it->copies = 1;
  it->has_from = from != NULL;
  if (from)
    memcpy(&it->from, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in));
  if (len) memcpy(it->data, data, len);
  return it;
}

static size_t held_len(const xcs_held *it) { return it->n > 0 ? (size_t)it->n : 0; }

static void hold(xcs_inflow *in, const xcs_held *it) {
  in->bytes += held_len(it);
  in->count++;
}

static void unhold(xcs_inflow *in, const xcs_held *it) {
  in->bytes -= held_len(it);
  in->count--;
}

static void deliver_held(xcs_inflow *in, xcs_held *it) {
  in->deliver(in, it->n, it->data, it->has_from ? (struct sockaddr *)&it->from : NULL,
              it->flags);
}

static void timer_cb(uv_timer_t *t);

/* Sets the timer for whatever is due first: a delivery or the hold's end. */
static void arm(xcs_inflow *in) {
  if (in->closed) return;
  uint64_t due = UINT64_MAX;
  if (!xcs_list_empty(&in->x->delayed))
    due = xcs_container_of(in->x->delayed.next, xcs_held, link)->due;
  if (in->x->held && in->x->held_until < due) due = in->x->held_until;
  uv_timer_t *t = &in->x->timer;
  if (due == UINT64_MAX) {
    if (in->x->timer_init) uv_timer_stop(t);
    return;
  }
  if (!in->x->timer_init) {
    uv_timer_init(loop_of(in), t);
    t->data = in;
    in->x->timer_init = 1;
  }
  uint64_t now = uv_now(loop_of(in));
  uv_timer_start(t, timer_cb, due > now ? due - now : 0, 0);
}

/* Past the faults, an item goes to the socket after delay_ms; behind what is
 * already waiting, so the order never changes here. Takes it. */
static void pass_item(xcs_inflow *in, xcs_held *it) {
  unsigned delay = in->f->opt.delay_ms;
  if (delay == 0 || in->closed) {
    if (!in->closed) deliver_held(in, it);
    free(it);
    return;
  }
  it->due = it->arrived + delay;
  if (!xcs_list_empty(&in->x->delayed)) {
    uint64_t last = xcs_container_of(in->x->delayed.prev, xcs_held, link)->due;
    if (last > it->due) it->due = last;
  }
  xcs_list_push(&in->x->delayed, &it->link);
  hold(in, it);
  COUNT(in, delayed);
  arm(in);
}

/* As pass_item, for bytes still in the read buffer: copied only if delayed. */
static void pass(xcs_inflow *in, ssize_t n, const char *data, const struct sockaddr *from,
                 unsigned flags, uint64_t arrived) {
  if (in->closed) return;
  if (in->f->opt.delay_ms > 0) {
    xcs_held *it = held_new(n, data, from, flags, arrived);
    if (it) {
      pass_item(in, it);
      return;
    }
    /* No memory to hold it back: better on time than lost. */
  }
  in->deliver(in, n, data, from, flags);
}

/* The datagram held back for reordering goes on, with its duplicate. */
static void release(xcs_inflow *in, xcs_held *it) {
  unhold(in, it);
  for (int i = 1; i < it->copies && !in->closed; i++)
    pass(in, it->n, it->data, it->has_from ? (struct sockaddr *)&it->from : NULL, it->flags,
         it->arrived);
  pass_item(in, it);
}

static void timer_cb(uv_timer_t *t) {
  xcs_inflow *in = t->data;
  uint64_t now = uv_now(loop_of(in));
  if (in->x->held && in->x->held_until <= now) {
    /* No next datagram came: this one is late, not lost. */
    xcs_held *it = in->x->held;
    in->x->held = NULL;
    release(in, it);
  }
  xcs_list *n;
  while (!in->closed && (n = in->x->delayed.next) != &in->x->delayed &&
         xcs_container_of(n, xcs_held, link)->due <= now) {
    xcs_held *it = xcs_container_of(n, xcs_held, link);
    xcs_list_remove(n);
    unhold(in, it);
    deliver_held(in, it); /* may run the module, which may close the socket */
    free(it);
  }
  arm(in);
}

void xcs_inflow_init(xcs_inflow *in, xcs_handle *h, xcs_faults *f, xcs_inflow_fn deliver) {
  memset(in, 0, sizeof *in);
  in->h = h;
  in->deliver = deliver;
  if (f == NULL) return;
  /* Out of memory, this socket goes without faults rather than fail. */
  if ((in->x = calloc(1, sizeof *in->x)) == NULL) return;
  in->f = f;
  xcs_list_init(&in->x->delayed);
}

void xcs_inflow_datagram(xcs_inflow *in, ssize_t n, const char *data,
                         const struct sockaddr *from, unsigned flags) {
  xcs_faults *f = in->f;
  if (f == NULL) {
    in->deliver(in, n, data, from, flags);
    return;
  }
  if (in->closed) return;
  /* Always three draws, so each fault's decisions stay the same whichever
   * others are on. */
  double lose = draw(f), dup = draw(f), reorder = draw(f);
  COUNT(in, received);
  if (lose < f->opt.udp_loss) {
    COUNT(in, dropped);
    return;
  }
  int copies = dup < f->opt.udp_dup ? 2 : 1;
  if (copies == 2) COUNT(in, duplicated);
  uint64_t now = uv_now(loop_of(in));
  if (in->x->held == NULL && reorder < f->opt.udp_reorder) {
    xcs_held *it = held_new(n, data, from, flags, now);
    if (it) {
      it->copies = copies;
      in->x->held = it;
      in->x->held_until = now + XCS_FAULT_HOLD_MS;
      hold(in, it);
      arm(in);
      return;
    }
  }
  for (int i = 0; i < copies && !in->closed; i++) pass(in, n, data, from, flags, now);
  if (!in->closed && in->x->held) { /* in->x goes once the socket closes */
    xcs_held *it = in->x->held;
    in->x->held = NULL;
    COUNT(in, reordered);
    release(in, it);
  }
  arm(in);
}

void xcs_inflow_stream(xcs_inflow *in, ssize_t n, const char *data) {
  if (in->f == NULL || in->f->opt.delay_ms == 0) {
    in->deliver(in, n, data, NULL, 0);
    return;
  }
  if (in->closed) return;
  if (n < 0) in->ended = 1;
  pass(in, n, data, NULL, 0, uv_now(loop_of(in)));
}

void xcs_inflow_close(xcs_inflow *in) {
  if (in->closed) return;
  in->closed = 1;
  if (in->x == NULL) return;
  if (in->x->held) {
    free(in->x->held);
    in->x->held = NULL;
  }
  xcs_list *n;
  while ((n = xcs_list_shift(&in->x->delayed)) != NULL) free(xcs_container_of(n, xcs_held, link));
  in->bytes = 0;
  in->count = 0;
  if (in->x->timer_init) uv_timer_stop(&in->x->timer);
}

/* The socket's close callback, then the state the timer is part of. */
static void timer_close_cb(uv_handle_t *t) {
  xcs_handle_closed_cb(t);
  free(t); /* the state: its timer comes first */
}

void xcs_inflow_uv_close(xcs_inflow *in) {
  xcs_inflow_state *x = in->x;
  if (x == NULL) return;
  in->x = NULL;
  if (!x->timer_init) {
    free(x);
    return;
  }
  /* As xcs_handle_uv_close, with a callback that frees the state too. */
  xcs_hold(&in->h->life);
  x->timer.data = in->h;
  uv_close((uv_handle_t *)&x->timer, timer_close_cb);
}

void xcs_inflow_describe(const xcs_inflow *in, char *buf, size_t size) {
  if (in->f == NULL || in->x == NULL) {
    buf[0] = '\0';
    return;
  }
  const xcs_fault_stats *s = &in->x->stats;
  snprintf(buf, size,
           "; faults injected: %llu of %llu datagrams dropped, %llu duplicated, "
           "%llu reordered, %llu delayed",
           (unsigned long long)s->dropped, (unsigned long long)s->received,
           (unsigned long long)s->duplicated, (unsigned long long)s->reordered,
           (unsigned long long)s->delayed);
}
