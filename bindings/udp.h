/*
 * udp.h — UDP sockets ("xcs.udp"): datagrams in and out, boundaries kept.
 *
 * Datagrams are received as they arrive into a bounded queue (reception
 * pauses while XCS_UDP_QUEUE of them wait, and the kernel drops beyond that,
 * as UDP does). read() returns data, from; from is "ip:port".
 */
#ifndef XCS_UDP_H
#define XCS_UDP_H

#include "bindings/handle.h"

#define XCS_UDP_QUEUE 1024

extern const xcs_handle_type xcs_udp_type;

/* Whether the socket has a default peer (socket.connect(..., "UDP")). */
int xcs_udp_connected(xcs_handle *h);

/* core.udp_open(port), core.udp_connect(host, port), the metatable. */
void xcs_udp_open(lua_State *L);

#endif
