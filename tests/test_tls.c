/* test_tls.c — the TLS engine on its own (bindings/tls.c): a client and a
 * server engine wired to each other in memory, with the test material of
 * scripts/tls-certs in the directory given as argv[1] (default: the build
 * directory's tls-test/), made first if missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "bindings/tls.h"
#include "tests/check.h"

static const char *dir;

/* One side: what it sent that the other has not taken yet, what it got. */
typedef struct side {
  xcs_tls *t;
  struct side *peer;
  char wire[64 * 1024];
  size_t nwire;
  char got[64 * 1024];
  size_t ngot, plain_sent;
  int handshakes, status;
} side;

static int send_cb(void *ud, const char *data, size_t n, size_t plain) {
  side *s = ud;
  if (s->nwire + n > sizeof s->wire) return -1;
  memcpy(s->wire + s->nwire, data, n);
  s->nwire += n;
  s->plain_sent += plain;
  return 0;
}

static void plain_cb(void *ud, const char *data, size_t n) {
  side *s = ud;
  memcpy(s->got + s->ngot, data, n);
  s->ngot += n;
}

static void handshake_cb(void *ud, int status) {
  side *s = ud;
  s->handshakes++;
  s->status = status;
}

static const xcs_tls_io io = {send_cb, plain_cb, handshake_cb};

static const char *path(const char *name) {
  static char buf[8][512];
  static int i;
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
  return buf[i];
}

static xcs_tls_ctx *server_ctx(int verify, const char *alpn) {
  xcs_tls_config cfg;
  xcs_tls_config_default(&cfg, 1);
  cfg.certs[0] = (xcs_tls_cert){NULL, path("server.pem"), path("server.key")};
  cfg.certs[1] = (xcs_tls_cert){"a.example", path("a.pem"), path("a.key")};
  cfg.ncerts = 2;
  cfg.verify = verify;
  if (verify) cfg.ca = path("ca.pem");
  if (alpn) cfg.alpn[cfg.nalpn++] = alpn;
  cfg.max_handshakes = 2;
  char err[512];
  xcs_tls_ctx *x = xcs_tls_ctx_new(&cfg, err, sizeof err);
  if (x == NULL) fprintf(stderr, "server context: %s\n", err);
  return x;
}

static xcs_tls_ctx *client_ctx(const char *cert, const char *alpn) {
  xcs_tls_config cfg;
  xcs_tls_config_default(&cfg, 0);
  cfg.ca = path("ca.pem");
  if (cert) {
    cfg.certs[0] = (xcs_tls_cert){NULL, path("client.pem"), path("client.key")};
    cfg.ncerts = 1;
  }
  if (alpn) cfg.alpn[cfg.nalpn++] = alpn;
  char err[512];
  xcs_tls_ctx *x = xcs_tls_ctx_new(&cfg, err, sizeof err);
  if (x == NULL) fprintf(stderr, "client context: %s\n", err);
  return x;
}

/* Moves bytes both ways until neither side has any to give; the last
 * input's result of each side in *rc, *rs. */
static void pump(side *c, side *s, int *rc, int *rs) {
  for (int i = 0; i < 20 && (c->nwire || s->nwire); i++) {
    if (c->nwire) {
      size_t n = c->nwire;
      c->nwire = 0;
      *rs = xcs_tls_input(s->t, c->wire, n);
    }
    if (s->nwire) {
      size_t n = s->nwire;
      s->nwire = 0;
      *rc = xcs_tls_input(c->t, s->wire, n);
    }
  }
}

/* A connected pair: client of cctx to server of sctx, asking for name. */
static int connect_pair(side *c, side *s, xcs_tls_ctx *cctx, xcs_tls_ctx *sctx, const char *name) {
  memset(c, 0, sizeof *c);
  memset(s, 0, sizeof *s);
  int st;
  c->t = xcs_tls_new(cctx, name, &io, c, &st);
  s->t = xcs_tls_new(sctx, NULL, &io, s, &st);
  if (c->t == NULL || s->t == NULL) return -1;
  int rc = xcs_tls_start(c->t), rs = xcs_tls_start(s->t);
  pump(c, s, &rc, &rs);
  return rc ? rc : rs;
}

static void done_pair(side *c, side *s) {
  xcs_tls_free(c->t);
  xcs_tls_free(s->t);
}

