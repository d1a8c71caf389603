/* test_proxy.c — the PROXY protocol header parser (bindings/proxy.c), v1
 * and v2, whole and a byte at a time, and address ranges (addr.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "bindings/addr.h"
#include "bindings/proxy.h"
#include "tests/check.h"

static const unsigned char SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Parses buf whole, and checks every shorter prefix asks for more. */
static int parse_all(const unsigned char *buf, size_t len, xcs_proxy_header *h,
                     const char **why) {
  int r = xcs_proxy_parse(buf, len, h, why);
  for (size_t n = 0; r > 0 && n < (size_t)r; n++) {
    xcs_proxy_header tmp;
    const char *w;
    CHECK(xcs_proxy_parse(buf, n, &tmp, &w) == 0);
  }
  return r;
}

static void src_is(const xcs_proxy_header *h, const char *want) {
  char got[XCS_ADDRSTRLEN];
  xcs_addr_format((const struct sockaddr *)&h->src, got, sizeof got);
  CHECK_STR(got, want);
}

static void dst_is(const xcs_proxy_header *h, const char *want) {
  char got[XCS_ADDRSTRLEN];
  xcs_addr_format((const struct sockaddr *)&h->dst, got, sizeof got);
  CHECK_STR(got, want);
}

static void v1_ok(const char *line, const char *src, const char *dst) {
  xcs_proxy_header h;
  const char *why;
  char buf[256];
  snprintf(buf, sizeof buf, "%sDATA", line); /* what follows is not the header's */
  int r = parse_all((const unsigned char *)buf, strlen(buf), &h, &why);
  CHECK(r == (int)strlen(line));
  if (r <= 0) {
    fprintf(stderr, "  for %s: %s\n", line, why ? why : "needs more");
    return;
  }
  CHECK(h.version == 1);
  CHECK(h.local == (src == NULL));
  if (src) src_is(&h, src);
  if (dst) dst_is(&h, dst);
}

static void v1_bad(const char *line, const char *want) {
  xcs_proxy_header h;
  const char *why = NULL;
  CHECK(xcs_proxy_parse((const unsigned char *)line, strlen(line), &h, &why) == -1);
  CHECK(why != NULL);
  if (why && want) CHECK_STR(why, want);
}

/* A v2 header: signature, ver_cmd, fam, then body of n bytes. */
static size_t v2(unsigned char *out, int ver_cmd, int fam, const unsigned char *body, size_t n) {
  memcpy(out, SIG, 12);
  out[12] = (unsigned char)ver_cmd;
  out[13] = (unsigned char)fam;
  out[14] = (unsigned char)(n >> 8);
  out[15] = (unsigned char)n;
  memcpy(out + 16, body, n);
  return 16 + n;
}

static void v2_bad(int ver_cmd, int fam, const unsigned char *body, size_t n, const char *want) {
  unsigned char buf[128];
  size_t len = v2(buf, ver_cmd, fam, body, n);
  xcs_proxy_header h;
  const char *why = NULL;
  CHECK(xcs_proxy_parse(buf, len, &h, &why) == -1);
  if (why && want) CHECK_STR(why, want);
}

