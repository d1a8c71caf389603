/*
 * tls.h — the TLS engine: OpenSSL 3 over memory BIOs, knowing nothing of
 * Lua or libuv (as Node's TLSWrap does). What arrives from the socket goes
 * in with xcs_tls_input; what the peer sent comes out through io->plain;
 * what the module writes goes in with xcs_tls_write; what must go on the
 * wire comes out through io->send. The engine never touches a socket and
 * never waits, so a handshake never blocks the loop.
 *
 * Bounds. Every byte given to xcs_tls_input is decrypted at once and handed
 * on (at most one partial record, 16 KiB and change, stays inside), so the
 * engine reads nothing ahead of the stream's own bounded buffer. OpenSSL's
 * record buffers are released while a connection is idle
 * (SSL_MODE_RELEASE_BUFFERS). Renegotiation is refused; TLS 1.2 is the
 * lowest version unless a context asks for 1.3 only.
 *
 * Errors are negative codes below libuv's range (XCS_TLS_E*), each with a
 * stable short name (xcs_tls_code) and, per connection, OpenSSL's reason
 * (xcs_tls_message: "certificate has expired", "hostname mismatch").
 */
#ifndef XCS_TLS_H
#define XCS_TLS_H

#include <stddef.h>

/* Codes, below libuv's (which end above -5000). */
#define XCS_TLS_EHANDSHAKE (-30001) /* the handshake failed */
#define XCS_TLS_EVERIFY (-30002)    /* the peer's certificate did not verify */
#define XCS_TLS_ENOTTLS (-30003)    /* the peer does not speak TLS */
#define XCS_TLS_ETRUNCATED (-30004) /* the peer closed without close_notify */
#define XCS_TLS_EPROTO (-30005)     /* a bad record after the handshake */
#define XCS_TLS_EBUSY (-30006)      /* too many handshakes in progress */
#define XCS_TLS_ENOMEM (-30007)

/* Whether status is one of the codes above. */
int xcs_tls_is_error(int status);
/* Its stable name: "ETLSHANDSHAKE", "ETLSVERIFY", ... */
const char *xcs_tls_code(int status);

/* A context's settings. Paths are absolute and already allowed by the
 * caller; strings are only borrowed for the xcs_tls_ctx_new call. */
#define XCS_TLS_MAX_NAMES 32
#define XCS_TLS_MAX_HANDSHAKES 1024 /* default: per server context */
#define XCS_TLS_MAX_ALPN 8
typedef struct xcs_tls_cert {
  const char *name; /* SNI name it serves ("a.example", "*.example"); NULL: default */
  const char *cert, *key;
} xcs_tls_cert;

typedef struct xcs_tls_config {
  int server;
  xcs_tls_cert certs[XCS_TLS_MAX_NAMES + 1]; /* [0] the default; server needs one */
  int ncerts;
  const char *ca;      /* a PEM file of CAs to trust; NULL: the system's store */
  int verify;          /* client: check the server (1, default) or not (0);
                          server: 0 none, 1 required, 2 optional */
  const char *alpn[XCS_TLS_MAX_ALPN];
  int nalpn;
  int min_version;     /* TLS1_2_VERSION (default) or TLS1_3_VERSION */
  const char *ciphers;      /* TLS 1.2 cipher list; NULL: OpenSSL's default */
  const char *ciphersuites; /* TLS 1.3 suites; NULL: OpenSSL's default */
  int tickets;         /* server: session tickets (default 1) */
  int max_handshakes;  /* server: handshakes in progress at once */
} xcs_tls_config;

typedef struct xcs_tls_ctx xcs_tls_ctx;

void xcs_tls_config_default(xcs_tls_config *cfg, int server);
/* A context for cfg, holding one reference; NULL with a message naming the
 * option that was wrong ("key: does not match its certificate") in err. */
