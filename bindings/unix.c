/*
 * unix.c — UNIX domain sockets: checking paths against --unix-dir, binding
 * (stale files replaced, live ones refused, reload hand-over), removing the
 * socket file, stream connects, and datagram sockets.
 */
#include "bindings/unix.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings/errors.h"
#include "bindings/stream.h"
#include "bindings/task.h"
#include "bindings/udp.h"
#include "bindings/admit.h"
#include "bindings/core/log.h"

/* Pushes nil, "CODE: <fmt...>", "CODE" for a libuv status; returns 3. */
static int fail(lua_State *L, int status, const char *fmt, ...) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: ", uv_err_name(status));
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  lua_pushstring(L, uv_err_name(status));
  return 3;
}

/* As fail, with the system's words for it and the path. */
static int fail_at(lua_State *L, int status, const char *path) {
  if (status == UV_ECANCELED || status == UV_EPIPE || status == UV_ENOTCONN)
    return xcs_push_fail(L, status);
  return fail(L, status, "%s (%s)", uv_strerror(status), path);
}

/* Paths ------------------------------------------------------------------------ */

/* Whether p is dir or below it (both absolute and free of "." and ".."). */
static int inside(const char *p, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1) return p[0] == '/'; /* --unix-dir / */
  return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* p (absolute) with ".", ".." and repeated slashes taken out, as written:
 * symlinks are not followed (for a directory that does not exist). */
static void lexical(const char *p, char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  while (*p) {
    while (*p == '/') p++;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0) break;
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--;
    } else if (!(n == 1 && p[0] == '.') && len + 1 + n < size) {
      out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    out[len] = '\0';
    p += n;
  }
  if (len == 0) snprintf(out, size, "/");
}

/* Whether the symlink at link (in directory dir, real) leads inside
 * realdir; where it leads is written to target. A link whose target does
 * not exist yet is judged by the directory it names, as it would be. */
static int link_inside(const char *link, const char *dir, const char *realdir,
                       char target[PATH_MAX]) {
  if (realpath(link, target) != NULL) return inside(target, realdir);
  char t[PATH_MAX], full[2 * PATH_MAX], d[PATH_MAX];
  ssize_t n = readlink(link, t, sizeof t - 1);
  if (n < 0) {
    snprintf(target, PATH_MAX, "?");
    return 0;
  }
  t[n] = '\0';
  if (t[0] == '/')
    snprintf(full, sizeof full, "%s", t);
  else
    snprintf(full, sizeof full, "%s/%s", dir, t);
  lexical(full, target, PATH_MAX);
  char *slash = strrchr(target, '/');
  size_t dl = slash && slash != target ? (size_t)(slash - target) : 1;
  if (dl >= sizeof d) return 0;
  memcpy(d, target, dl);
  d[dl] = '\0';
  char reald[PATH_MAX];
  return inside(realpath(d, reald) != NULL ? reald : d, realdir);
}

static int misuse(lua_State *L, const char *fname, int arg, const char *argname,
                  const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return xcs_raise_at_caller(L, "%s: bad argument #%d (%s): %s", fname, arg, argname,
                             lua_tostring(L, -1));
}

/* The checks of xcs_unix_path for the string given; argname names the
 * argument in messages ("port" for a port-keyed call). */
