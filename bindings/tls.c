/*
 * tls.c — one TLS connection over memory BIOs: ciphertext in, plaintext
 * out; plaintext in, ciphertext out (see tls.h for the contract).
 */
#include "bindings/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/tls_ctx.h"
#include "bindings/tls_mem.h"

/* Writes go to OpenSSL in pieces of this much, so the ciphertext copy made
 * for each is bounded however big the module's string. */
#define WRITE_PIECE (256 * 1024)

struct xcs_tls {
  xcs_tls_ctx *ctx;
  SSL *ssl;
  BIO *rbio, *wbio;   /* the wire: in, out (owned by ssl) */
  const xcs_tls_io *io;
  void *ud;
  char *held;         /* written before the handshake was done */
  size_t nheld, capheld;
  int failed;         /* the code it failed with, or 0 */
  unsigned done : 1;  /* handshake complete */
  unsigned slot : 1;  /* holds one of the server context's handshake slots */
  unsigned shut : 1;  /* close_notify sent */
  unsigned peer_closed : 1;
  const char *why;    /* the failure in words: always a static string */
  long long mem;      /* OpenSSL's memory its calls left held (tls_mem.h) */
};

/* r = call, and the change in what OpenSSL holds during it is t's. Only
 * around calls into OpenSSL: never around a callback, which may run a
 * task that makes other connections. */
#define CHARGED(t, r, call)                                      \
  do {                                                           \
    long long before_ = (long long)xcs_tls_mem_total();          \
    r = (call);                                                  \
    (t)->mem += (long long)xcs_tls_mem_total() - before_;        \
  } while (0)

static const char *const names[] = {"ETLSHANDSHAKE", "ETLSVERIFY", "ETLSNOTTLS",
                                    "ETLSTRUNCATED", "ETLSPROTO",  "ETLSBUSY", "ENOMEM"};

int xcs_tls_is_error(int status) {
  return status <= XCS_TLS_EHANDSHAKE && status >= XCS_TLS_ENOMEM;
}

const char *xcs_tls_code(int status) {
  return xcs_tls_is_error(status) ? names[XCS_TLS_EHANDSHAKE - status] : "ETLS";
}

static void free_slot(xcs_tls *t) {
  if (!t->slot) return;
  t->slot = 0;
  t->ctx->handshaking--;
}

/* A memory BIO keeps the largest buffer it ever needed: one that grew
 * past this (a bulk write's ciphertext, a big socket read) is replaced by
 * an empty one once drained, so an idle connection holds none of it. */
#define BIO_KEEP (8 * 1024)

static BIO *empty_bio(void) {
  BIO *b = BIO_new(BIO_s_mem());
  if (b) BIO_set_mem_eof_return(b, -1); /* empty reads as "retry later", not as the end */
  return b;
}

/* t's drained BIO (the wire out, or in) given back if it grew big. */
static void slim(xcs_tls *t, int out) {
  BIO *b = out ? t->wbio : t->rbio;
  BUF_MEM *m = NULL;
  if (BIO_ctrl_pending(b) != 0 || BIO_get_mem_ptr(b, &m) != 1 || m == NULL || m->max <= BIO_KEEP)
    return;
  long long before = (long long)xcs_tls_mem_total();
  BIO *fresh = empty_bio();
  if (fresh) {
    if (out) {
      SSL_set0_wbio(t->ssl, fresh); /* frees the old one */
      t->wbio = fresh;
    } else {
      SSL_set0_rbio(t->ssl, fresh);
      t->rbio = fresh;
    }
  }
  t->mem += (long long)xcs_tls_mem_total() - before;
}

/* Hands what OpenSSL wrote for the wire to io->send; plain of it is data. */
static int flush(xcs_tls *t, size_t plain) {
  char *p;
  long n = BIO_get_mem_data(t->wbio, &p);
  if (n <= 0) return 0;
  int r = t->io->send(t->ud, p, (size_t)n, plain);
  int reset;
  CHARGED(t, reset, BIO_reset(t->wbio));
  (void)reset;
  slim(t, 1);
  return r;
}

/* Whether OpenSSL's reason says the peer spoke something other than TLS. */
static int not_tls(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return 0;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNSUPPORTED_PROTOCOL:
      return 1;
  }
  return 0;
}

