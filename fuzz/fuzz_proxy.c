/*
 * fuzz_proxy.c — the PROXY protocol header parser (bindings/proxy.c) and
 * the address ranges of --proxy-protocol-from (bindings/addr.c).
 *
 * Headers come from outside, from whatever connects from a trusted source,
 * and what the parser accepts becomes a client's address. Each input is:
 *
 *   1. a header, parsed whole from an exactly sized heap copy (a read past
 *      the input is caught): the result is -1 with a reason, 0, or a length
 *      within the input and within the limits (107 bytes for v1, 4096 for
 *      v2). An accepted header gives IPv4 or IPv6 addresses, unless LOCAL;
 *      every shorter prefix of it asks for more (0); and the same bytes fed
 *      as the proxied stage does — its "0" taken as "all of these are the
 *      header's", more appended — reach the same answer.
 *   2. a list of ranges, as a string: parsing never crashes, and a range
 *      it accepts matches its own address.
 *
 * A broken property aborts with a message: libFuzzer reports it as a crash.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/proxy.h"

#define FAIL(...)                                \
  do {                                           \
    fprintf(stderr, "fuzz_proxy: " __VA_ARGS__); \
    fputc('\n', stderr);                         \
    abort();                                     \
  } while (0)

static int parse_copy(const uint8_t *data, size_t n, xcs_proxy_header *h, const char **why) {
  uint8_t *copy = malloc(n ? n : 1);
  if (copy == NULL) abort();
  memcpy(copy, data, n);
  int r = xcs_proxy_parse(copy, n, h, why);
  free(copy);
  return r;
}

static void as_header(const uint8_t *data, size_t size) {
  xcs_proxy_header h;
  const char *why = NULL;
  memset(&h, 0xa5, sizeof h);
  int r = parse_copy(data, size, &h, &why);
  if (r < -1) FAIL("returned %d", r);
  if (r == -1 && (why == NULL || why[0] == '\0')) FAIL("refused without a reason");
  if (r >= 0 && why != NULL) FAIL("gave a reason (%s) with %d", why, r);
  if (r > 0) {
    if ((size_t)r > size) FAIL("length %d past the input (%zu)", r, size);
    if (h.version != 1 && h.version != 2) FAIL("version %d", h.version);
    if (h.version == 1 && r > XCS_PROXY_V1_MAX) FAIL("v1 of %d bytes", r);
    if (r > XCS_PROXY_MAX) FAIL("header of %d bytes", r);
    if (!h.local && ((h.src.ss_family != AF_INET && h.src.ss_family != AF_INET6) ||
                     h.src.ss_family != h.dst.ss_family))
      FAIL("families %d and %d", h.src.ss_family, h.dst.ss_family);
    if (!h.local) { /* the address prints, as the log and peer() show it */
      char text[XCS_ADDRSTRLEN];
      xcs_addr_format((struct sockaddr *)&h.src, text, sizeof text);
      if (strcmp(text, "?") == 0) FAIL("source does not print");
    }
    for (size_t n = 0; n < (size_t)r && n < 200; n++) {
      xcs_proxy_header tmp;
      const char *w;
      if (parse_copy(data, n, &tmp, &w) != 0) FAIL("a prefix of %zu bytes is not incomplete", n);
    }
  }
  /* As the proxied stage feeds it: in pieces of 1 to 7 bytes. */
  size_t have = 0, step = size ? (size_t)(data[0] % 7) + 1 : 1;
  int fed = 0;
  while (have <= size) {
    size_t n = have + step <= size ? have + step : size;
    xcs_proxy_header tmp;
    const char *w;
    fed = parse_copy(data, n, &tmp, &w);
    if (fed != 0 || n == size) break;
    have = n;
  }
  if ((fed > 0) != (r > 0) || (fed > 0 && fed != r))
    FAIL("fed in pieces: %d, whole: %d", fed, r);
}

static void as_ranges(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (s == NULL) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  xcs_cidr list[XCS_MAX_CIDRS];
  int n = xcs_cidr_parse_list(s, list, XCS_MAX_CIDRS);
  if (n < -1 || n == 0 || n > XCS_MAX_CIDRS) FAIL("ranges: %d", n);
  for (int i = 0; i < n; i++) {
    if (list[i].family != 4 && list[i].family != 6) FAIL("range family %d", list[i].family);
    if (list[i].bits > (list[i].family == 4 ? 32 : 128)) FAIL("prefix %d", list[i].bits);
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    if (list[i].family == 4) {
      struct sockaddr_in *a = (struct sockaddr_in *)&sa;
      a->sin_family = AF_INET;
      memcpy(&a->sin_addr, list[i].addr, 4);
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
      a->sin6_family = AF_INET6;
      memcpy(&a->sin6_addr, list[i].addr, 16);
      if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) continue; /* matched as IPv4 */
    }
    if (!xcs_cidr_match(&list[i], 1, (struct sockaddr *)&sa)) FAIL("range %d misses itself", i);
  }
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  as_header(data, size);
  as_ranges(data, size);
  return 0;
}