static int check_path(lua_State *L, const char *fname, int arg, const char *argname,
                      const char *given, size_t glen, char out[XCS_UNIX_PATHMAX]) {
  const char *dir = xcs_module_of(L)->host->opt.unix_dir;
  if (dir == NULL) {
    if (strcmp(argname, "port") == 0)
      return misuse(L, fname, arg, argname, "expected an integer from 0 to 65535, got \"%s\" "
                    "(a path names a UNIX socket, and this host allows none: start it with "
                    "--unix-dir DIR to allow them under DIR)", given);
    return misuse(L, fname, arg, argname, "\"%s\" names a UNIX socket, and this host allows "
                  "none: start it with --unix-dir DIR to allow them under DIR", given);
  }
  const char *base = strrchr(given, '/');
  base = base ? base + 1 : given;
  if (glen == 0 || strlen(given) != glen || *base == '\0' || strcmp(base, ".") == 0 ||
      strcmp(base, "..") == 0)
    return misuse(L, fname, arg, argname, "expected the path of a socket file, got \"%s\"",
                  given);
  char realdir[PATH_MAX], full[2 * PATH_MAX], parent[PATH_MAX], real[PATH_MAX];
  if (realpath(dir, realdir) == NULL) {
    int e = errno;
    return fail(L, uv_translate_sys_error(e), "the --unix-dir directory %s: %s", dir,
                strerror(e));
  }
  if (given[0] == '/')
    snprintf(full, sizeof full, "%s", given);
  else
    snprintf(full, sizeof full, "%s/%s", realdir, given);
  size_t plen = strlen(full) - strlen(base);
  while (plen > 1 && full[plen - 1] == '/') plen--;
  if (plen >= sizeof parent)
    return misuse(L, fname, arg, argname, "\"%s\" is too long a path", given);
  memcpy(parent, full, plen);
  parent[plen] = '\0';
  if (realpath(parent, real) == NULL) {
    int e = errno;
    /* No such directory: say so, unless it could not be inside anyway. */
    char lex[PATH_MAX], lexdir[PATH_MAX], absdir[PATH_MAX];
    lexical(parent, lex, sizeof lex);
    if (dir[0] == '/' || getcwd(absdir, sizeof absdir) == NULL)
      snprintf(absdir, sizeof absdir, "%s", dir);
    else
      snprintf(absdir + strlen(absdir), sizeof absdir - strlen(absdir), "/%s", dir);
    lexical(absdir, lexdir, sizeof lexdir);
    if (!inside(lex, realdir) && !inside(lex, lexdir))
      return misuse(L, fname, arg, argname, "\"%s\" is outside the --unix-dir directory %s",
                    given, realdir);
    return fail(L, uv_translate_sys_error(e), "no directory %s for \"%s\" (%s)", parent, given,
                strerror(e));
  }
  if (!inside(real, realdir))
    return misuse(L, fname, arg, argname, "\"%s\" resolves to %s/%s, outside the --unix-dir "
                  "directory %s", given, strcmp(real, "/") == 0 ? "" : real, base, realdir);
  char canon[2 * PATH_MAX];
  snprintf(canon, sizeof canon, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/", base);
  /* A symlink there is followed by connect and by sendto: it must not lead
   * out either. */
  struct stat st;
  char target[PATH_MAX];
  if (lstat(canon, &st) == 0 && S_ISLNK(st.st_mode) && !link_inside(canon, real, realdir, target))
    return misuse(L, fname, arg, argname, "\"%s\" is a symlink to %s, outside the --unix-dir "
                  "directory %s", given, target, realdir);
  size_t clen = strlen(canon);
  if (clen >= (size_t)XCS_UNIX_PATHMAX)
    return misuse(L, fname, arg, argname, "\"%s\" is %d bytes long as %s; a UNIX socket path "
                  "holds at most %d (sun_path)", given, (int)clen, canon, XCS_UNIX_PATHMAX - 1);
  memcpy(out, canon, clen + 1);
  return 0;
}

static int path_at(lua_State *L, const char *fname, int arg, const char *argname,
                   char out[XCS_UNIX_PATHMAX]) {
  if (lua_type(L, arg) != LUA_TSTRING) /* before lua_tolstring turns a number into one */
    return misuse(L, fname, arg, argname, "expected the path of a socket file, got %s",
                  luaL_typename(L, arg));
  size_t len;
  const char *given = lua_tolstring(L, arg, &len);
  return check_path(L, fname, arg, argname, given, len, out);
}

int xcs_unix_path(lua_State *L, const char *fname, int arg, char out[XCS_UNIX_PATHMAX]) {
  return path_at(L, fname, arg, "path", out);
}

/* core.unix_path(path, fname, arg, argname) -> canonical | nil, msg, code;
 * raises on misuse, as fname. */
static int l_unix_path(lua_State *L) {
  const char *fname = luaL_checkstring(L, 2);
  int arg = (int)luaL_checkinteger(L, 3);
  const char *argname = luaL_optstring(L, 4, "path");
  size_t len;
  const char *given = luaL_checklstring(L, 1, &len);
  char out[XCS_UNIX_PATHMAX];
  int n = check_path(L, fname, arg, argname, given, len, out);
  if (n) return n;
  lua_pushstring(L, out);
  return 1;
}

void xcs_unix_check_opts(lua_State *L, int idx, const char *fname) {
  if (lua_type(L, idx) != LUA_TTABLE) return;
  static const char *const tcp_only[] = {"nodelay", "keepalive"};
  for (int i = 0; i < 2; i++) {
    int t = lua_getfield(L, idx, tcp_only[i]);
    lua_pop(L, 1);
    if (t != LUA_TNIL)
      xcs_raise_at_caller(L, "%s: option '%s' is a TCP option; a UNIX socket has none such",
                          fname, tcp_only[i]);
  }
}

/* Socket files ------------------------------------------------------------------ */

static void own(xcs_handle *h, xcs_unix_file *f) {
  struct stat st;
  f->dev = 0;
  f->ino = 0;
  if (lstat(f->path, &st) == 0) {
    f->dev = st.st_dev;
    f->ino = st.st_ino;
  }
  xcs_handle_binding(h)->path = f->path;
}

void xcs_unix_release(xcs_handle *h, xcs_unix_file *f) {
  xcs_binding *b = xcs_handle_binding(h);
  if (b->path == NULL) return;
  b->path = NULL;
  struct stat st;
  if (lstat(f->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == f->dev &&
      st.st_ino == f->ino)
    unlink(f->path);
}

/* Whether a socket answers at sa: a listener (connect succeeds, or its
 * backlog is full) or a bound datagram socket. A file nobody holds refuses
 * (ECONNREFUSED); one that cannot be told is taken as live, and kept. */
static int is_live(const struct sockaddr_un *sa) {
  static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
  for (int i = 0; i < 2; i++) {
    int s = socket(AF_UNIX, types[i] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return 1;
    int r = connect(s, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(s);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS) return 1;
    if (e == ECONNREFUSED || e == ENOENT) return 0;
    if (e != EPROTOTYPE) return 1; /* EACCES, say: not ours to replace */
  }
  return 1;
}

/* The open socket of this host bound to path, if any. */
static xcs_handle *holder(xcs_host *host, const char *path) {
  for (xcs_list *l = host->modules.next; l != &host->modules; l = l->next) {
    xcs_module *m = xcs_container_of(l, xcs_module, link);
    for (xcs_list *k = m->handles.next; k != &m->handles; k = k->next) {
      xcs_handle *h = xcs_container_of(k, xcs_handle, link);
      xcs_binding *b = xcs_handle_binding(h);
      if (b && b->path && !h->closing && strcmp(b->path, path) == 0) return h;
    }
  }
  return NULL;
}

int xcs_unix_bind(lua_State *L, xcs_handle *h, const xcs_handle_type *type, int socktype,
                  xcs_unix_file *f, uv_os_sock_t *fd) {
  xcs_module *m = h->m;
  const char *path = f->path;
  if (m->host->mgr->takeover_path(m, type, path, fd)) {
    own(h, f);
    return 0;
  }
  /* Under --workers the workers share the socket, and the supervisor
   * removes its file once none holds it: no worker owns it. */
  const xcs_share *share = m->host->share;
  struct sockaddr_un at = {.sun_family = AF_UNIX};
  memcpy(at.sun_path, path, strlen(path) + 1); /* checked: it fits */
  const char *kind = socktype == SOCK_STREAM ? "unix-stream" : "unix-dgram";
  if (share && share->get(m, kind, (struct sockaddr *)&at, fd)) return 0;
  xcs_handle *other = holder(m->host, path);
  if (other)
    return fail(L, UV_EADDRINUSE, "%s is in use by %s", path,
                other->m == m ? "this module" : other->m->name);
  int s = socket(AF_UNIX, socktype | SOCK_CLOEXEC, 0);
  if (s < 0) return fail_at(L, uv_translate_sys_error(errno), path);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1); /* checked: it fits */
  for (int tries = 0;; tries++) {
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) == 0) break;
    int e = errno;
    struct stat st;
    if (e != EADDRINUSE || tries == 2) {
      close(s);
      return fail_at(L, uv_translate_sys_error(e), path);
    }
    if (lstat(path, &st) != 0) continue; /* gone meanwhile */
    if (!S_ISSOCK(st.st_mode)) {
      close(s);
      return fail(L, UV_EEXIST, "%s exists and is not a socket (it is left alone)", path);
    }
    if (is_live(&sa)) {
      close(s);
      return fail(L, UV_EADDRINUSE, "a socket is open on %s", path);
    }
    /* A socket file left behind by a process that is gone. */
    unlink(path);
    xcs_log(m->host, m->name, "replaced the stale socket file %s", path);
  }
  *fd = s;
  if (share)
    share->put(m, s);
  else
    own(h, f);
  return 0;
}

