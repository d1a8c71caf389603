/*
 * text.c — the growing text buffer.
 */
#include "bindings/core/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and a NUL: 0, or -1 (oom set). */
static int reserve(xcs_text *t, size_t n) {
  if (t->oom) return -1;
  if (t->len + n < t->cap) return 0;
  size_t cap = (t->len + n + 1) * 2;
  char *s = realloc(t->s, cap);
  if (s == NULL) {
    t->oom = 1;
    return -1;
  }
  t->s = s;
  t->cap = cap;
  return 0;
}

void xcs_text_put(xcs_text *t, const void *p, size_t n) {
  if (reserve(t, n) != 0) return;
  memcpy(t->s + t->len, p, n);
  t->len += n;
  t->s[t->len] = '\0';
}

void xcs_text_add(xcs_text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || reserve(t, (size_t)n) != 0) return;
  va_start(ap, fmt);
  vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}
