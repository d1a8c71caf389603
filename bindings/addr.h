/*
 * addr.h — socket addresses as Lua sees them: one string, "ip:port" for
 * IPv4 and "[ip]:port" for IPv6, both ways.
 */
#ifndef XCS_ADDR_H
#define XCS_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Long enough for "[ffff:...:255.255.255.255%ifname]:65535". */
#define XCS_ADDRSTRLEN 80

/* Parses "1.2.3.4:80" or "[::1]:80". Returns 0 or UV_EINVAL. */
int xcs_addr_parse(const char *s, struct sockaddr_storage *out);
/* Makes a sockaddr from an IP literal (no brackets) and a port. 0 or UV_EINVAL. */
int xcs_addr_from(const char *ip, int port, struct sockaddr_storage *out);
/* Writes "ip:port" or "[ip]:port"; "?" when the family is unknown. */
void xcs_addr_format(const struct sockaddr *sa, char *buf, size_t size);
int xcs_addr_port(const struct sockaddr *sa);
/* Whether sa is 0.0.0.0 or ::. */
int xcs_addr_is_wildcard(const struct sockaddr *sa);

/* Where a module's socket binds: `want` (an IP literal) if it is one of
 * the n addresses it may bind, or the first of them when want is NULL.
 * One of them being 0.0.0.0 (or ::) allows every address of its family
 * (:: both families). 0, or UV_EINVAL (want is no IP address) or UV_EACCES
 * (one it may not bind). */
int xcs_addr_choose(const char *const *binds, int n, const char *want, int port,
                    struct sockaddr_storage *out);
/* Writes "a, b and c" of the n addresses into buf. */
void xcs_addr_list(const char *const *binds, int n, char *buf, size_t size);

/* Address ranges: "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8". */
#define XCS_MAX_CIDRS 32
typedef struct xcs_cidr {
  unsigned char family; /* 4 or 6 */
  unsigned char bits;   /* prefix length */
  unsigned char addr[16];
} xcs_cidr;
/* Parses a comma-separated list of them into out[0, max): how many, or -1
 * if spec is not such a list (or longer than max). */
int xcs_cidr_parse_list(const char *spec, xcs_cidr *out, int max);
/* Whether sa is in one of list[0, n); an IPv4-mapped IPv6 address counts
 * as its IPv4 address. */
int xcs_cidr_match(const xcs_cidr *list, int n, const struct sockaddr *sa);

#endif
