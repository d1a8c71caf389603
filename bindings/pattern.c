/*
 * pattern.c — Lua 5.4 patterns with a step budget (see pattern.h).
 *
 * A backtracking interpreter that reads the pattern while it matches. It is
 * deliberately not compiled first: Lua reports a malformed pattern only when
 * the matcher reaches the bad part (string.find("abc", "x[") is nil, since
 * no 'x' ever lets it look further), and it raises "pattern too complex"
 * when one attempt nests more than 200 matcher calls. To give the same
 * answers and the same errors, items are tried in the order the manual's
 * semantics imply (longest run first for '*' and '+', shortest for '-'), and
 * the matcher recurses exactly where a later choice may have to be undone:
 * '?', '*', '+', '-' and each capture boundary; everything else loops.
 *
 * Cost accounting: every item visited and every subject byte an expansion
 * or a %b scan looks at costs a step; a set costs more with its length,
 * a back-reference with the bytes it compares, a replacement string with its
 * length. The count runs across all start positions of one call, since the
 * costly cases (".-.-b" with no b) are made of many cheap attempts.
 */
#include "bindings/pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stddef.h>
#include <string.h>

#define ESC '%'
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

static void matcher_init(matcher *m, lua_State *L, const char *fname, const char *s,
                         size_t ls, const char *p, size_t lp) {
  m->L = L;
  m->fname = fname;
  m->subject = s;
  m->subject_end = s + ls;
  m->pattern_end = p + lp;
  m->left = XCS_PATTERN_STEPS;
}

/* Before each attempt at a new start position. */
static void matcher_reset(matcher *m) {
  m->level = 0;
  m->depth = MAX_DEPTH;
}

static void over_budget(matcher *m) {
  luaL_error(m->L,
             "%s: pattern too complex for this subject (over %d steps); "
             "the host bounds pattern matching (see README)",
             m->fname, XCS_PATTERN_STEPS);
}

static void spend(matcher *m, size_t steps) {
  if (steps > m->left) over_budget(m);
  m->left -= steps;
}

/* What one test of the item p..ep against a character costs: a set is
 * scanned for every character it is tried on (finding its end costs as
 * much again). Steps are calibrated to about 2 ns each in a release build. */
static size_t set_scan_cost(const char *p, const char *ep) { return (size_t)(ep - p) / 4; }
static size_t item_cost(const char *p, const char *ep) { return 1 + set_scan_cost(p, ep); }

/* The end of the single-character item at p: ".", "x", "%x" or "[set]".
 * Only here is a malformed item noticed, as in Lua. */
static const char *item_end(matcher *m, const char *p) {
  const char *end = m->pattern_end;
  if (*p == ESC) {
    if (p + 1 == end) luaL_error(m->L, "malformed pattern (ends with '%%')");
    return p + 2;
  }
  if (*p != '[') return p + 1;
  p++;
  if (*p == '^') p++;
  /* The first member is never the closing bracket: "[]]" and "[^]]" are
   * sets holding ']'. An escape hides the character after it ("[%]]"). */
  do {
    if (p == end) luaL_error(m->L, "malformed pattern (missing ']')");
    if (*p++ == ESC && p < end) p++;
  } while (*p != ']');
  return p + 1;
}

/* The character classes, one bit each, of every byte: computed once from
 * <ctype.h> (the host never changes its locale, so this is what Lua's
 * isalpha() & co would say), then one lookup per test. */
enum {
  CL_A = 1 << 0, CL_C = 1 << 1, CL_D = 1 << 2, CL_G = 1 << 3, CL_L = 1 << 4, CL_P = 1 << 5,
  CL_S = 1 << 6, CL_U = 1 << 7, CL_W = 1 << 8, CL_X = 1 << 9, CL_Z = 1 << 10
};
static unsigned short classes[256];

