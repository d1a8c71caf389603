/*
 * tls_ctx.h — what the TLS engine's two files share of a context (private
 * to tls.c and tls_ctx.c; everyone else sees xcs_tls_ctx as opaque).
 */
#ifndef XCS_TLS_CTX_H
#define XCS_TLS_CTX_H

#include "bindings/openssl.h"
#include "bindings/tls.h"

struct xcs_tls_ctx {
  int refs;
  int server;
  int verify;          /* as xcs_tls_config.verify */
  xcs_tls_config cfg;  /* a copy (strings its own), to read the files again */
  /* One SSL_CTX per certificate: [0] the default (or a client's settings),
   * [i] cfg.certs[i], chosen by SNI. A connection's SSL holds a reference
   * to the one it started with, so xcs_tls_ctx_reread swaps these for new
   * ones without touching a session that is open. */
  SSL_CTX *ctxs[XCS_TLS_MAX_NAMES + 1];
  unsigned char *alpn; /* wire format, or NULL */
  size_t alpn_len;
  int handshaking;     /* server: connections still in their handshake */
  int max_handshakes;
};

#endif
