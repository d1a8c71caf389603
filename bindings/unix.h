/*
 * unix.h — UNIX domain sockets: a path instead of a port, only under the
 * directory the operator allows (--unix-dir), and the socket file removed
 * when the socket closes.
 *
 * Paths. A relative path is relative to --unix-dir. The directory that will
 * hold the socket file is resolved (realpath: symlinks and ".." followed)
 * and must be --unix-dir or below it; a final component that is a symlink
 * must lead there too (connect follows it). Anything else, a path longer
 * than sun_path holds, or no --unix-dir at all, is misuse and raises naming
 * the function, the argument and the option. Sockets are known by their
 * canonical path: the real directory, "/", the file name.
 *
 * Socket files. Binding a path whose socket file has no listener behind it
 * (a stale file: connecting to it is refused) replaces that file; a live
 * one gives nil, "EADDRINUSE: ...", "EADDRINUSE", and anything that is not
 * a socket is left alone (EEXIST). The file a socket bound is removed when
 * that socket closes (close, unload, host stop), but only if it is still
 * the file it created (same device and inode). On a reload the new version
 * is handed the running version's socket on the same path, and the file
 * with it.
 *
 * Streams run over the TCP connection code (bindings/stream.c, a uv_pipe_t
 * in place of the uv_tcp_t) and listeners over the TCP listener code
 * (bindings/tcp.c): framing, backpressure, timeouts, shutdown, closing and
 * fault-injected delay are the same. Datagrams ("xcs.unixdgram",
 * unix_dgram.c) are a
 * socket watched by a uv_poll_t, with the bounded receive queue of UDP:
 * read() -> data, from-path; write(data, to-path). The kernel queues only
 * a few datagrams per receiver (net.unix.max_dgram_qlen), so a write that
 * finds the queue full waits and retries (up to its timeout) rather than
 * fail or drop. A connected datagram socket binds a file of its own beside
 * its peer's, so it can be answered.
 */
#ifndef XCS_UNIX_H
#define XCS_UNIX_H

#include <sys/types.h>
#include <sys/un.h>

#include "bindings/handle.h"

/* Bytes of the longest path a UNIX socket can have, with its NUL. */
#define XCS_UNIX_PATHMAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path))

/* The socket file a socket bound, to remove it when the socket closes. */
typedef struct xcs_unix_file {
  char path[XCS_UNIX_PATHMAX];
  dev_t dev;
  ino_t ino;
} xcs_unix_file;

extern const xcs_handle_type xcs_unixdgram_type;

/* Checks the path at index arg (argname in the message) for fname
 * (raising on misuse, see above) and writes its canonical form to out.
 * Returns 0, or pushes nil, msg, code (a directory that does not exist,
 * say) and returns 3. */
int xcs_unix_path(lua_State *L, const char *fname, int arg, const char *argname,
                  char out[XCS_UNIX_PATHMAX]);

/* Binds a new socket of socktype (SOCK_STREAM or SOCK_DGRAM) for h, of
 * `type`, at f->path (canonical): the running version's on a reload, else
 * a fresh one, replacing a stale file. Returns 0 with the socket in *fd (h
 * now owns the file: h->path points at f->path), or pushes nil, msg, code
 * and returns 3. */
int xcs_unix_bind(lua_State *L, xcs_handle *h, const xcs_handle_type *type, int socktype,
                  xcs_unix_file *f, uv_os_sock_t *fd);

/* h closes its socket: removes its file if h still owns it and it is still
 * the file h made. */
void xcs_unix_release(xcs_handle *h, xcs_unix_file *f);

/* Raises if the options table at idx names a TCP-only option (nodelay,
 * keepalive): a UNIX socket has none. */
void xcs_unix_check_opts(lua_State *L, int idx, const char *fname);

/* Whether the dgram socket h has a default peer (unix_dgram.c). */
int xcs_unixdgram_connected(xcs_handle *h);

/* core.unix_path(path, fname, arg), core.unix_connect(path [, opts]), and
 * xcs_unixdgram_open's. */
void xcs_unix_open(lua_State *L);
/* core.unixdgram_open(path), core.unixdgram_connect(path), the metatable
 * (unix_dgram.c). */
void xcs_unixdgram_open(lua_State *L);

#endif
