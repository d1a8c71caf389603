/*
 * unix_dgram.c — UNIX datagram sockets ("xcs.unixdgram"): a socket watched
 * by a uv_poll_t (libuv has no UNIX datagram handle), with UDP's bounded
 * receive queue; a write that finds the receiver's queue full waits and
 * retries. Paths and socket files are unix.c's.
 */
#include "bindings/unix.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bindings/admit.h"
#include "bindings/core/log.h"
#include "bindings/errors.h"
#include "bindings/stream.h"
#include "bindings/task.h"
#include "bindings/udp.h"

/* What a UNIX datagram can carry here: what one read of the host takes. */
#define XCS_UNIXDGRAM_MAX ((int)sizeof(((xcs_host *)0)->readbuf))

typedef struct dgram {
  xcs_list link;
  size_t len;
  int truncated;
  char from[XCS_NAMESTRLEN];
  char data[];
} dgram;

typedef struct xcs_unixdgram {
  xcs_handle h;
  xcs_binding binding; /* its path, for a reload (handle.h) */
  union {            /* the watcher of fd, once it has one (watched) */
    uv_handle_t handle;
    uv_poll_t poll;
  } io;
  int watched;       /* io was initialised: it needs a close */
  int fd;
  int polling;
  int bound;         /* it has its file: worth a log line on close */
  int connected;
  xcs_unix_file file;
  xcs_list queue;    /* dgram.link, oldest first */
  int queued;
  int err;
  uint64_t bytes_in, bytes_out;
  char peer[XCS_UNIX_PATHMAX];
} xcs_unixdgram;

int xcs_unixdgram_connected(xcs_handle *h) { return ((xcs_unixdgram *)h)->connected; }

static const char *dgram_proto = "UNIX-DGRAM";

/* A sender's name: its path, "@name" for Linux's abstract names, "" for a
 * socket that bound none (it cannot be answered). */
static void name_of(const struct sockaddr_un *sa, socklen_t len, char *buf, size_t size) {
  size_t off = offsetof(struct sockaddr_un, sun_path);
  if (len <= off) {
    buf[0] = '\0';
  } else if (sa->sun_path[0] == '\0') {
    snprintf(buf, size, "@%.*s", (int)(len - off - 1), sa->sun_path + 1);
  } else {
    snprintf(buf, size, "%.*s", (int)(len - off), sa->sun_path);
  }
}

static void poll_cb(uv_poll_t *p, int status, int events);

static void update_poll(xcs_unixdgram *u) {
  int want = !u->h.closing && u->queued < XCS_UDP_QUEUE;
  if (want && !u->polling) {
    if (uv_poll_start(&u->io.poll, UV_READABLE, poll_cb) == 0) u->polling = 1;
  } else if (!want && u->polling) {
    uv_poll_stop(&u->io.poll);
    u->polling = 0;
  }
}

static void poll_cb(uv_poll_t *p, int status, int events) {
  (void)events;
  xcs_unixdgram *u = (xcs_unixdgram *)p->data;
  xcs_host *host = u->h.m->host;
  if (status < 0) {
    u->err = status;
    xcs_task_wake_now(&u->h.reader, 0);
    return;
  }
  /* Bounded: at most the room left in the queue. */
  while (u->queued < XCS_UDP_QUEUE) {
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t n = recvfrom(u->fd, host->readbuf, sizeof host->readbuf, MSG_DONTWAIT | MSG_TRUNC,
                         (struct sockaddr *)&from, &flen);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      u->err = uv_translate_sys_error(errno);
      break;
    }
    size_t got = (size_t)n > sizeof host->readbuf ? sizeof host->readbuf : (size_t)n;
    dgram *d = malloc(sizeof *d + got);
    if (d == NULL) continue; /* dropped, as a full queue would */
    memcpy(d->data, host->readbuf, got);
    d->len = got;
    d->truncated = got < (size_t)n;
    name_of(&from, flen, d->from, sizeof d->from);
    xcs_list_push(&u->queue, &d->link);
    u->queued++;
    u->bytes_in += got;
    u->h.m->stats.bytes_in[XCS_P_UNIXDGRAM] += got;
  }
  update_poll(u);
  xcs_task_wake_now(&u->h.reader, 0);
}

