/*
 * fuzz_addr.c — addresses, both ways (bindings/addr.c).
 *
 * Addresses come from outside: a module's `to` argument ("ip:port" or
 * "[ip]:port"), --bind, and the peers the kernel reports for every UDP
 * datagram and accepted connection. Each input is used twice:
 *
 *   1. as a string: xcs_addr_parse must not crash on anything, and what it
 *      accepts must survive a round trip: format it, parse that again, and
 *      get the same family, address and port, with the same text the second
 *      time round. xcs_addr_from is given the same string as a bare IP.
 *   2. as raw bytes of a sockaddr (family forced to IPv4, IPv6 or junk): the
 *      formatter must never write past the buffer it is given, however
 *      small, and whatever it prints for IPv4/IPv6 must parse back to the
 *      same address and port (so `from` can always be used as `to`).
 *
 * A broken property aborts with a message: libFuzzer reports it as a crash.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bindings/addr.h"

#define FAIL(...)                              \
  do {                                         \
    fprintf(stderr, "fuzz_addr: " __VA_ARGS__); \
    fputc('\n', stderr);                       \
    abort();                                   \
  } while (0)

/* Same family, address bytes and port. The IPv6 zone ("%lo") and flow
 * label are not part of the text form, so they are not compared. */
static int same(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return 0;
}

/* Formats sa into buffers of every size from 1 up, each exactly that big
 * on the heap, and checks each is a terminated prefix of the full text. */
static void format_every_size(const struct sockaddr *sa, const char *full) {
  size_t n = strlen(full);
  for (size_t size = 1; size <= n + 1; size++) {
    char *buf = malloc(size);
    if (buf == NULL) abort();
    xcs_addr_format(sa, buf, size);
    if (strlen(buf) != size - 1 || memcmp(buf, full, size - 1) != 0)
      FAIL("format into %zu bytes gave \"%s\", not a prefix of \"%s\"", size, buf, full);
    free(buf);
  }
}

/* Whatever format printed for an IPv4/IPv6 address parses back to it. */
static void check_printed(const struct sockaddr_storage *sa, const char *text) {
  struct sockaddr_storage back;
  if (xcs_addr_parse(text, &back) != 0) FAIL("\"%s\" (as formatted) does not parse", text);
  if (!same(sa, &back)) FAIL("\"%s\" parses to a different address", text);
  if (xcs_addr_port((struct sockaddr *)&back) != xcs_addr_port((const struct sockaddr *)sa))
    FAIL("\"%s\": port changed", text);
  char again[XCS_ADDRSTRLEN];
  xcs_addr_format((struct sockaddr *)&back, again, sizeof again);
  if (strcmp(again, text) != 0) FAIL("\"%s\" formats back as \"%s\"", text, again);
}

static void as_string(const uint8_t *data, size_t size) {
  /* Exactly sized, so a read past the terminator is caught. */
  char *s = malloc(size + 1);
  if (s == NULL) abort();
  memcpy(s, data, size);
  s[size] = '\0';

  struct sockaddr_storage sa;
  memset(&sa, 0xa5, sizeof sa); /* parse must not depend on what was there */
  int r = xcs_addr_parse(s, &sa);
  if (r != 0 && r != UV_EINVAL) FAIL("parse returned %d", r);
  if (r == 0) {
    if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)
      FAIL("parse accepted \"%s\" with family %d", s, sa.ss_family);
    /* The port is the decimal number after the last colon. */
    const char *colon = strrchr(s, ':');
    if (colon == NULL || xcs_addr_port((struct sockaddr *)&sa) != atoi(colon + 1))
      FAIL("\"%s\": port %d", s, xcs_addr_port((struct sockaddr *)&sa));
    char text[XCS_ADDRSTRLEN];
    xcs_addr_format((struct sockaddr *)&sa, text, sizeof text);
    check_printed(&sa, text);
    format_every_size((struct sockaddr *)&sa, text);
  }

  /* The same string as a bare IP (xcs_addr_from, used for --bind). */
  static const int ports[] = {-1, 0, 80, 65535, 65536};
  for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
    struct sockaddr_storage ip;
    r = xcs_addr_from(s, ports[i], &ip);
    if (r != 0 && r != UV_EINVAL) FAIL("from returned %d", r);
    if (r == 0) {
      if (ports[i] < 0 || ports[i] > 65535) FAIL("from accepted port %d", ports[i]);
      if (xcs_addr_port((struct sockaddr *)&ip) != ports[i]) FAIL("from: port changed");
      char text[XCS_ADDRSTRLEN];
      xcs_addr_format((struct sockaddr *)&ip, text, sizeof text);
      check_printed(&ip, text);
    }
  }
  free(s);
}

static void as_sockaddr(const uint8_t *data, size_t size) {
  if (size < 1) return;
  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof sa);
  size_t n = size - 1 < sizeof sa ? size - 1 : sizeof sa;
  memcpy(&sa, data + 1, n);
  static const sa_family_t families[] = {AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC};
  sa.ss_family = families[data[0] % 4];

  char text[XCS_ADDRSTRLEN];
  xcs_addr_format((struct sockaddr *)&sa, text, sizeof text);
  if (sa.ss_family == AF_INET || sa.ss_family == AF_INET6)
    check_printed(&sa, text);
  else if (strcmp(text, "?") != 0)
    FAIL("family %d formatted as \"%s\"", sa.ss_family, text);
  format_every_size((struct sockaddr *)&sa, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  as_string(data, size);
  as_sockaddr(data, size);
  return 0;
}
