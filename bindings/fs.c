/*
 * fs.c — files, only where the operator says: fs.read, fs.lines and
 * fs.list under the --read-dir directories and the module's own data
 * directory, fs.write and fs.remove in that data directory (--data-dir
 * DIR: the module's files are in DIR/NAME, at most --data-quota bytes).
 *
 *   local page = assert(fs.read("index.html"))     -- first root that has it
 *   for line in fs.lines("hosts.txt") do ... end
 *   assert(fs.write("snapshot", encode(store)))    -- atomic: all or nothing
 *
 * Confinement. A path is checked twice. Here, as written: no NUL byte, an
 * absolute path must lie under one of the roots, and ".." may not climb
 * out of the root (misuse: raises). Then by the kernel, in a worker
 * thread: openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * refuses every resolution that leaves the root — a symlink out, an
 * absolute symlink, ".." through a symlink — with no window between a
 * check and the open (an outcome: nil, "EACCES: ...", "EACCES"). A kernel
 * without openat2 gets a stricter walk that follows no symlink at all.
 * Data files have flat names (letters, digits, ".", "-", "_"; not "."
 * first), so writing never resolves anything but one name in one
 * directory, and O_NOFOLLOW covers that name.
 *
 * Disk I/O never blocks the loop: each call is a job (fs_job.c) on libuv's thread
 * pool, and the calling task waits for it. The job owns only C memory; its
 * result is handed to a box (userdata) the waiting task holds, so a task
 * cancelled by an unload leaves nothing to free but the job itself. Writes
 * and removes are serialised by one lock, so a quota check and the write
 * it allows are one step.
 */
#include "bindings/fs.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/fs_job.h"
#include "bindings/task.h"

#define NAME_MAX_LEN 255

static const char *const op_names[] = {"fs.read", "fs.lines", "fs.list", "fs.write",
                                       "fs.remove"};

/* What the waiting task gets: set by the loop thread once the job is done. */
typedef struct fs_box {
  xcs_task *waiter;
  int done;
} fs_box;

/* Back on the loop ------------------------------------------------------------ */

/* Runs protected on the module's svc thread: the result into the box, as
 * its user values (1: the result or the message, 2: the code). */
static int deliver(lua_State *L) {
  xcs_fs_job *j = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, j->box_ref);
  fs_box *box = lua_touserdata(L, -1);
  const char *name = op_names[j->op];
  if (j->status == 0) {
    if (j->op == XCS_FS_LIST) {
      lua_newtable(L);
      int n = 0;
      for (size_t at = 0; at < j->len; at += strlen(j->data + at) + 1) {
        lua_pushstring(L, j->data + at);
        lua_rawseti(L, -2, ++n);
      }
    } else if (j->op == XCS_FS_READ || j->op == XCS_FS_LINES) {
      lua_pushlstring(L, j->data ? j->data : "", j->len);
    } else {
      lua_pushboolean(L, 1);
    }
    lua_setiuservalue(L, -2, 1);
  } else {
    const char *what = j->given;
    if (j->why == XCS_FS_OUTSIDE)
      lua_pushfstring(L, "EACCES: %s: \"%s\" leads outside the directories modules may %s "
                         "(a symlink or \"..\")", name, what, j->op >= XCS_FS_WRITE ? "write" : "read");
    else if (j->status == UV_EFBIG && j->op == XCS_FS_LIST)
      lua_pushfstring(L, "EFBIG: %s: \"%s\" has more than %d names", name, what, XCS_FS_LIST_MAX);
    else if (j->status == UV_EFBIG)
      lua_pushfstring(L, "EFBIG: %s: \"%s\" is over %I bytes (what one read may return: the "
                         "module's memory left, at most %I)", name, what,
                      (lua_Integer)j->max, (lua_Integer)XCS_FS_READ_MAX);
    else if (j->why == XCS_FS_NOT_FILE)
      lua_pushfstring(L, "EINVAL: %s: \"%s\" is not a regular file", name, what);
    else if (j->status == XCS_FS_EDQUOT)
      lua_pushfstring(L, "EDQUOT: %s: %I more bytes in \"%s\" would put the module's data at "
                         "%I bytes, over its quota of %I (--data-quota)", name,
                      (lua_Integer)j->len, what, (lua_Integer)(j->used + j->len),
                      (lua_Integer)j->quota);
    else if (j->status == UV_ENOENT)
      lua_pushfstring(L, "ENOENT: %s: no file \"%s\"", name, what);
    else
      lua_pushfstring(L, "%s: %s: %s (\"%s\")", uv_err_name(j->status), name,
                      uv_strerror(j->status), what);
    lua_setiuservalue(L, -2, 1);
    lua_pushstring(L, j->why == XCS_FS_OUTSIDE ? "EACCES"
                      : j->status == XCS_FS_EDQUOT ? "EDQUOT" : uv_err_name(j->status));
    lua_setiuservalue(L, -2, 2);
  }
  box->done = 1;
  return 0;
}

