/*
 * channel.h — messages between the supervisor and a worker of --workers:
 * one SOCK_SEQPACKET socket pair per direction of use, so a message is
 * never split or joined, and each may carry one descriptor (SCM_RIGHTS).
 *
 * A message is text: a word (the verb), a space, the rest. Both sides use
 * plain send/recv; the supervisor polls its ends from its loop, and a worker
 * waits on its request channel only for the answer to a request it sent.
 */
#ifndef XCS_CHANNEL_H
#define XCS_CHANNEL_H

#include <stddef.h>
#include <sys/types.h>

/* The largest message; longer text (a status report) goes in pieces. */
#define XCS_CHANNEL_MAX 32768

/* Two connected SOCK_SEQPACKET sockets, close-on-exec. 0 or -errno. */
int xcs_channel_pair(int fds[2]);
/* Sends len bytes of msg and, if fd >= 0, a duplicate of fd. 0 or -errno. */
int xcs_channel_send(int sock, const char *msg, size_t len, int fd);
/* Receives one message into buf (NUL-terminated; size at least
 * XCS_CHANNEL_MAX + 1) and its descriptor, if any, in *fd (else -1).
 * Returns its length, 0 when the peer closed, or -errno (-EAGAIN: none yet). */
ssize_t xcs_channel_recv(int sock, char *buf, size_t size, int *fd);

#endif
