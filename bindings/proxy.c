/*
 * proxy.c — the PROXY protocol header parser (proxy.h). Strict where the
 * specification is (one space between fields, CRLF, the signature, the
 * version), since whatever it accepts becomes a trusted client address.
 */
#include "bindings/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

static int fail(const char **why, const char *what) {
  *why = what;
  return -1;
}

/* Whether the first n bytes of buf match the first n of sig. */
static int prefix_of(const unsigned char *buf, size_t n, const void *sig) {
  return memcmp(buf, sig, n) == 0;
}

/* Version 1 --------------------------------------------------------------------- */

/* The next field of line[*pos, end) up to a single space (or the end when
 * last); its bounds in *start, *len. 0, or -1 for an empty field. */
static int field(const char *line, size_t end, size_t *pos, int last, size_t *start,
                 size_t *len) {
  size_t i = *pos;
  while (i < end && line[i] != ' ') i++;
  if (i == *pos || (!last && i == end) || (last && i != end)) return -1;
  *start = *pos;
  *len = i - *pos;
  *pos = i + 1;
  return 0;
}

static int v1_address(const char *s, size_t n, int family, struct sockaddr_storage *out) {
  char text[INET6_ADDRSTRLEN];
  if (n == 0 || n >= sizeof text) return -1;
  memcpy(text, s, n);
  text[n] = '\0';
  memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    return inet_pton(AF_INET, text, &a->sin_addr) == 1 ? 0 : -1;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
  a->sin6_family = AF_INET6;
  return inet_pton(AF_INET6, text, &a->sin6_addr) == 1 ? 0 : -1;
}

/* A port: 1 to 5 digits, 0 to 65535, no leading zero but for "0". */
static int v1_port(const char *s, size_t n, struct sockaddr_storage *sa) {
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return -1;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535) return -1;
  if (sa->ss_family == AF_INET)
    ((struct sockaddr_in *)sa)->sin_port = htons((unsigned short)v);
  else
    ((struct sockaddr_in6 *)sa)->sin6_port = htons((unsigned short)v);
  return 0;
}

static int parse_v1(const unsigned char *buf, size_t len, xcs_proxy_header *out,
                    const char **why) {
  size_t max = len < XCS_PROXY_V1_MAX ? len : XCS_PROXY_V1_MAX;
  size_t eol = 0;
  while (eol + 1 < max && !(buf[eol] == '\r' && buf[eol + 1] == '\n')) eol++;
  /* A NUL or a bare LF is in no header, whole or not yet: said at once. */
  size_t seen = eol + 1 < max ? eol : max;
  for (size_t i = 0; i < seen; i++)
    if (buf[i] == '\0' || buf[i] == '\n')
      return fail(why, "a v1 header with a stray control character");
  if (eol + 1 >= max) {
    if (len >= XCS_PROXY_V1_MAX) return fail(why, "a v1 header without its CRLF in 107 bytes");
    return 0;
  }
  const char *line = (const char *)buf;
  size_t pos = sizeof v1_sig - 1, s, n;
  if (field(line, eol, &pos, 0, &s, &n) != 0) {
    /* "PROXY UNKNOWN\r\n": nothing after it */
    if (eol - pos == 7 && memcmp(line + pos, "UNKNOWN", 7) == 0) goto unknown;
    return fail(why, "a v1 header without its protocol");
  }
  int family;
  if (n == 4 && memcmp(line + s, "TCP4", 4) == 0) {
    family = AF_INET;
  } else if (n == 4 && memcmp(line + s, "TCP6", 4) == 0) {
    family = AF_INET6;
  } else if (n == 7 && memcmp(line + s, "UNKNOWN", 7) == 0) {
    goto unknown; /* what follows is to be ignored */
  } else {
    return fail(why, "a v1 header with a protocol other than TCP4, TCP6 or UNKNOWN");
  }
  for (size_t i = pos; i < eol; i++)
    if (line[i] < 0x21 && line[i] != ' ') return fail(why, "a v1 header with a control character");
  if (field(line, eol, &pos, 0, &s, &n) != 0 || v1_address(line + s, n, family, &out->src) != 0)
    return fail(why, "a v1 header with a bad source address");
  if (field(line, eol, &pos, 0, &s, &n) != 0 || v1_address(line + s, n, family, &out->dst) != 0)
    return fail(why, "a v1 header with a bad destination address");
  if (field(line, eol, &pos, 0, &s, &n) != 0 || v1_port(line + s, n, &out->src) != 0)
    return fail(why, "a v1 header with a bad source port");
  if (field(line, eol, &pos, 1, &s, &n) != 0 || v1_port(line + s, n, &out->dst) != 0)
    return fail(why, "a v1 header with a bad destination port");
  out->version = 1;
  out->local = 0;
  return (int)eol + 2;
unknown:
  out->version = 1;
  out->local = 1;
  return (int)eol + 2;
}

