/*
 * xcs.h — what the three files of the `xcs` test API share (private to the
 * Lua module: none of it is in the core library).
 *
 *   xcs.c            luaopen_xcs, xcs.run, xcs.logs, the log capture
 *   xcs_module.c     xcs.load and the module objects it returns
 *   xcs_configure.c  xcs.configure and the scopes its settings last for
 */
#ifndef XCS_XCS_H
#define XCS_XCS_H

#include <lua.h>
#include <stdint.h>

#include "host/host.h"
#include "host/module.h"

#define LOG_LINES 2000   /* the log kept for m:logs() and xcs.logs() */
#define XCS_MAX_SCOPES 64 /* nested blocks whose settings are restored */

/* A module loaded during the running xcs.run, held until the run ends so
 * the run can tell whether it failed unseen. */
typedef struct xcs_watched {
  xcs_module *m;
  int seen;      /* the spec read its failure: m:status(), m:error(), m:wait() */
  int may_fail;  /* xcs.load(path, args, { may_fail = true }) */
} xcs_watched;

typedef struct xcs_test {
  xcs_host host;
  xcs_module *client;
  char *log[LOG_LINES]; /* "tag: line", oldest overwritten first */
  uint64_t log_seq[LOG_LINES];
  size_t log_len[LOG_LINES];
  uint64_t logged;      /* lines captured so far */
  int log_next;
  int running, done, timed_out, raised;
  uv_timer_t timeout;   /* bounds each xcs.run */
  int echo_log;         /* XCS_LOG=1: also to stderr */
  xcs_watched *watched; /* the running xcs.run's modules */
  int nwatched, watched_cap;
  xcs_options defaults; /* the options at require: a spec file starts here */
  xcs_options scopes[XCS_MAX_SCOPES]; /* the options as each open block began */
  int nscopes;          /* open blocks (may pass XCS_MAX_SCOPES: not saved) */
} xcs_test;

xcs_test *xcs_test_of(lua_State *L);
/* Pushes the captured lines (those of `tag` only, if given, from line
 * number `since` on), oldest first. */
void xcs_test_push_log(lua_State *L, xcs_test *x, const char *tag, uint64_t since);

/* xcs_module.c: registers the xcs.module metatable and sets xcs.load. */
void xcs_test_module_open(lua_State *L);
/* At the end of a run: lets go of every module loaded in it, and pushes a
 * message naming those that failed while nobody looked (returns 1), or
 * pushes nothing (returns 0). */
int xcs_test_unseen_failures(lua_State *L, xcs_test *x);

/* xcs_configure.c: sets xcs.configure, and xcs._scope for the busted hooks. */
void xcs_test_configure_open(lua_State *L);
/* Reads the fault options present in the table at idx into o (the others
 * keep their value); raises naming fname. Returns whether any was given. */
int xcs_test_read_faults(lua_State *L, int idx, const char *fname, xcs_fault_options *o);
/* A block begins (its settings will be undone when it ends) or ends. */
void xcs_test_scope_begin(xcs_test *x);
void xcs_test_scope_end(xcs_test *x);

#endif
