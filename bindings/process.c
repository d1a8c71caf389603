/*
 * process.c — a child process whose stdout and stderr are captured (merged,
 * bounded) and read line by line as events.
 *
 *   local p = xcs.process{ "build/xcshost", "examples/echo.lua", "port=0" }
 *   local line, port = p:expect("listening on [%d.]+:(%d+)", 5)
 *   p:kill("TERM")
 *   local code, signal = p:wait(5)
 *
 * Its standard input is nothing (/dev/null) unless the table says
 * `stdin = "text"` (written, then closed) or `stdin = true` (p:write,
 * p:close_stdin); `env = { NAME = "value", OTHER = false }` sets and
 * removes variables of the environment it inherits.
 */
#include "bindings/process.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/handle.h"
#include "bindings/task.h"

#define OUTPUT_MAX (4 * 1024 * 1024)

typedef struct xcs_process {
  xcs_handle h;
  uv_process_t proc;
  uv_pipe_t out, err;
  uv_pipe_t in;       /* its stdin, when asked for */
  int has_stdin;      /* ... and not yet closed by close_stdin */
  char *buf;          /* everything printed so far */
  size_t len, seen;   /* seen: where expect() looks from */
  int open_pipes;
  int exited;
  int64_t status;
  int signal;
} xcs_process;

static void proc_close(xcs_handle *h, int graceful) {
  (void)graceful;
  xcs_process *p = (xcs_process *)h;
  if (!p->exited) uv_process_kill(&p->proc, SIGKILL);
  xcs_handle_uv_close(h, (uv_handle_t *)&p->proc);
  xcs_handle_uv_close(h, (uv_handle_t *)&p->out);
  xcs_handle_uv_close(h, (uv_handle_t *)&p->err);
  xcs_handle_uv_close(h, (uv_handle_t *)&p->in);
  /* The struct is freed by the last close callback; the buffer goes now. */
  free(p->buf);
  p->buf = NULL;
}

static void proc_describe(xcs_handle *h, char *buf, size_t size) {
  xcs_process *p = (xcs_process *)h;
  snprintf(buf, size, "pid %d (%s)", p->proc.pid, p->exited ? "exited" : "running");
}

static void alloc_cb(uv_handle_t *uvh, size_t hint, uv_buf_t *buf) {
  (void)hint;
  xcs_host *host = ((xcs_handle *)uvh->data)->m->host;
  buf->base = host->readbuf;
  buf->len = sizeof host->readbuf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  xcs_process *p = (xcs_process *)s->data;
  if (nread < 0) {
    uv_read_stop(s); /* closed with the process handle, all three at once */
    p->open_pipes--;
  } else if (nread > 0 && p->len + (size_t)nread <= OUTPUT_MAX) {
    char *b = realloc(p->buf, p->len + (size_t)nread + 1);
    if (b == NULL) return;
    memcpy(b + p->len, buf->base, (size_t)nread);
    p->buf = b;
    p->len += (size_t)nread;
    p->buf[p->len] = '\0';
  }
  xcs_task_wake_now(&p->h.reader, 0);
}

static void exit_cb(uv_process_t *proc, int64_t status, int signal) {
  xcs_process *p = (xcs_process *)proc->data;
  p->exited = 1;
  p->status = status;
  p->signal = signal;
  xcs_task_wake_now(&p->h.writer, 0);
  xcs_task_wake_now(&p->h.reader, 0);
}

static const xcs_handle_type process_type;

/* string.match, fetched from the string metatable (globals may be gone). */
static int str_match(lua_State *L) {
  luaL_getmetafield(L, 1, "__index");
  lua_getfield(L, -1, "match");
  lua_insert(L, 1);
  lua_pop(L, 1);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L);
}

/* p:expect(pattern [, timeout]) -> line, captures... | nil, "timeout" |
 * nil, "exited". Looks at lines printed since the last match. */
static int expect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  xcs_process *p = (xcs_process *)xcs_handle_get(L, 1, &process_type);
  if (p == NULL) return xcs_push_closed(L, "the process was closed");
  luaL_checkstring(L, 2);
  while (p->buf && p->seen < p->len) {
    const char *line = p->buf + p->seen;
    const char *nl = memchr(line, '\n', p->len - p->seen);
    if (nl == NULL) break;
    p->seen += (size_t)(nl - line) + 1;
    lua_settop(L, 3);
    lua_pushlstring(L, line, (size_t)(nl - line)); /* 4 */
    lua_pushcfunction(L, str_match);
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 2);
    lua_call(L, 2, LUA_MULTRET); /* 5...: the match's captures */
    if (!lua_isnil(L, 5)) return lua_gettop(L) - 3; /* line, captures... */
  }
  lua_settop(L, 3);
  /* Only a wake from our own wait tells: in the first call the status is
   * whatever woke the task's previous wait (a UDP read's timeout, say). */
  if (ctx && xcs_task_status(L) == UV_ETIMEDOUT) {
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  if (p->open_pipes == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "exited");
    return 2;
  }
  return xcs_task_park(L, &p->h.reader, luaL_optnumber(L, 3, 10), expect_k, 1);
}

