/*
 * tls_ctx.c — TLS contexts: certificates and keys loaded from files, the
 * CAs trusted, SNI and ALPN selection, versions and ciphers. One context
 * serves every connection of a listener (or of a client's options); it is
 * reference counted, so connections outlive the listener that made them
 * and keep the certificates they started with across a reload.
 */
#include "bindings/tls_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void xcs_tls_config_default(xcs_tls_config *cfg, int server) {
  memset(cfg, 0, sizeof *cfg);
  cfg->server = server;
  cfg->verify = server ? 0 : 1;
  cfg->min_version = TLS1_2_VERSION;
  cfg->tickets = 1;
  cfg->max_handshakes = XCS_TLS_MAX_HANDSHAKES;
}

/* "option: what (OpenSSL's reason)" into err. */
static void say(char *err, size_t errlen, const char *option, const char *what,
                const char *path) {
  unsigned long e = ERR_peek_last_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  snprintf(err, errlen, "%s: %s%s%s%s%s", option, what, path ? " " : "", path ? path : "",
           why ? ": " : "", why ? why : "");
  ERR_clear_error();
}

/* Picks the server's first protocol the client offered too; with none in
 * common, the handshake goes on without ALPN (a client that needs it
 * decides). */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl;
  xcs_tls_ctx *x = arg;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, x->alpn, (unsigned)x->alpn_len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* Whether the SNI name matches pattern: equal ignoring case, or
 * "*.example" for exactly one label before ".example". */
static int name_matches(const char *pattern, const char *name) {
  if (strcasecmp(pattern, name) == 0) return 1;
  if (pattern[0] != '*' || pattern[1] != '.') return 0;
  const char *dot = strchr(name, '.');
  return dot && dot != name && strcasecmp(dot, pattern + 1) == 0;
}

static int servername_cb(SSL *ssl, int *alert, void *arg) {
  (void)alert;
  xcs_tls_ctx *x = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == NULL) return SSL_TLSEXT_ERR_OK;
  for (int i = 1; i < x->cfg.ncerts; i++)
    if (name_matches(x->cfg.certs[i].name, name)) {
      SSL_set_SSL_CTX(ssl, x->ctxs[i]);
      break;
    }
  return SSL_TLSEXT_ERR_OK; /* no match: the default certificate */
}

/* Loads cert and key into ctx, checking that they belong together. */
static int load_pair(SSL_CTX *ctx, const xcs_tls_cert *c, char *err, size_t errlen) {
  if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
    say(err, errlen, "cert", "cannot load the certificate", c->cert);
    return -1;
  }
  int loaded = SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) == 1;
  if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
    say(err, errlen, "key", "cannot load the private key", c->key);
    return -1;
  }
  if (!loaded || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    snprintf(err, errlen, "key: %s does not match its certificate %s", c->key, c->cert);
    return -1;
  }
  return 0;
}