static void dgram_close(xcs_handle *h, int graceful) {
  (void)graceful;
  xcs_unixdgram *u = (xcs_unixdgram *)h;
  if (u->bound)
    xcs_log_socket(h->m->host, h->m->name, "close", u->file.path, NULL, dgram_proto, "closed %s (%s)",
                   u->file.path, dgram_proto);
  xcs_unix_release(h, &u->file);
  xcs_list *n;
  while ((n = xcs_list_shift(&u->queue)) != NULL) free(xcs_container_of(n, dgram, link));
  u->queued = 0;
  u->polling = 0;
  if (u->watched) xcs_handle_uv_close(h, &u->io.handle);
  /* uv_close stopped the watcher: the descriptor can go now. */
  if (u->fd >= 0) close(u->fd);
  u->fd = -1;
}

static void dgram_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_unixdgram *u = (xcs_unixdgram *)h;
  snprintf(buf, size, "%s%s%s (%d datagrams waiting)", u->file.path,
           u->connected ? " -> " : "", u->connected ? u->peer : "", u->queued);
}

static xcs_unixdgram *check_dgram(lua_State *L) {
  return (xcs_unixdgram *)xcs_handle_check(L, 1, &xcs_unixdgram_type);
}

/* read([timeout]) -> data, from [, "truncated"] | nil, msg, code. Stack:
 * dgram, deadline (the seconds until the first wait). */
static int dgram_read_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_unixdgram *u = (xcs_unixdgram *)xcs_handle_get(L, 1, &xcs_unixdgram_type);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed");
  xcs_list *n = xcs_list_shift(&u->queue);
  if (n != NULL) {
    dgram *d = xcs_container_of(n, dgram, link);
    lua_pushlstring(L, d->data, d->len);
    lua_pushstring(L, d->from);
    int nres = 2;
    if (d->truncated) {
      lua_pushliteral(L, "truncated");
      nres = 3;
    }
    free(d);
    u->queued--;
    update_poll(u);
    return nres;
  }
  if (u->err) {
    int err = u->err;
    u->err = 0;
    return xcs_push_fail(L, err);
  }
  double deadline = lua_tonumber(L, 2);
  if (again && xcs_timed_out(L, deadline))
    return xcs_push_failf(L, UV_ETIMEDOUT, "no datagram within the timeout");
  if (!again) {
    if (u->h.reader)
      return xcs_raise_at_caller(L, "read: socket busy reading (another task is reading it)");
    xcs_task_check(L, "read");
    deadline = xcs_deadline(u->h.m, deadline);
    lua_pushnumber(L, deadline);
    lua_replace(L, 2);
  }
  return xcs_wait_until(L, &u->h.reader, dgram_read_k, deadline);
}

static int dgram_read(lua_State *L) {
  check_dgram(L);
  double secs = xcs_timeout_arg(L, 2, -1);
  lua_settop(L, 1);
  lua_pushnumber(L, secs);
  return dgram_read_k(L, LUA_OK, 0);
}

/* How long a write waits for room in a receiver's queue, by default. */
#define XCS_UNIXDGRAM_SEND_TIMEOUT 10.0

/* write(data [, to [, timeout]]) -> #data | nil, msg, code. to is a path
 * (under --unix-dir); without it, the connected peer. A receiver's queue
 * holds few datagrams (net.unix.max_dgram_qlen), and the kernel then says
 * EAGAIN: the write waits and tries again, sooner first (the receiver is
 * often a module of this very loop) and then every 50 ms, up to timeout.
 * Stack: dgram, data, to (canonical) | nil, deadline | timeout, backoff. */