/* Stream connects ------------------------------------------------------------------ */

/* A connect in progress, with the options for its socket once connected:
 * a connection carries none of it. */
typedef struct unix_connect {
  uv_connect_t req;
  xcs_conn_opts opts;
} unix_connect;

static void connect_cb(uv_connect_t *req, int status) {
  unix_connect *uc = (unix_connect *)req;
  xcs_conn *c = (xcs_conn *)req->handle->data;
  xcs_conn_opts opts = uc->opts;
  free(uc); /* made for it (l_unix_connect) */
  if (c->h.closing) return; /* closed (or timed out) meanwhile: nobody waits */
  if (status != 0)
    c->err = status;
  else
    xcs_conn_started(c, &opts);
  xcs_task_wake_now(&c->h.writer, status);
}

/* Stack: path, deadline, conn. */
static int connect_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 3, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed while connecting");
  if (c->connected) {
    lua_settop(L, 3);
    return 1;
  }
  if (c->err || (again && xcs_timed_out(L, lua_tonumber(L, 2)))) {
    int n = c->err ? fail_at(L, c->err, xcs_conn_peer(c))
                   : fail(L, UV_ETIMEDOUT, "connecting to %s timed out", xcs_conn_peer(c));
    xcs_handle_close(&c->h, 0);
    return n;
  }
  return xcs_wait_until(L, &c->h.writer, connect_k, lua_tonumber(L, 2));
}

