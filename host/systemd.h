/*
 * systemd.h — Type=notify ($NOTIFY_SOCKET: READY, RELOADING, STOPPING,
 * STATUS) and socket activation ($LISTEN_FDS, $LISTEN_FDNAMES).
 */
#ifndef XCS_SYSTEMD_H
#define XCS_SYSTEMD_H

#include "host/host.h"

/* Takes the sockets systemd passed (before any module opens one) and, if
 * $NOTIFY_SOCKET is set, starts telling systemd how the host is. Without
 * either variable it does nothing. */
void xcs_systemd_start(xcs_host *h);
/* --workers: the supervisor takes the sockets systemd passed (host/shares.c
 * hands each to the workers that open its port) and opens the notify
 * socket, and says what it has to say itself (a worker neither notifies
 * nor takes sockets). Returns whether there is a notify socket. */
int xcs_systemd_open(xcs_host *h);
void xcs_systemd_notify(xcs_host *h, const char *state);
/* RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload wants it). */
void xcs_systemd_reloading(xcs_host *h);
/* Warns of each socket systemd passed that no module took. */
void xcs_systemd_unused(xcs_host *h);
/* Says STOPPING=1 if not yet said, and closes the notify socket. */
void xcs_systemd_stop(xcs_host *h);

#endif
