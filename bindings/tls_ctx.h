/*
 * tls_ctx.h — what the TLS engine's two files share of a context (private
 * to tls.c and tls_ctx.c; everyone else sees xcs_tls_ctx as opaque).
 */
#ifndef XCS_TLS_CTX_H
#define XCS_TLS_CTX_H

#include <openssl/ssl.h>

#include "bindings/tls.h"

struct xcs_tls_ctx {
  int refs;
  int server;
  int verify;          /* as xcs_tls_config.verify */
  SSL_CTX *ctx;        /* the default certificate (or a client's settings) */
  struct {
    char *name;        /* SNI pattern */
    SSL_CTX *ctx;
  } sni[XCS_TLS_MAX_NAMES];
  int nsni;
  unsigned char *alpn; /* wire format, or NULL */
  size_t alpn_len;
  int handshaking;     /* server: connections still in their handshake */
  int max_handshakes;
};

#endif
