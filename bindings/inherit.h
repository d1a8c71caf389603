/*
 * inherit.h — sockets the host was handed when it started (systemd socket
 * activation: LISTEN_FDS), waiting for the module that opens their port.
 *
 * The host fills the table once at start (host/systemd.c); socket.open(port)
 * takes the socket of that port and type instead of binding a new one. Each
 * is taken once: a second open of the port binds as usual (and meets
 * EADDRINUSE if the first still holds it).
 */
#ifndef XCS_INHERIT_H
#define XCS_INHERIT_H

#define XCS_INHERIT_MAX 64

/* Adds fd, a bound socket, under name (copied; may be NULL). Returns 0, or
 * -1 when fd is not an IP socket or the table is full. */
int xcs_inherit_add(int fd, const char *name);
/* Whether a socket of socktype (SOCK_STREAM, SOCK_DGRAM) bound to port is
 * waiting: then *fd is it, *name its name, and it is no longer waiting. */
int xcs_inherit_take(int socktype, int port, int *fd, const char **name);
/* The sockets still waiting (none taken): how many, and calls fn for each. */
int xcs_inherit_waiting(void (*fn)(void *ud, int port, int socktype, const char *name), void *ud);

#endif
