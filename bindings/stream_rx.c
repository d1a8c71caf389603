/*
 * stream_rx.c — a stream connection's receive buffer, in a record of its
 * own (xcs_rx) made only while something is buffered or a framed read
 * waits: 10,000 idle connections, each with a task waiting for whatever
 * arrives, hold none.
 *
 * The buffer holds only what the module has not read yet. Bytes arrive in
 * the host's shared read buffer and are first offered where they lie (the
 * record borrows them, c->borrowed): a reader waiting for them takes them
 * from there. A connection with no record borrows with one on the stack
 * of the delivery (c->lent), so a reader that takes the bytes at once
 * costs no allocation. What is left when the delivery returns is copied
 * into a buffer of c's own (xcs_rx_keep), freed as soon as it is drained.
 */
#include <stdlib.h>
#include <string.h>

#include "bindings/stream.h"

/* c's record, made if it has none (or moved off the delivery's stack);
 * NULL when out of memory (c is left as it was). */
xcs_rx *xcs_rx_own(xcs_conn *c) {
  if (c->rx && !c->lent) return c->rx;
  xcs_rx *rx = malloc(sizeof *rx);
  if (rx == NULL) return NULL;
  if (c->rx)
    *rx = *c->rx;
  else
    *rx = (xcs_rx){.need = 1};
  c->rx = rx;
  c->lent = 0;
  return rx;
}

/* The record goes once it holds nothing: no bytes, and no read waiting for
 * more than any byte. A lent one is its delivery's to settle. */
static void done(xcs_conn *c) {
  xcs_rx *rx = c->rx;
  if (rx == NULL || c->lent || rx->len > 0 || rx->cap > 0) return;
  if (c->h.reader && (rx->need > 1 || rx->want > 0)) return;
  free(rx);
  c->rx = NULL;
}

void xcs_rx_release(xcs_conn *c) {
  xcs_rx *rx = c->rx;
  if (rx == NULL) return;
  if (!c->borrowed) free(rx->buf);
  rx->buf = NULL;
  c->borrowed = 0;
  rx->off = rx->len = rx->cap = rx->scan = 0;
  done(c);
}

void xcs_rx_free(xcs_conn *c) {
  xcs_rx_release(c);
  if (c->rx && !c->lent) free(c->rx);
  c->rx = NULL;
  c->lent = 0;
}

int xcs_rx_wait(xcs_conn *c, size_t need, size_t want, size_t scan) {
  if (c->rx == NULL && need == 1 && want == 0 && scan == 0) return 0; /* as if it had one */
  /* A lent record is settled by its delivery's xcs_rx_keep, which moves it
   * off the stack only if the wait still needs it: a task that read what
   * was delivered and waits again at once costs no allocation. */
  xcs_rx *rx = c->lent ? c->rx : xcs_rx_own(c);
  if (rx == NULL) return UV_ENOMEM;
  rx->need = need;
  rx->want = want;
  rx->scan = scan;
  return 0;
}

/* Copies borrowed bytes still unread into c's own buffer; 0 or UV_ENOMEM
 * (the bytes are then lost with the connection, which fails). */
static int copy_borrowed(xcs_rx *rx) {
  const char *from = rx->buf + rx->off;
  size_t n = rx->len;
  rx->buf = NULL;
  rx->off = rx->cap = 0;
  if (n == 0) return 0;
  size_t cap = 256;
  while (cap < n) cap *= 2;
  if ((rx->buf = malloc(cap)) == NULL) {
    rx->len = rx->scan = 0;
    return UV_ENOMEM;
  }
  memcpy(rx->buf, from, n);
  rx->cap = cap;
  return 0;
}

int xcs_rx_keep(xcs_conn *c) {
  if (c->rx == NULL) return 0;
  int r = 0;
  if (c->borrowed) {
    c->borrowed = 0;
    r = copy_borrowed(c->rx);
  }
  if (c->lent) { /* off the delivery's stack, or gone if it holds nothing */
    xcs_rx *rx = c->rx;
    int idle = rx->len == 0 && (!c->h.reader || (rx->need <= 1 && rx->want == 0));
    if (idle || xcs_rx_own(c) == NULL) {
      if (!idle) free(rx->buf); /* no record for it: lost, as above */
      c->rx = NULL;
      c->lent = 0;
      if (!idle) r = UV_ENOMEM;
    }
  }
  done(c);
  return r;
}

int xcs_rx_append(xcs_conn *c, const char *p, size_t n, xcs_rx *lent) {
  if (c->rx == NULL) { /* nothing buffered: borrow p, with the caller's record */
    *lent = (xcs_rx){.buf = (char *)p, .len = n, .need = 1};
    c->rx = lent;
    c->lent = c->borrowed = 1;
    return 0;
  }
  xcs_rx *rx = c->rx;
  if (rx->len == 0 && rx->cap == 0) { /* nothing buffered: borrow p */
    rx->buf = (char *)p;
    rx->off = 0;
    rx->len = n;
    c->borrowed = 1;
    return 0;
  }
  if (c->borrowed) {
    c->borrowed = 0;
    int r = copy_borrowed(rx);
    if (r != 0) return r;
  }
  if (rx->off > 0 && rx->off + rx->len + n > rx->cap) {
    memmove(rx->buf, rx->buf + rx->off, rx->len);
    rx->off = 0;
  }
  if (rx->len + n > rx->cap) {
    size_t cap = rx->cap ? rx->cap : 4096;
    while (cap < rx->len + n) cap *= 2;
    char *b = realloc(rx->buf, cap);
    if (b == NULL) return UV_ENOMEM;
    rx->buf = b;
    rx->cap = cap;
  }
  memcpy(rx->buf + rx->off + rx->len, p, n);
  rx->len += n;
  return 0;
}