static void classes_init(void) {
  if (classes['a'] != 0) return;
  for (int c = 0; c < 256; c++)
    classes[c] = (unsigned short)((isalpha(c) ? CL_A : 0) | (iscntrl(c) ? CL_C : 0) |
                                  (isdigit(c) ? CL_D : 0) | (isgraph(c) ? CL_G : 0) |
                                  (islower(c) ? CL_L : 0) | (ispunct(c) ? CL_P : 0) |
                                  (isspace(c) ? CL_S : 0) | (isupper(c) ? CL_U : 0) |
                                  (isalnum(c) ? CL_W : 0) | (isxdigit(c) ? CL_X : 0) |
                                  (c == 0 ? CL_Z : 0));
}

/* Whether c is in the class %cl: a letter names a class (upper case: its
 * complement), anything else stands for itself (%%, %., %]). %z ('\0') is
 * not in the 5.4 manual but still in Lua 5.4, so it is here. */
static int class_has(int c, int cl) {
  int bit;
  switch (cl | 0x20) { /* only 'A'-'Z' and 'a'-'z' can land on these */
    case 'a': bit = CL_A; break;
    case 'c': bit = CL_C; break;
    case 'd': bit = CL_D; break;
    case 'g': bit = CL_G; break;
    case 'l': bit = CL_L; break;
    case 'p': bit = CL_P; break;
    case 's': bit = CL_S; break;
    case 'u': bit = CL_U; break;
    case 'w': bit = CL_W; break;
    case 'x': bit = CL_X; break;
    case 'z': bit = CL_Z; break;
    default: return cl == c;
  }
  int in = (classes[c] & bit) != 0;
  return (cl & 0x20) ? in : !in;
}

/* Whether c is in the set from '[' at p to its ']' at close. A '-' between
 * two members makes a range; first or last, it is itself. */
static int set_has(int c, const char *p, const char *close) {
  int in = 1;
  if (p[1] == '^') {
    in = 0;
    p++;
  }
  while (++p < close) {
    if (*p == ESC) {
      p++;
      if (class_has(c, (unsigned char)*p)) return in;
    } else if (p[1] == '-' && p + 2 < close) {
      if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return in;
      p += 2;
    } else if ((unsigned char)*p == c) {
      return in;
    }
  }
  return !in;
}

/* Whether the item p..ep matches the subject character at s. */
static int item_has(const matcher *m, const char *s, const char *p, const char *ep) {
  if (s >= m->subject_end) return 0;
  int c = (unsigned char)*s;
  switch (*p) {
    case '.': return 1;
    case ESC: return class_has(c, (unsigned char)p[1]);
    case '[': return set_has(c, p, ep - 1);
    default: return (unsigned char)*p == c;
  }
}

static const char *match_at(matcher *m, const char *s, const char *p);

/* Item p..ep repeated from s as often as it matches, then the rest of the
 * pattern after ep's quantifier: the longest run that lets it match. */
static const char *greedy(matcher *m, const char *s, const char *p, const char *ep) {
  size_t cost = item_cost(p, ep);
  size_t most = cost == 1 ? m->left : m->left / cost;
  size_t n = 0;
  while (item_has(m, s + n, p, ep))
    if (++n > most) over_budget(m);
  spend(m, n * cost);
  for (;;) {
    const char *e = match_at(m, s + n, ep + 1);
    if (e != NULL) return e;
    if (n-- == 0) return NULL;
  }
}

/* The same, shortest run first ('-'). */
static const char *lazy(matcher *m, const char *s, const char *p, const char *ep) {
  size_t cost = item_cost(p, ep);
  for (;;) {
    const char *e = match_at(m, s, ep + 1);
    if (e != NULL) return e;
    spend(m, cost);
    if (!item_has(m, s, p, ep)) return NULL;
    s++;
  }
}

/* '(' or '()': a capture starting at s, then the rest of the pattern at p;
 * the capture is forgotten if the rest does not match. */
