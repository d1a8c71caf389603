/* test_addr.c — address strings both ways. */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "bindings/addr.h"
#include "tests/check.h"

static void roundtrip(const char *in) {
  struct sockaddr_storage sa;
  char out[XCS_ADDRSTRLEN];
  CHECK(xcs_addr_parse(in, &sa) == 0);
  xcs_addr_format((struct sockaddr *)&sa, out, sizeof out);
  CHECK_STR(out, in);
}

int main(void) {
  roundtrip("127.0.0.1:7000");
  roundtrip("0.0.0.0:0");
  roundtrip("[::1]:65535");
  roundtrip("[fe80::1]:80");

  const char *bad[] = {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                       "127.0.0.1:-1", "127.0.0.1:80x", "::1:80", "[::1]80",
                       "[::1]:", "localhost:80", "1.2.3.4.5:80", "[]:80",
                       "127.0.0.1:123456", NULL};
  struct sockaddr_storage sa;
  for (int i = 0; bad[i]; i++) CHECK(xcs_addr_parse(bad[i], &sa) == UV_EINVAL);

  CHECK(xcs_addr_from("127.0.0.1", 70000, &sa) == UV_EINVAL);
  CHECK(xcs_addr_from("::", 5, &sa) == 0 && xcs_addr_port((struct sockaddr *)&sa) == 5);
  return check_report("addr");
}
