/*
 * faults.h — fault injection: the unreliable network a module must survive,
 * on a reliable loopback.
 *
 * What a module RECEIVES goes through its faults before the module sees it:
 *
 *   UDP datagram  dropped (probability udp_loss), delivered twice (udp_dup),
 *                 held back and delivered after the next one (udp_reorder;
 *                 at most XCS_FAULT_HOLD_MS if no next one comes), and then
 *                 delivered delay_ms later;
 *   TCP data      delivered delay_ms later, in order, its end (FIN or error)
 *                 behind it.
 *
 * Each datagram's fate is three draws of a splitmix64 generator seeded from
 * the seed and the module's name, drawn whether or not each fault is on: the
 * same seed and the same datagrams give the same drops, and turning on
 * duplicates does not change which datagrams are lost.
 *
 * What is held back is bounded by the socket's own limits: the socket counts
 * it with what waits to be read, and stops reading from the kernel while the
 * sum is over its limit (XCS_UDP_QUEUE datagrams, XCS_READ_HIGH bytes).
 */
#ifndef XCS_FAULTS_H
#define XCS_FAULTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include "bindings/list.h"
#include "bindings/core/host.h"

typedef struct xcs_handle xcs_handle;

/* How long a datagram held back for reordering waits for a next one. */
#define XCS_FAULT_HOLD_MS 100
/* The longest --delay (a minute: tests, not outages). */
#define XCS_FAULT_MAX_DELAY_MS 60000

typedef struct xcs_fault_stats {
  uint64_t received;   /* datagrams that arrived, before any fault */
  uint64_t dropped;    /* of those, dropped */
  uint64_t duplicated; /* delivered twice */
  uint64_t reordered;  /* held back and delivered after the next one */
  uint64_t delayed;    /* datagrams and TCP reads held back by delay_ms */
} xcs_fault_stats;

/* One module's faults: its settings, its generator, what it injected. */
typedef struct xcs_faults {
  xcs_fault_options opt;
  uint64_t rng;
  xcs_fault_stats stats;
} xcs_faults;

/* Whether o injects anything. */
int xcs_faults_any(const xcs_fault_options *o);
/* "udp loss 0.3, dup 0.1, delay 20 ms; seed 42" */
void xcs_faults_describe(const xcs_fault_options *o, char *buf, size_t size);
/* The faults of the module called name, or NULL when o injects nothing (or
 * there is no memory). o must have its seed set. Free with xcs_faults_free. */
xcs_faults *xcs_faults_new(const xcs_fault_options *o, const char *name);
void xcs_faults_free(xcs_faults *f);
/* At the host's start: picks a seed if none was given (so the run can be
 * repeated with --seed), and logs what is injected, once. */
void xcs_faults_announce(xcs_host *h);
/* A seed for a run that did not name one. */
uint64_t xcs_faults_random_seed(void);

/* The receiving side of one socket ------------------------------------------ */

typedef struct xcs_inflow xcs_inflow;

/* Hands one datagram (n >= 0 bytes, from) or one TCP read (n > 0 bytes, or
 * n < 0: UV_EOF or an error) to the socket, which may run module code. */
typedef void (*xcs_inflow_fn)(xcs_inflow *in, ssize_t n, const char *data,
                              const struct sockaddr *from, unsigned flags);

typedef struct xcs_held xcs_held;

typedef struct xcs_inflow_state xcs_inflow_state;

struct xcs_inflow {
  xcs_faults *f;          /* NULL: nothing is injected, nothing held */
  xcs_handle *h;          /* the socket (its libuv handles close together) */
  xcs_inflow_fn deliver;
  xcs_inflow_state *x;    /* with f: its timer, what it holds, its counts */
  size_t bytes;           /* held back in total (delayed and held) */
  int count;
  unsigned ended : 1;     /* a TCP end is held: read no more from the kernel */
  unsigned closed : 1;
};

/* f may be NULL. Allocates nothing. */
void xcs_inflow_init(xcs_inflow *in, xcs_handle *h, xcs_faults *f, xcs_inflow_fn deliver);
/* A datagram arrived: its faults decide what is delivered and when. */
void xcs_inflow_datagram(xcs_inflow *in, ssize_t n, const char *data,
                         const struct sockaddr *from, unsigned flags);
/* TCP data (or the end) arrived: delivered delay_ms later, in order. */
void xcs_inflow_stream(xcs_inflow *in, ssize_t n, const char *data);
/* The socket closes: what is held back is dropped, the timer stopped. */
void xcs_inflow_close(xcs_inflow *in);
/* Hands the timer to uv_close. Call it with the socket's own libuv handle,
 * so that neither close callback can free the socket before the other
 * handle is closing too. */
void xcs_inflow_uv_close(xcs_inflow *in);
/* "; faults: 61 of 200 datagrams dropped, ..." for the socket's close line,
 * or "" when nothing is injected. */
void xcs_inflow_describe(const xcs_inflow *in, char *buf, size_t size);

#endif