static int dgram_write_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_unixdgram *u = (xcs_unixdgram *)xcs_handle_get(L, 1, &xcs_unixdgram_type);
  if (u == NULL) return xcs_push_closed(L, "the socket was closed");
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  const char *to = lua_isnil(L, 3) ? u->peer : lua_tostring(L, 3);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", to);
  const struct sockaddr *dest = lua_isnil(L, 3) ? NULL : (const struct sockaddr *)&sa;
  ssize_t r = sendto(u->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, dest,
                     dest ? (socklen_t)sizeof sa : 0);
  if (r >= 0) {
    u->bytes_out += (uint64_t)r;
    u->h.m->stats.bytes_out[XCS_P_UNIXDGRAM] += (uint64_t)r;
    lua_pushinteger(L, (lua_Integer)len);
    return 1;
  }
  int e = uv_translate_sys_error(errno);
  if (e != UV_EAGAIN) return xcs_push_fail_at(L, e, to);
  xcs_module *m = u->h.m;
  double backoff = lua_tonumber(L, 5);
  if (!again) {
    double secs = lua_tonumber(L, 4);
    if (secs == 0 || !xcs_task_can_wait(L))
      return xcs_push_failf(L, e, "the receiving socket's queue is full (%s)", to);
    if (u->h.writer)
      return xcs_raise_at_caller(L, "write: socket busy writing (another task waits for room "
                                    "at a receiver)");
    lua_pushnumber(L, xcs_deadline(m, secs));
    lua_replace(L, 4);
  } else {
    double deadline = lua_tonumber(L, 4);
    if (deadline >= 0 && (double)uv_now(&m->host->loop) >= deadline)
      return xcs_push_failf(L, UV_ETIMEDOUT, "the receiving socket's queue stayed full (%s)",
                            to);
    backoff = backoff == 0 ? 0.001 : backoff * 2 > 0.05 ? 0.05 : backoff * 2;
  }
  lua_pushnumber(L, backoff);
  lua_replace(L, 5);
  return xcs_task_park(L, &u->h.writer, backoff, dgram_write_k, 1);
}

static int dgram_write(lua_State *L) {
  xcs_unixdgram *u = check_dgram(L);
  luaL_checktype(L, 2, LUA_TSTRING);
  double secs = xcs_timeout_arg(L, 4, XCS_UNIXDGRAM_SEND_TIMEOUT);
  lua_settop(L, 3);
  if (u->connected) {
    if (!lua_isnil(L, 3) &&
        (lua_type(L, 3) != LUA_TSTRING || strcmp(lua_tostring(L, 3), u->peer) != 0))
      return luaL_argerror(L, 3, lua_pushfstring(L, "this socket sends only to %s", u->peer));
    lua_pushnil(L);
    lua_replace(L, 3);
  } else {
    if (lua_isnil(L, 3)) return luaL_argerror(L, 3, "expected the path to send to");
    char path[XCS_UNIX_PATHMAX];
    int n = xcs_unix_path(L, "write", 3, "to", path);
    if (n) return n;
    lua_settop(L, 2);
    lua_pushstring(L, path);
  }
  if (lua_rawlen(L, 2) > (size_t)XCS_UNIXDGRAM_MAX)
    return xcs_push_failf(L, UV_EMSGSIZE, "a UNIX datagram carries at most %d bytes here, "
                          "not %I", XCS_UNIXDGRAM_MAX, (lua_Integer)lua_rawlen(L, 2));
  lua_pushnumber(L, secs); /* 4 */
  lua_pushnumber(L, 0);    /* 5: no backoff yet */
  return dgram_write_k(L, LUA_OK, 0);
}

static int dgram_port(lua_State *L) {
  lua_pushstring(L, check_dgram(L)->file.path);
  return 1;
}

static int dgram_peer(lua_State *L) {
  xcs_unixdgram *u = check_dgram(L);
  if (!u->connected) return 0;
  lua_pushstring(L, u->peer);
  return 1;
}

static const luaL_Reg dgram_methods[] = {
    {"read", dgram_read},    {"write", dgram_write}, {"port", dgram_port},
    {"address", dgram_port}, {"path", dgram_port},   {"peer", dgram_peer},
    {NULL, NULL}};

static void dgram_info(xcs_handle *h, lua_State *L) {
  xcs_unixdgram *u = (xcs_unixdgram *)h;
  xcs_info_str(L, "protocol", dgram_proto);
  xcs_info_str(L, "kind", u->connected ? "connected" : "socket");
  xcs_info_str(L, "local", u->file.path);
  if (u->connected) xcs_info_str(L, "remote", u->peer);
  xcs_info_int(L, "bytes_in", u->bytes_in);
  xcs_info_int(L, "bytes_out", u->bytes_out);
}

