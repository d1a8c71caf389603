/*
 * control.h — the operator's socket: a UNIX stream socket (--control PATH)
 * taking one command per connection, a line, and answering in text:
 *
 *   status          every module: state, tasks, memory, what it holds
 *   reload [NAME]   reload one module (or every one) from disk
 *   certs           every TLS listener re-reads its certificates in place
 *                   (bindings/tls_rotate.h): no connection is touched
 *   stop            stop gracefully, as SIGTERM does
 *
 * `xcshost ctl PATH COMMAND` is the client; so is `socat - UNIX:PATH`.
 */
#ifndef XCS_CONTROL_H
#define XCS_CONTROL_H

#include "host/host.h"

/* Listens on path (a stale socket file there is replaced). 0 or a libuv
 * error. The socket file is removed again by xcs_control_stop. */
int xcs_control_start(xcs_host *h, const char *path);
void xcs_control_stop(xcs_host *h);
/* Answers a command that h->command took (msg is freed here; NULL: out of
 * memory). */
void xcs_control_reply(void *client, char *msg);
/* The status report, as text; free it. */
char *xcs_control_status(xcs_host *h);
/* Re-reads every TLS listener's certificates; what each did, as text
 * (first line "error: ..." if any kept its old ones); free it. */
char *xcs_control_certs(xcs_host *h);

#endif
