/*
 * portkeyed.h — socket.read and socket.write by port, in C for the common
 * case, in front of the prelude's functions (bindings/portkeyed.c).
 */
#ifndef XCS_PORTKEYED_H
#define XCS_PORTKEYED_H

#include <lua.h>

/* core.portkeyed(open_tcp, open_udp, open_tls, last, weak_mt, slow_read,
 * slow_write) -> read, write, forget: the closures, over the prelude's
 * tables and functions, and what the prelude calls whenever it puts a
 * socket in those tables. */
void xcs_portkeyed_open(lua_State *L);

#endif