/* One SSL_CTX of x's settings, with certificate pair c (or none). */
static SSL_CTX *make(xcs_tls_ctx *x, const xcs_tls_config *cfg, const xcs_tls_cert *c,
                     char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
  if (ctx == NULL) {
    say(err, errlen, "tls", "cannot make a context", NULL);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, cfg->min_version);
  uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (cfg->server) opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(ctx, opts);
  /* No tickets at all: TLS 1.3 would still send stateful ones with
   * SSL_OP_NO_TICKET alone. */
  if (!cfg->tickets) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  /* Idle connections give their record buffers back (~34 KiB each). */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (cfg->ciphers && SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1) {
    say(err, errlen, "ciphers", "no cipher matches", cfg->ciphers);
    goto fail;
  }
  if (cfg->ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
    say(err, errlen, "ciphersuites", "no suite matches", cfg->ciphersuites);
    goto fail;
  }
  if (c && c->cert && load_pair(ctx, c, err, errlen) != 0) goto fail;
  if (cfg->server) {
    static const unsigned char sid[] = "xcshost";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    if (x->alpn_len) SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, x);
    if (cfg->verify) {
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca);
      if (names == NULL || SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
        if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
        say(err, errlen, "ca", "cannot load the CA certificates", cfg->ca);
        goto fail;
      }
      SSL_CTX_set_client_CA_list(ctx, names);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (cfg->verify == 1 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                         NULL);
    }
  } else {
    if (x->alpn_len && SSL_CTX_set_alpn_protos(ctx, x->alpn, (unsigned)x->alpn_len) != 0) {
      say(err, errlen, "alpn", "cannot be set", NULL);
      goto fail;
    }
    /* The system's store as its hashed directory (/etc/ssl/certs): looked
     * up per verification, where the bundle file would be parsed whole for
     * every connection's context. Nothing at all when nothing is checked. */
    int loaded = !cfg->verify ? 1
                 : cfg->ca    ? SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL)
                              : SSL_CTX_load_verify_dir(ctx, X509_get_default_cert_dir());
    if (loaded != 1) {
      say(err, errlen, "ca", "cannot load the CA certificates", cfg->ca ? cfg->ca : "(system)");
      goto fail;
    }
    SSL_CTX_set_verify(ctx, cfg->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  }
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

/* ALPN's wire format: each name preceded by its length. */
static int alpn_wire(xcs_tls_ctx *x, const xcs_tls_config *cfg, char *err, size_t errlen) {
  size_t len = 0;
  for (int i = 0; i < cfg->nalpn; i++) {
    size_t n = strlen(cfg->alpn[i]);
    if (n == 0 || n > 255) {
      snprintf(err, errlen, "alpn: protocol names are 1 to 255 bytes long");
      return -1;
    }
    len += 1 + n;
  }
  if (len == 0) return 0;
  if ((x->alpn = malloc(len)) == NULL) {
    snprintf(err, errlen, "tls: not enough memory");
    return -1;
  }
  unsigned char *p = x->alpn;
  for (int i = 0; i < cfg->nalpn; i++) {
    size_t n = strlen(cfg->alpn[i]);
    *p++ = (unsigned char)n;
    memcpy(p, cfg->alpn[i], n);
    p += n;
  }
  x->alpn_len = len;
  return 0;
}

/* cfg's strings, copied into x->cfg; -1 on out of memory. */
static int copy_str(const char **to, const char *from) {
  *to = NULL;
  return from && (*to = strdup(from)) == NULL ? -1 : 0;
}

static int copy_config(xcs_tls_ctx *x, const xcs_tls_config *cfg) {
  xcs_tls_config *c = &x->cfg;
  int r = 0;
  *c = *cfg;
  for (int i = 0; i < cfg->ncerts; i++) {
    r |= copy_str(&c->certs[i].name, cfg->certs[i].name);
    r |= copy_str(&c->certs[i].cert, cfg->certs[i].cert);
    r |= copy_str(&c->certs[i].key, cfg->certs[i].key);
  }
  for (int i = 0; i < cfg->nalpn; i++) c->alpn[i] = NULL; /* x->alpn has them */
  c->nalpn = 0;
  r |= copy_str(&c->ca, cfg->ca);
  r |= copy_str(&c->ciphers, cfg->ciphers);
  r |= copy_str(&c->ciphersuites, cfg->ciphersuites);
  return r;
}

static void free_config(xcs_tls_config *c) {
  for (int i = 0; i < c->ncerts; i++) {
    free((char *)c->certs[i].name);
    free((char *)c->certs[i].cert);
    free((char *)c->certs[i].key);
  }
  free((char *)c->ca);
  free((char *)c->ciphers);
  free((char *)c->ciphersuites);
}

/* Every SSL_CTX x's settings make (one per certificate) into out; 0, or
 * -1 with a message in err and nothing left over. */
