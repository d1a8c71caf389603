/*
 * fuzz_scrape.c — the request line of --metrics (host/scrape.c).
 *
 * Anyone who reaches the metrics port can send anything; the route must not
 * read past the line it is given, and must answer one of 200, 400, 404 or
 * 405, with 200 only for GET or HEAD of /metrics (a query string ignored).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *line = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
  if (line == NULL) return 0;
  memcpy(line, data, size);
  int head = -1;
  int code = xcs_scrape_route(line, size, &head);
  if (code != 200 && code != 400 && code != 404 && code != 405) abort();
  if (code == 200) {
    int get = size > 4 && memcmp(line, "GET /metrics", size < 12 ? size : 12) == 0;
    int hd = size > 5 && memcmp(line, "HEAD /metrics", size < 13 ? size : 13) == 0;
    if (!(get || hd) || head != hd) {
      fprintf(stderr, "fuzz_scrape: 200 for %.*s\n", (int)size, line);
      abort();
    }
  }
  free(line);
  return 0;
}
