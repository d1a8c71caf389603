/*
 * scrape.c — `--metrics ADDR:PORT`: a minimal HTTP/1.x server for
 * Prometheus. Each connection sends one request, gets one answer
 * (Connection: close) and is closed; only the request line is read, headers
 * are skipped up to the blank line. A request must arrive whole within
 * REQUEST_TIMEOUT_MS and REQUEST_MAX bytes; at most MAX_CLIENTS are served
 * at once (more are closed at once), so a scraper gone wrong cannot hold the
 * host's descriptors.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/core/life.h"
#include "bindings/core/log.h"
#include "host/metrics.h"

#define REQUEST_MAX 8192
#define REQUEST_TIMEOUT_MS 10000
#define MAX_CLIENTS 32

typedef struct client {
  xcs_life life; /* the server's hold, and one per handle while it closes */
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  char buf[REQUEST_MAX];
  size_t len;
  char *answer;
  int closing;
} client;

static struct {
  uv_tcp_t server;
  xcs_host *h;
  int on, clients;
} srv;

int xcs_scrape_route(const char *line, size_t len, int *head) {
  /* METHOD SP TARGET SP HTTP/1.x */
  const char *sp1 = memchr(line, ' ', len);
  if (sp1 == NULL) return 400;
  const char *target = sp1 + 1;
  const char *sp2 = memchr(target, ' ', len - (size_t)(target - line));
  if (sp2 == NULL || sp2 == target) return 400;
  const char *version = sp2 + 1;
  size_t vlen = len - (size_t)(version - line);
  if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
    return 400;
  size_t mlen = (size_t)(sp1 - line), tlen = (size_t)(sp2 - target);
  const char *q = memchr(target, '?', tlen);
  if (q) tlen = (size_t)(q - target);
  *head = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
  if (!*head && !(mlen == 3 && memcmp(line, "GET", 3) == 0)) return 405;
  if (tlen != 8 || memcmp(target, "/metrics", 8) != 0) return 404;
  return 200;
}

static void client_free(xcs_life *l) {
  client *c = xcs_container_of(l, client, life);
  free(c->answer);
  free(c);
  srv.clients--;
}

static void finish(client *c) {
  if (c->closing) return;
  c->closing = 1;
  xcs_life_uv_close(&c->life, (uv_handle_t *)&c->timer);
  xcs_life_uv_close(&c->life, (uv_handle_t *)&c->tcp);
  xcs_release(&c->life);
}

static void written_cb(uv_write_t *req, int status) {
  (void)status;
  finish(req->data);
}

static void answer(client *c, int code, int head) {
  const char *reason = code == 200 ? "OK" : code == 404 ? "Not Found"
                     : code == 405 ? "Method Not Allowed" : code == 503 ? "Service Unavailable"
                                                          : "Bad Request";
  char *body = NULL;
  if (code == 200 && (body = xcs_metrics_render(srv.h)) == NULL) code = 503, reason = "Service Unavailable";
  if (body == NULL) {
    char msg[128];
    snprintf(msg, sizeof msg, "%d %s%s\n", code, reason,
             code == 404 ? ": the metrics are at /metrics" : "");
    body = strdup(msg);
  }
  size_t blen = body ? strlen(body) : 0;
  char top[256];
  int n = snprintf(top, sizeof top,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                   "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                   code, reason, blen, code == 405 ? "Allow: GET, HEAD\r\n" : "");
  c->answer = malloc((size_t)n + blen);
  if (c->answer == NULL || body == NULL) {
    free(body);
    finish(c);
    return;
  }
  memcpy(c->answer, top, (size_t)n);
  if (!head) memcpy(c->answer + n, body, blen);
  free(body);
  uv_buf_t b = uv_buf_init(c->answer, (unsigned)((size_t)n + (head ? 0 : blen)));
  c->write.data = c;
  uv_read_stop((uv_stream_t *)&c->tcp);
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, written_cb) != 0) finish(c);
}

static void alloc_cb(uv_handle_t *handle, size_t hint, uv_buf_t *buf) {
  (void)hint;
  client *c = handle->data;
  buf->base = c->buf + c->len;
  buf->len = sizeof c->buf - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  client *c = s->data;
  if (n < 0) {
    finish(c);
    return;
  }
  c->len += (size_t)n;
  /* The request is whole at its blank line; HTTP/1.0 clients may end lines
   * with a bare LF. */
  const char *end = NULL;
  for (size_t i = 0; i + 1 < c->len && !end; i++)
    if (c->buf[i] == '\n' && (c->buf[i + 1] == '\n' ||
                              (c->buf[i + 1] == '\r' && i + 2 < c->len && c->buf[i + 2] == '\n')))
      end = c->buf + i;
  if (end == NULL) {
    if (c->len == sizeof c->buf) answer(c, 400, 0); /* headers past REQUEST_MAX */
    return;
  }
  size_t line = strcspn(c->buf, "\r\n");
  int head = 0;
  int code = xcs_scrape_route(c->buf, line, &head);
  answer(c, code, head);
}

static void timeout_cb(uv_timer_t *t) { finish(t->data); }

static void spare_closed_cb(uv_handle_t *h) { free(h); }

static void connection_cb(uv_stream_t *server, int status) {
  if (status < 0) return;
  client *c = srv.clients < MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
  if (c == NULL) {
    /* Accepted and closed at once, so it does not wait in the backlog. */
    uv_tcp_t *spare = malloc(sizeof *spare);
    if (spare == NULL) return;
    uv_tcp_init(server->loop, spare);
    uv_accept(server, (uv_stream_t *)spare);
    uv_close((uv_handle_t *)spare, spare_closed_cb);
    return;
  }
  srv.clients++;
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  /* No host: freed in the last close callback, even after the tick is gone. */
  xcs_life_init(&c->life, NULL, client_free);
  uv_timer_start(&c->timer, timeout_cb, REQUEST_TIMEOUT_MS, 0);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0)
    finish(c);
}

int xcs_scrape_start(xcs_host *h, const char *addr, int offset) {
  struct sockaddr_storage sa;
  if (xcs_addr_parse(addr, &sa) != 0) return UV_EINVAL;
  int port = xcs_addr_port((struct sockaddr *)&sa);
  if (port != 0 && offset != 0) {
    if (port + offset > 65535) return UV_EINVAL;
    uint16_t p = htons((uint16_t)(port + offset));
    if (sa.ss_family == AF_INET)
      ((struct sockaddr_in *)&sa)->sin_port = p;
    else
      ((struct sockaddr_in6 *)&sa)->sin6_port = p;
  }
  int r = xcs_metrics_init(h);
  if (r != 0) return r;
  srv.h = h;
  uv_tcp_init(&h->loop, &srv.server);
  r = uv_tcp_bind(&srv.server, (struct sockaddr *)&sa, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&srv.server, 64, connection_cb);
  if (r != 0) {
    uv_close((uv_handle_t *)&srv.server, NULL);
    return r;
  }
  srv.on = 1;
  uv_unref((uv_handle_t *)&srv.server); /* it must not keep the host running */
  int len = sizeof sa;
  char where[XCS_ADDRSTRLEN];
  uv_tcp_getsockname(&srv.server, (struct sockaddr *)&sa, &len);
  xcs_addr_format((struct sockaddr *)&sa, where, sizeof where);
  xcs_log(h, "xcshost", "metrics on http://%s/metrics", where);
  return 0;
}

void xcs_scrape_stop(xcs_host *h) {
  (void)h;
  if (!srv.on) return;
  srv.on = 0;
  uv_close((uv_handle_t *)&srv.server, NULL);
}
