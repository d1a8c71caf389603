/*
 * tls_stream.h — TLS as a transport under the stream (stream.h): a
 * connection with TLS attached keeps every guarantee of the TCP path
 * (framing, partials, timeouts, backpressure, bounded buffers, orderly
 * close, --delay, the defence); the stream's buffers just hold plaintext.
 *
 * Handshakes. A client's connect returns once its handshake is done (the
 * connect timeout bounds both). A server's connection is handed out
 * (accept(), or a port-keyed read) at once; what it reads comes after the
 * handshake, and what is written before it is sent after it. Each handshake
 * has a deadline (handshake_timeout, XCS_TLS_HANDSHAKE_TIMEOUT by default);
 * a port-keyed client that fails or misses it is closed and logged by the
 * listener's gate, never shown to the module. A server context holds at
 * most max_handshakes handshakes at once; clients past that are refused.
 *
 * Closing sends close_notify before FIN (shutdown() and close()). A peer
 * that closes without close_notify ends the stream with ETLSTRUNCATED, not
 * with an orderly "closed", so a cut-short "*a" read is never mistaken
 * for the whole.
 */
#ifndef XCS_TLS_STREAM_H
#define XCS_TLS_STREAM_H

#include "bindings/stream.h"
#include "bindings/tls.h"

#define XCS_TLS_HANDSHAKE_TIMEOUT 10.0

/* Puts TLS of ctx under c, before or after c connected; servername as for
 * xcs_tls_new. The handshake starts as c connects (or now, if it has).
 * 0, or XCS_TLS_EBUSY / XCS_TLS_ENOMEM (then c is as it was). */
int xcs_tls_attach(xcs_conn *c, xcs_tls_ctx *ctx, const char *servername, double timeout);

/* conn:starttls and conn:tlsinfo join the xcs.tcp methods table on top of
 * L (as the class is made: the stream's methods hook, set by tcp.c). */
void xcs_tls_stream_methods(lua_State *L);

#endif
