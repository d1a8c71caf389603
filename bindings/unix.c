/*
 * unix.c — UNIX domain sockets: checking paths against --unix-dir, binding
 * (stale files replaced, live ones refused, reload hand-over), removing the
 * socket file, and stream connects. Datagram sockets are unix_dgram.c's.
 */
#include "bindings/unix.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings/errors.h"
#include "bindings/stream.h"
#include "bindings/task.h"
#include "bindings/admit.h"
#include "bindings/core/log.h"

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
    return xcs_push_failf(L, uv_translate_sys_error(e), "the --unix-dir directory %s: %s",
                          dir, strerror(e));
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
    return xcs_push_failf(L, uv_translate_sys_error(e), "no directory %s for \"%s\" (%s)",
                          parent, given, strerror(e));
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

int xcs_unix_path(lua_State *L, const char *fname, int arg, const char *argname,
                  char out[XCS_UNIX_PATHMAX]) {
  if (lua_type(L, arg) != LUA_TSTRING) /* before lua_tolstring turns a number into one */
    return misuse(L, fname, arg, argname, "expected the path of a socket file, got %s",
                  luaL_typename(L, arg));
  size_t len;
  const char *given = lua_tolstring(L, arg, &len);
  return check_path(L, fname, arg, argname, given, len, out);
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
    return xcs_push_failf(L, UV_EADDRINUSE, "%s is in use by %s", path,
                          other->m == m ? "this module" : other->m->name);
  int s = socket(AF_UNIX, socktype | SOCK_CLOEXEC, 0);
  if (s < 0) return xcs_push_fail_at(L, uv_translate_sys_error(errno), path);
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
      return xcs_push_fail_at(L, uv_translate_sys_error(e), path);
    }
    if (lstat(path, &st) != 0) continue; /* gone meanwhile */
    if (!S_ISSOCK(st.st_mode)) {
      close(s);
      return xcs_push_failf(L, UV_EEXIST, "%s exists and is not a socket (it is left alone)",
                            path);
    }
    if (is_live(&sa)) {
      close(s);
      return xcs_push_failf(L, UV_EADDRINUSE, "a socket is open on %s", path);
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
    xcs_conn_started(c, &opts, NULL);
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
    const char *peer = xcs_conn_peer(c);
    int n = c->err ? xcs_push_fail_at(L, c->err, peer)
                   : xcs_push_failf(L, UV_ETIMEDOUT, "connecting to %s timed out", peer);
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
  int n = xcs_unix_path(L, "socket.connect", 1, "path", path);
  if (n) return n;
  xcs_module *m = xcs_module_of(L);
  lua_settop(L, 1);
  lua_pushnumber(L, xcs_deadline(m, timeout)); /* 2 */
  int refused = xcs_admit(m, 0, -1);
  if (refused) return xcs_admit_refused(L, m, refused, -1);
  xcs_conn *c = xcs_conn_new(L, m, 1);                     /* 3 */
  xcs_admit_count(&c->h, 0);
  if (xcs_conn_keep(c, &opts.kept) != 0) {
    xcs_handle_close(&c->h, 0);
    return luaL_error(L, "not enough memory");
  }
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

void xcs_unix_open(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"unix_path", l_unix_path}, {"unix_connect", l_unix_connect}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  xcs_unixdgram_open(L);
}
