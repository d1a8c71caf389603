/*
 * udp_batch.c — a batch's replies, sent by one sendmmsg (see udp_batch.h).
 */
#include "bindings/udp_batch.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Replies that wait at most, before they are sent anyway. */
#define REPLIES 16

static struct {
  uv_udp_t *udp; /* whose replies wait; NULL: none */
  int *err;
  int n;
  struct mmsghdr msg[REPLIES];
  struct iovec iov[REPLIES];
  struct sockaddr_storage to[REPLIES];
  char data[REPLIES][XCS_UDP_BATCH_BYTES];
} batch;

typedef struct queued {
  uv_udp_send_t req;
  int *err;
  char data[];
} queued;

static void queued_cb(uv_udp_send_t *req, int status) {
  queued *q = (queued *)req;
  if (status < 0 && status != UV_ECANCELED) *q->err = status;
  free(q);
}

/* The kernel's buffer is full: libuv sends reply i when it has room. */
static void queue(int i) {
  size_t len = batch.iov[i].iov_len;
  queued *q = malloc(sizeof *q + len);
  if (q == NULL) return; /* lost, as the network might have */
  memcpy(q->data, batch.data[i], len);
  q->err = batch.err;
  uv_buf_t b = uv_buf_init(q->data, (unsigned)len);
  if (uv_udp_send(&q->req, batch.udp, &b, 1, (struct sockaddr *)&batch.to[i], queued_cb) != 0)
    free(q);
}

void xcs_udp_batch_flush(uv_udp_t *udp) {
  if (batch.udp != udp || udp == NULL) return;
  uv_os_fd_t fd;
  int i = 0;
  if (uv_fileno((uv_handle_t *)udp, &fd) != 0) i = batch.n; /* closed: nothing to send on */
  while (i < batch.n) {
    int r = sendmmsg(fd, &batch.msg[i], (unsigned)(batch.n - i), 0);
    if (r > 0) {
      i += r;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      for (; i < batch.n; i++) queue(i);
    } else if (errno != EINTR) {
      *batch.err = -errno; /* libuv's codes are -errno here; the next read says so */
      i++;                 /* that one is refused, as a send may be: on with the rest */
    }
  }
  batch.udp = NULL;
  batch.n = 0;
}

int xcs_udp_batch_add(uv_udp_t *udp, int *err, const char *data, size_t len,
                      const struct sockaddr *to) {
  if (len > XCS_UDP_BATCH_BYTES || uv_udp_get_send_queue_count(udp) != 0) return 0;
  if (batch.udp != udp && batch.udp != NULL) return 0; /* another socket's batch */
  if (batch.n == REPLIES) xcs_udp_batch_flush(udp);
  batch.udp = udp;
  batch.err = err;
  int i = batch.n++;
  memcpy(batch.data[i], data, len);
  memcpy(&batch.to[i], to, to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
  batch.iov[i] = (struct iovec){.iov_base = batch.data[i], .iov_len = len};
  batch.msg[i] = (struct mmsghdr){
      .msg_hdr = {.msg_name = &batch.to[i],
                  .msg_namelen = to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in),
                  .msg_iov = &batch.iov[i],
                  .msg_iovlen = 1}};
  return 1;
}