/* Version 2 --------------------------------------------------------------------- */

static int parse_v2(const unsigned char *buf, size_t len, xcs_proxy_header *out,
                    const char **why) {
  if (len < 16) {
    if (len > 12 && (buf[12] >> 4) != 2) return fail(why, "a v2 header of another version");
    return 0;
  }
  if ((buf[12] >> 4) != 2) return fail(why, "a v2 header of another version");
  int command = buf[12] & 0x0F;
  if (command > 1) return fail(why, "a v2 header with a command other than LOCAL or PROXY");
  size_t body = (size_t)buf[14] << 8 | buf[15];
  if (16 + body > XCS_PROXY_MAX) return fail(why, "a v2 header longer than 4096 bytes");
  if (len < 16 + body) return 0;
  int family = buf[13] >> 4, transport = buf[13] & 0x0F;
  out->version = 2;
  out->local = 1;
  if (command == 0) return (int)(16 + body); /* LOCAL: the balancer's own, a health check */
  if (family > 3 || transport > 2) return fail(why, "a v2 header with an unknown family");
  if (family == 0 || family == 3) return (int)(16 + body); /* UNSPEC, UNIX: nothing to use */
  if (transport != 1) return fail(why, "a v2 header for a datagram, not a stream");
  const unsigned char *a = buf + 16;
  memset(&out->src, 0, sizeof out->src);
  memset(&out->dst, 0, sizeof out->dst);
  if (family == 1) {
    if (body < 12) return fail(why, "a v2 header too short for its IPv4 addresses");
    struct sockaddr_in *s = (struct sockaddr_in *)&out->src, *d = (struct sockaddr_in *)&out->dst;
    s->sin_family = d->sin_family = AF_INET;
    memcpy(&s->sin_addr, a, 4);
    memcpy(&d->sin_addr, a + 4, 4);
    memcpy(&s->sin_port, a + 8, 2);
    memcpy(&d->sin_port, a + 10, 2);
  } else {
    if (body < 36) return fail(why, "a v2 header too short for its IPv6 addresses");
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src,
                        *d = (struct sockaddr_in6 *)&out->dst;
    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a, 16);
    memcpy(&d->sin6_addr, a + 16, 16);
    memcpy(&s->sin6_port, a + 32, 2);
    memcpy(&d->sin6_port, a + 34, 2);
  }
  out->local = 0;
  return (int)(16 + body); /* TLVs, if any, are skipped */
}

int xcs_proxy_parse(const unsigned char *buf, size_t len, xcs_proxy_header *out,
                    const char **why) {
  *why = NULL;
  if (len == 0) return 0;
  if (buf[0] == 'P') {
    size_t n = len < sizeof v1_sig - 1 ? len : sizeof v1_sig - 1;
    if (!prefix_of(buf, n, v1_sig)) return fail(why, "not a PROXY protocol header");
    return n < sizeof v1_sig - 1 ? 0 : parse_v1(buf, len, out, why);
  }
  size_t n = len < sizeof v2_sig ? len : sizeof v2_sig;
  if (!prefix_of(buf, n, v2_sig)) return fail(why, "not a PROXY protocol header");
  return parse_v2(buf, len, out, why);
}
