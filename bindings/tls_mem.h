/*
 * tls_mem.h — OpenSSL's memory, counted. Every allocation OpenSSL makes
 * goes through these functions (CRYPTO_set_mem_functions), which add up
 * the allocator's sizes of its blocks, so the host knows how much OpenSSL holds in all; the
 * engine (tls.c) measures the change around each call it makes into
 * OpenSSL for a connection, which is that connection's share (its SSL,
 * record buffers, memory BIOs, handshake state). socket.list() and ctl
 * status show both.
 *
 * The functions can only be set before OpenSSL's first allocation in the
 * process: xcs_openssl_load (openssl.h) calls xcs_tls_mem_init as soon as
 * libcrypto is loaded, before anything else of OpenSSL runs. If something
 * else in the process allocated first (a program that links OpenSSL
 * itself), nothing is counted (and xcs_tls_mem_counting says so).
 */
#ifndef XCS_TLS_MEM_H
#define XCS_TLS_MEM_H

#include <stddef.h>

/* Sets the counting functions, once; later calls do nothing. Only
 * xcs_openssl_load calls it. */
void xcs_tls_mem_init(void);
/* Whether OpenSSL's allocations are being counted. */
int xcs_tls_mem_counting(void);
/* Bytes OpenSSL holds now, in all (0 when not counting). */
size_t xcs_tls_mem_total(void);

#endif