int main(void) {
  /* v1 */
  v1_ok("PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n", "192.0.2.1:56324", "192.0.2.2:443");
  v1_ok("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
        "255.255.255.255:65535", "255.255.255.255:65535");
  v1_ok("PROXY TCP6 2001:db8::1 2001:db8::2 0 80\r\n", "[2001:db8::1]:0", "[2001:db8::2]:80");
  v1_ok("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "65535 65535\r\n",
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", NULL); /* the longest: 104 bytes */
  v1_ok("PROXY UNKNOWN\r\n", NULL, NULL);
  v1_ok("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", NULL, NULL);
  v1_bad("PROXY TCP4 192.0.2.1 192.0.2.2 56324\r\n", "a v1 header with a bad source port");
  v1_bad("PROXY TCP4 192.0.2.1 192.0.2.2 56324 443 9\r\n", "a v1 header with a bad destination port");
  v1_bad("PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n", "a v1 header with a bad source address");
  v1_bad("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", "a v1 header with a bad source address");
  v1_bad("PROXY TCP4 192.0.2.1 300.0.0.1 1 2\r\n", "a v1 header with a bad destination address");
  v1_bad("PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n", NULL); /* two spaces */
  v1_bad("PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n", "a v1 header with a bad source port");
  v1_bad("PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n", "a v1 header with a bad source port");
  v1_bad("PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n", "a v1 header with a bad source port");
  v1_bad("PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n",
         "a v1 header with a protocol other than TCP4, TCP6 or UNKNOWN");
  v1_bad("PROXY \r\n", "a v1 header without its protocol");
  v1_bad("PROXY TCP4\r\n", "a v1 header without its protocol");
  v1_bad("PROXY TCP4 1.2.3.4\n", "a v1 header with a stray control character");
  {
    xcs_proxy_header h;
    const char *why;
    CHECK(xcs_proxy_parse((const unsigned char *)"PROXY TCP4 1.2.3.4\0", 19, &h, &why) == -1);
    CHECK_STR(why, "a v1 header with a stray control character");
  }
  v1_bad("PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n", NULL);
  v1_bad("PROXYTCP4", "not a PROXY protocol header");
  v1_bad("GET / HTTP/1.1\r\n", "not a PROXY protocol header");
  v1_bad("proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", "not a PROXY protocol header");
  {
    char big[200];
    memset(big, 'A', sizeof big);
    memcpy(big, "PROXY UNKNOWN ", 14);
    xcs_proxy_header h;
    const char *why;
    CHECK(xcs_proxy_parse((unsigned char *)big, 106, &h, &why) == 0); /* could still end */
    CHECK(xcs_proxy_parse((unsigned char *)big, 107, &h, &why) == -1);
    CHECK_STR(why, "a v1 header without its CRLF in 107 bytes");
    memcpy(big + 105, "\r\n", 2); /* exactly 107 bytes with its CRLF */
    CHECK(xcs_proxy_parse((unsigned char *)big, sizeof big, &h, &why) == 107);
  }

  /* v2 */
  unsigned char buf[XCS_PROXY_MAX + 64], body[64];
  xcs_proxy_header h;
  const char *why;
  unsigned char v4[12] = {198, 51, 100, 7, 10, 0, 0, 1, 0x0F, 0xA0, 0x00, 0x50};
  size_t len = v2(buf, 0x21, 0x11, v4, sizeof v4);
  CHECK(parse_all(buf, len, &h, &why) == 28);
  CHECK(h.version == 2 && !h.local);
  src_is(&h, "198.51.100.7:4000");
  dst_is(&h, "10.0.0.1:80");
  unsigned char v6[36] = {0};
  inet_pton(AF_INET6, "2001:db8::7", v6);
  inet_pton(AF_INET6, "2001:db8::1", v6 + 16);
  v6[32] = 0x12, v6[33] = 0x34, v6[34] = 0, v6[35] = 443 & 0xFF;
  v6[34] = 443 >> 8;
  len = v2(buf, 0x21, 0x21, v6, sizeof v6);
  CHECK(parse_all(buf, len, &h, &why) == 52);
  src_is(&h, "[2001:db8::7]:4660");
  dst_is(&h, "[2001:db8::1]:443");
  /* TLVs after the addresses are skipped */
  memcpy(body, v4, 12);
  memcpy(body + 12, "\x04\x00\x03xyz", 6);
  len = v2(buf, 0x21, 0x11, body, 18);
  CHECK(parse_all(buf, len + 5, &h, &why) == 34 && !h.local);
  /* LOCAL: a health check, whatever the family says */
  len = v2(buf, 0x20, 0x00, body, 0);
  CHECK(parse_all(buf, len, &h, &why) == 16 && h.local);
  len = v2(buf, 0x20, 0x11, v4, 12);
  CHECK(parse_all(buf, len, &h, &why) == 28 && h.local);
  /* PROXY of UNSPEC or UNIX: nothing usable, the connection's own */
  len = v2(buf, 0x21, 0x00, body, 0);
  CHECK(parse_all(buf, len, &h, &why) == 16 && h.local);
  len = v2(buf, 0x21, 0x31, body, 0);
  CHECK(parse_all(buf, len, &h, &why) == 16 && h.local);
  v2_bad(0x11, 0x11, v4, 12, "a v2 header of another version");
  v2_bad(0x31, 0x11, v4, 12, "a v2 header of another version");
  v2_bad(0x22, 0x11, v4, 12, "a v2 header with a command other than LOCAL or PROXY");
  v2_bad(0x21, 0x11, v4, 11, "a v2 header too short for its IPv4 addresses");
  v2_bad(0x21, 0x21, v6, 35, "a v2 header too short for its IPv6 addresses");
  v2_bad(0x21, 0x12, v4, 12, "a v2 header for a datagram, not a stream");
  v2_bad(0x21, 0x41, v4, 12, "a v2 header with an unknown family");
  /* oversized: the length alone says so, before the bytes come */
  memcpy(buf, SIG, 12);
  buf[12] = 0x21, buf[13] = 0x11, buf[14] = 0x10, buf[15] = 0x00; /* 4096 + 16 */
  CHECK(xcs_proxy_parse(buf, 16, &h, &why) == -1);
  CHECK_STR(why, "a v2 header longer than 4096 bytes");
  buf[14] = 0x0F, buf[15] = 0xF0; /* 4080 + 16: the most */
  memset(buf + 16, 0, 4080);
  memcpy(buf + 16, v4, 12);
  CHECK(xcs_proxy_parse(buf, 16, &h, &why) == 0);
  CHECK(xcs_proxy_parse(buf, 4096, &h, &why) == 4096);
  /* garbage after a partial signature */
  memcpy(buf, SIG, 5);
  buf[5] = 'x';
  CHECK(xcs_proxy_parse(buf, 6, &h, &why) == -1);
  CHECK_STR(why, "not a PROXY protocol header");
  CHECK(xcs_proxy_parse(buf, 5, &h, &why) == 0);
  CHECK(xcs_proxy_parse(buf, 0, &h, &why) == 0);

  /* address ranges */
  xcs_cidr list[XCS_MAX_CIDRS];
  CHECK(xcs_cidr_parse_list("127.0.0.1,10.0.0.0/8,::1,fd00::/8,192.168.1.128/25", list,
                            XCS_MAX_CIDRS) == 5);
  struct sockaddr_storage sa;
  const char *in[] = {"127.0.0.1", "10.200.3.4", "::1", "fd12::5", "192.168.1.200",
                      "::ffff:10.1.1.1", NULL};
  const char *out[] = {"127.0.0.2", "11.0.0.1", "::2", "fe00::1", "192.168.1.127", NULL};
  for (int i = 0; in[i]; i++) {
    CHECK(xcs_addr_from(in[i], 1, &sa) == 0);
    CHECK(xcs_cidr_match(list, 5, (struct sockaddr *)&sa));
  }
  for (int i = 0; out[i]; i++) {
    CHECK(xcs_addr_from(out[i], 1, &sa) == 0);
    CHECK(!xcs_cidr_match(list, 5, (struct sockaddr *)&sa));
  }
  CHECK(xcs_cidr_parse_list("0.0.0.0/0", list, 1) == 1);
  CHECK(xcs_addr_from("203.0.113.9", 1, &sa) == 0 && xcs_cidr_match(list, 1, (struct sockaddr *)&sa));
  const char *bad[] = {"", ",", "127.0.0.1,", "10.0.0.0/33", "::/129", "10.0.0.0/", "10/8",
                       "10.0.0.0/08", "localhost", "1.2.3.4/8x", NULL};
  for (int i = 0; bad[i]; i++) CHECK(xcs_cidr_parse_list(bad[i], list, XCS_MAX_CIDRS) == -1);
  CHECK(xcs_cidr_parse_list("1.1.1.1,2.2.2.2", list, 1) == -1);
  return check_report("proxy");
}
