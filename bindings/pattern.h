/*
 * pattern.h — Lua 5.4 pattern matching (string.find, match, gmatch, gsub)
 * that cannot hold the host for long.
 *
 * The CPU watchdog (host/limits.c) stops module code with a hook, and a hook
 * only runs between Lua instructions: one call of Lua's own matcher, which is
 * C, could backtrack for hours (string.find(("a"):rep(1e5), ".-.-.-b")) with
 * every module of the host waiting. These functions behave as Lua 5.4's
 * (manual §6.4.1: same results, same errors, same limits on captures and
 * nesting) except that each call may spend at most XCS_PATTERN_STEPS steps
 * of matching work; past that it raises
 *   "string.find: pattern too complex for this subject (over N steps); ..."
 * (string.gmatch counts each step of the loop on its own). A plain find
 * (4th argument true, or a pattern without special characters) is linear
 * and has no budget.
 */
#ifndef XCS_PATTERN_H
#define XCS_PATTERN_H

#include <lua.h>

/* About 20-40 ms of matching on a current CPU: an ordinary pattern costs
 * about one step per subject byte it looks at, so a single pass over a
 * subject of several MB still fits in one call. */
#define XCS_PATTERN_STEPS 10000000

/* Sets find, match, gmatch and gsub in the table on top of the stack. */
void xcs_pattern_open(lua_State *L);

#endif