const xcs_handle_type xcs_unixdgram_type = {XCS_T_UNIXDGRAM, "xcs.unixdgram", dgram_close,
                                            dgram_describe, dgram_methods, dgram_info, NULL,
                                            offsetof(xcs_unixdgram, binding), NULL, 0};

/* A new datagram socket of the running module bound to path (canonical);
 * pushes its box and returns it, or pushes nil, msg, code over the box and
 * returns NULL. */
static xcs_unixdgram *dgram_bind(lua_State *L, const char *path) {
  xcs_module *m = xcs_module_of(L);
  int refused = xcs_admit(m, 0, -1);
  if (refused) {
    xcs_admit_refused(L, m, refused, -1);
    return NULL;
  }
  xcs_unixdgram *u = xcs_handle_new(L, m, sizeof *u, &xcs_unixdgram_type);
  xcs_admit_count(&u->h, 0);
  u->fd = -1;
  xcs_list_init(&u->queue);
  snprintf(u->file.path, sizeof u->file.path, "%s", path);
  uv_os_sock_t fd;
  int r = xcs_unix_bind(L, &u->h, &xcs_unixdgram_type, SOCK_DGRAM, &u->file, &fd);
  if (r == 0) {
    u->fd = fd;
    r = uv_poll_init_socket(&m->host->loop, &u->io.poll, fd);
    if (r != 0) xcs_push_fail_at(L, r, path);
    u->watched = r == 0;
  }
  u->io.handle.data = &u->h;
  if (r != 0) {
    xcs_handle_close(&u->h, 0);
    return NULL;
  }
  u->bound = 1;
  u->binding.bound = &u->io.handle; /* what a reload hands over */
  return u;
}

/* core.unixdgram_open(path) -> dgram | nil, err, code */
static int l_dgram_open(lua_State *L) {
  char path[XCS_UNIX_PATHMAX];
  int n = xcs_unix_path(L, "socket.open", 1, "path", path);
  if (n) return n;
  lua_settop(L, 1);
  xcs_unixdgram *u = dgram_bind(L, path);
  if (u == NULL) return 3;
  xcs_log_socket(u->h.m->host, u->h.m->name, "bind", path, NULL, dgram_proto, "bound to %s (%s)", path,
                 dgram_proto);
  update_poll(u);
  return 1;
}

/* core.unixdgram_connect(path) -> dgram | nil, err, code: a datagram
 * socket whose writes go to path. It binds a file of its own under
 * --unix-dir (removed when it closes), so it can be answered. */
static int l_dgram_connect(lua_State *L) {
  char path[XCS_UNIX_PATHMAX], self[XCS_UNIX_PATHMAX + 64];
  int n = xcs_unix_path(L, "socket.connect", 1, "path", path);
  if (n) return n;
  lua_settop(L, 1);
  static unsigned seq;
  const char *slash = strrchr(path, '/');
  int dirlen = (int)(slash - path);
  char name[64];
  snprintf(name, sizeof name, ".xcs-%ld-%u.sock", (long)getpid(), ++seq);
  snprintf(self, sizeof self, "%.*s/%s", dirlen, path, name);
  /* Its own file beside the one it sends to: that directory is allowed. */
  if (strlen(self) >= (size_t)XCS_UNIX_PATHMAX)
    return xcs_push_failf(L, UV_ENAMETOOLONG, "no room for this socket's own name beside %s",
                          path);
  xcs_unixdgram *u = dgram_bind(L, self); /* 2 */
  if (u == NULL) return 3;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  if (connect(u->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = uv_translate_sys_error(errno);
    u->bound = 0; /* never used: no log line */
    xcs_handle_close(&u->h, 0);
    return xcs_push_fail_at(L, e, path);
  }
  u->connected = 1;
  snprintf(u->peer, sizeof u->peer, "%s", path);
  xcs_log_socket(u->h.m->host, u->h.m->name, "connect", self, path, dgram_proto,
                 "sending from %s to %s (%s)", self, path, dgram_proto);
  update_poll(u);
  return 1;
}

void xcs_unixdgram_open(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"unixdgram_open", l_dgram_open}, {"unixdgram_connect", l_dgram_connect}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