static void test_exchange(void) {
  xcs_tls_ctx *sctx = server_ctx(0, "x-echo"), *cctx = client_ctx(NULL, "x-echo");
  side c, s;
  /* written before the handshake: held, then sent in order */
  memset(&c, 0, sizeof c);
  CHECK(connect_pair(&c, &s, cctx, sctx, "localhost") == 0);
  CHECK(xcs_tls_done(c.t) && xcs_tls_done(s.t));
  CHECK(c.handshakes == 1 && c.status == 0 && s.handshakes == 1 && s.status == 0);
  int rc = 0, rs = 0;
  CHECK(xcs_tls_write(c.t, "hello", 5) == 0);
  CHECK(c.plain_sent == 5);
  pump(&c, &s, &rc, &rs);
  CHECK(s.ngot == 5 && memcmp(s.got, "hello", 5) == 0);
  xcs_tls_info in;
  xcs_tls_get_info(c.t, &in);
  CHECK_STR(in.alpn, "x-echo");
  CHECK_STR(in.subject, "CN=localhost,O=xcshost test");
  CHECK(in.verified == 1);
  /* close_notify: an orderly end */
  CHECK(xcs_tls_shutdown(s.t) == 0);
  pump(&c, &s, &rc, &rs);
  CHECK(xcs_tls_peer_closed(c.t));
  CHECK(xcs_tls_eof(c.t) == 0);
  /* the other way, the end without close_notify is a truncation */
  CHECK(xcs_tls_eof(s.t) == XCS_TLS_ETRUNCATED);
  done_pair(&c, &s);
  xcs_tls_ctx_unref(sctx);
  xcs_tls_ctx_unref(cctx);
}

static void test_held_and_sni(void) {
  xcs_tls_ctx *sctx = server_ctx(0, NULL), *cctx = client_ctx(NULL, NULL);
  side c, s;
  memset(&c, 0, sizeof c);
  memset(&s, 0, sizeof s);
  int st;
  c.t = xcs_tls_new(cctx, "a.example", &io, &c, &st);
  s.t = xcs_tls_new(sctx, NULL, &io, &s, &st);
  CHECK(xcs_tls_write(s.t, "early", 5) == 0); /* before the handshake: held */
  CHECK(xcs_tls_held(s.t) == 5);
  int rc = xcs_tls_start(c.t), rs = xcs_tls_start(s.t);
  pump(&c, &s, &rc, &rs);
  CHECK(rc == 0 && rs == 0);
  CHECK(c.ngot == 5 && memcmp(c.got, "early", 5) == 0);
  xcs_tls_info in;
  xcs_tls_get_info(c.t, &in);
  CHECK_STR(in.subject, "CN=a.example,O=xcshost test");
  xcs_tls_get_info(s.t, &in);
  CHECK(in.servername && strcmp(in.servername, "a.example") == 0);
  done_pair(&c, &s);
  xcs_tls_ctx_unref(sctx);
  xcs_tls_ctx_unref(cctx);
}

static void test_refusals(void) {
  xcs_tls_ctx *sctx = server_ctx(0, NULL), *cctx = client_ctx(NULL, NULL);
  side c, s;
  CHECK(connect_pair(&c, &s, cctx, sctx, "wrong.example") == XCS_TLS_EVERIFY);
  CHECK(c.status == XCS_TLS_EVERIFY && c.handshakes == 1);
  CHECK_STR(xcs_tls_message(c.t), "hostname mismatch");
  CHECK_STR(xcs_tls_code(XCS_TLS_EVERIFY), "ETLSVERIFY");
  CHECK(xcs_tls_write(c.t, "x", 1) == XCS_TLS_EVERIFY); /* failed stays failed */
  done_pair(&c, &s);

  /* a peer that speaks no TLS */
  int st;
  memset(&s, 0, sizeof s);
  s.t = xcs_tls_new(sctx, NULL, &io, &s, &st);
  CHECK(xcs_tls_input(s.t, "GET / HTTP/1.1\r\n\r\n", 18) == XCS_TLS_ENOTTLS);
  xcs_tls_free(s.t);

  /* mutual TLS: required, and a client without a certificate */
  xcs_tls_ctx *mctx = server_ctx(1, NULL), *withcert = client_ctx("client", NULL);
  CHECK(connect_pair(&c, &s, withcert, mctx, "localhost") == 0);
  xcs_tls_info in;
  xcs_tls_get_info(s.t, &in);
  CHECK(in.verified == 1);
  CHECK_STR(in.subject, "CN=xcshost test client,O=xcshost test");
  done_pair(&c, &s);
  connect_pair(&c, &s, cctx, mctx, "localhost");
  CHECK(s.status == XCS_TLS_EHANDSHAKE);
  done_pair(&c, &s);

  /* the handshake cap: two at once, the third refused until one ends */
  xcs_tls *a = xcs_tls_new(sctx, NULL, &io, &s, &st), *b = xcs_tls_new(sctx, NULL, &io, &s, &st);
  CHECK(a && b);
  CHECK(xcs_tls_new(sctx, NULL, &io, &s, &st) == NULL && st == XCS_TLS_EBUSY);
  xcs_tls_free(a);
  a = xcs_tls_new(sctx, NULL, &io, &s, &st);
  CHECK(a != NULL);
  xcs_tls_free(a);
  xcs_tls_free(b);
  xcs_tls_ctx_unref(mctx);
  xcs_tls_ctx_unref(withcert);
  xcs_tls_ctx_unref(sctx);
  xcs_tls_ctx_unref(cctx);
}

