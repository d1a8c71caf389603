/*
 * pieces.h — cuts a fuzz input into NUL-separated pieces, each copied into
 * its own exactly-sized heap block, so that AddressSanitizer catches a read
 * one byte past the end of any single piece (argv words, request strings).
 */
#ifndef XCS_FUZZ_PIECES_H
#define XCS_FUZZ_PIECES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pieces {
  char **s;     /* s[0..n-1], each NUL-terminated; s[n] == NULL */
  size_t *len;  /* bytes in s[i], without the terminator */
  int n;
} pieces;

/* Splits data at every zero byte into at most max pieces (the last one
 * keeps the rest, zero bytes and all). An empty input is one empty piece,
 * as is the text after a trailing zero byte. Aborts on out of memory: the
 * fuzzer's own limits make that a harness failure, not a finding. */
static inline pieces pieces_split(const uint8_t *data, size_t size, int max) {
  pieces p;
  p.s = calloc((size_t)max + 1, sizeof *p.s);
  p.len = calloc((size_t)max + 1, sizeof *p.len);
  p.n = 0;
  if (p.s == NULL || p.len == NULL) abort();
  size_t at = 0;
  for (;;) {
    const uint8_t *z = p.n + 1 < max ? memchr(data + at, 0, size - at) : NULL;
    size_t end = z ? (size_t)(z - data) : size;
    size_t n = end - at;
    char *s = malloc(n + 1);
    if (s == NULL) abort();
    if (n) memcpy(s, data + at, n);
    s[n] = '\0';
    p.s[p.n] = s;
    p.len[p.n] = n;
    p.n++;
    if (z == NULL) break;
    at = end + 1;
  }
  return p;
}

static inline void pieces_free(pieces *p) {
  for (int i = 0; i < p->n; i++) free(p->s[i]);
  free(p->s);
  free(p->len);
}

#endif
