/*
 * log.h — one line per event, tagged with who it is about:
 *
 *     echo: listening on 127.0.0.1:7000 (TCP)
 *     xcshost: stopping on SIGTERM
 *
 * Lines go to the host's sink: stderr for the executable, a capture for the
 * in-process host of the `xcs` test module.
 */
#ifndef XCS_LOG_H
#define XCS_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef struct xcs_host xcs_host;

/* Receives one finished line, without its newline. */
typedef void (*xcs_log_sink)(void *ud, const char *tag, const char *line,
                             size_t len);

void xcs_log(xcs_host *h, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xcs_logv(xcs_host *h, const char *tag, const char *fmt, va_list ap);
/* One line given as bytes (a module's own text, zero bytes and all). */
void xcs_log_bytes(xcs_host *h, const char *tag, const char *line, size_t len);

/* The default sink: "tag: line\n" to stderr in one write. */
void xcs_log_stderr(void *ud, const char *tag, const char *line, size_t len);

#endif
