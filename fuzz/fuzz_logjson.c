/*
 * fuzz_logjson.c — --log-format json lines (host/log.c).
 *
 * A module's log text is any bytes (log(s) and print take any string); each
 * line must still be one valid JSON object in UTF-8. The input is split at
 * its first zero byte into a module name and a message, as a module's file
 * name and its log text; the line made of them must hold no control byte
 * and be well-formed UTF-8, and must keep every byte of a message that is
 * plain printable ASCII without quotes or backslashes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/core/log.h"

#define FAIL(...)                                  \
  do {                                             \
    fprintf(stderr, "fuzz_logjson: " __VA_ARGS__); \
    fputc('\n', stderr);                           \
    abort();                                       \
  } while (0)

/* Well-formed UTF-8, by a second, plainer reading than log.c's. */
static int utf8_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n) return 0;
    uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0x0f : c & 0x07;
    for (size_t j = 1; j < k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += k;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *nul = memchr(data, 0, size);
  size_t tlen = nul ? (size_t)(nul - (const char *)data) : 0;
  char *tag = strndup((const char *)data, tlen);
  if (tag == NULL) return 0;
  const char *msg = nul ? nul + 1 : (const char *)data;
  size_t mlen = size - (size_t)(msg - (const char *)data);
  xcs_log_field fields[] = {{"event", "listen"}, {"address", tag}, {NULL, NULL}};
  xcs_log_record r = {(int)(size % 4), tag, msg, mlen, fields};
  size_t len;
  char *line = xcs_log_json_line(&r, 1e9 + (double)size, &len);
  if (line == NULL) FAIL("no line");
  if (strlen(line) != len) FAIL("a zero byte in the line");
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) FAIL("control byte at %zu", i);
  if (!utf8_ok((const unsigned char *)line, len)) FAIL("not UTF-8: %s", line);
  if (line[0] != '{' || line[len - 1] != '}') FAIL("not an object: %s", line);
  int plain = 1;
  for (size_t i = 0; i < mlen && plain; i++)
    plain = msg[i] >= 0x20 && msg[i] < 0x7f && msg[i] != '"' && msg[i] != '\\';
  if (plain && mlen < 200) {
    char want[256];
    snprintf(want, sizeof want, "\"message\":\"%.*s\"", (int)mlen, msg);
    if (strstr(line, want) == NULL) FAIL("message lost: %s", line);
  }
  free(line);
  free(tag);
  return 0;
}