static int build(xcs_tls_ctx *x, SSL_CTX **out, char *err, size_t errlen) {
  int n = x->cfg.ncerts ? x->cfg.ncerts : 1;
  for (int i = 0; i < n; i++) {
    out[i] = make(x, &x->cfg, x->cfg.ncerts ? &x->cfg.certs[i] : NULL, err, errlen);
    if (out[i] == NULL) {
      while (i-- > 0) SSL_CTX_free(out[i]);
      return -1;
    }
  }
  if (n > 1) {
    SSL_CTX_set_tlsext_servername_callback(out[0], servername_cb);
    SSL_CTX_set_tlsext_servername_arg(out[0], x);
  }
  return 0;
}

static void ctx_free(xcs_tls_ctx *x) {
  for (int i = 0; i < XCS_TLS_MAX_NAMES + 1; i++) SSL_CTX_free(x->ctxs[i]);
  free_config(&x->cfg);
  free(x->alpn);
  free(x);
}

xcs_tls_ctx *xcs_tls_ctx_new(const xcs_tls_config *cfg, char *err, size_t errlen) {
  if (cfg->server && (cfg->ncerts == 0 || cfg->certs[0].cert == NULL)) {
    snprintf(err, errlen, "cert: a TLS server needs a certificate (cert = and key =)");
    return NULL;
  }
  if (cfg->server && cfg->verify && cfg->ca == NULL) {
    snprintf(err, errlen, "ca: verify_client needs the CAs that sign client certificates");
    return NULL;
  }
  const char *missing = xcs_openssl_load(); /* the first context loads OpenSSL */
  if (missing) {
    snprintf(err, errlen, "tls: %s", missing);
    return NULL;
  }
  ERR_clear_error();
  xcs_tls_ctx *x = calloc(1, sizeof *x);
  if (x == NULL) {
    snprintf(err, errlen, "tls: not enough memory");
    return NULL;
  }
  x->refs = 1;
  x->server = cfg->server;
  x->verify = cfg->verify;
  x->max_handshakes = cfg->max_handshakes;
  if (copy_config(x, cfg) != 0) {
    snprintf(err, errlen, "tls: not enough memory");
    goto fail;
  }
  if (alpn_wire(x, cfg, err, errlen) != 0 || build(x, x->ctxs, err, errlen) != 0) goto fail;
  return x;
fail:
  ctx_free(x);
  return NULL;
}

/* The session ticket keys of from, given to to: a ticket issued before a
 * re-read still resumes after it. */
static void keep_tickets(SSL_CTX *from, SSL_CTX *to) {
  unsigned char keys[80]; /* name, HMAC and AES keys: what OpenSSL 3 asks for */
  if (SSL_CTX_get_tlsext_ticket_keys(from, keys, sizeof keys) == 1)
    SSL_CTX_set_tlsext_ticket_keys(to, keys, sizeof keys);
  OPENSSL_cleanse(keys, sizeof keys);
}

int xcs_tls_ctx_reread(xcs_tls_ctx *x, char *err, size_t errlen) {
  ERR_clear_error();
  SSL_CTX *fresh[XCS_TLS_MAX_NAMES + 1] = {0};
  if (build(x, fresh, err, errlen) != 0) return -1;
  for (int i = 0; i < XCS_TLS_MAX_NAMES + 1; i++) {
    if (fresh[i] && x->ctxs[i]) keep_tickets(x->ctxs[i], fresh[i]);
    SSL_CTX_free(x->ctxs[i]); /* the SSLs of open connections keep theirs */
    x->ctxs[i] = fresh[i];
  }
  return 0;
}

void xcs_tls_ctx_ref(xcs_tls_ctx *x) { x->refs++; }

void xcs_tls_ctx_unref(xcs_tls_ctx *x) {
  if (x && --x->refs == 0) ctx_free(x);
}

int xcs_tls_ctx_is_server(const xcs_tls_ctx *x) { return x->server; }

int xcs_tls_ctx_busy(const xcs_tls_ctx *x) {
  return x->server && x->handshaking >= x->max_handshakes ? XCS_TLS_EBUSY : 0;
}
