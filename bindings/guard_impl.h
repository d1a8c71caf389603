/*
 * guard_impl.h — what the two parts of the guard (guard.c: admission,
 * counts, the idle watch; guard_log.c: the log) share, and nothing else
 * includes.
 */
#ifndef XCS_GUARD_IMPL_H
#define XCS_GUARD_IMPL_H

#include "bindings/guard.h"
#include "bindings/core/host.h"

/* Kinds of event, each reported on its own. */
enum {
  EV_FULL, EV_ADDRESS, EV_RATE, EV_SCARCE, /* refusals */
  EV_FIRST, EV_IDLE, EV_SHED, EV_PROXY, EV_DROPPED, EV_FAILED, EV_TLS_BUSY, EV_TLS_FAILED, EV_N
};

/* One kind's window: the first event was logged when it opened; the ones
 * after it are counted, and summed up when it is due. */
typedef struct report {
  int open;
  uint64_t count;   /* events not logged yet */
  uint64_t since;   /* uv_now of the last line about this kind */
  uint64_t due;     /* when the count is logged */
  char addr[64];    /* the address of the first counted event */
  int others;       /* counted events came from other addresses too */
  char why[96];     /* EV_PROXY: what was wrong with the first one */
} report;

struct xcs_gate {
  xcs_module *m;
  xcs_life users;      /* held by the listener and each admitted client;
                          the last one closes the timers */
  xcs_life life;       /* the struct: held by users, and by each timer
                          until its close callback (core/life.h) */
  int nclients;
  int watch;           /* clients are port-keyed: watch them for idling */
  int proxy;           /* every client begins with a PROXY header */
  xcs_list waiting;    /* xcs_proxied.link: headers awaited */
  double tokens;       /* the accept rate's bucket */
  uint64_t refill;     /* uv_now when tokens were last added */
  xcs_list watched;    /* xcs_watched.link (guard.c) */
  uv_timer_t sweep;    /* looks at the watched clients */
  uv_timer_t tick;     /* logs the reports that are due */
  report reports[EV_N];
  char addr[XCS_ADDRSTRLEN];
};

/* Per-address counts: a hash table of the addresses with a connection
 * open, made with the first one and freed with the last. */
#define NBUCKETS 1024
#define KEYLEN 9 /* family, then 4 bytes of IPv4 or 8 of an IPv6 /64 */

struct xcs_peer {
  xcs_peer *next;
  unsigned char key[KEYLEN];
  int count;
  xcs_list conns;      /* xcs_guard_slot.by_peer, oldest first */
};

/* The host's part: the per-address table, and what it takes to know how
 * many descriptors are in use without asking the kernel on every accept. */
typedef struct xcs_guard {
  xcs_peer *buckets[NBUCKETS];
  size_t n;
  int admitted;        /* connections admitted by any gate, open now */
  int fd_base;         /* descriptors open that nothing here counts */
  int fd_limit;        /* RLIMIT_NOFILE (soft), as last read */
  uint64_t calibrated; /* uv_now of the last count of /proc/self/fd */
  int measured;
} xcs_guard;

static inline const xcs_guard_options *opts(const xcs_gate *g) { return &g->m->host->opt.guard; }

static inline uint64_t now_of(const xcs_gate *g) { return uv_now(&g->m->host->loop); }

/* One event of a kind; addr is the text to tell (NULL: none). */
void xcs_gate_event(xcs_gate *g, int kind, const char *addr);
/* The same for a client at peer ("ip:port"), told by its IP. */
void xcs_gate_event_from(xcs_gate *g, int kind, const char *peer);
/* The gate goes: what each report counted is logged, the windows close. */
void xcs_gate_reports_close(xcs_gate *g);

#endif
