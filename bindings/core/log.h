/*
 * log.h — one line per event, at a level, tagged with who it is about:
 *
 *     echo: listening on 127.0.0.1:7000 (TCP)
 *     xcshost: stopping on SIGTERM
 *
 * Lines below the host's level (--log-level) are dropped before they are
 * formatted; the rest go to the host's sink: stderr as text or one JSON
 * object a line (--log-format) for the executable, a capture for the
 * in-process host of the `xcs` test module. Socket events carry their
 * structured fields (event, address, protocol...), which the JSON sink
 * writes as members beside the message.
 */
#ifndef XCS_LOG_H
#define XCS_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef struct xcs_host xcs_host;

/* Most severe first: --log-level L keeps L and everything above it. */
enum { XCS_LOG_ERROR, XCS_LOG_WARN, XCS_LOG_INFO, XCS_LOG_DEBUG };
#define XCS_LOG_DEFAULT XCS_LOG_INFO

/* The most fields a record carries (xcs_log_socket gives 4), so a sink that
 * adds its own (host/worker.c: "worker") has room for all of them. */
#define XCS_LOG_MAX_FIELDS 8

/* One structured field; a list of them ends with a NULL key. */
typedef struct xcs_log_field {
  const char *key, *value;
} xcs_log_field;

typedef struct xcs_log_record {
  int level;
  const char *tag;   /* the module's name, or "xcshost" */
  const char *line;  /* the message: bytes, not NUL-terminated */
  size_t len;
  const xcs_log_field *fields; /* NULL or a NULL-key-terminated list */
} xcs_log_record;

/* Receives one finished line. */
typedef void (*xcs_log_sink)(void *ud, const xcs_log_record *r);

/* At info level. */
void xcs_log(xcs_host *h, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xcs_log_at(xcs_host *h, int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A socket event: its fields, and the line for people. */
void xcs_log_event(xcs_host *h, const char *tag, const xcs_log_field *fields,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A socket event, the usual case of the above: fields event, address and
 * protocol (and peer, when not NULL). */
void xcs_log_socket(xcs_host *h, const char *tag, const char *event, const char *address,
                    const char *peer, const char *protocol, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void xcs_logv(xcs_host *h, int level, const char *tag, const xcs_log_field *fields,
              const char *fmt, va_list ap);
/* One line given as bytes (a module's own text, zero bytes and all). */
void xcs_log_bytes(xcs_host *h, int level, const char *tag, const char *line, size_t len);

/* "error", "warn", "info", "debug" -> the level, or -1. */
int xcs_log_level_parse(const char *name);
const char *xcs_log_level_name(int level);

/* The default sink: "tag: line\n" to stderr in one write. */
void xcs_log_stderr(void *ud, const xcs_log_record *r);
/* --log-format json: {"time":RFC 3339,"level","module","message",fields...}. */
void xcs_log_json(void *ud, const xcs_log_record *r);
/* The JSON line of r, without its newline, into a malloc'd string (*len its
 * length): NULL when out of memory. Exposed for the fuzzer. */
char *xcs_log_json_line(const xcs_log_record *r, double unix_time, size_t *len);

#endif
