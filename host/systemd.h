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
/* Says STOPPING=1 if not yet said, and closes the notify socket. */
void xcs_systemd_stop(xcs_host *h);

#endif