static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t kind) {
  if (m->level >= MAX_CAPTURES) luaL_error(m->L, "too many captures");
  m->cap[m->level].at = s;
  m->cap[m->level].len = kind;
  m->level++;
  const char *e = match_at(m, s, p);
  if (e == NULL) m->level--;
  return e;
}

/* ')': closes the innermost open capture at s. */
static const char *close_capture(matcher *m, const char *s, const char *p) {
  int i = m->level - 1;
  while (i >= 0 && m->cap[i].len != CAP_OPEN) i--;
  if (i < 0) {
    luaL_error(m->L, "invalid pattern capture");
    return NULL;
  }
  m->cap[i].len = s - m->cap[i].at;
  const char *e = match_at(m, s, p);
  if (e == NULL) m->cap[i].len = CAP_OPEN;
  return e;
}

/* %bxy at s (p points at x): the end of the balanced run, or NULL. */
static const char *balanced(matcher *m, const char *s, const char *p) {
  if (p >= m->pattern_end - 1)
    luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= m->subject_end || *s != p[0]) return NULL;
  char open = p[0], close = p[1];
  /* The scan is budgeted as it goes: a byte costs a quarter step. */
  const char *start = s, *stop = m->subject_end;
  if ((size_t)(stop - s) / 4 > m->left) stop = s + m->left * 4;
  const char *found = NULL;
  for (size_t depth = 1; ++s < stop;) {
    if (*s == close) {
      if (--depth == 0) {
        found = s + 1;
        break;
      }
    } else if (*s == open) {
      depth++;
    }
  }
  if (found == NULL && stop < m->subject_end) over_budget(m);
  spend(m, (size_t)(s - start) / 4);
  return found;
}

/* %1-%9 at s: the text capture i caught, again. */
static const char *backref(matcher *m, const char *s, int i) {
  if (i < 0 || i >= m->level || m->cap[i].len == CAP_OPEN) {
    luaL_error(m->L, "invalid capture index %%%d", i + 1);
    return NULL;
  }
  ptrdiff_t len = m->cap[i].len;
  if (len == CAP_POSITION) return NULL; /* a position is no text: Lua never matches it */
  spend(m, (size_t)len / 32);
  if (m->subject_end - s >= len && memcmp(m->cap[i].at, s, (size_t)len) == 0) return s + len;
  return NULL;
}

/* Matches the pattern from p against the subject from s; returns the end
 * of the match or NULL. */
static const char *match_at(matcher *m, const char *s, const char *p) {
  if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
  while (p != m->pattern_end) {
    spend(m, 1);
    switch (*p) {
      case '(':
        if (p[1] == ')')
          s = open_capture(m, s, p + 2, CAP_POSITION);
        else
          s = open_capture(m, s, p + 1, CAP_OPEN);
        goto done;
      case ')':
        s = close_capture(m, s, p + 1);
        goto done;
      case '$':
        if (p + 1 == m->pattern_end) { /* an anchor only at the very end */
          if (s != m->subject_end) s = NULL;
          goto done;
        }
        break;
      case ESC:
        if (p[1] == 'b') {
          s = balanced(m, s, p + 2);
          if (s == NULL) goto done;
          p += 4;
          continue;
        }
        if (p[1] == 'f') {
          p += 2;
          if (*p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
          const char *ep = item_end(m, p);
          spend(m, 3 * set_scan_cost(p, ep));
          /* Outside the subject, both sides see '\0'. */
          int before = s == m->subject ? '\0' : (unsigned char)s[-1];
          int here = s < m->subject_end ? (unsigned char)*s : '\0';
          if (set_has(before, p, ep - 1) || !set_has(here, p, ep - 1)) {
            s = NULL;
            goto done;
          }
          p = ep;
          continue;
        }
        if (p[1] >= '0' && p[1] <= '9') {
          s = backref(m, s, p[1] - '1');
          if (s == NULL) goto done;
          p += 2;
          continue;
        }
        break;
      default:
        break;
    }
    /* A single-character item, maybe with a quantifier after it. */
    const char *ep = item_end(m, p);
    if (*p == '[') spend(m, 2 * set_scan_cost(p, ep));
    if (!item_has(m, s, p, ep)) {
      if (*ep == '*' || *ep == '?' || *ep == '-') { /* zero times is fine */
        p = ep + 1;
        continue;
      }
      s = NULL;
      goto done;
    }
    switch (*ep) {
      case '?': {
        const char *e = match_at(m, s + 1, ep + 1);
        if (e != NULL) {
          s = e;
          goto done;
        }
        p = ep + 1;
        continue;
      }
      case '+': s = greedy(m, s + 1, p, ep); goto done;
      case '*': s = greedy(m, s, p, ep); goto done;
      case '-': s = lazy(m, s, p, ep); goto done;
      default:
        s++;
        p = ep;
        continue;
    }
  }
done:
  m->depth++;
  return s;
}

/* Pushes capture i of the match s..e; without captures, capture 0 is the
 * whole match. */
static void push_capture(matcher *m, int i, const char *s, const char *e) {
  if (i >= m->level) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(m->L, s, (size_t)(e - s));
    return;
  }
  const capture *c = &m->cap[i];
  if (c->len == CAP_OPEN) luaL_error(m->L, "unfinished capture");
  if (c->len == CAP_POSITION)
    lua_pushinteger(m->L, (lua_Integer)(c->at - m->subject) + 1);
  else
    lua_pushlstring(m->L, c->at, (size_t)c->len);
}

