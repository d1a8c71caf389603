/*
 * proxied.c — reading a connection's PROXY protocol header before anything
 * else (proxied.h).
 *
 * The socket is watched with a uv_poll_t of its own: the connection's
 * stream has not started reading, so libuv watches nothing else on it, and
 * the poll is closed (which takes the descriptor out of epoll) before the
 * stream starts. Bytes are peeked; only those that belong to the header
 * are taken from the socket (the parser says, for an incomplete header,
 * that every byte so far is its), so reading never goes past it and a
 * peek never finds the same incomplete bytes twice.
 */
#include "bindings/proxied.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/addr.h"
#include "bindings/proxy.h"

struct xcs_proxied {
  uv_poll_t poll;
  uv_timer_t timer;
  int uv_open;            /* of the two, not through their close yet */
  xcs_list link;          /* the gate's waiting list */
  xcs_gate *g;
  xcs_conn *c;            /* NULL once the wait is over */
  xcs_proxied_done done;
  void *ud;
  struct sockaddr_storage from;
  size_t have;            /* header bytes taken from the socket so far */
  unsigned char hdr[XCS_PROXY_MAX];
};

static void closed_cb(uv_handle_t *h) {
  struct xcs_proxied *w = h->data;
  if (--w->uv_open == 0) free(w);
}

/* The wait is over: the poll and the timer go, and the gate is let go. */
static xcs_conn *finish(struct xcs_proxied *w) {
  xcs_conn *c = w->c;
  w->c = NULL;
  c->guard.wait = NULL;
  xcs_list_remove(&w->link);
  uv_close((uv_handle_t *)&w->poll, closed_cb);
  uv_close((uv_handle_t *)&w->timer, closed_cb);
  xcs_gate_unhold(w->g);
  return c;
}

static void fail(struct xcs_proxied *w, const char *why) {
  char ip[XCS_ADDRSTRLEN];
  xcs_addr_format((struct sockaddr *)&w->from, ip, sizeof ip);
  xcs_gate_bad_header(w->g, ip, why);
  xcs_conn *c = finish(w);
  c->reset = 1; /* what it sent is dropped; the balancer hears of it */
  xcs_handle_close(&c->h, 0);
}

static void poll_cb(uv_poll_t *p, int status, int events) {
  (void)events;
  struct xcs_proxied *w = p->data;
  if (w->c == NULL) return;
  uv_os_fd_t fd;
  if (status < 0 || uv_fileno((uv_handle_t *)&w->c->io.handle, &fd) != 0) {
    fail(w, "the connection failed before its PROXY header came");
    return;
  }
  ssize_t n;
  do n = recv(fd, w->hdr + w->have, sizeof w->hdr - w->have, MSG_PEEK);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    fail(w, n == 0 ? "the connection ended before its PROXY header did"
                   : "the connection failed before its PROXY header came");
    return;
  }
  xcs_proxy_header h;
  const char *why;
  int r = xcs_proxy_parse(w->hdr, w->have + (size_t)n, &h, &why);
  if (r < 0) {
    fail(w, why);
    return;
  }
  /* Take what is the header's: all of it so far, or up to its end. */
  size_t take = r == 0 ? (size_t)n : (size_t)r - w->have;
  ssize_t got;
  do got = recv(fd, w->hdr + w->have, take, 0);
  while (got < 0 && errno == EINTR);
  if (got != (ssize_t)take) {
    fail(w, "the connection failed before its PROXY header came");
    return;
  }
  w->have += take;
  if (r == 0) return;
  xcs_proxied_done done = w->done;
  void *ud = w->ud;
  struct sockaddr_storage from = w->from;
  xcs_conn *c = finish(w);
  done(ud, c, h.local ? (struct sockaddr *)&from : (struct sockaddr *)&h.src);
}

static void timer_cb(uv_timer_t *t) {
  struct xcs_proxied *w = t->data;
  if (w->c == NULL) return;
  char why[64];
  snprintf(why, sizeof why, "none complete within %g s", xcs_gate_header_timeout(w->g));
  fail(w, why);
}

int xcs_proxied_start(xcs_gate *g, xcs_conn *c, const struct sockaddr *from,
                      xcs_proxied_done done, void *ud) {
  uv_os_fd_t fd;
  int r = uv_fileno((uv_handle_t *)&c->io.handle, &fd);
  if (r != 0) return r;
  struct xcs_proxied *w = malloc(sizeof *w);
  if (w == NULL) return UV_ENOMEM;
  uv_loop_t *loop = &c->h.m->host->loop;
  if ((r = uv_poll_init_socket(loop, &w->poll, fd)) != 0) {
    free(w);
    return r;
  }
  w->poll.data = w;
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  w->uv_open = 2;
  w->g = g;
  w->c = c;
  w->done = done;
  w->ud = ud;
  w->have = 0;
  memset(&w->from, 0, sizeof w->from);
  memcpy(&w->from, from,
         from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
  xcs_gate_hold(g, &w->link);
  c->guard.wait = w;
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, poll_cb);
  uv_timer_start(&w->timer, timer_cb, (uint64_t)(xcs_gate_header_timeout(g) * 1000), 0);
  return 0;
}

void xcs_proxied_cancel(struct xcs_proxied *w) {
  if (w && w->c) finish(w);
}

void xcs_proxied_abort(xcs_list *link) {
  struct xcs_proxied *w = xcs_container_of(link, struct xcs_proxied, link);
  if (w->c == NULL) return;
  xcs_conn *c = finish(w);
  xcs_handle_close(&c->h, 0);
}
