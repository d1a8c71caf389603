/*
 * text.h — a growing text buffer, for answers built a piece at a time (the
 * control socket's, the metrics, JSON log lines).
 *
 * Out of memory, it stops growing and sets oom: what it holds is then cut
 * short but never wrong, and a caller that must not hand out a cut text
 * (the metrics) checks oom.
 */
#ifndef XCS_TEXT_H
#define XCS_TEXT_H

#include <stddef.h>

typedef struct xcs_text {
  char *s;      /* NUL-terminated once anything was added; malloc'd */
  size_t len, cap;
  int oom;
} xcs_text;

/* Appends n bytes (any bytes). */
void xcs_text_put(xcs_text *t, const void *p, size_t n);
/* Appends printf-style. */
void xcs_text_add(xcs_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
