/*
 * stats.h — what a module's sockets did, counted where it happens, for the
 * metrics (host/metrics.c). Plain counters that only grow: each is one
 * addition on a path that already does more.
 */
#ifndef XCS_STATS_H
#define XCS_STATS_H

#include <stdint.h>
#include <string.h>

/* The protocol a count is about, in the words socket.list() uses. */
enum { XCS_P_TCP, XCS_P_UDP, XCS_P_UNIX, XCS_P_UNIXDGRAM, XCS_P_TLS, XCS_NPROTO };

/* Defence events, in the order of bindings/guard.c's kinds (a static
 * assertion there checks that they match: a new kind must be added here,
 * and named in host/metrics.c). */
enum { XCS_G_FULL, XCS_G_ADDRESS, XCS_G_RATE, XCS_G_SCARCE, XCS_G_FIRST, XCS_G_IDLE,
       XCS_G_SHED, XCS_G_PROXY, XCS_G_DROPPED, XCS_G_FAILED, XCS_G_TLS_BUSY, XCS_G_TLS_FAILED,
       XCS_NGUARD };

/* What bindings/admit.c refuses: --max-connections, --max-sockets, --ports. */
enum { XCS_A_CONNECTIONS, XCS_A_SOCKETS, XCS_A_PORTS, XCS_NADMIT };

#define XCS_STATS_CODES 16 /* distinct error codes kept apart; the rest are "other" */

typedef struct xcs_stats {
  uint64_t bytes_in[XCS_NPROTO], bytes_out[XCS_NPROTO];
  uint64_t accepts[XCS_NPROTO];   /* connections its listeners accepted */
  uint64_t guard[XCS_NGUARD];     /* refused, timed out, dropped (--max-clients ...) */
  uint64_t admit[XCS_NADMIT];     /* refused by the module's own limits (XCS_A_*) */
  const char *codes[XCS_STATS_CODES]; /* network outcomes returned: static strings */
  uint64_t errors[XCS_STATS_CODES + 1]; /* ... how many of each; the last: other */
  uint64_t cpu_ns;                /* time its tasks ran (thread CPU time) */
  uint64_t reloads;               /* versions of it started by a reload */
} xcs_stats;

/* Counts n network outcomes of code ("ECONNREFUSED": a static string). */
static inline void xcs_stats_errors(xcs_stats *s, const char *code, uint64_t n) {
  int i = 0;
  while (i < XCS_STATS_CODES && s->codes[i] && strcmp(s->codes[i], code) != 0) i++;
  if (i < XCS_STATS_CODES && s->codes[i] == NULL) s->codes[i] = code;
  s->errors[i] += n;
}

#endif
