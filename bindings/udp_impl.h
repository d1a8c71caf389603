/*
 * udp_impl.h — a UDP socket's struct, shared by its parts (udp.c,
 * udp_open.c, udp_opts.c) and nothing else.
 */
#ifndef XCS_UDP_IMPL_H
#define XCS_UDP_IMPL_H

#include <netinet/in.h>
#include <stdint.h>

#include "bindings/addr.h"
#include "bindings/faults.h"
#include "bindings/names.h"
#include "bindings/udp.h"

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
 * slot i for the key key[i]), the one cache of addresses on the datagram
 * path: a read from a known sender formats nothing, and a write to one
 * parses nothing (its string, anchored in the table, is found by its
 * pointer: by_str holds slot + 1 by a pointer's hash). Both are open
 * addressed, probing to the next slot; once PEERS_MAX senders are in, the
 * next one starts it over (a server with more senders than that formats
 * and parses some again, never wrongly: str[i] is set only while the
 * table's slot anchors that very string). */
#define PEERS 128
#define PEERS_MAX 96

typedef struct peers {
  int n;
  peer_key key[PEERS]; /* family 0: free */
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
  int offering;     /* the reader runs on a batch: replies wait for its end */
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

/* A new, unbound socket of m (its box pushed), receiving in batches. */
xcs_udp *xcs_udp_alloc(lua_State *L, xcs_module *m);
/* Starts receiving, unless it is already or its queue is full. */
void xcs_udp_start_receiving(xcs_udp *u);
/* Whether sa is a multicast address. */
int xcs_udp_is_multicast(const struct sockaddr *sa);
/* The methods setoption, join and leave. */
int xcs_udp_setoption(lua_State *L);
int xcs_udp_join(lua_State *L);
int xcs_udp_leave(lua_State *L);

#endif