xcs_tls_ctx *xcs_tls_ctx_new(const xcs_tls_config *cfg, char *err, size_t errlen);
/* Reads ctx's certificate, key and CA files again (a rotation): the
 * connections made from now on use what they hold now; every connection
 * open keeps the certificates, session and ticket keys it started with
 * (tickets issued before still resume after). 0, or -1 with a message as
 * xcs_tls_ctx_new gives, and ctx unchanged. */
int xcs_tls_ctx_reread(xcs_tls_ctx *ctx, char *err, size_t errlen);
void xcs_tls_ctx_ref(xcs_tls_ctx *ctx);
void xcs_tls_ctx_unref(xcs_tls_ctx *ctx);
int xcs_tls_ctx_is_server(const xcs_tls_ctx *ctx);
/* A server context's handshake slots: 0, or XCS_TLS_EBUSY when
 * max_handshakes are in progress. Each new connection takes one until its
 * handshake ends. */
int xcs_tls_ctx_busy(const xcs_tls_ctx *ctx);

/* What a connection calls back. ud is the caller's. */
typedef struct xcs_tls_io {
  /* Bytes for the wire; `plain` of them are the module's data (the rest
   * is handshake and alerts). 0, or an error that fails the connection. */
  int (*send)(void *ud, const char *data, size_t n, size_t plain);
  /* Data the peer sent, decrypted. */
  void (*plain)(void *ud, const char *data, size_t n);
  /* The handshake is done (status 0) or failed (a code). */
  void (*handshake)(void *ud, int status);
} xcs_tls_io;

typedef struct xcs_tls xcs_tls;

/* A connection of ctx (which it references); a client sends servername
 * as SNI and, when verifying, checks the certificate against it (NULL:
 * none; an IP address is checked, never sent). NULL on out of memory or
 * EBUSY, with *status saying which. */
xcs_tls *xcs_tls_new(xcs_tls_ctx *ctx, const char *servername, const xcs_tls_io *io, void *ud,
                     int *status);
/* Starts the handshake (a client sends its hello). 0 or a code. */
int xcs_tls_start(xcs_tls *t);
/* Bytes from the wire. 0, or a code once the connection failed. */
int xcs_tls_input(xcs_tls *t, const char *data, size_t n);
/* The peer's FIN arrived: 0 if it had sent close_notify first, else
 * XCS_TLS_ETRUNCATED (or EHANDSHAKE mid-handshake). */
int xcs_tls_eof(xcs_tls *t);
/* The module's data: encrypted and sent now, or held until the handshake
 * is done. 0 or a code. */
int xcs_tls_write(xcs_tls *t, const char *data, size_t n);
/* Bytes held by xcs_tls_write until the handshake is done. */
size_t xcs_tls_held(const xcs_tls *t);
/* The memory t holds: OpenSSL's for it (its SSL, record buffers, memory
 * BIOs, handshake state: see tls_mem.h; 0 if not counted) and what it
 * holds until its handshake is done. */
size_t xcs_tls_memory(const xcs_tls *t);
/* Sends close_notify (once). */
int xcs_tls_shutdown(xcs_tls *t);
int xcs_tls_done(const xcs_tls *t);       /* the handshake completed */
int xcs_tls_peer_closed(const xcs_tls *t); /* close_notify arrived */
/* The reason of the connection's failure, for messages: a static string
 * (OpenSSL's reason tables), valid after xcs_tls_free. */
const char *xcs_tls_message(const xcs_tls *t);
/* Fails the connection with code and why (a static string), calling
 * nothing back (a deadline, a socket error). Does nothing if it failed
 * already. */
void xcs_tls_abort(xcs_tls *t, int code, const char *why);
/* Ends the connection: its handshake slot, the SSL, the context reference. */
void xcs_tls_free(xcs_tls *t);

/* What tlsinfo() shows. Strings live as long as t; absent ones are NULL. */
typedef struct xcs_tls_info {
  const char *version, *cipher, *servername;
  char alpn[256];
  int verified;        /* a peer certificate was presented and verified */
  int resumed;
  char subject[256], issuer[256];
} xcs_tls_info;
void xcs_tls_get_info(const xcs_tls *t, xcs_tls_info *info);

#endif