/* core.unix_connect(path [, opts]) -> conn | nil, err, code */
static int l_unix_connect(lua_State *L) {
  xcs_unix_check_opts(L, 2, "socket.connect");
  xcs_conn_opts opts;
  xcs_conn_opts_default(&opts);
  double timeout = XCS_CONNECT_TIMEOUT;
  xcs_conn_opts_read(L, 2, "socket.connect", &opts, NULL, &timeout);
  xcs_task_check(L, "socket.connect");
  char path[XCS_UNIX_PATHMAX];
  int n = xcs_unix_path(L, "socket.connect", 1, path);
  if (n) return n;
  xcs_module *m = xcs_module_of(L);
  lua_settop(L, 1);
  lua_pushnumber(L, xcs_deadline(m, timeout)); /* 2 */
  int refused = xcs_admit(m, 0, -1);
  if (refused) return xcs_admit_refused(L, m, refused, -1);
  xcs_conn *c = xcs_conn_new(L, m, 1);                     /* 3 */
  xcs_admit_count(&c->h, 0);
  c->opts = opts.kept;
  xcs_conn_name(c, NULL, path);
  /* libuv reports the outcome from the loop, never inside this call. */
  unix_connect *uc = malloc(sizeof *uc);
  if (uc != NULL) {
    uc->opts = opts;
    uv_pipe_connect(&uc->req, &c->io.pipe, path, connect_cb);
  } else {
    c->err = UV_ENOMEM;
  }
  return connect_k(L, LUA_OK, 0);
}

/* Datagram sockets ------------------------------------------------------------------ */

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
    return fail(L, UV_ETIMEDOUT, "no datagram within the timeout");
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
  if (e != UV_EAGAIN) return fail_at(L, e, to);
  xcs_module *m = u->h.m;
  double backoff = lua_tonumber(L, 5);
  if (!again) {
    double secs = lua_tonumber(L, 4);
    if (secs == 0 || !xcs_task_can_wait(L))
      return fail(L, e, "the receiving socket's queue is full (%s)", to);
    if (u->h.writer)
      return xcs_raise_at_caller(L, "write: socket busy writing (another task waits for room "
                                    "at a receiver)");
    lua_pushnumber(L, xcs_deadline(m, secs));
    lua_replace(L, 4);
  } else {
    double deadline = lua_tonumber(L, 4);
    if (deadline >= 0 && (double)uv_now(&m->host->loop) >= deadline)
      return fail(L, UV_ETIMEDOUT, "the receiving socket's queue stayed full (%s)", to);
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
    int n = path_at(L, "write", 3, "to", path);
    if (n) return n;
    lua_settop(L, 2);
    lua_pushstring(L, path);
  }
  if (lua_rawlen(L, 2) > (size_t)XCS_UNIXDGRAM_MAX)
    return fail(L, UV_EMSGSIZE, "a UNIX datagram carries at most %d bytes here, not %I",
                XCS_UNIXDGRAM_MAX, (lua_Integer)lua_rawlen(L, 2));
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
    if (r != 0) fail_at(L, r, path);
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
  int n = xcs_unix_path(L, "socket.open", 1, path);
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
  int n = xcs_unix_path(L, "socket.connect", 1, path);
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
    return fail(L, UV_ENAMETOOLONG, "no room for this socket's own name beside %s", path);
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
    return fail_at(L, e, path);
  }
  u->connected = 1;
  snprintf(u->peer, sizeof u->peer, "%s", path);
  xcs_log_socket(u->h.m->host, u->h.m->name, "connect", self, path, dgram_proto,
                 "sending from %s to %s (%s)", self, path, dgram_proto);
  update_poll(u);
  return 1;
}

void xcs_unix_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"unix_path", l_unix_path},
                                 {"unix_connect", l_unix_connect},
                                 {"unixdgram_open", l_dgram_open},
                                 {"unixdgram_connect", l_dgram_connect},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
