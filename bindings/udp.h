/*
 * udp.h — UDP sockets ("xcs.udp"): datagrams in and out, boundaries kept.
 *
 * Datagrams are received as they arrive into a bounded queue (reception
 * pauses while XCS_UDP_QUEUE of them wait, and the kernel drops beyond that,
 * as UDP does). read([timeout]) returns data, from; from is "ip:port" (or
 * "[ip]:port"). A datagram too big for UDP is refused with EMSGSIZE, never
 * cut. Faults injected into what the module receives (bindings/faults.h)
 * are applied before the queue, and what they hold back counts against it.
 *
 * Methods beyond read/write: setoption (broadcast, ttl, multicast_loop,
 * multicast_ttl, multicast_interface), join/leave (multicast groups).
 * socket.connect(host, port, "UDP") resolves names without blocking.
 */
#ifndef XCS_UDP_H
#define XCS_UDP_H

#include "bindings/handle.h"

#define XCS_UDP_QUEUE 1024
/* The largest payload of one datagram: 65535 less the IPv4 and UDP headers
 * (20 + 8), or less the UDP header alone over IPv6 (no jumbograms). */
#define XCS_UDP_MAX_IPV4 65507
#define XCS_UDP_MAX_IPV6 65527

extern const xcs_handle_type xcs_udp_type;

/* Whether the socket has a default peer (socket.connect(..., "UDP")). */
int xcs_udp_connected(xcs_handle *h);
/* The port-keyed calls' way in, for an open socket h whose checks they
 * made. read does what h:read() does (no timeout), but with the caller's
 * own continuation k when the task waits (k calls it again, h found
 * anew). send sends data (at 2) to `to` (at 3) and pushes what write()
 * returns when `to` is an "ip:port" (a sender's string a read of h
 * returned, and the socket still keeps, is not even parsed), or returns
 * -1, nothing done: a name, a connected socket, or misuse, which write()
 * itself answers. */
int xcs_udp_read(lua_State *L, xcs_handle *h, lua_KFunction k);
int xcs_udp_send(lua_State *L, xcs_handle *h);

/* core.udp_open(port [, address]), core.udp_connect(host, port), the metatable. */
void xcs_udp_open(lua_State *L);

#endif