/* Pushes every capture (the whole match if none and s is given). */
static int push_captures(matcher *m, const char *s, const char *e) {
  int n = m->level == 0 && s != NULL ? 1 : m->level;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++) push_capture(m, i, s, e);
  return n;
}

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

static void first_item_of(matcher *m, const char *p, first_item *f) {
  f->p = NULL;
  /* Captures opened first consume nothing: look past them (but past no
   * more than may be opened, or the skip would hide "too many captures"). */
  for (int opened = 0; *p == '(' && p + 1 < m->pattern_end; p += p[1] == ')' ? 2 : 1)
    if (++opened > MAX_CAPTURES) return;
  if (p == m->pattern_end || *p == '(' || *p == ')') return;
  if (*p == '$' && p + 1 == m->pattern_end) return;
  if (*p == ESC && (p[1] == 'b' || p[1] == 'f' || (p[1] >= '0' && p[1] <= '9'))) return;
  const char *ep = item_end(m, p);
  if (*ep == '*' || *ep == '?' || *ep == '-') return;
  f->p = p;
  f->ep = ep;
  f->literal = -1;
  if (*p != '.' && *p != ESC && *p != '[')
    f->literal = (unsigned char)*p;
  else
    memset(f->in, 0, sizeof f->in);
}

/* The first position from at where f matches, or NULL (never at the end of
 * the subject: a single-character item needs a character). */
static const char *skip_to(matcher *m, first_item *f, const char *at) {
  const char *end = m->subject_end;
  if (f->literal >= 0) {
    const char *next = memchr(at, f->literal, (size_t)(end - at));
    spend(m, (size_t)((next ? next : end) - at) / 32);
    return next;
  }
  /* A step per 4 bytes (a lookup each), and a set's scan for each byte
   * value first seen. */
  size_t scan = item_cost(f->p, f->ep);
  const char *from = at;
  for (; at < end; at++) {
    unsigned char *in = &f->in[(unsigned char)*at];
    if (*in == 0) {
      spend(m, scan);
      *in = item_has(m, at, f->p, f->ep) ? 2 : 1;
    }
    if (*in == 2) break;
    if ((size_t)(at - from) / 4 >= m->left) over_budget(m);
  }
  spend(m, (size_t)(at - from) / 4);
  return at < end ? at : NULL;
}

/* Lua's rule for a start index: negative counts from the end, and anything
 * before the start is the start. The result may be past the end. */
