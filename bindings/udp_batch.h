/*
 * udp_batch.h — replies a UDP socket's reader writes while it runs on a
 * batch of received datagrams, sent together by one sendmmsg at the
 * batch's end: the kernel is entered once per batch, not once per reply.
 *
 * Only replies wait (to a sender a read returned, so never a broadcast
 * address, and small), only while the socket's own batch is being read,
 * and only while libuv queues nothing for the socket: every datagram
 * still leaves in the order it was written. What the kernel refuses at the
 * end is what an asynchronous send refuses: the socket's next read says
 * so (xcs_udp_batch_add's err). One batch waits at a time in the process
 * (one loop per process, as the receive buffer).
 */
#ifndef XCS_UDP_BATCH_H
#define XCS_UDP_BATCH_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/* The largest reply that waits for the batch's end; larger ones go at once. */
#define XCS_UDP_BATCH_BYTES 2048

/* Takes a copy of the reply data[0, len) to `to`, to go with udp's batch
 * (1), or takes nothing (0: the caller sends it now, after
 * xcs_udp_batch_flush(udp), to keep the order). A send refused later
 * leaves its error (a libuv code) in *err, which must outlive the socket's
 * sends (its close callback). */
int xcs_udp_batch_add(uv_udp_t *udp, int *err, const char *data, size_t len,
                      const struct sockaddr *to);
/* Sends the replies waiting for udp, if any. */
void xcs_udp_batch_flush(uv_udp_t *udp);

#endif
