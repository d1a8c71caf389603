/*
 * bytecode.c — walks a Lua 5.4 dump (the layout of ldump.c) for the uses of
 * globals. Only what lua_dump writes is read: header, then per function its
 * source, lines, code, constants, upvalues, nested functions and debug
 * information, in that order.
 */
#include "host/bytecode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 250 /* Lua itself nests functions less deeply (LUAI_MAXCCALLS) */

/* Opcodes of Lua 5.4 (lopcodes.h) and the layout of an instruction. */
enum { OP_LOADK = 3, OP_GETTABUP = 11, OP_GETFIELD = 14, OP_SETTABUP = 15 };
#define OPCODE(i) ((int)((i) & 0x7f))
#define ARG_A(i) ((int)(((i) >> 7) & 0xff))
#define ARG_B(i) ((int)(((i) >> 16) & 0xff))
#define ARG_C(i) ((int)(((i) >> 24) & 0xff))
#define ARG_BX(i) ((size_t)((i) >> 15))
#define ABSLINEINFO (-0x80) /* a lineinfo byte that says "see abslineinfo" */

typedef struct reader {
  const unsigned char *p, *end;
  int bad;
} reader;

typedef struct konst {
  const char *s; /* NULL unless a string */
  size_t len;
} konst;

static int byte(reader *r) {
  if (r->bad || r->p >= r->end) {
    r->bad = 1;
    return 0;
  }
  return *r->p++;
}

/* ldump.c's dumpSize: 7 bits a byte, most significant first, the last byte
 * marked by its high bit. */
static size_t size(reader *r) {
  size_t x = 0;
  for (int i = 0; i < 10; i++) {
    int b = byte(r);
    if (r->bad) return 0;
    x = (x << 7) | (size_t)(b & 0x7f);
    if (b & 0x80) return x; /* counts are checked against the input where used */
  }
  r->bad = 1;
  return 0;
}

static const unsigned char *take(reader *r, size_t n) {
  if (r->bad || n > (size_t)(r->end - r->p)) {
    r->bad = 1;
    return NULL;
  }
  const unsigned char *p = r->p;
  r->p += n;
  return p;
}

/* A string: its size plus one, 0 for none. */
static const char *string(reader *r, size_t *len) {
  size_t n = size(r);
  *len = 0;
  if (n == 0 || r->bad) return NULL;
  *len = n - 1;
  return (const char *)take(r, n - 1);
}

static int function(reader *r, int depth, xcs_global_fn fn, void *ud) {
  if (depth > MAX_DEPTH) return -1;
  size_t len;
  string(r, &len); /* source */
  int line = (int)size(r);
  size(r); /* lastlinedefined */
  take(r, 3); /* numparams, is_vararg, maxstacksize */
  size_t ncode = size(r);
  if (ncode > (size_t)(r->end - r->p) / 4) r->bad = 1;
  const unsigned char *code = take(r, ncode * 4);

  size_t nk = size(r);
  if (r->bad || nk > (size_t)(r->end - r->p)) return -1;
  konst *k = calloc(nk ? nk : 1, sizeof *k);
  int env[256] = {0}; /* which upvalues are _ENV */
  int status = -1;
  if (k == NULL) return -1;
  for (size_t i = 0; i < nk && !r->bad; i++) {
    switch (byte(r)) {
      case 0: case 1: case 17: break;          /* nil, false, true */
      case 3: case 19: take(r, 8); break;      /* integer, float */
      case 4: case 20: k[i].s = string(r, &k[i].len); break; /* short, long string */
      default: r->bad = 1;
    }
  }
  size_t nup = size(r);
  if (nup > 256) r->bad = 1;
  take(r, nup * 3); /* instack, idx, kind */
  size_t nproto = size(r);
  for (size_t i = 0; i < nproto && !r->bad; i++)
    if (function(r, depth + 1, fn, ud) != 0) goto done;

  size_t nline = size(r);
  const unsigned char *lineinfo = take(r, nline);
  size_t nabs = size(r);
  const unsigned char *abs = r->p; /* pairs of sizes: read as they come */
  for (size_t i = 0; i < nabs && !r->bad; i++) size(r), size(r);
  size_t nloc = size(r);
  for (size_t i = 0; i < nloc && !r->bad; i++) string(r, &len), size(r), size(r);
  size_t nname = size(r);
  for (size_t i = 0; i < nname && !r->bad; i++) {
    const char *s = string(r, &len);
    if (i < 256 && s && len == 4 && memcmp(s, "_ENV", 4) == 0) env[i] = 1;
  }
  if (r->bad) goto done;

  reader absr = {abs, r->end, 0};
  for (size_t pc = 0; pc < ncode; pc++) {
    if (pc < nline) {
      signed char d = (signed char)lineinfo[pc];
      if (d == ABSLINEINFO) {
        size(&absr);
        line = (int)size(&absr);
      } else {
        line += d;
      }
    }
    uint32_t i, next = 0;
    memcpy(&i, code + pc * 4, 4);
    if (pc + 1 < ncode) memcpy(&next, code + pc * 4 + 4, 4);
    int op = OPCODE(i), kidx = -1, write = 0;
    if (op == OP_GETTABUP && env[ARG_B(i)]) kidx = ARG_C(i);
    if (op == OP_SETTABUP && env[ARG_A(i)]) kidx = ARG_B(i), write = 1;
    if (kidx < 0 || (size_t)kidx >= nk || k[kidx].s == NULL) continue;
    xcs_global_use use = {write, nline ? line : -1, k[kidx].s, k[kidx].len, NULL, 0, NULL, 0};
    if (!write && pc + 1 < ncode && OPCODE(next) == OP_GETFIELD && ARG_B(next) == ARG_A(i) &&
        (size_t)ARG_C(next) < nk && k[ARG_C(next)].s) {
      use.field = k[ARG_C(next)].s;
      use.flen = k[ARG_C(next)].len;
    }
    if (!write && pc + 1 < ncode && OPCODE(next) == OP_LOADK && ARG_A(next) == ARG_A(i) + 1 &&
        ARG_BX(next) < nk && k[ARG_BX(next)].s) {
      use.arg = k[ARG_BX(next)].s;
      use.alen = k[ARG_BX(next)].len;
    }
    fn(ud, &use);
  }
  status = 0;
done:
  free(k);
  return r->bad ? -1 : status;
}

int xcs_bytecode_globals(const void *dump, size_t len, xcs_global_fn fn, void *ud) {
  reader r = {dump, (const unsigned char *)dump + len, 0};
  static const unsigned char header[] = {0x1b, 'L', 'u', 'a', 0x54, 0,
                                         0x19, 0x93, '\r', '\n', 0x1a, '\n', 4, 8, 8};
  const unsigned char *h = take(&r, sizeof header);
  if (h == NULL || memcmp(h, header, sizeof header) != 0) return -1;
  take(&r, 16); /* LUAC_INT and LUAC_NUM, to check the number format: ours */
  byte(&r);     /* the main function's upvalue count */
  if (r.bad) return -1;
  return function(&r, 0, fn, ud);
}