static size_t start_index(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0 || pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

/* Whether find must treat p as a pattern. Lua's list: ')' and ']' alone
 * make no pattern special. */
static int has_specials(const char *p, size_t lp) {
  for (size_t i = 0; i < lp; i++) {
    switch (p[i]) {
      case '^': case '$': case '*': case '+': case '?': case '.':
      case '(': case '[': case '%': case '-':
        return 1;
      default:
        break;
    }
  }
  return 0;
}

static int find_aux(lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
    /* Plain text: memmem is linear, nothing to bound. */
    const char *at = memmem(s + init, ls - init, p, lp);
    if (at == NULL) {
      luaL_pushfail(L);
      return 1;
    }
    lua_pushinteger(L, (lua_Integer)(at - s) + 1);
    lua_pushinteger(L, (lua_Integer)(at - s) + (lua_Integer)lp);
    return 2;
  }
  matcher m;
  matcher_init(&m, L, find ? "string.find" : "string.match", s, ls, p, lp);
  int anchored = *p == '^';
  if (anchored) p++;
  const char *at = s + init;
  first_item f;
  f.p = NULL;
  if (!anchored) first_item_of(&m, p, &f);
  do {
    if (f.p != NULL && (at = skip_to(&m, &f, at)) == NULL) break;
    matcher_reset(&m);
    const char *e = match_at(&m, at, p);
    if (e != NULL) {
      if (!find) return push_captures(&m, at, e);
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(e - s));
      return 2 + push_captures(&m, NULL, NULL);
    }
  } while (at++ < m.subject_end && !anchored);
  luaL_pushfail(L);
  return 1;
}

/* string.find(s, pattern [, init [, plain]]) */
static int str_find(lua_State *L) { return find_aux(L, 1); }

/* string.match(s, pattern [, init]) */
static int str_match(lua_State *L) { return find_aux(L, 0); }

/* Where a gmatch loop stands, as offsets into its subject. */
typedef struct gmatch_state {
  size_t next; /* where the next search starts */
  size_t last; /* where the last match ended: an empty match there is the
                  same match again, so it does not count (SIZE_MAX: none) */
} gmatch_state;

/* The iterator: upvalues subject, pattern, state. Each call has its own
 * budget, since Lua code (which the watchdog can stop) runs between calls. */
static int gmatch_step(lua_State *L) {
  size_t ls, lp;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
  matcher m;
  matcher_init(&m, L, "string.gmatch", s, ls, p, lp);
  /* No anchor here: a leading '^' is an ordinary character, as in Lua. */
  first_item f;
  f.p = NULL;
  if (g->next <= ls) first_item_of(&m, p, &f); /* past the end, Lua never looks */
  for (const char *at = s + g->next; at <= m.subject_end; at++) {
    if (f.p != NULL && (at = skip_to(&m, &f, at)) == NULL) break;
    matcher_reset(&m);
    const char *e = match_at(&m, at, p);
    if (e != NULL && (size_t)(e - s) != g->last) {
      g->next = g->last = (size_t)(e - s);
      return push_captures(&m, at, e);
    }
  }
  g->next = ls + 1; /* done: later calls return nothing at once */
  return 0;
}

/* string.gmatch(s, pattern [, init]) */
static int str_gmatch(lua_State *L) {
  size_t ls, lp;
  luaL_checklstring(L, 1, &ls); /* numbers become strings in place */
  luaL_checklstring(L, 2, &lp);
  size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
  lua_settop(L, 2);
  gmatch_state *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->next = init > ls ? ls + 1 : init;
  g->last = (size_t)-1;
  lua_pushcclosure(L, gmatch_step, 3);
  return 1;
}