static void after_work_cb(uv_work_t *req, int status) {
  xcs_fs_job *j = req->data;
  xcs_module *m = j->m;
  if (status == UV_ECANCELED) j->status = UV_ECANCELED;
  if (m->phase == XCS_RUNNING) {
    const char *err = m->host->mgr->pcall(m, deliver, j);
    lua_rawgeti(m->svc, LUA_REGISTRYINDEX, j->box_ref);
    fs_box *box = lua_touserdata(m->svc, -1);
    lua_pop(m->svc, 1);
    if (err) box->done = 0; /* out of memory: the task is told so */
    xcs_task_wake_now(&box->waiter, 0);
  }
  xcs_unref(m, j->box_ref);
  xcs_fs_job_free(j);
  xcs_release(&m->life); /* start's hold */
}

/* The calls ------------------------------------------------------------------- */

/* "a/./b/../c" -> "a/c"; 0, or -1 when ".." climbs above the start. */
static int tidy(const char *p, char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  while (*p) {
    while (*p == '/') p++;
    size_t n = strcspn(p, "/");
    if (n == 0) break;
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (len == 0) return -1;
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--;
    } else if (!(n == 1 && p[0] == '.')) {
      if (len + 1 + n >= size) return -1;
      if (len > 0) out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    out[len] = '\0';
    p += n;
  }
  return 0;
}

/* A data file's name: letters, digits, '.', '-', '_', not '.' first. */
static int data_name(const char *s, size_t len) {
  if (len == 0 || len > NAME_MAX_LEN || s[0] == '.') return 0;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
      return 0;
  return 1;
}

