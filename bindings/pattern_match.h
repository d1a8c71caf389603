/*
 * pattern_match.h — the step-budgeted matcher that bindings/pattern.c's
 * string functions run (bindings/pattern_match.c), and what they share.
 *
 * Cost accounting: every item visited and every subject byte an expansion
 * or a %b scan looks at costs a step; a set costs more with its length,
 * a back-reference with the bytes it compares, a replacement string with its
 * length. The count runs across all start positions of one call, since the
 * costly cases (".-.-b" with no b) are made of many cheap attempts.
 */
#ifndef XCS_PATTERN_MATCH_H
#define XCS_PATTERN_MATCH_H

#include <lua.h>
#include <stddef.h>

#include "bindings/pattern.h"

#define PATTERN_ESC '%'
#define MAX_CAPTURES 32 /* as Lua's LUA_MAXCAPTURES */
#define MAX_DEPTH 200   /* nested matcher calls in one attempt, as Lua's */

/* A capture's len while it is open, and for a position capture "()". */
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)

typedef struct capture {
  const char *at;
  ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
} capture;

typedef struct matcher {
  lua_State *L;
  const char *fname; /* "string.find"...: the budget error names it */
  const char *subject, *subject_end;
  /* Both strings are Lua strings, so *subject_end and *pattern_end are
   * '\0': the matcher may look one character past either end, and then
   * sees '\0', as Lua's own matcher does (%f at the end of the subject). */
  const char *pattern_end;
  size_t left; /* steps this call may still spend */
  int depth;   /* nested calls this attempt may still make */
  int level;   /* captures opened so far */
  capture cap[MAX_CAPTURES];
} matcher;

/* Unanchored searches try every start position, and at most of them the
 * first item of the pattern fails at once. When that item is a plain
 * single-character one that must match (no '*', '?' or '-' after it),
 * positions it does not match are skipped without entering the matcher:
 * an attempt there would fail with nothing else looked at, so results and
 * errors are the same (a malformed first item raises here as it would at
 * the first attempt, which always happens). */
typedef struct first_item {
  const char *p, *ep; /* p NULL: no such item */
  int literal;        /* the character, or -1 for a class or set */
  /* For a class or set: whether each byte is in it (0: not known yet),
   * so that a subject dense in its members costs one lookup per byte. */
  unsigned char in[256];
} first_item;

/* One call's matcher over subject s (ls bytes) and pattern p (lp bytes),
 * with XCS_PATTERN_STEPS to spend; fname names the call in the budget's
 * error. */
void xcs_matcher_init(matcher *m, lua_State *L, const char *fname, const char *s,
                      size_t ls, const char *p, size_t lp);
/* Before each attempt at a new start position. */
void xcs_matcher_reset(matcher *m);
/* Spends steps of the budget, raising once it is over. */
void xcs_matcher_spend(matcher *m, size_t steps);
/* Where a match of p starting at s ends, or NULL. */
const char *xcs_match_at(matcher *m, const char *s, const char *p);
/* Capture i of the match s..e (capture 0 is the whole match when there
 * are none): its start and *len, or NULL for a position capture, whose
 * position is then *len. Raises for an index past the captures and for
 * one still open. xcs_push_capture pushes it; xcs_push_captures pushes
 * them all (the whole match if none and s is given), returning how many. */
const char *xcs_capture(matcher *m, int i, const char *s, const char *e, size_t *len);
void xcs_push_capture(matcher *m, int i, const char *s, const char *e);
int xcs_push_captures(matcher *m, const char *s, const char *e);
/* f for p's first item if it is one the search may skip to (f->p NULL
 * otherwise), and the first position from at where it matches, or NULL. */
void xcs_first_item_of(matcher *m, const char *p, first_item *f);
const char *xcs_skip_to(matcher *m, first_item *f, const char *at);
/* The character class table, filled once. */
void xcs_pattern_classes_init(void);

#endif
