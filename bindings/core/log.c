/*
 * log.c — drops what is below the host's level, formats a line once and
 * hands it to the host's sink; the text and JSON sinks for stderr.
 */
#include "bindings/core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bindings/core/host.h"
#include "bindings/core/text.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int xcs_log_level_parse(const char *name) {
  for (int i = 0; i <= XCS_LOG_DEBUG; i++)
    if (strcmp(name, level_names[i]) == 0) return i;
  return -1;
}

const char *xcs_log_level_name(int level) {
  return level >= 0 && level <= XCS_LOG_DEBUG ? level_names[level] : "info";
}

static void emit(xcs_host *h, int level, const char *tag, const xcs_log_field *fields,
                 const char *line, size_t len) {
  xcs_log_record r = {level, tag, line, len, fields};
  h->log(h->log_ud, &r);
}

void xcs_logv(xcs_host *h, int level, const char *tag, const xcs_log_field *fields,
              const char *fmt, va_list ap) {
  if (level > h->opt.log_level) return;
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
  emit(h, level, tag, fields, line, (size_t)n);
  if (line != small) free(line);
}

void xcs_log_bytes(xcs_host *h, int level, const char *tag, const char *line, size_t len) {
  if (level <= h->opt.log_level) emit(h, level, tag, NULL, line, len);
}

void xcs_log(xcs_host *h, const char *tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  xcs_logv(h, XCS_LOG_INFO, tag, NULL, fmt, ap);
  va_end(ap);
}

void xcs_log_at(xcs_host *h, int level, const char *tag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  xcs_logv(h, level, tag, NULL, fmt, ap);
  va_end(ap);
}

void xcs_log_event(xcs_host *h, const char *tag, const xcs_log_field *fields,
                   const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  xcs_logv(h, XCS_LOG_INFO, tag, fields, fmt, ap);
  va_end(ap);
}

void xcs_log_socket(xcs_host *h, const char *tag, const char *event, const char *address,
                    const char *peer, const char *protocol, const char *fmt, ...) {
  const xcs_log_field fields[] = {
      {"event", event}, {"address", address}, {"protocol", protocol}, {"peer", peer}, {NULL, NULL}};
  va_list ap;
  va_start(ap, fmt);
  xcs_logv(h, XCS_LOG_INFO, tag, fields, fmt, ap);
  va_end(ap);
}

/* One write per line, so lines of concurrent writers never interleave. */
static void write_all(const char *buf, size_t total) {
  for (size_t off = 0; off < total;) {
    ssize_t w = write(STDERR_FILENO, buf + off, total - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
}

void xcs_log_stderr(void *ud, const xcs_log_record *r) {
  (void)ud;
  size_t tlen = strlen(r->tag);
  char small[1024];
  size_t total = tlen + 2 + r->len + 1;
  char *buf = total <= sizeof small ? small : malloc(total);
  if (buf == NULL) return;
  memcpy(buf, r->tag, tlen);
  memcpy(buf + tlen, ": ", 2);
  memcpy(buf + tlen + 2, r->line, r->len);
  buf[total - 1] = '\n';
  write_all(buf, total);
  if (buf != small) free(buf);
}

/* JSON text ------------------------------------------------------------------ */

#define PUTS(o, lit) xcs_text_put(o, lit, sizeof lit - 1)

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlongs, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t need;
  unsigned lo = 0x80, hi = 0xbf;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else return 0;
  if (need >= n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i <= need; i++)
    if (p[i] < 0x80 || p[i] > 0xbf) return 0;
  return need + 1;
}

/* A JSON string of any bytes: escapes what JSON needs, and each byte that
 * is not part of well-formed UTF-8 becomes U+FFFD, so the line always
 * parses (a module's log text can hold anything). */
static void string(xcs_text *o, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  PUTS(o, "\"");
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      xcs_text_put(o, esc, 2);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      xcs_text_put(o, esc, 6);
      i++;
    } else {
      size_t k = utf8_len(p + i, n - i);
      if (k == 0) {
        PUTS(o, "\xef\xbf\xbd");
        i++;
      } else {
        xcs_text_put(o, s + i, k);
        i += k;
      }
    }
  }
  PUTS(o, "\"");
}

static void member(xcs_text *o, const char *key, const char *value, size_t len) {
  PUTS(o, ",");
  string(o, key, strlen(key));
  PUTS(o, ":");
  string(o, value, len);
}

char *xcs_log_json_line(const xcs_log_record *r, double unix_time, size_t *len) {
  xcs_text o = {0};
  char stamp[64];
  time_t secs = (time_t)unix_time;
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  int ms = (int)((unix_time - (double)secs) * 1000);
  snprintf(stamp + n, sizeof stamp - n, ".%03dZ", ms < 0 ? 0 : ms > 999 ? 999 : ms);
  PUTS(&o, "{\"time\":");
  string(&o, stamp, strlen(stamp));
  const char *level = xcs_log_level_name(r->level);
  member(&o, "level", level, strlen(level));
  /* The host's own lines are about no module. */
  if (strcmp(r->tag, "xcshost") != 0) member(&o, "module", r->tag, strlen(r->tag));
  member(&o, "message", r->line, r->len);
  for (const xcs_log_field *f = r->fields; f && f->key; f++)
    if (f->value) member(&o, f->key, f->value, strlen(f->value));
  PUTS(&o, "}");
  if (o.oom) {
    free(o.s);
    return NULL;
  }
  *len = o.len;
  return o.s;
}

void xcs_log_json(void *ud, const xcs_log_record *r) {
  (void)ud;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  size_t len;
  char *line = xcs_log_json_line(r, (double)tv.tv_sec + tv.tv_usec / 1e6, &len);
  if (line == NULL) return;
  line[len] = '\n'; /* over the NUL, which xcs_text always has room for */
  write_all(line, len + 1);
  free(line);
}
