/*
 * log.c — formats a log line once and hands it to the host's sink.
 */
#include "bindings/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/core/host.h"

void xcs_logv(xcs_host *h, const char *tag, const char *fmt, va_list ap) {
  char small[512];
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  if (n < 0) {
    va_end(again);
    return;
  }
  char *line = small;
  if ((size_t)n >= sizeof small) {
    /* Tracebacks are long; a log line is never cut. */
    line = malloc((size_t)n + 1);
    if (line == NULL) {
      line = small; /* out of memory: keep what fits rather than nothing */
      n = sizeof small - 1;
    } else {
      vsnprintf(line, (size_t)n + 1, fmt, again);
    }
  }
  va_end(again);
  h->log(h->log_ud, tag, line, (size_t)n);
  if (line != small) free(line);
}

void xcs_log_bytes(xcs_host *h, const char *tag, const char *line, size_t len) {
  h->log(h->log_ud, tag, line, len);
}

void xcs_log(xcs_host *h, const char *tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  xcs_logv(h, tag, fmt, ap);
  va_end(ap);
}

void xcs_log_stderr(void *ud, const char *tag, const char *line, size_t len) {
  (void)ud;
  size_t tlen = strlen(tag);
  char small[1024];
  size_t total = tlen + 2 + len + 1;
  char *buf = total <= sizeof small ? small : malloc(total);
  if (buf == NULL) return;
  memcpy(buf, tag, tlen);
  memcpy(buf + tlen, ": ", 2);
  memcpy(buf + tlen + 2, line, len);
  buf[total - 1] = '\n';
  /* One write per line, so lines of concurrent writers never interleave. */
  for (size_t off = 0; off < total;) {
    ssize_t w = write(STDERR_FILENO, buf + off, total - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  if (buf != small) free(buf);
}