/* Capture i of the match s..e into b (for %1-%9 in a replacement). */
static void add_capture(matcher *m, luaL_Buffer *b, int i, const char *s, const char *e) {
  if (i >= m->level) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return;
  }
  const capture *c = &m->cap[i];
  if (c->len == CAP_OPEN) luaL_error(m->L, "unfinished capture");
  if (c->len == CAP_POSITION) {
    lua_pushinteger(m->L, (lua_Integer)(c->at - m->subject) + 1);
    luaL_addvalue(b);
  } else {
    luaL_addlstring(b, c->at, (size_t)c->len);
  }
}

/* The replacement string (argument 3) for the match s..e, its %0-%9 and %%
 * expanded. Charged by its length: empty matches with a long replacement
 * would otherwise cost much and show nothing. */
static void add_string(matcher *m, luaL_Buffer *b, const char *s, const char *e) {
  size_t len;
  const char *r = lua_tolstring(m->L, 3, &len);
  spend(m, 1 + len / 8);
  const char *pct;
  while ((pct = memchr(r, ESC, len)) != NULL) {
    spend(m, 2);
    luaL_addlstring(b, r, (size_t)(pct - r));
    unsigned char d = (unsigned char)pct[1]; /* '\0' after a final '%' */
    if (d == ESC)
      luaL_addchar(b, ESC);
    else if (d == '0')
      luaL_addlstring(b, s, (size_t)(e - s));
    else if (isdigit(d))
      add_capture(m, b, d - '1', s, e);
    else
      luaL_error(m->L, "invalid use of '%c' in replacement string", ESC);
    len -= (size_t)(pct + 2 - r);
    r = pct + 2;
  }
  luaL_addlstring(b, r, len);
}

/* Adds the replacement for the match s..e; returns whether it changed
 * anything (a false or nil from a table or function keeps the match). */
static int add_value(matcher *m, luaL_Buffer *b, const char *s, const char *e, int tr) {
  lua_State *L = m->L;
  if (tr == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = push_captures(m, s, e);
    lua_call(L, n, 1); /* the watchdog still watches this Lua code */
  } else if (tr == LUA_TTABLE) {
    push_capture(m, 0, s, e);
    lua_gettable(L, 3);
  } else {
    add_string(m, b, s, e);
    return 1;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return 0;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return 1;
}

/* string.gsub(s, pattern, repl [, n]) */
static int str_gsub(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  int tr = lua_type(L, 3);
  lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
                          tr == LUA_TTABLE,
                   3, "string/function/table");
  matcher m;
  matcher_init(&m, L, "string.gsub", s, ls, p, lp);
  int anchored = *p == '^';
  if (anchored) p++;
  luaL_Buffer b;
  luaL_buffinit(L, &b); /* stack: s, pattern, repl, [n], buffer */
  const char *last = NULL;
  lua_Integer n = 0;
  int changed = 0;
  first_item f;
  f.p = NULL;
  if (!anchored && max_n > 0) first_item_of(&m, p, &f); /* n <= 0: Lua never looks */
  while (n < max_n) {
    if (f.p != NULL) {
      const char *next = skip_to(&m, &f, s);
      if (next == NULL) break; /* the rest is copied below */
      luaL_addlstring(&b, s, (size_t)(next - s));
      s = next;
    }
    matcher_reset(&m);
    const char *e = match_at(&m, s, p);
    if (e != NULL && e != last) { /* an empty match right after a match is no new match */
      n++;
      changed |= add_value(&m, &b, s, e, tr);
      s = last = e;
    } else if (s < m.subject_end) {
      luaL_addchar(&b, *s++);
    } else {
      break;
    }
    if (anchored) break;
  }
  if (changed) {
    luaL_addlstring(&b, s, (size_t)(m.subject_end - s));
    luaL_pushresult(&b);
  } else {
    lua_pushvalue(L, 1);
  }
  lua_pushinteger(L, n);
  return 2;
}

void xcs_pattern_open(lua_State *L) {
  classes_init();
  static const luaL_Reg fns[] = {{"find", str_find},
                                 {"match", str_match},
                                 {"gmatch", str_gmatch},
                                 {"gsub", str_gsub},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
