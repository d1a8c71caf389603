/*
 * check.c — `xcshost check MODULE.lua ...`: compile each module in its own
 * sandbox, as running it would, without running it; report syntax errors
 * and reads of globals the sandbox does not give (and of fields the host's
 * tables lack, `socket.opne`), each as FILE:LINE: message.
 *
 * Globals the module assigns itself anywhere (function helper() ... end),
 * or a file it requires by a constant name assigns, count as given. Exit status, like `nginx -t`: 0 every module is fine,
 * 1 one has a problem, 2 one cannot be read at all.
 */
#include "host/check.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/bytecode.h"
#include "host/module.h"
#include "host/sandbox.h"
#include "bindings/core/text.h"

typedef struct uses {
  xcs_global_use *v;
  size_t n, cap;
  int oom;
} uses;

typedef struct job {
  const char *path;
  xcs_text dump;
  uses u;
  int problems;
} job;

static int writer(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  xcs_text_put(ud, p, n);
  return ((xcs_text *)ud)->oom;
}

/* Runs in the module's state: compiles the file again and dumps it. */
static int dump(lua_State *L) {
  job *j = lua_touserdata(L, 1);
  xcs_sandbox_loadfile(L, j->path);
  if (lua_dump(L, writer, &j->dump, 0) != 0) return luaL_error(L, "not enough memory");
  return 0;
}

static void collect(void *ud, const xcs_global_use *use) {
  uses *u = ud;
  if (u->n == u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 64;
    xcs_global_use *v = realloc(u->v, cap * sizeof *v);
    if (v == NULL) {
      u->oom = 1;
      return;
    }
    u->v = v;
    u->cap = cap;
  }
  u->v[u->n++] = *use;
}

/* Optimal string alignment distance (a swap of neighbours counts as one),
 * for "did you mean"; only names up to 32 bytes are compared. */
static size_t distance(const char *a, size_t la, const char *b, size_t lb) {
  if (la > 32 || lb > 32) return 99;
  size_t d[33][33];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* Pushes the key of table t nearest to name, or nil: one edit away for a
 * short name, two for a longer one. */
static void push_nearest(lua_State *L, int t, const char *name, size_t len) {
  size_t best = len <= 4 ? 2 : 3;
  lua_pushnil(L); /* the answer */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) continue;
    size_t kl;
    const char *k = lua_tolstring(L, -1, &kl);
    size_t d = distance(name, len, k, kl);
    if (d < best) {
      best = d;
      lua_pushvalue(L, -1);
      lua_replace(L, -3);
    }
  }
}

static void report(job *j, lua_State *L, const xcs_global_use *u, const char *what) {
  const char *near = lua_tostring(L, -1);
  if (u->line >= 0)
    fprintf(stderr, "%s:%d: %s", j->path, u->line, what);
  else
    fprintf(stderr, "%s: %s", j->path, what);
  if (near) fprintf(stderr, " (did you mean '%s'?)", near);
  fputc('\n', stderr);
  j->problems++;
}

static int by_line(const void *a, const void *b) {
  const xcs_global_use *x = a, *y = b;
  return (x->line > y->line) - (x->line < y->line);
}

static int load_only(lua_State *L) {
  xcs_sandbox_loadfile(L, lua_tostring(L, 1));
  return 1;
}

/* Adds the globals u assigns to the table at index 3, and those of the
 * files it requires by a constant name (require "util": util.lua beside
 * the module, as the sandbox's require finds it), each file once (the
 * table at index 4 holds their names). A file that does not compile adds
 * nothing: it is checked when it is checked itself. Out of memory, a
 * dump in hand is leaked as the error unwinds: check is about to exit. */
static void required(lua_State *L, const uses *u, int depth) {
  for (size_t i = 0; i < u->n; i++) {
    const xcs_global_use *g = &u->v[i];
    if (g->write) {
      lua_pushlstring(L, g->name, g->len);
      lua_pushboolean(L, 1);
      lua_rawset(L, 3);
      continue;
    }
    if (g->arg == NULL || depth >= 16 || g->len != 7 || memcmp(g->name, "require", 7) != 0) continue;
    lua_pushlstring(L, g->arg, g->alen);
    if (lua_rawget(L, 4) != LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    lua_pushlstring(L, g->arg, g->alen);
    lua_pushboolean(L, 1);
    lua_rawset(L, 4);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, xcs_module_of(L)->dir);
    luaL_addchar(&b, '/');
    for (size_t k = 0; k < g->alen; k++) luaL_addchar(&b, g->arg[k] == '.' ? '/' : g->arg[k]);
    luaL_addstring(&b, ".lua");
    luaL_pushresult(&b);
    lua_pushcfunction(L, load_only);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      lua_pop(L, 1);
      continue;
    }
    xcs_text d = {0};
    uses more = {0};
    if (lua_dump(L, writer, &d, 0) == 0 &&
        xcs_bytecode_globals(d.s, d.len, collect, &more) == 0 && !more.oom)
      required(L, &more, depth + 1);
    lua_pop(L, 1);
    free(more.v);
    free(d.s);
  }
}

