/*
 * addr.c — parsing and printing socket addresses.
 */
#include "bindings/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int parse_port(const char *s, int *port) {
  if (*s == '\0' || strlen(s) > 5) return UV_EINVAL;
  int v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return UV_EINVAL;
    v = v * 10 + (*s - '0');
  }
  if (v > 65535) return UV_EINVAL;
  *port = v;
  return 0;
}

int xcs_addr_from(const char *ip, int port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (port < 0 || port > 65535) return UV_EINVAL;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)out) == 0) return 0;
  if (strchr(ip, ':') && uv_ip6_addr(ip, port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  return UV_EINVAL;
}

/* The common case of every datagram's `to`, "a.b.c.d:port" in canonical
 * form (no leading zeros, as inet_pton wants), parsed without copies or
 * library calls. Anything else returns UV_EINVAL and goes the general way,
 * which accepts all this does, to the same address. */
static int parse_ipv4_fast(const char *s, struct sockaddr_storage *out) {
  uint32_t ip = 0;
  for (int i = 0; i < 4; i++) {
    if (*s < '0' || *s > '9') return UV_EINVAL;
    unsigned v = (unsigned)(*s++ - '0');
    if (v != 0)
      for (int d = 0; d < 2 && *s >= '0' && *s <= '9'; d++) v = v * 10 + (unsigned)(*s++ - '0');
    if (v > 255 || *s++ != (i < 3 ? '.' : ':')) return UV_EINVAL;
    ip = ip << 8 | v;
  }
  int port;
  if (parse_port(s, &port) != 0) return UV_EINVAL;
  struct sockaddr_in *in = (struct sockaddr_in *)out;
  memset(out, 0, sizeof *out);
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  in->sin_addr.s_addr = htonl(ip);
  return 0;
}

int xcs_addr_parse(const char *s, struct sockaddr_storage *out) {
  if (parse_ipv4_fast(s, out) == 0) return 0;
  char ip[XCS_ADDRSTRLEN];
  const char *colon;
  size_t iplen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':') return UV_EINVAL;
    iplen = (size_t)(close - s - 1);
    s++;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL || memchr(s, ':', (size_t)(colon - s))) return UV_EINVAL;
    iplen = (size_t)(colon - s);
  }
  if (iplen == 0 || iplen >= sizeof ip) return UV_EINVAL;
  memcpy(ip, s, iplen);
  ip[iplen] = '\0';
  int port;
  if (parse_port(colon + 1, &port) != 0) return UV_EINVAL;
  return xcs_addr_from(ip, port, out);
}

int xcs_addr_port(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  if (sa->sa_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  return -1;
}

/* Writes v in decimal at p; returns the end. */
static char *put_decimal(char *p, unsigned v) {
  char digits[5];
  int n = 0;
  do digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n > 0) *p++ = digits[--n];
  return p;
}

void xcs_addr_format(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN + 1];
  if (sa->sa_family == AF_INET) {
    /* A UDP server formats each new sender: by hand, not by snprintf. */
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    uint32_t a = ntohl(in->sin_addr.s_addr);
    char text[sizeof "255.255.255.255:65535"], *p = text;
    for (int shift = 24; shift >= 0; shift -= 8) {
      p = put_decimal(p, (a >> shift) & 0xff);
      *p++ = shift ? '.' : ':';
    }
    p = put_decimal(p, ntohs(in->sin_port));
    size_t n = (size_t)(p - text);
    if (size == 0) return;
    if (n >= size) n = size - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
  } else if (sa->sa_family == AF_INET6 &&
             uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip) == 0) {
    snprintf(buf, size, "[%s]:%d", ip, xcs_addr_port(sa));
  } else {
    snprintf(buf, size, "?");
  }
}

int xcs_addr_is_wildcard(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (sa->sa_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
  return 0;
}

/* Whether a and b are the same IP address (ports aside). */
static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

int xcs_addr_choose(const char *const *binds, int n, const char *want, int port,
                    struct sockaddr_storage *out) {
  if (want == NULL) return n > 0 ? xcs_addr_from(binds[0], port, out) : UV_EACCES;
  if (xcs_addr_from(want, port, out) != 0) return UV_EINVAL;
  for (int i = 0; i < n; i++) {
    struct sockaddr_storage b;
    if (xcs_addr_from(binds[i], port, &b) != 0) continue;
    if (same_ip(&b, out)) return 0;
    if (xcs_addr_is_wildcard((struct sockaddr *)&b) &&
        (b.ss_family == out->ss_family || b.ss_family == AF_INET6))
      return 0;
  }
  return UV_EACCES;
}

void xcs_addr_list(const char *const *binds, int n, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && len < size; i++)
    len += (size_t)snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " and ",
                            binds[i]);
}

/* Address ranges ------------------------------------------------------------- */

static int cidr_parse(const char *s, size_t n, xcs_cidr *out) {
  char text[INET6_ADDRSTRLEN + 5];
  if (n == 0 || n >= sizeof text) return -1;
  memcpy(text, s, n);
  text[n] = '\0';
  char *slash = strchr(text, '/');
  int bits = -1;
  if (slash) {
    *slash = '\0';
    const char *b = slash + 1;
    if (*b == '\0' || strlen(b) > 3 || (b[0] == '0' && b[1])) return -1;
    bits = 0;
    for (; *b; b++) {
      if (*b < '0' || *b > '9') return -1;
      bits = bits * 10 + (*b - '0');
    }
  }
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, text, out->addr) == 1) {
    out->family = 4;
    if (bits > 32) return -1;
    out->bits = (unsigned char)(bits < 0 ? 32 : bits);
  } else if (inet_pton(AF_INET6, text, out->addr) == 1) {
    out->family = 6;
    if (bits > 128) return -1;
    out->bits = (unsigned char)(bits < 0 ? 128 : bits);
  } else {
    return -1;
  }
  return 0;
}

int xcs_cidr_parse_list(const char *spec, xcs_cidr *out, int max) {
  int n = 0;
  const char *p = spec;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (n == max || cidr_parse(p, len, &out[n]) != 0) return -1;
    n++;
    if (comma == NULL) return n;
    p = comma + 1;
  }
}

static int in_range(const xcs_cidr *c, const unsigned char *addr) {
  int whole = c->bits / 8, rest = c->bits % 8;
  if (memcmp(c->addr, addr, (size_t)whole) != 0) return 0;
  if (rest == 0) return 1;
  unsigned char mask = (unsigned char)(0xFF << (8 - rest));
  return (c->addr[whole] & mask) == (addr[whole] & mask);
}

int xcs_cidr_match(const xcs_cidr *list, int n, const struct sockaddr *sa) {
  const unsigned char *a;
  int family;
  if (sa->sa_family == AF_INET) {
    a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    family = 4;
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    family = IN6_IS_ADDR_V4MAPPED(a6) ? 4 : 6;
    a = family == 4 ? a6->s6_addr + 12 : a6->s6_addr;
  } else {
    return 0;
  }
  for (int i = 0; i < n; i++)
    if (list[i].family == family && in_range(&list[i], a)) return 1;
  return 0;
}
