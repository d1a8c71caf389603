/*
 * tls_rotate.h — certificate rotation in place: every TLS listener of a
 * host reads its certificate, key and CA files again, without a module
 * reload. New handshakes use the new files; a connection already open is
 * not touched at all (its session keeps the certificate it started with,
 * see xcs_tls_ctx_reread), so rotating never ends or breaks one. A
 * listener whose files no longer load keeps what it had.
 */
#ifndef XCS_TLS_ROTATE_H
#define XCS_TLS_ROTATE_H

#include "bindings/core/module.h"

/* What each listener's re-read gave: err NULL if it re-read, else why not
 * ("cert: cannot load the certificate /x.pem: no such file"). where is
 * the listener's address ("127.0.0.1:8443") or UNIX path. */
typedef void (*xcs_tls_rotated)(void *ud, xcs_module *m, const char *where, const char *err);

/* Re-reads the certificates of every TLS listener of h's modules, calling
 * report (if not NULL) for each. Returns how many listeners failed (0:
 * all re-read, or there were none), and their count in *n. */
int xcs_tls_rotate(xcs_host *h, xcs_tls_rotated report, void *ud, int *n);

#endif