static int proc_expect(lua_State *L) {
  xcs_handle_check(L, 1, &process_type);
  luaL_checkstring(L, 2);
  luaL_optnumber(L, 3, 10);
  lua_settop(L, 3);
  xcs_task_check(L, "expect");
  return expect_k(L, LUA_OK, 0);
}

/* p:wait([timeout]) -> exit status, signal | nil, "timeout" */
static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  xcs_process *p = (xcs_process *)xcs_handle_get(L, 1, &process_type);
  if (p == NULL) return xcs_push_closed(L, "the process was closed");
  if (p->exited) {
    lua_pushinteger(L, p->status);
    lua_pushinteger(L, p->signal);
    return 2;
  }
  if (ctx && xcs_task_status(L) == UV_ETIMEDOUT) { /* see expect_k */
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  return xcs_task_park(L, &p->h.writer, luaL_optnumber(L, 2, 10), wait_k, 1);
}

static int proc_wait(lua_State *L) {
  xcs_handle_check(L, 1, &process_type);
  luaL_optnumber(L, 2, 10);
  lua_settop(L, 2);
  xcs_task_check(L, "wait");
  return wait_k(L, LUA_OK, 0);
}

/* p:kill([signal]): "TERM" (default), "INT", "KILL", "HUP" or a number. */
static int proc_kill(lua_State *L) {
  xcs_process *p = (xcs_process *)xcs_handle_check(L, 1, &process_type);
  static const char *const names[] = {"TERM", "INT", "KILL", "HUP", NULL};
  static const int nums[] = {SIGTERM, SIGINT, SIGKILL, SIGHUP};
  int sig = lua_isinteger(L, 2)    ? (int)lua_tointeger(L, 2)
            : lua_isnoneornil(L, 2) ? SIGTERM
                                    : nums[xcs_check_choice(L, 2, "process:kill", "signal", names)];
  if (p->exited) return xcs_push_fail(L, UV_ESRCH);
  int r = uv_process_kill(&p->proc, sig);
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* Writes to its stdin. A copy travels with the request: the child reads
 * at its own pace, and the Lua string may be long gone by then. */
typedef struct stdin_write {
  uv_write_t req;
  char data[];
} stdin_write;

static void stdin_written_cb(uv_write_t *req, int status) {
  (void)status; /* a child that stopped reading: EPIPE, nothing to tell */
  free(req);
}

static int write_stdin(xcs_process *p, const char *data, size_t len) {
  stdin_write *w = malloc(sizeof *w + len);
  if (w == NULL) return UV_ENOMEM;
  memcpy(w->data, data, len);
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
  int r = uv_write(&w->req, (uv_stream_t *)&p->in, &buf, 1, stdin_written_cb);
  if (r != 0) free(w);
  return r;
}

static void stdin_shut_cb(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Closes its stdin after what was written (the child reads end of file). */
static int close_stdin(xcs_process *p) {
  uv_shutdown_t *req = malloc(sizeof *req);
  if (req == NULL) return UV_ENOMEM;
  int r = uv_shutdown(req, (uv_stream_t *)&p->in, stdin_shut_cb);
  if (r != 0) free(req);
  p->has_stdin = 0;
  return r;
}

static xcs_process *check_stdin(lua_State *L, const char *fname) {
  xcs_process *p = (xcs_process *)xcs_handle_check(L, 1, &process_type);
  if (!p->has_stdin)
    luaL_error(L, "%s: the process has no stdin to write to (start it with stdin = true; "
                  "close_stdin() ends it)", fname);
  return p;
}

/* p:write(data) -> true | nil, err, code: queued to its stdin. */
static int proc_write(lua_State *L) {
  xcs_process *p = check_stdin(L, "write");
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int r = write_stdin(p, data, len);
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* p:close_stdin() -> true: it reads end of file after what was written. */
static int proc_close_stdin(lua_State *L) {
  int r = close_stdin(check_stdin(L, "close_stdin"));
  if (r != 0) return xcs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* p:output(): everything it printed so far. */
static int proc_output(lua_State *L) {
  xcs_process *p = (xcs_process *)xcs_handle_check(L, 1, &process_type);
  lua_pushlstring(L, p->buf ? p->buf : "", p->len);
  return 1;
}

static int proc_pid(lua_State *L) {
  lua_pushinteger(L, ((xcs_process *)xcs_handle_check(L, 1, &process_type))->proc.pid);
  return 1;
}

static const luaL_Reg process_methods[] = {
    {"expect", proc_expect}, {"wait", proc_wait}, {"kill", proc_kill},
    {"output", proc_output}, {"pid", proc_pid},   {"write", proc_write},
    {"close_stdin", proc_close_stdin}, {NULL, NULL}};

static const xcs_handle_type process_type = {XCS_T_PROCESS, "xcs.process", proc_close, proc_describe,
                                             process_methods, NULL, NULL, 0, NULL, 0};

/* The environment for the child: the spec's own, with the names of the
 * table at idx set (a string or number) or removed (false). Pushes a table
 * that keeps the strings alive, and returns the array. */
extern char **environ;
static char **build_env(lua_State *L, int idx) {
  lua_newtable(L); /* the strings */
  int keep = lua_gettop(L), n = 0;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (eq == NULL) continue;
    lua_pushlstring(L, *e, (size_t)(eq - *e));
    int set = lua_rawget(L, idx) != LUA_TNIL;
    lua_pop(L, 1);
    if (set) continue;
    lua_pushstring(L, *e);
    lua_rawseti(L, keep, ++n);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (name == NULL || *name == '\0' || strchr(name, '='))
      luaL_error(L, "process: env names must be strings without '=', got %s",
                 luaL_tolstring(L, -2, NULL));
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "process: env.%s must be a string, a number or false (to remove it), "
                    "not a %s", name, luaL_typename(L, -1));
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (strlen(v) != len) luaL_error(L, "process: env.%s contains a NUL byte", name);
    lua_pushfstring(L, "%s=%s", name, v);
    lua_rawseti(L, keep, ++n);
    lua_pop(L, 1);
  }
  char **env = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  lua_rawseti(L, keep, n + 1); /* kept with the strings */
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, keep, i);
    env[i - 1] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  env[n] = NULL;
  return env;
}

/* process{ file, args..., stdin =, env = } -> process | nil, err, code */
static int l_process(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TNUMBER) continue;
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(k, "stdin") != 0 && strcmp(k, "env") != 0)
      return luaL_error(L, "process: unknown option %s (expected stdin or env)",
                        luaL_tolstring(L, -1, NULL));
  }
  int n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n >= 1, 1, "expected { program, arguments... }");
  lua_getfield(L, 1, "stdin"); /* 2 */
  int in_type = lua_type(L, 2);
  if (in_type != LUA_TNIL && in_type != LUA_TSTRING && !(in_type == LUA_TBOOLEAN))
    return luaL_error(L, "process: stdin must be a string (written, then closed) or true "
                         "(p:write, p:close_stdin), not a %s", luaL_typename(L, 2));
  int want_stdin = in_type == LUA_TSTRING || lua_toboolean(L, 2);
  char **env = NULL;
  if (lua_getfield(L, 1, "env") != LUA_TNIL) { /* 3 */
    luaL_checktype(L, 3, LUA_TTABLE);
    env = build_env(L, 3); /* 4: keeps its strings */
  }
  char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  for (int i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    /* Strings only: a number converted here would live only on the stack,
     * and be collected before uv_spawn reads it. Table 1 keeps strings. */
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "process: argument %d must be a string, not a %s", i,
                        luaL_typename(L, -1));
    argv[i - 1] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  argv[n] = NULL;
  xcs_module *m = xcs_module_of(L);
  xcs_process *p = xcs_handle_new(L, m, sizeof *p, &process_type);
  uv_loop_t *loop = &m->host->loop;
  uv_pipe_init(loop, &p->out, 0);
  uv_pipe_init(loop, &p->err, 0);
  uv_pipe_init(loop, &p->in, 0);
  p->out.data = p->err.data = p->in.data = &p->h;
  p->proc.data = &p->h;
  uv_stdio_container_t stdio[3] = {
      {.flags = want_stdin ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE,
       .data.stream = (uv_stream_t *)&p->in},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err}};
  uv_process_options_t opt = {.exit_cb = exit_cb, .file = argv[0], .args = argv, .env = env,
                              .stdio_count = 3, .stdio = stdio};
  int r = uv_spawn(loop, &p->proc, &opt);
  if (r != 0) {
    p->exited = 1;
    xcs_handle_close(&p->h, 0);
    return xcs_push_fail(L, r);
  }
  p->open_pipes = 2;
  p->has_stdin = want_stdin;
  uv_read_start((uv_stream_t *)&p->out, alloc_cb, read_cb);
  uv_read_start((uv_stream_t *)&p->err, alloc_cb, read_cb);
  if (in_type == LUA_TSTRING) {
    size_t len;
    const char *text = lua_tolstring(L, 2, &len);
    if ((len > 0 && (r = write_stdin(p, text, len)) != 0) || (r = close_stdin(p)) != 0) {
      xcs_handle_close(&p->h, 0);
      return xcs_push_fail(L, r);
    }
  }
  return 1;
}

void xcs_process_open(lua_State *L) {
  xcs_handle_class(L, &process_type); /* made at once: only the test API has processes */
  lua_pop(L, 1);
  lua_pushcfunction(L, l_process);
  lua_setfield(L, -2, "process");
}
