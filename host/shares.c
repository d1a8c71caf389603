/*
 * shares.c — the sockets the workers share, for each key (host/worker.h):
 *
 *   TCP: one listening socket, which the first worker binds and the others
 *        are handed: one accept queue, so the clients queued on it wait for
 *        whichever worker accepts next, and a worker that stops or dies
 *        leaves none of them behind.
 *   UNIX (stream and datagram): one socket, as for TCP; its file is
 *        removed here, with the socket, not by the worker that made it.
 *   UDP: one SO_REUSEPORT socket per worker, on the same port: the kernel
 *        sends each peer's datagrams to the same worker (by a hash of the
 *        addresses), so per-peer state in a module keeps working. Each
 *        worker's socket is kept for the next process in its place, its
 *        queued datagrams and its share of peers included.
 *
 * A port systemd passed a socket for (socket activation, host/systemd.c)
 * is no one's to bind: its one socket, TCP or UDP, is handed to every
 * worker that opens the port, and kept until the supervisor stops.
 *
 * Only one worker binds a key first (with port 0 that picks the port):
 * while it does, the others asking wait for its answer; if it cannot (or
 * dies first), the next one waiting is told to try. The supervisor keeps
 * its copies while workers come and go, and closes them (the port is free
 * again) once no worker holds the key — each says "release" when its
 * handles on it have closed — and none is starting or restarting, or when
 * the supervisor stops.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bindings/addr.h"
#include "bindings/core/log.h"
#include "bindings/inherit.h"
#include "host/channel.h"
#include "host/fleet.h"

typedef struct xcs_shared {
  char *key;
  int udp;       /* a reuseport group, one socket per slot (else one socket) */
  int fd;        /* TCP: the socket, or -1 while `binder` binds it */
  int *fds;      /* UDP: per slot index, its socket or -1 */
  int port;      /* UDP: the port the group is on, once known */
  int binder;    /* the slot index binding it first, or -1 */
  char *waiting; /* per slot index: waits for the first bind */
  char *held;    /* per slot index: holds it */
  int inherited; /* fd is the socket systemd passed: kept until the end */
} xcs_shared;

static xcs_shared *find(xcs_fleet *f, const char *key) {
  for (int i = 0; i < f->nshares; i++)
    if (strcmp(f->shares[i].key, key) == 0) return &f->shares[i];
  return NULL;
}

static void answer(xcs_slot *s, const char *msg, int fd) {
  if (s->req >= 0) xcs_channel_send(s->req, msg, strlen(msg), fd);
}

static void remove_share(xcs_fleet *f, xcs_shared *sh) {
  /* No worker owns a shared UNIX socket's file: it goes with the socket. */
  if (strncmp(sh->key, "unix-", 5) == 0 && sh->fd >= 0) unlink(strchr(sh->key, ' ') + 1);
  if (sh->fd >= 0) close(sh->fd);
  for (int i = 0; sh->fds && i < f->count; i++)
    if (sh->fds[i] >= 0) close(sh->fds[i]);
  free(sh->key);
  free(sh->fds);
  free(sh->waiting);
  free(sh->held);
  *sh = f->shares[--f->nshares];
}

/* What slot index i is told once the first bind is done. */
static void hand_out(xcs_fleet *f, xcs_shared *sh, int i) {
  char msg[32];
  sh->waiting[i] = 0;
  if (!sh->udp) {
    sh->held[i] = 1;
    answer(&f->slots[i], "fd", sh->fd);
  } else {
    snprintf(msg, sizeof msg, "port %d", sh->port); /* it binds its own */
    answer(&f->slots[i], msg, -1);
  }
}

/* The binder of sh could not bind it: the next waiting worker tries. */
static void next_binder(xcs_fleet *f, xcs_shared *sh) {
  sh->binder = -1;
  for (int i = 0; i < f->count; i++) {
    if (!sh->waiting[i]) continue;
    sh->waiting[i] = 0;
    sh->binder = i;
    answer(&f->slots[i], "bind", -1);
    return;
  }
  int kept = sh->fd >= 0;
  for (int i = 0; sh->fds && i < f->count; i++) kept |= sh->fds[i] >= 0;
  if (!kept) remove_share(f, sh);
}

static xcs_shared *add_share(xcs_fleet *f, const char *key) {
  xcs_shared *grown = realloc(f->shares, sizeof *grown * (size_t)(f->nshares + 1));
  if (grown == NULL) return NULL;
  f->shares = grown;
  xcs_shared sh = {.key = strdup(key), .udp = strncmp(key, "udp ", 4) == 0, .fd = -1,
                   .binder = -1, .waiting = calloc((size_t)f->count, 1),
                   .held = calloc((size_t)f->count, 1)};
  if (sh.udp && (sh.fds = malloc(sizeof *sh.fds * (size_t)f->count)) != NULL)
    for (int i = 0; i < f->count; i++) sh.fds[i] = -1;
  if (!sh.key || !sh.waiting || !sh.held || (sh.udp && !sh.fds)) {
    free(sh.key);
    free(sh.waiting);
    free(sh.held);
    free(sh.fds);
    return NULL;
  }
  f->shares[f->nshares] = sh;
  return &f->shares[f->nshares++];
}

/* "tcp ADDR:PORT" or "udp ADDR:PORT": the socket systemd passed for that
 * port and type, as a share every worker is handed; NULL if there is none. */
