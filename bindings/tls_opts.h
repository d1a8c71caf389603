/*
 * tls_opts.h — TLS options from Lua: the table socket.open(port, "TLS",
 * opts), socket.listen's opts.tls, socket.connect(..., "TLS", opts) and
 * conn:starttls(opts) take, read into an engine config (tls.h).
 *
 * Certificate, key and CA files are read by the host, never by module
 * code, and only from under the directory the operator allows
 * (--tls-dir DIR): relative paths are relative to it, and a path that
 * resolves (symlinks followed) outside it raises, as for --unix-dir. A
 * client that trusts the system's CAs (/etc/ssl/certs) needs no --tls-dir.
 */
#ifndef XCS_TLS_OPTS_H
#define XCS_TLS_OPTS_H

#include <lua.h>

#include "bindings/tls.h"

typedef struct xcs_tls_opts {
  xcs_tls_config cfg;
  const char *servername; /* client: SNI and the name checked; NULL: none */
  double handshake_timeout;
} xcs_tls_opts;

/* Reads the table at idx (nil: none given) for a server or a client,
 * raising "<fname>: bad option '<name>': ..." on misuse. Pushes one value
 * that keeps the strings o points to alive, and returns its index. host is
 * the name connected to: the default servername (NULL: none). */
int xcs_tls_opts_read(lua_State *L, int idx, const char *fname, int server, const char *host,
                      xcs_tls_opts *o);
/* The context o describes; raises naming fname and the option that was
 * wrong (a key that does not match its certificate, say). Pushes a box
 * that holds a reference until collected, so a raise leaks nothing, and
 * keeps the anchor (xcs_tls_opts_read's value) alive too; a caller keeping
 * the context takes a reference of its own. */
xcs_tls_ctx *xcs_tls_opts_ctx(lua_State *L, int anchor, const xcs_tls_opts *o,
                              const char *fname);

#endif