static void test_bad_contexts(void) {
  xcs_tls_config cfg;
  char err[512];
  xcs_tls_config_default(&cfg, 1);
  CHECK(xcs_tls_ctx_new(&cfg, err, sizeof err) == NULL && strncmp(err, "cert:", 5) == 0);
  cfg.certs[0] = (xcs_tls_cert){NULL, path("server.pem"), path("a.key")};
  cfg.ncerts = 1;
  CHECK(xcs_tls_ctx_new(&cfg, err, sizeof err) == NULL && strncmp(err, "key:", 4) == 0);
  CHECK(strstr(err, "does not match") != NULL);
  cfg.certs[0].key = path("server.key");
  cfg.ciphers = "NOTHING-LIKE-THIS";
  CHECK(xcs_tls_ctx_new(&cfg, err, sizeof err) == NULL && strncmp(err, "ciphers:", 8) == 0);
}

/* Copies the test file from over to (both names in dir). */
static void copy(const char *from, const char *to) {
  char buf[16 * 1024];
  FILE *in = fopen(path(from), "rb"), *out = fopen(path(to), "wb");
  CHECK(in && out);
  if (in && out) {
    size_t n = fread(buf, 1, sizeof buf, in);
    CHECK(fwrite(buf, 1, n, out) == n);
  }
  if (in) fclose(in);
  if (out) fclose(out);
}

/* The certificate a new client of sctx is shown. */
static void check_new_subject(xcs_tls_ctx *sctx, xcs_tls_ctx *cctx, const char *want) {
  side c, s;
  CHECK(connect_pair(&c, &s, cctx, sctx, "localhost") == 0);
  xcs_tls_info in;
  xcs_tls_get_info(c.t, &in);
  CHECK_STR(in.subject, want);
  done_pair(&c, &s);
}

/* A re-read: new connections get the new files, the open one goes on. */
static void test_reread(void) {
  copy("server.pem", "live.pem");
  copy("server.key", "live.key");
  xcs_tls_config cfg;
  xcs_tls_config_default(&cfg, 1);
  cfg.certs[0] = (xcs_tls_cert){NULL, path("live.pem"), path("live.key")};
  cfg.ncerts = 1;
  char err[512];
  xcs_tls_ctx *sctx = xcs_tls_ctx_new(&cfg, err, sizeof err), *cctx = client_ctx(NULL, NULL);
  CHECK(sctx != NULL);
  side c, s;
  CHECK(connect_pair(&c, &s, cctx, sctx, "localhost") == 0);
  copy("renewed.pem", "live.pem");
  copy("renewed.key", "live.key");
  CHECK(xcs_tls_ctx_reread(sctx, err, sizeof err) == 0);
  int rc = 0, rs = 0;
  CHECK(xcs_tls_write(c.t, "after", 5) == 0);
  CHECK(xcs_tls_write(s.t, "back", 4) == 0);
  pump(&c, &s, &rc, &rs);
  CHECK(rc == 0 && rs == 0);
  CHECK(s.ngot == 5 && memcmp(s.got, "after", 5) == 0);
  CHECK(c.ngot == 4 && memcmp(c.got, "back", 4) == 0);
  xcs_tls_info in;
  xcs_tls_get_info(c.t, &in);
  CHECK_STR(in.subject, "CN=localhost,O=xcshost test"); /* the one it started with */
  check_new_subject(sctx, cctx, "CN=renewed.localhost,O=xcshost test");
  /* files that no longer load: the context stays as it was */
  copy("a.key", "live.key");
  CHECK(xcs_tls_ctx_reread(sctx, err, sizeof err) == -1);
  CHECK(strncmp(err, "key:", 4) == 0 && strstr(err, "does not match") != NULL);
  check_new_subject(sctx, cctx, "CN=renewed.localhost,O=xcshost test");
  done_pair(&c, &s);
  xcs_tls_ctx_unref(sctx);
  xcs_tls_ctx_unref(cctx);
  remove(path("live.pem"));
  remove(path("live.key"));
}

int main(int argc, char **argv) {
  /* The test material: made by scripts/tls-certs (which keeps what is there). */
  dir = argc > 1 ? argv[1] : XCS_TLS_TEST_DIR;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s/scripts/tls-certs' '%s'", XCS_SOURCE_DIR, dir);
  if (system(cmd) != 0) {
    fprintf(stderr, "test_tls: %s failed\n", cmd);
    return 2;
  }
  test_exchange();
  test_held_and_sni();
  test_refusals();
  test_bad_contexts();
  test_reread();
  return check_report("test_tls");
}