static xcs_shared *add_inherited(xcs_fleet *f, const char *key) {
  int type = strncmp(key, "tcp ", 4) == 0   ? SOCK_STREAM
             : strncmp(key, "udp ", 4) == 0 ? SOCK_DGRAM
                                            : 0;
  const char *colon = strrchr(key, ':');
  int fd, port = colon ? atoi(colon + 1) : 0;
  const char *name;
  if (type == 0 || !xcs_inherit_take(type, port, &fd, &name)) return NULL;
  xcs_shared *sh = add_share(f, key);
  if (sh == NULL) {
    close(fd);
    return NULL;
  }
  sh->udp = 0; /* one socket for all: the workers read the one queue */
  sh->fd = fd;
  sh->inherited = 1;
  xcs_log(&f->host, "xcshost", "port %d (%s): the socket systemd passed (%s), for every worker",
          port, type == SOCK_STREAM ? "TCP" : "UDP", *name ? name : "unnamed");
  return sh;
}

static void get(xcs_fleet *f, xcs_slot *s, const char *key) {
  int me = s->number - 1;
  xcs_shared *sh = find(f, key);
  if (sh && sh->udp && sh->fds[me] >= 0) {
    sh->held[me] = 1;
    answer(s, "fd", sh->fds[me]); /* the socket of the process before it */
  } else if (sh && (sh->udp ? sh->port > 0 : sh->fd >= 0)) {
    hand_out(f, sh, me);
  } else if (sh && sh->binder >= 0) {
    sh->waiting[me] = 1;
  } else if (sh) {
    sh->binder = me;
    answer(s, "bind", -1);
  } else if (!f->stopping && (sh = add_inherited(f, key)) != NULL) {
    hand_out(f, sh, me);
  } else if (f->stopping || (sh = add_share(f, key)) == NULL) {
    answer(s, "bind", -1); /* stopping, or out of memory: this worker's own */
  } else {
    sh->binder = me;
    answer(s, "bind", -1);
  }
}

/* Slot s bound the socket fd for sh. */
static void put(xcs_fleet *f, xcs_shared *sh, xcs_slot *s, int fd) {
  int me = s->number - 1;
  sh->held[me] = 1;
  if (sh->udp) {
    if (sh->fds[me] >= 0) close(sh->fds[me]);
    sh->fds[me] = fd;
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (sh->port == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
      sh->port = xcs_addr_port((struct sockaddr *)&sa);
  } else if (sh->fd < 0) {
    sh->fd = fd;
  } else {
    close(fd);
  }
  if (sh->binder != me) return;
  sh->binder = -1;
  for (int i = 0; i < f->count; i++)
    if (sh->waiting[i]) hand_out(f, sh, i);
}

void xcs_shares_request(xcs_fleet *f, xcs_slot *s, const char *msg, int fd) {
  const char *key = strchr(msg, ' ');
  xcs_shared *sh = key ? find(f, key + 1) : NULL;
  int me = s->number - 1;
  if (key && strncmp(msg, "get ", 4) == 0) {
    get(f, s, key + 1);
  } else if (sh && strncmp(msg, "put ", 4) == 0 && fd >= 0) {
    put(f, sh, s, fd);
    fd = -1;
  } else if (sh && strncmp(msg, "drop ", 5) == 0 && sh->binder == me) {
    next_binder(f, sh); /* it could not bind */
  } else if (sh && strncmp(msg, "release ", 8) == 0) {
    sh->held[me] = 0;
    xcs_shares_sweep(f);
  }
  if (fd >= 0) close(fd);
}

void xcs_shares_forget(xcs_fleet *f, xcs_slot *s) {
  int me = s->number - 1;
  for (int i = f->nshares - 1; i >= 0; i--) {
    xcs_shared *sh = &f->shares[i];
    sh->waiting[me] = sh->held[me] = 0;
    if (sh->binder == me) next_binder(f, sh);
  }
}

void xcs_shares_sweep(xcs_fleet *f) {
  /* A slot that ended for good reads no more: its peers go to the others. */
  for (int i = 0; i < f->nshares; i++)
    for (int k = 0; f->shares[i].udp && k < f->count; k++)
      if (f->slots[k].done && f->shares[i].fds[k] >= 0) {
        close(f->shares[i].fds[k]);
        f->shares[i].fds[k] = -1;
      }
  /* A worker on its way up will open the same ports: keep them for it. */
  for (int i = 0; i < f->count; i++)
    if (!f->slots[i].done && !f->slots[i].ready) return;
  for (int i = f->nshares - 1; i >= 0; i--) {
    xcs_shared *sh = &f->shares[i];
    int holders = sh->binder >= 0 || sh->inherited;
    for (int k = 0; k < f->count; k++) holders += sh->held[k] + sh->waiting[k];
    if (holders == 0) remove_share(f, sh);
  }
}

void xcs_shares_close(xcs_fleet *f) {
  /* Workers still waiting bind on their own: the stop is under way. */
  while (f->nshares > 0) {
    xcs_shared *sh = &f->shares[f->nshares - 1];
    for (int i = 0; i < f->count; i++)
      if (sh->waiting[i]) answer(&f->slots[i], "bind", -1);
    remove_share(f, sh);
  }
  free(f->shares);
  f->shares = NULL;
}