/* Runs in the module's state: judges each read against its env. */
static int judge(lua_State *L) {
  job *j = lua_touserdata(L, 1);
  xcs_sandbox_push_env_built(L); /* 2 */
  lua_newtable(L);         /* 3: the globals the module (and what it requires) assigns */
  lua_newtable(L);         /* 4: the files required */
  required(L, &j->u, 0);
  lua_settop(L, 3);
  if (j->u.n) qsort(j->u.v, j->u.n, sizeof *j->u.v, by_line); /* nested functions came first */
  for (size_t i = 0; i < j->u.n; i++) {
    const xcs_global_use *u = &j->u.v[i];
    if (u->write) continue;
    lua_settop(L, 3);
    lua_pushlstring(L, u->name, u->len); /* 4 */
    lua_pushvalue(L, 4);
    if (lua_rawget(L, 3) != LUA_TNIL) continue; /* the module's own */
    lua_pushvalue(L, 4);
    int t = lua_rawget(L, 2); /* 6 */
    if (t == LUA_TNIL) {
      push_nearest(L, 2, u->name, u->len);
      lua_pushfstring(L, "reads undefined global '%s'", lua_tostring(L, 4));
      lua_insert(L, -2);
      report(j, L, u, lua_tostring(L, -2));
    } else if (t == LUA_TTABLE && u->field && strcmp(lua_tostring(L, 4), "arg") != 0 &&
               strcmp(lua_tostring(L, 4), "_G") != 0) {
      lua_pushlstring(L, u->field, u->flen); /* 7 */
      if (lua_rawget(L, 6) != LUA_TNIL) continue;
      push_nearest(L, 6, u->field, u->flen);
      lua_pushfstring(L, "reads undefined field '%s.%s'", lua_tostring(L, 4),
                      lua_pushlstring(L, u->field, u->flen));
      lua_replace(L, -2);
      lua_insert(L, -2);
      report(j, L, u, lua_tostring(L, -2));
    }
  }
  return 0;
}

/* Runs f(j) protected in the module's state; an error is reported. */
static int step(lua_State *L, lua_CFunction f, job *j) {
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, j);
  if (lua_pcall(L, 1, 0, 0) == LUA_OK) return 0;
  fprintf(stderr, "%s: %s\n", j->path, lua_tostring(L, -1));
  lua_pop(L, 1);
  return -1;
}

static int check_one(xcs_host *h, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "xcshost: check: cannot open %s: %s\n", path, strerror(errno));
    return 2;
  }
  fclose(f);
  char *why = NULL;
  xcs_module *m = xcs_module_new(h, path, &why);
  if (m == NULL) {
    fprintf(stderr, "%s\n", why);
    free(why);
    return 1;
  }
  job j = {.path = path};
  int status = 0;
  if (step(m->L, dump, &j) != 0) {
    status = 1;
  } else if (xcs_bytecode_globals(j.dump.s, j.dump.len, collect, &j.u) != 0 || j.u.oom) {
    fprintf(stderr, "%s: cannot look through the compiled module\n", path);
    status = 1;
  } else if (step(m->L, judge, &j) != 0 || j.problems) {
    status = 1;
  }
  if (status == 0) {
    printf("%s: ok\n", path);
    fflush(stdout); /* in order with the problems, on stderr, of the next */
  }
  free(j.dump.s);
  free(j.u.v);
  return status;
}

int xcs_check(const xcs_options *o, const xcs_cli_module *mods, int n) {
  static xcs_host host; /* 64 KiB read buffer: not on the stack */
  if (xcs_host_init(&host, o) != 0) {
    fprintf(stderr, "xcshost: check: cannot start\n");
    return 2;
  }
  int worst = 0;
  for (int i = 0; i < n; i++) {
    int s = check_one(&host, mods[i].path);
    if (s > worst) worst = s;
  }
  xcs_host_close(&host);
  return worst;
}
