/*
 * fuzz_request.c — the request string form: request "socket_open 80 UDP"
 * (the prelude's `parse` and the dispatch after it, lua/prelude.lua).
 *
 * Set up as host/xcs.c sets up the test API: a host, a plain Lua state
 * borrowed as a module (xcs_module_borrow), and the host's face installed
 * in it (xcs_socket_open). The input is cut at zero bytes into up to
 * MAX_REQUESTS strings; each is passed to request() in a protected call,
 * and when there was more than one, so is the whole input (zero bytes and
 * all). Then the host is closed and the state with it.
 *
 * Design:
 *   - A fresh host and state per input. It costs well under a millisecond,
 *     and makes every run independent of the ones before (a crash
 *     reproduces from its input alone), and it runs the unload path (close
 *     every socket the requests opened, destroy the module, free the loop)
 *     under ASan and LeakSanitizer every time.
 *   - The calls run outside any task, as spec code outside xcs.run does, so
 *     a request that would wait (socket_read) raises instead of hanging.
 *   - socket_open really binds: on a loopback address of its own,
 *     XCS_FUZZ_BIND (default 127.0.0.42), so it never takes a port from a
 *     server on 127.0.0.1. Listeners without clients close at once and
 *     leave no TIME_WAIT behind, so this is cheap.
 *   - The parser is Lua, and the system's liblua is not instrumented, so
 *     libFuzzer would see no coverage in it. A line hook turns each step of
 *     the prelude (previous line -> line) into a libFuzzer extra counter.
 *
 * What must hold: no crash, sanitizer report or hang; a raised error is a
 * non-empty string (misuse raises a message); a call that fails on the
 * network returns nil, "CODE: message", "CODE".
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/socket.h"
#include "fuzz/pieces.h"
#include "host/host.h"
#include "host/module.h"

#define MAX_REQUESTS 16

#define FAIL(...)                                  \
  do {                                             \
    fprintf(stderr, "fuzz_request: " __VA_ARGS__); \
    fputc('\n', stderr);                           \
    abort();                                       \
  } while (0)

/* Coverage of the Lua code: libFuzzer reads this section as extra
 * counters, cleared before each input. */
#define LUA_EDGES 4096
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[LUA_EDGES];
static int prev_line;

static void line_hook(lua_State *L, lua_Debug *ar) {
  (void)L;
  unsigned at = ((unsigned)prev_line * 2654435761u ^ (unsigned)ar->currentline) % LUA_EDGES;
  if (lua_edges[at] < 255) lua_edges[at]++;
  prev_line = ar->currentline;
}

static void quiet(void *ud, const xcs_log_record *r) { (void)ud, (void)r; }

/* The libraries the prelude captures; io, os, package and utf8 would only
 * cost allocations per input. */
static void open_libs(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                  {LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_DBLIBNAME, luaopen_debug},
                                  {NULL, NULL}};
  for (const luaL_Reg *lib = libs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
}

/* stack: env. Installs socket, request, ... into env (may raise). */
static int setup(lua_State *L) {
  xcs_socket_open(L, 0);
  return 0;
}

/* A failed network call: nil, "CODE: message", "CODE". */
static void check_results(lua_State *L, int base, const char *req) {
  int n = lua_gettop(L) - base;
  if (n < 1 || !lua_isnil(L, base + 1)) return;
  if (n < 3 || lua_type(L, base + 2) != LUA_TSTRING || lua_type(L, base + 3) != LUA_TSTRING)
    FAIL("request %s: nil without a message and a code", req);
  const char *msg = lua_tostring(L, base + 2), *code = lua_tostring(L, base + 3);
  size_t cl = strlen(code);
  if (cl == 0 || strncmp(msg, code, cl) != 0 || strncmp(msg + cl, ": ", 2) != 0)
    FAIL("request %s: message \"%s\" does not start with its code \"%s: \"", req, msg, code);
}

/* XCS_FUZZ_VERBOSE=1: each request and what it gave, to see what an input
 * does when replaying it. */
static int verbose;

static void show(lua_State *L, int base, int status, const char *s, size_t len) {
  fputs("request \"", stderr);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      fputc(c, stderr);
    else
      fprintf(stderr, "\\x%02x", c);
  }
  fputs(status == LUA_OK ? "\" ->" : "\" raised:", stderr);
  for (int i = base + 1; i <= lua_gettop(L); i++) {
    fprintf(stderr, " %s", luaL_tolstring(L, i, NULL));
    lua_pop(L, 1);
  }
  fputc('\n', stderr);
}

static void request(lua_State *L, int env, const char *s, size_t len) {
  int base = lua_gettop(L);
  lua_getfield(L, env, "request");
  lua_pushlstring(L, s, len);
  prev_line = 0;
  int status = lua_pcall(L, 1, LUA_MULTRET, 0);
  if (verbose) show(L, base, status, s, len);
  if (status == LUA_OK) {
    check_results(L, base, s);
  } else {
    if (status != LUA_ERRRUN) FAIL("request raised with status %d", status);
    size_t elen = 0;
    if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &elen), elen == 0))
      FAIL("request raised a %s, not a message", luaL_typename(L, -1));
  }
  lua_settop(L, base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static xcs_host host; /* its 64 KiB read buffer stays off the stack */
  xcs_options o;
  xcs_options_default(&o);
  const char *bind = getenv("XCS_FUZZ_BIND");
  o.binds[0] = bind && *bind ? bind : "127.0.0.42";
  o.nbinds = 1;
  const char *v = getenv("XCS_FUZZ_VERBOSE");
  verbose = v && *v && strcmp(v, "0") != 0;
  if (xcs_host_init(&host, &o) != 0) FAIL("cannot start a loop");
  host.log = quiet;

  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  open_libs(L);
  xcs_module_borrow(&host, L, "fuzz");
  lua_newtable(L); /* env */
  int env = lua_gettop(L);
  lua_pushcfunction(L, setup);
  lua_pushvalue(L, env);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) FAIL("setup: %s", lua_tostring(L, -1));
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);

  pieces p = pieces_split(data, size, MAX_REQUESTS);
  for (int i = 0; i < p.n; i++) request(L, env, p.s[i], p.len[i]);
  if (p.n > 1) request(L, env, (const char *)data, size);
  pieces_free(&p);

  lua_sethook(L, NULL, 0, 0);
  xcs_host_close(&host); /* unloads the borrowed module: closes what it opened */
  lua_close(L);
  return 0;
}
