/*
 * errors.h — how a network outcome reaches Lua.
 *
 * Misuse raises (luaL_argerror / luaL_error, naming the function and the
 * argument). A network outcome is returned, never raised:
 *
 *     nil, "ECONNREFUSED: connection refused", "ECONNREFUSED"
 *
 * The third value is a stable short code: a libuv error name, or one of the
 * host's own codes below. Defined once, here.
 */
#ifndef XCS_ERRORS_H
#define XCS_ERRORS_H

#include <lua.h>

#define XCS_ECLOSED "closed"      /* the socket was closed (here, or by unload) */

/* Set by the host: told the code of every outcome returned (the metrics). */
extern void (*xcs_errors_counted)(lua_State *L, const char *code);

/* Pushes nil, message, code for a libuv status; returns 3. UV_ECANCELED,
 * which a close causes, reads as "closed". */
int xcs_push_fail(lua_State *L, int status);
/* The same with words of the host's own (lua_pushfstring's format) after
 * "CODE: ", for an outcome libuv's words do not say enough about: which
 * timeout, which bound, which path. Every network outcome a module is
 * returned goes through one of these, so the metrics count them all. */
int xcs_push_failf(lua_State *L, int status, const char *fmt, ...);
/* xcs_push_fail's words and where (a path, an address) in parentheses;
 * the closing codes as xcs_push_fail has them. */
int xcs_push_fail_at(lua_State *L, int status, const char *where);
/* ...and for a code of the host's own, not a libuv status (TLS's). */
int xcs_push_coded(lua_State *L, const char *code, const char *fmt, ...);
/* Pushes nil, "closed: <why>", "closed"; returns 3. */
int xcs_push_closed(lua_State *L, const char *why);

/* Misuse ----------------------------------------------------------------------- */

/* Raises a misuse error positioned at the first caller outside the
 * prelude and the functions xcs_errors_see_through names (as the prelude's
 * own errors are), so a module sees its own line whether it called a
 * method or a socket.* function. */
int xcs_raise_at_caller(lua_State *L, const char *fmt, ...);
/* f stands in front of the prelude's functions: xcs_raise_at_caller looks
 * past it too. For a few, registered once each. */
void xcs_errors_see_through(lua_CFunction f);
/* Pushes "a, b or c" of the NULL-ended names. */
void xcs_push_choices(lua_State *L, const char *const names[]);
/* The index in names of the string at idx; else raises "fname: unknown
 * <what> 'x' (expected a, b or c)", so a typo shows every right spelling. */
int xcs_check_choice(lua_State *L, int idx, const char *fname, const char *what,
                     const char *const names[]);

#endif