/* The connection fails with the code OpenSSL's state says (or dflt); an
 * alert OpenSSL queued for the peer is still sent. */
static int fail(xcs_tls *t, int dflt) {
  if (t->failed) return t->failed;
  unsigned long e = ERR_peek_last_error();
  long v = SSL_get_verify_result(t->ssl);
  int code = dflt;
  const char *why = NULL;
  if (dflt == XCS_TLS_EHANDSHAKE && v != X509_V_OK && SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE &&
      ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    code = XCS_TLS_EVERIFY;
    why = X509_verify_cert_error_string(v);
  } else if (not_tls(e) && !t->done) {
    code = XCS_TLS_ENOTTLS;
  }
  if (why == NULL) why = e ? ERR_reason_error_string(e) : NULL;
  if (why == NULL) why = code == XCS_TLS_ENOMEM ? "not enough memory" : "the peer broke off";
  t->why = why;
  ERR_clear_error();
  t->failed = code;
  free_slot(t);
  flush(t, 0); /* the alert, if any */
  if (!t->done) t->io->handshake(t->ud, code);
  return code;
}

xcs_tls *xcs_tls_new(xcs_tls_ctx *ctx, const char *servername, const xcs_tls_io *io, void *ud,
                     int *status) {
  *status = xcs_tls_ctx_busy(ctx);
  if (*status) return NULL;
  *status = XCS_TLS_ENOMEM;
  xcs_tls *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  long long before = (long long)xcs_tls_mem_total();
  ERR_clear_error();
  t->ssl = SSL_new(ctx->ctxs[0]);
  t->rbio = empty_bio();
  t->wbio = empty_bio();
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  t->ctx = ctx;
  t->io = io;
  t->ud = ud;
  xcs_tls_ctx_ref(ctx);
  if (ctx->server) {
    SSL_set_accept_state(t->ssl);
    t->slot = 1;
    ctx->handshaking++;
  } else {
    SSL_set_connect_state(t->ssl);
    if (servername && *servername) {
      unsigned char ip[16];
      int is_ip = inet_pton(AF_INET, servername, ip) == 1 || inet_pton(AF_INET6, servername, ip) == 1;
      if (!is_ip) SSL_set_tlsext_host_name(t->ssl, servername);
      if (ctx->verify) {
        if (is_ip)
          X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), servername);
        else
          SSL_set1_host(t->ssl, servername);
      }
    }
  }
  ERR_clear_error();
  t->mem = (long long)xcs_tls_mem_total() - before;
  *status = 0;
  return t;
}

/* Decrypts everything OpenSSL can from what arrived, handing it on. */
static int pump(xcs_tls *t) {
  ERR_clear_error();
  if (!t->done) {
    int r;
    CHARGED(t, r, SSL_do_handshake(t->ssl));
    if (r != 1) {
      int e = SSL_get_error(t->ssl, r);
      if (e == SSL_ERROR_WANT_READ) return flush(t, 0);
      return fail(t, XCS_TLS_EHANDSHAKE);
    }
    t->done = 1;
    free_slot(t);
    int f = flush(t, 0);
    if (f) return f;
    t->io->handshake(t->ud, 0);
    if (t->nheld) { /* what was written meanwhile goes now, in order */
      char *held = t->held;
      size_t n = t->nheld;
      t->held = NULL;
      t->nheld = t->capheld = 0;
      int w = xcs_tls_write(t, held, n);
      free(held);
      if (w) return w;
    }
  }
  char buf[16 * 1024];
  while (!t->failed && !t->peer_closed) {
    int r;
    CHARGED(t, r, SSL_read(t->ssl, buf, sizeof buf));
    if (r > 0) {
      t->io->plain(t->ud, buf, (size_t)r);
      continue;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      t->peer_closed = 1;
      break;
    }
    return fail(t, XCS_TLS_EPROTO);
  }
  if (!t->failed) slim(t, 0);
  return t->failed ? t->failed : flush(t, 0); /* a key update's answer, say */
}

int xcs_tls_start(xcs_tls *t) { return pump(t); }

int xcs_tls_input(xcs_tls *t, const char *data, size_t n) {
  if (t->failed) return t->failed;
  if (n == 0 || t->peer_closed) return 0; /* after close_notify: nothing counts */
  int w;
  CHARGED(t, w, BIO_write(t->rbio, data, (int)n));
  if (w != (int)n) return fail(t, XCS_TLS_ENOMEM);
  return pump(t);
}

