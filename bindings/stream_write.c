/*
 * stream_write.c — a connection's writes, as a module calls them: write
 * (waiting while too much is queued, with a timeout), trywrite (never
 * waiting), flush, shutdown, and buffered (what a read would return now).
 * What is queued goes out through stream.c's xcs_conn_queue.
 */
#include <lauxlib.h>

#include "bindings/errors.h"
#include "bindings/guard.h"
#include "bindings/stream.h"
#include "bindings/task.h"

/* Queues the data at 2 (len bytes) and answers the write: len, or the
 * failure. */
static int queue_now(lua_State *L, xcs_conn *c, size_t len) {
  int r = xcs_conn_queue(c, L, 2);
  if (r == UV_EPIPE && c->shut) return xcs_push_closed(L, "the connection was shut down");
  if (r < 0) return c->err ? xcs_conn_fail(L, c, 0) : xcs_push_fail(L, r);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

/* Stack: conn, data, deadline|timeout|nil. A write waits while more than
 * XCS_WRITE_HIGH bytes are queued, or while its data would pass the queue
 * cap, and only then queues its data: a send timeout leaves nothing of it
 * queued. A write that cannot wait does not pass the cap: ENOBUFS. */
static int write_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_again(L, 1);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed");
  if (c->err) return xcs_conn_fail(L, c, 0);
  if (c->shut) return xcs_push_closed(L, "the connection was shut down");
  xcs_module *m = c->h.m;
  int over = xcs_guard_over_queue(m->host, c->queued, lua_rawlen(L, 2));
  if ((c->queued > XCS_WRITE_HIGH || over) && c->h.writer == NULL &&
      (again || xcs_task_can_wait(L))) {
    if (!again) { /* the deadline replaces the timeout argument */
      lua_pushnumber(L, xcs_deadline(m, xcs_timeout_arg(L, 3, c->opts->send_timeout)));
      lua_replace(L, 3);
    }
    double deadline = lua_tonumber(L, 3);
    if (again && xcs_timed_out(L, deadline))
      return xcs_push_failf(L, UV_ETIMEDOUT, "send timed out");
    return xcs_wait_until(L, &c->h.writer, write_k, deadline);
  }
  if (over)
    return xcs_push_failf(L, UV_ENOBUFS, "%I bytes are queued to this connection and %I more "
                          "would pass the limit (--max-queued %I)", (lua_Integer)c->queued,
                          (lua_Integer)lua_rawlen(L, 2),
                          (lua_Integer)m->host->opt.guard.max_queued);
  return queue_now(L, c, lua_rawlen(L, 2));
}

int xcs_conn_write(lua_State *L) {
  lua_settop(L, 3);
  return write_k(L, LUA_OK, 0);
}

int xcs_conn_write_method(lua_State *L) {
  if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TNUMBER)
    return luaL_argerror(L, 3, "a connection writes only to its peer (expected a timeout)");
  xcs_timeout_arg(L, 3, 0); /* checked now, used if it has to wait */
  xcs_conn_check(L);
  luaL_checktype(L, 2, LUA_TSTRING); /* a number is not data: say so */
  return xcs_conn_write(L);
}

/* conn:trywrite(data) -> #data | nil, "EAGAIN: ...", "EAGAIN". Queues data
 * now when a write would not wait (no more than XCS_WRITE_HIGH queued, and
 * within --max-queued), else queues nothing: for a task that must not
 * wait, or a batch that goes out once the peer keeps up. */
int xcs_conn_trywrite(lua_State *L) {
  xcs_conn *c = xcs_conn_check(L);
  luaL_checktype(L, 2, LUA_TSTRING);
  if (c->err) return xcs_conn_fail(L, c, 0);
  if (c->shut) return xcs_push_closed(L, "the connection was shut down");
  size_t len = lua_rawlen(L, 2);
  if (c->queued > XCS_WRITE_HIGH || xcs_guard_over_queue(c->h.m->host, c->queued, len))
    return xcs_push_failf(L, UV_EAGAIN, "%I bytes are queued to this connection; a write "
                          "would wait until the peer reads", (lua_Integer)c->queued);
  return queue_now(L, c, len);
}

/* conn:buffered() -> bytes received and not yet read: what a read returns
 * without waiting, so a pipelining server can answer a batch at once. */
int xcs_conn_buffered_method(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)xcs_conn_buffered(xcs_conn_check(L)));
  return 1;
}

/* conn:flush([timeout]): waits until everything written was handed to the
 * system. Stack: conn, deadline (the seconds until the first wait). */
static int flush_k(lua_State *L, int status, lua_KContext again) {
  (void)status;
  xcs_conn *c = (xcs_conn *)xcs_handle_get(L, 1, &xcs_conn_type);
  if (c == NULL) return xcs_push_closed(L, "the socket was closed");
  if (again) c->flushing = 0;
  if (c->err) return xcs_conn_fail(L, c, 0);
  if (c->queued == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  double deadline = lua_tonumber(L, 2);
  if (again && xcs_timed_out(L, deadline))
    return xcs_push_failf(L, UV_ETIMEDOUT, "flush timed out");
  if (!again) {
    if (c->h.writer)
      return xcs_raise_at_caller(L, "flush: socket busy writing (another task is waiting to write)");
    xcs_task_check(L, "flush");
    deadline = xcs_deadline(c->h.m, deadline); /* slot 2 held the seconds */
    lua_pushnumber(L, deadline);
    lua_replace(L, 2);
  }
  c->flushing = 1;
  return xcs_wait_until(L, &c->h.writer, flush_k, deadline);
}

int xcs_conn_flush(lua_State *L) {
  xcs_conn *c = xcs_conn_check(L);
  double secs = xcs_timeout_arg(L, 2, c->opts->send_timeout);
  lua_settop(L, 1);
  lua_pushnumber(L, secs);
  return flush_k(L, LUA_OK, 0);
}

/* conn:shutdown(): send FIN after what is queued; reading goes on. */
int xcs_conn_shutdown(lua_State *L) {
  xcs_conn *c = xcs_conn_check(L);
  if (c->shut) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (c->err) return xcs_conn_fail(L, c, 0);
  int r = xcs_conn_send_fin(c);
  if (r != 0) return xcs_push_fail(L, r);
  c->shut = 1;
  lua_pushboolean(L, 1);
  return 1;
}
