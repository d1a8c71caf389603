/*
 * fuzz_tls.c — the TLS engine (bindings/tls.c) fed arbitrary bytes from the
 * wire: handshakes and records, as a server (and, when the first byte is
 * odd, as a client that has sent its hello). The certificate is made in
 * memory at start (an EC key, self-signed) and written to a temporary
 * directory, so the contexts load it the way the host does.
 *
 * Each input is cut into pieces (sizes taken from its bytes) given to
 * xcs_tls_input one after the other, with a write of module data between
 * pieces once the handshake is done, then the peer's end (xcs_tls_eof),
 * close_notify and the free. Properties checked: nothing crashes or leaks
 * (ASan), a failed connection stays failed with a known code, and the
 * plaintext handed out never exceeds the bytes fed in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bindings/tls.h"

#define FAIL(...)                                 \
  do {                                            \
    fprintf(stderr, "fuzz_tls: " __VA_ARGS__);    \
    fputc('\n', stderr);                          \
    abort();                                      \
  } while (0)

static xcs_tls_ctx *server_ctx, *client_ctx;

typedef struct seen {
  size_t sent, plain;
  int handshakes, status;
} seen;

static int send_cb(void *ud, const char *data, size_t n, size_t plain) {
  seen *s = ud;
  (void)data;
  if (plain > n) FAIL("send: %zu bytes of data in %zu bytes", plain, n);
  s->sent += n;
  return 0;
}

static void plain_cb(void *ud, const char *data, size_t n) {
  (void)data;
  ((seen *)ud)->plain += n;
}

static void handshake_cb(void *ud, int status) {
  seen *s = ud;
  if (s->handshakes++) FAIL("the handshake ended twice");
  s->status = status;
}

static const xcs_tls_io io = {send_cb, plain_cb, handshake_cb};

/* A self-signed certificate for localhost and its key, as PEM files in dir. */
static void make_cert(const char *dir, char *cert, char *key, size_t size) {
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (pk == NULL || x == NULL) FAIL("cannot make a key");
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pk);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (X509_sign(x, pk, EVP_sha256()) == 0) FAIL("cannot sign");
  snprintf(cert, size, "%s/cert.pem", dir);
  snprintf(key, size, "%s/key.pem", dir);
  FILE *f = fopen(cert, "w");
  if (f == NULL || PEM_write_X509(f, x) != 1) FAIL("cannot write %s", cert);
  fclose(f);
  f = fopen(key, "w");
  if (f == NULL || PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1)
    FAIL("cannot write %s", key);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  char dir[] = "/tmp/fuzz_tls.XXXXXX", cert[64], key[64], err[512];
  if (mkdtemp(dir) == NULL) FAIL("mkdtemp");
  make_cert(dir, cert, key, sizeof cert);
  xcs_tls_config cfg;
  xcs_tls_config_default(&cfg, 1);
  cfg.certs[0].cert = cert;
  cfg.certs[0].key = key;
  cfg.ncerts = 1;
  cfg.alpn[0] = "h2";
  cfg.alpn[1] = "http/1.1";
  cfg.nalpn = 2;
  if ((server_ctx = xcs_tls_ctx_new(&cfg, err, sizeof err)) == NULL) FAIL("server: %s", err);
  xcs_tls_config_default(&cfg, 0);
  cfg.verify = 0;
  if ((client_ctx = xcs_tls_ctx_new(&cfg, err, sizeof err)) == NULL) FAIL("client: %s", err);
  unlink(cert);
  unlink(key);
  rmdir(dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  int client = data[0] & 1;
  seen s = {0, 0, 0, 0};
  int status;
  xcs_tls *t = xcs_tls_new(client ? client_ctx : server_ctx, client ? "localhost" : NULL, &io, &s,
                           &status);
  if (t == NULL) FAIL("xcs_tls_new: %d", status);
  int r = xcs_tls_start(t);
  size_t fed = 0;
  for (size_t i = 1; i < size && r == 0;) {
    size_t piece = 1 + (size_t)(data[i] % 64) * (data[i] & 0x80 ? 64 : 1);
    if (piece > size - i) piece = size - i;
    r = xcs_tls_input(t, (const char *)data + i, piece);
    fed += piece;
    i += piece;
    if (r == 0 && xcs_tls_done(t)) r = xcs_tls_write(t, "pong", 4);
  }
  if (s.plain > fed) FAIL("%zu bytes of plaintext out of %zu fed", s.plain, fed);
  if (r != 0) {
    if (!xcs_tls_is_error(r)) FAIL("unknown code %d", r);
    if (xcs_tls_input(t, "x", 1) != r) FAIL("a failed connection came back");
    if (xcs_tls_message(t) == NULL) FAIL("no message");
  }
  int e = xcs_tls_eof(t);
  if (e != 0 && !xcs_tls_is_error(e)) FAIL("eof: unknown code %d", e);
  xcs_tls_shutdown(t);
  if (s.handshakes > 1) FAIL("handshakes: %d", s.handshakes);
  xcs_tls_free(t);
  return 0;
}