int xcs_tls_eof(xcs_tls *t) {
  if (t->failed) return t->failed;
  if (t->peer_closed) return 0;
  t->why = t->done ? "the peer closed the connection without close_notify (data may be cut short)"
                   : "the peer closed the connection during the handshake";
  t->failed = t->done ? XCS_TLS_ETRUNCATED : XCS_TLS_EHANDSHAKE;
  free_slot(t);
  if (!t->done) t->io->handshake(t->ud, t->failed);
  return t->failed;
}

static int hold(xcs_tls *t, const char *data, size_t n) {
  if (t->nheld + n > t->capheld) {
    size_t cap = t->capheld ? t->capheld : 4096;
    while (cap < t->nheld + n) cap *= 2;
    char *p = realloc(t->held, cap);
    if (p == NULL) return fail(t, XCS_TLS_ENOMEM);
    t->held = p;
    t->capheld = cap;
  }
  memcpy(t->held + t->nheld, data, n);
  t->nheld += n;
  return 0;
}

int xcs_tls_write(xcs_tls *t, const char *data, size_t n) {
  if (t->failed) return t->failed;
  if (!t->done) return hold(t, data, n);
  while (n > 0) {
    int k = n > WRITE_PIECE ? WRITE_PIECE : (int)n;
    ERR_clear_error();
    int r;
    CHARGED(t, r, SSL_write(t->ssl, data, k));
    if (r <= 0) return fail(t, XCS_TLS_EPROTO);
    int f = flush(t, (size_t)r);
    if (f) return f;
    data += r;
    n -= (size_t)r;
  }
  return 0;
}

size_t xcs_tls_held(const xcs_tls *t) { return t->nheld; }

size_t xcs_tls_memory(const xcs_tls *t) {
  return (t->mem > 0 ? (size_t)t->mem : 0) + t->capheld;
}

int xcs_tls_shutdown(xcs_tls *t) {
  if (t->shut || t->failed || !t->done) return 0;
  t->shut = 1;
  ERR_clear_error();
  int r;
  CHARGED(t, r, SSL_shutdown(t->ssl));
  (void)r;
  ERR_clear_error();
  return flush(t, 0);
}

int xcs_tls_done(const xcs_tls *t) { return t->done; }
int xcs_tls_peer_closed(const xcs_tls *t) { return t->peer_closed; }
const char *xcs_tls_message(const xcs_tls *t) { return t->why ? t->why : "TLS error"; }

void xcs_tls_abort(xcs_tls *t, int code, const char *why) {
  if (t->failed) return;
  t->failed = code;
  t->why = why;
  free_slot(t);
}

void xcs_tls_free(xcs_tls *t) {
  if (t == NULL) return;
  free_slot(t);
  SSL_free(t->ssl); /* and its BIOs */
  xcs_tls_ctx_unref(t->ctx);
  free(t);
}

/* RFC 2253 form of a name ("CN=localhost,O=xcshost test"). */
static void name_of(X509_NAME *n, char *buf, size_t size) {
  buf[0] = '\0';
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL) return;
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
  int len = BIO_read(b, buf, (int)size - 1);
  buf[len > 0 ? len : 0] = '\0';
  BIO_free(b);
}

void xcs_tls_get_info(const xcs_tls *t, xcs_tls_info *info) {
  memset(info, 0, sizeof *info);
  info->version = SSL_get_version(t->ssl);
  info->cipher = SSL_get_cipher_name(t->ssl);
  info->servername = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
  const unsigned char *alpn;
  unsigned alen;
  SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
  if (alen) snprintf(info->alpn, sizeof info->alpn, "%.*s", (int)alen, (const char *)alpn);
  info->resumed = SSL_session_reused(t->ssl);
  X509 *peer = SSL_get0_peer_certificate(t->ssl);
  if (peer) {
    /* Only what was asked for counts: without verify the name went unchecked. */
    info->verified = SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE &&
                     SSL_get_verify_result(t->ssl) == X509_V_OK;
    name_of(X509_get_subject_name(peer), info->subject, sizeof info->subject);
    name_of(X509_get_issuer_name(peer), info->issuer, sizeof info->issuer);
  }
  ERR_clear_error();
}
