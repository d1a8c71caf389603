/*
 * pattern_match.c — the matcher under bindings/pattern.c's string.find,
 * match, gmatch and gsub (see pattern_match.h).
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
 */
#include "bindings/pattern_match.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

void xcs_matcher_init(matcher *m, lua_State *L, const char *fname, const char *s,
                         size_t ls, const char *p, size_t lp) {
  m->L = L;
  m->fname = fname;
  m->subject = s;
  m->subject_end = s + ls;
  m->pattern_end = p + lp;
  m->left = XCS_PATTERN_STEPS;
}

/* Before each attempt at a new start position. */
void xcs_matcher_reset(matcher *m) {
  m->level = 0;
  m->depth = MAX_DEPTH;
}

static void over_budget(matcher *m) {
  luaL_error(m->L,
             "%s: pattern too complex for this subject (over %d steps); "
             "the host bounds pattern matching (see README)",
             m->fname, XCS_PATTERN_STEPS);
}

void xcs_matcher_spend(matcher *m, size_t steps) {
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
  if (*p == PATTERN_ESC) {
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
    if (*p++ == PATTERN_ESC && p < end) p++;
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

void xcs_pattern_classes_init(void) {
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
    if (*p == PATTERN_ESC) {
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
    case PATTERN_ESC: return class_has(c, (unsigned char)p[1]);
    case '[': return set_has(c, p, ep - 1);
    default: return (unsigned char)*p == c;
  }
}

/* Item p..ep repeated from s as often as it matches, then the rest of the
 * pattern after ep's quantifier: the longest run that lets it match. */
static const char *greedy(matcher *m, const char *s, const char *p, const char *ep) {
  size_t cost = item_cost(p, ep);
  size_t most = cost == 1 ? m->left : m->left / cost;
  size_t n = 0;
  while (item_has(m, s + n, p, ep))
    if (++n > most) over_budget(m);
  xcs_matcher_spend(m, n * cost);
  for (;;) {
    const char *e = xcs_match_at(m, s + n, ep + 1);
    if (e != NULL) return e;
    if (n-- == 0) return NULL;
  }
}

/* The same, shortest run first ('-'). */
static const char *lazy(matcher *m, const char *s, const char *p, const char *ep) {
  size_t cost = item_cost(p, ep);
  for (;;) {
    const char *e = xcs_match_at(m, s, ep + 1);
    if (e != NULL) return e;
    xcs_matcher_spend(m, cost);
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
  const char *e = xcs_match_at(m, s, p);
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
  const char *e = xcs_match_at(m, s, p);
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
  xcs_matcher_spend(m, (size_t)(s - start) / 4);
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
  xcs_matcher_spend(m, (size_t)len / 32);
  if (m->subject_end - s >= len && memcmp(m->cap[i].at, s, (size_t)len) == 0) return s + len;
  return NULL;
}

/* Matches the pattern from p against the subject from s; returns the end
 * of the match or NULL. */
const char *xcs_match_at(matcher *m, const char *s, const char *p) {
  if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
  while (p != m->pattern_end) {
    xcs_matcher_spend(m, 1);
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
      case PATTERN_ESC:
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
          xcs_matcher_spend(m, 3 * set_scan_cost(p, ep));
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
    if (*p == '[') xcs_matcher_spend(m, 2 * set_scan_cost(p, ep));
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
        const char *e = xcs_match_at(m, s + 1, ep + 1);
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

const char *xcs_capture(matcher *m, int i, const char *s, const char *e, size_t *len) {
  if (i >= m->level) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    *len = (size_t)(e - s);
    return s;
  }
  const capture *c = &m->cap[i];
  if (c->len == CAP_OPEN) luaL_error(m->L, "unfinished capture");
  if (c->len == CAP_POSITION) {
    *len = (size_t)(c->at - m->subject) + 1;
    return NULL;
  }
  *len = (size_t)c->len;
  return c->at;
}

void xcs_push_capture(matcher *m, int i, const char *s, const char *e) {
  size_t len;
  const char *at = xcs_capture(m, i, s, e, &len);
  if (at == NULL)
    lua_pushinteger(m->L, (lua_Integer)len);
  else
    lua_pushlstring(m->L, at, len);
}

int xcs_push_captures(matcher *m, const char *s, const char *e) {
  int n = m->level == 0 && s != NULL ? 1 : m->level;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++) xcs_push_capture(m, i, s, e);
  return n;
}

void xcs_first_item_of(matcher *m, const char *p, first_item *f) {
  f->p = NULL;
  /* Captures opened first consume nothing: look past them (but past no
   * more than may be opened, or the skip would hide "too many captures"). */
  for (int opened = 0; *p == '(' && p + 1 < m->pattern_end; p += p[1] == ')' ? 2 : 1)
    if (++opened > MAX_CAPTURES) return;
  if (p == m->pattern_end || *p == '(' || *p == ')') return;
  if (*p == '$' && p + 1 == m->pattern_end) return;
  if (*p == PATTERN_ESC && (p[1] == 'b' || p[1] == 'f' || (p[1] >= '0' && p[1] <= '9'))) return;
  const char *ep = item_end(m, p);
  if (*ep == '*' || *ep == '?' || *ep == '-') return;
  f->p = p;
  f->ep = ep;
  f->literal = -1;
  if (*p != '.' && *p != PATTERN_ESC && *p != '[')
    f->literal = (unsigned char)*p;
  else
    memset(f->in, 0, sizeof f->in);
}

/* The first position from at where f matches, or NULL (never at the end of
 * the subject: a single-character item needs a character). */
const char *xcs_skip_to(matcher *m, first_item *f, const char *at) {
  const char *end = m->subject_end;
  if (f->literal >= 0) {
    const char *next = memchr(at, f->literal, (size_t)(end - at));
    xcs_matcher_spend(m, (size_t)((next ? next : end) - at) / 32);
    return next;
  }
  /* A step per 4 bytes (a lookup each), and a set's scan for each byte
   * value first seen. */
  size_t scan = item_cost(f->p, f->ep);
  const char *from = at;
  for (; at < end; at++) {
    unsigned char *in = &f->in[(unsigned char)*at];
    if (*in == 0) {
      xcs_matcher_spend(m, scan);
      *in = item_has(m, at, f->p, f->ep) ? 2 : 1;
    }
    if (*in == 2) break;
    if ((size_t)(at - from) / 4 >= m->left) over_budget(m);
  }
  xcs_matcher_spend(m, (size_t)(at - from) / 4);
  return at < end ? at : NULL;
}
