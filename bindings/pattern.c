/*
 * pattern.c — Lua 5.4's string.find, match, gmatch and gsub with a step
 * budget (see pattern.h), over the matcher in pattern_match.c.
 */
#include "bindings/pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "bindings/pattern_match.h"

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
  xcs_matcher_init(&m, L, find ? "string.find" : "string.match", s, ls, p, lp);
  int anchored = *p == '^';
  if (anchored) p++;
  const char *at = s + init;
  first_item f;
  f.p = NULL;
  if (!anchored) xcs_first_item_of(&m, p, &f);
  do {
    if (f.p != NULL && (at = xcs_skip_to(&m, &f, at)) == NULL) break;
    xcs_matcher_reset(&m);
    const char *e = xcs_match_at(&m, at, p);
    if (e != NULL) {
      if (!find) return xcs_push_captures(&m, at, e);
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(e - s));
      return 2 + xcs_push_captures(&m, NULL, NULL);
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
  xcs_matcher_init(&m, L, "string.gmatch", s, ls, p, lp);
  /* No anchor here: a leading '^' is an ordinary character, as in Lua. */
  first_item f;
  f.p = NULL;
  if (g->next <= ls) xcs_first_item_of(&m, p, &f); /* past the end, Lua never looks */
  for (const char *at = s + g->next; at <= m.subject_end; at++) {
    if (f.p != NULL && (at = xcs_skip_to(&m, &f, at)) == NULL) break;
    xcs_matcher_reset(&m);
    const char *e = xcs_match_at(&m, at, p);
    if (e != NULL && (size_t)(e - s) != g->last) {
      g->next = g->last = (size_t)(e - s);
      return xcs_push_captures(&m, at, e);
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
  size_t len;
  const char *at = xcs_capture(m, i, s, e, &len);
  if (at != NULL) {
    luaL_addlstring(b, at, len);
  } else {
    lua_pushinteger(m->L, (lua_Integer)len);
    luaL_addvalue(b);
  }
}

/* The replacement string (argument 3) for the match s..e, its %0-%9 and %%
 * expanded. Charged by its length: empty matches with a long replacement
 * would otherwise cost much and show nothing. */
static void add_string(matcher *m, luaL_Buffer *b, const char *s, const char *e) {
  size_t len;
  const char *r = lua_tolstring(m->L, 3, &len);
  xcs_matcher_spend(m, 1 + len / 8);
  const char *pct;
  while ((pct = memchr(r, PATTERN_ESC, len)) != NULL) {
    xcs_matcher_spend(m, 2);
    luaL_addlstring(b, r, (size_t)(pct - r));
    unsigned char d = (unsigned char)pct[1]; /* '\0' after a final '%' */
    if (d == PATTERN_ESC)
      luaL_addchar(b, PATTERN_ESC);
    else if (d == '0')
      luaL_addlstring(b, s, (size_t)(e - s));
    else if (isdigit(d))
      add_capture(m, b, d - '1', s, e);
    else
      luaL_error(m->L, "invalid use of '%c' in replacement string", PATTERN_ESC);
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
    int n = xcs_push_captures(m, s, e);
    lua_call(L, n, 1); /* the watchdog still watches this Lua code */
  } else if (tr == LUA_TTABLE) {
    xcs_push_capture(m, 0, s, e);
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
  xcs_matcher_init(&m, L, "string.gsub", s, ls, p, lp);
  int anchored = *p == '^';
  if (anchored) p++;
  luaL_Buffer b;
  luaL_buffinit(L, &b); /* stack: s, pattern, repl, [n], buffer */
  const char *last = NULL;
  lua_Integer n = 0;
  int changed = 0;
  first_item f;
  f.p = NULL;
  if (!anchored && max_n > 0) xcs_first_item_of(&m, p, &f); /* n <= 0: Lua never looks */
  while (n < max_n) {
    if (f.p != NULL) {
      const char *next = xcs_skip_to(&m, &f, s);
      if (next == NULL) break; /* the rest is copied below */
      luaL_addlstring(&b, s, (size_t)(next - s));
      s = next;
    }
    xcs_matcher_reset(&m);
    const char *e = xcs_match_at(&m, s, p);
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
  xcs_pattern_classes_init();
  static const luaL_Reg fns[] = {{"find", str_find},
                                 {"match", str_match},
                                 {"gmatch", str_gmatch},
                                 {"gsub", str_gsub},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
