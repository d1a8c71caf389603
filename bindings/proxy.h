/*
 * proxy.h — the PROXY protocol header (HAProxy's specification, versions 1
 * and 2) that a load balancer puts before a connection's first byte to say
 * whose connection it is. Pure: bytes in, addresses out; no Lua, no libuv,
 * so it is tested and fuzzed on its own (tests/test_proxy.c,
 * fuzz/fuzz_proxy.c).
 *
 *   v1: "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n" (TCP6 likewise, or
 *       "PROXY UNKNOWN ...\r\n"), at most 107 bytes with its CRLF.
 *   v2: a 12-byte signature, version and command, family and transport,
 *       a 16-bit length, then the addresses (and TLVs, skipped).
 *
 * A LOCAL (v2) or UNKNOWN (v1) header — a balancer's own health check, or
 * a connection it cannot describe — says nothing about a client: the
 * connection keeps its own addresses.
 */
#ifndef XCS_PROXY_H
#define XCS_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

/* The most bytes a header may take: v1's 107, and v2 with TLVs up to this. */
#define XCS_PROXY_MAX 4096
#define XCS_PROXY_V1_MAX 107

typedef struct xcs_proxy_header {
  int version;                 /* 1 or 2 */
  int local;                   /* LOCAL or UNKNOWN: no client address given */
  struct sockaddr_storage src; /* the client, unless local */
  struct sockaddr_storage dst; /* the address it connected to, unless local */
} xcs_proxy_header;

/* Parses the header at the start of buf[0, len). Returns its length (> 0)
 * with *out filled; 0 when every byte so far belongs to a header that needs
 * more (so a caller may consume them all); -1 when buf does not begin with
 * a valid header, with *why saying what is wrong (a static string). */
int xcs_proxy_parse(const unsigned char *buf, size_t len, xcs_proxy_header *out,
                    const char **why);

#endif