static const char *roots_text(lua_State *L, xcs_module *m) {
  const xcs_options *o = &m->host->opt;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < o->nread_dirs; i++) {
    luaL_addstring(&b, i ? ", " : "--read-dir ");
    luaL_addstring(&b, o->read_dirs[i]);
  }
  if (o->data_dir) {
    luaL_addstring(&b, o->nread_dirs ? "; " : "");
    luaL_addstring(&b, "the module's data directory");
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* Builds the job for op on the path at 1 (and the data at 2, to write).
 * Raises on misuse, before anything is allocated that could leak. */
static xcs_fs_job *new_job(lua_State *L, int op) {
  const char *fname = op_names[op];
  xcs_module *m = xcs_module_of(L);
  const xcs_options *o = &m->host->opt;
  int writes = op >= XCS_FS_WRITE;
  if (writes ? o->data_dir == NULL : o->data_dir == NULL && o->nread_dirs == 0)
    xcs_raise_at_caller(L, "%s: this host lets modules %s no files (start it with %s)", fname,
          writes ? "write" : "read", writes ? "--data-dir DIR" : "--read-dir DIR, or "
          "--data-dir DIR for each module's own");
  if (lua_type(L, 1) != LUA_TSTRING)
    xcs_raise_at_caller(L, "%s: bad argument #1 (path): expected a string, got %s", fname,
          luaL_typename(L, 1));
  size_t plen;
  const char *given = lua_tolstring(L, 1, &plen);
  if (strlen(given) != plen)
    xcs_raise_at_caller(L, "%s: bad argument #1 (path): the path contains a NUL byte", fname);
  if (plen >= PATH_MAX) xcs_raise_at_caller(L, "%s: bad argument #1 (path): longer than %d bytes", fname,
                              PATH_MAX - 1);
  size_t dlen = 0;
  if (op == XCS_FS_WRITE && lua_type(L, 2) != LUA_TSTRING)
    xcs_raise_at_caller(L, "%s: bad argument #2 (data): expected a string, got %s", fname,
          luaL_typename(L, 2));
  if (op == XCS_FS_WRITE) lua_tolstring(L, 2, &dlen);
  if (writes && !data_name(given, plen))
    xcs_raise_at_caller(L, "%s: bad argument #1 (name): expected the name of one of the module's files "
             "(letters, digits, '.', '-' and '_', not '.' first, at most %d), got \"%s\"",
          fname, NAME_MAX_LEN, given);
  if (o->data_dir && (m->name[0] == '.' || m->name[0] == '\0' || strchr(m->name, '/')))
    xcs_raise_at_caller(L, "%s: the module's name \"%s\" cannot name a data directory", fname, m->name);

  char rel[PATH_MAX];
  int only = -1;
  char real[PATH_MAX];
  if (given[0] == '/') {
    /* Absolute: it must name a place under one of the roots. */
    for (int i = o->data_dir ? 0 : 1; only < 0 && i <= (writes ? 0 : o->nread_dirs); i++) {
      char dir[PATH_MAX + NAME_MAX_LEN + 2];
      if (i == 0) snprintf(dir, sizeof dir, "%s/%s", o->data_dir, m->name);
      else snprintf(dir, sizeof dir, "%s", o->read_dirs[i - 1]);
      if (realpath(dir, real) == NULL) continue;
      size_t n = strlen(real);
      char lex[PATH_MAX];
      if (tidy(given, lex, sizeof lex) != 0) continue;
      /* tidy drops the leading slash: compare without it */
      if (n == 1) { /* a root of "/" holds every path */
        only = o->data_dir ? i : i - 1;
        snprintf(rel, sizeof rel, "%s", lex);
      } else if (strncmp(lex, real + 1, n - 1) == 0 && (lex[n - 1] == '\0' || lex[n - 1] == '/')) {
        only = o->data_dir ? i : i - 1;
        snprintf(rel, sizeof rel, "%s", lex[n - 1] ? lex + n : "");
      }
    }
    if (only < 0)
      xcs_raise_at_caller(L, "%s: bad argument #1 (path): \"%s\" is outside the directories modules may "
               "%s (%s)", fname, given, writes ? "write" : "read", roots_text(L, m));
    if (writes && !data_name(rel, strlen(rel)))
      xcs_raise_at_caller(L, "%s: bad argument #1 (name): \"%s\" is not one of the module's files", fname,
            given);
  } else if (tidy(given, rel, sizeof rel) != 0) {
    xcs_raise_at_caller(L, "%s: bad argument #1 (path): \"%s\" leads outside the directories modules may "
             "%s (%s)", fname, given, writes ? "write" : "read", roots_text(L, m));
  }

  xcs_fs_job *j = calloc(1, sizeof *j);
  if (j == NULL) xcs_raise_at_caller(L, "%s: not enough memory", fname);
  j->m = m;
  j->op = op;
  j->only = only;
  j->box_ref = LUA_NOREF;
  j->quota = o->data_quota;
  j->path = strdup(rel);
  j->given = strdup(given);
  int bad = j->path == NULL || j->given == NULL;
  if (o->data_dir) {
    size_t n = strlen(o->data_dir) + strlen(m->name) + 2;
    if ((j->roots[0] = malloc(n)) != NULL) snprintf(j->roots[0], n, "%s/%s", o->data_dir, m->name);
    bad |= j->roots[0] == NULL;
    j->data_root = 1;
    j->nroots = 1;
  }
  for (int i = 0; !writes && i < o->nread_dirs; i++) {
    j->roots[j->nroots] = strdup(o->read_dirs[i]);
    bad |= j->roots[j->nroots++] == NULL;
  }
  size_t budget = m->limits.budget, used = m->limits.used;
  j->max = budget == 0 ? XCS_FS_READ_MAX : budget > used ? budget - used : 0;
  if (j->max > XCS_FS_READ_MAX) j->max = XCS_FS_READ_MAX;
  if (op == XCS_FS_WRITE && !bad) {
    j->len = dlen;
    bad = (j->data = malloc(dlen ? dlen : 1)) == NULL;
    if (!bad) memcpy(j->data, lua_tostring(L, 2), dlen);
  }
  if (bad) {
    xcs_fs_job_free(j);
    xcs_raise_at_caller(L, "%s: not enough memory", fname);
  }
  return j;
}

static int push_lines(lua_State *L);

/* The continuation: the box at `at` holds the outcome. */
static int fs_k(lua_State *L, int status, lua_KContext at) {
  (void)status;
  fs_box *box = lua_touserdata(L, (int)at);
  int op = (int)lua_tointeger(L, (int)at + 1);
  if (!box->done) {
    if (op == XCS_FS_LINES) return xcs_raise_at_caller(L, "fs.lines: ENOMEM: not enough memory");
    lua_pushnil(L);
    lua_pushliteral(L, "ENOMEM: not enough memory for the result");
    lua_pushliteral(L, "ENOMEM");
    return 3;
  }
  if (lua_getiuservalue(L, (int)at, 2) != LUA_TNIL) { /* failed */
    lua_getiuservalue(L, (int)at, 1);
    if (op == XCS_FS_LINES) return lua_error(L); /* as io.lines: a for loop cannot take nil */
    lua_pushnil(L);
    lua_insert(L, -3);
    lua_insert(L, -2); /* nil, message, code */
    return 3;
  }
  lua_getiuservalue(L, (int)at, 1);
  if (op == XCS_FS_LINES) return push_lines(L);
  return 1;
}

static int start(lua_State *L, int op) {
  xcs_task_check(L, op_names[op]);
  lua_settop(L, op == XCS_FS_WRITE ? 2 : 1);
  xcs_fs_job *j = new_job(L, op); /* raises on misuse, owning nothing */
  int at = lua_gettop(L) + 1;
  fs_box *box = lua_newuserdatauv(L, sizeof *box, 2); /* at */
  box->waiter = NULL;
  box->done = 0;
  lua_pushinteger(L, op); /* at + 1 */
  lua_pushvalue(L, at);
  j->box_ref = xcs_ref(j->m, L);
  j->req.data = j;
  int r = uv_queue_work(&j->m->host->loop, &j->req, xcs_fs_work, after_work_cb);
  if (r != 0) {
    xcs_unref(j->m, j->box_ref);
    xcs_fs_job_free(j);
    return xcs_push_fail(L, r);
  }
  xcs_hold(&j->m->life); /* the module stays until after_work_cb */
  return xcs_task_park(L, &box->waiter, -1, fs_k, at);
}

/* fs.read(path) -> the file's bytes | nil, msg, code */
static int l_read(lua_State *L) { return start(L, XCS_FS_READ); }
/* fs.list(path) -> the names in that directory, sorted | nil, msg, code */
static int l_list(lua_State *L) { return start(L, XCS_FS_LIST); }
/* fs.write(name, data) -> true | nil, msg, code: the file is replaced whole */
static int l_write(lua_State *L) { return start(L, XCS_FS_WRITE); }
/* fs.remove(name) -> true | nil, msg, code */
static int l_remove(lua_State *L) { return start(L, XCS_FS_REMOVE); }
/* fs.lines(path) -> an iterator over the file's lines (raises, as io.lines) */
static int l_lines(lua_State *L) { return start(L, XCS_FS_LINES); }

/* The iterator of fs.lines: upvalue 1 the text, 2 where the next line starts.
 * A line is what comes before LF, without it (and without a CR before it). */
static int next_line(lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &len);
  size_t at = (size_t)lua_tointeger(L, lua_upvalueindex(2));
  if (at >= len) return 0;
  const char *nl = memchr(s + at, '\n', len - at);
  size_t end = nl ? (size_t)(nl - s) : len;
  size_t stop = end > at && s[end - 1] == '\r' ? end - 1 : end;
  lua_pushlstring(L, s + at, stop - at);
  lua_pushinteger(L, (lua_Integer)end + 1);
  lua_replace(L, lua_upvalueindex(2));
  return 1;
}

static int push_lines(lua_State *L) {
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, next_line, 2);
  return 1;
}

void xcs_fs_open(lua_State *L, int env) {
  static const luaL_Reg fns[] = {{"read", l_read},     {"lines", l_lines},   {"list", l_list},
                                 {"write", l_write},   {"remove", l_remove}, {NULL, NULL}};
  env = lua_absindex(L, env);
  luaL_newlib(L, fns);
  lua_setfield(L, env, "fs");
}
