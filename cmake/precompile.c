/*
 * precompile.c — a build tool: compiles a Lua file (the prelude) into the
 * bytecode of the liblua the host links, and writes it as a C array:
 *
 *   xcs-precompile IN.lua CHUNKNAME OUT.c NAME
 *
 * gives `const unsigned char NAME[]` and `const size_t NAME_len`. Loading
 * bytecode skips the parse, two thirds of a module's start. A liblua that
 * cannot load it (another version) loads the text instead
 * (bindings/socket.c).
 *
 * Every module carries the prelude, so its line numbers and local names
 * are dropped (a tenth of an empty module's memory: lundump.c allocates
 * them per function). What error messages need stays: the source name (the
 * prelude's frames are told by it, "=prelude": bindings/stream.c, the
 * prelude's raise()), and the upvalue names, by which Lua names a function
 * the prelude calls ("bad argument #2 to 'format'"; the prelude keeps the
 * library functions it calls in upvalues). Lines are not needed: the
 * prelude raises its errors at the module's line, never its own.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned char *p;
  size_t n, cap;
} buffer;

static int put(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  buffer *b = ud;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (q == NULL) return 1;
    b->p = q;
    b->cap = cap;
  }
  for (size_t i = 0; i < n; i++) b->p[b->n + i] = ((const unsigned char *)p)[i];
  b->n += n;
  return 0;
}

/* Copies a dump (the layout of Lua 5.4's ldump.c) but its line information
 * and local names. */
typedef struct {
  const unsigned char *p, *end;
  buffer *out;
  int bad;
} copier;

static void copy(copier *c, size_t n) {
  if (c->bad || n > (size_t)(c->end - c->p) || put(NULL, c->p, n, c->out)) {
    c->bad = 1;
    return;
  }
  c->p += n;
}

/* dumpSize: 7 bits a byte, most significant first, the last byte marked by
 * its high bit. Read, and copied unless skip. */
static size_t size(copier *c, int skip) {
  size_t x = 0;
  const unsigned char *at = c->p;
  for (int i = 0; i < 10 && !c->bad && c->p < c->end; i++) {
    unsigned char b = *c->p++;
    x = (x << 7) | (b & 0x7f);
    if (b & 0x80) {
      if (!skip && put(NULL, at, (size_t)(c->p - at), c->out)) c->bad = 1;
      return x;
    }
  }
  c->bad = 1;
  return 0;
}

static void skip_bytes(copier *c, size_t n) {
  if (c->bad || n > (size_t)(c->end - c->p)) c->bad = 1;
  else c->p += n;
}

static void string(copier *c, int skip) {
  size_t n = size(c, skip);
  if (n == 0) return;
  if (skip) skip_bytes(c, n - 1);
  else copy(c, n - 1);
}

static void put_zero(copier *c) {
  const unsigned char zero = 0x80; /* dumpSize(0) */
  if (put(NULL, &zero, 1, c->out)) c->bad = 1;
}

static void function(copier *c, int depth) {
  if (depth > 200 || c->bad) {
    c->bad = 1;
    return;
  }
  string(c, 0); /* source */
  size(c, 0);   /* linedefined */
  size(c, 0);   /* lastlinedefined */
  copy(c, 3);   /* numparams, is_vararg, maxstacksize */
  copy(c, 4 * size(c, 0)); /* code */
  for (size_t n = size(c, 0); n > 0 && !c->bad; n--) { /* constants */
    unsigned char tag = c->p < c->end ? *c->p : 0;
    copy(c, 1);
    if (tag == 3 || tag == 19) copy(c, 8); /* integer, float */
    else if (tag == 4 || tag == 20) string(c, 0);
  }
  copy(c, 3 * size(c, 0)); /* upvalues: instack, idx, kind */
  for (size_t n = size(c, 0); n > 0 && !c->bad; n--) function(c, depth + 1);
  skip_bytes(c, size(c, 1)); /* lineinfo */
  put_zero(c);
  for (size_t n = size(c, 1); n > 0 && !c->bad; n--) { /* abslineinfo */
    size(c, 1);
    size(c, 1);
  }
  put_zero(c);
  for (size_t n = size(c, 1); n > 0 && !c->bad; n--) { /* locvars */
    string(c, 1);
    size(c, 1); /* startpc */
    size(c, 1); /* endpc */
  }
  put_zero(c);
  for (size_t n = size(c, 0); n > 0 && !c->bad; n--) string(c, 0); /* upvalue names */
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s IN.lua CHUNKNAME OUT.c NAME\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  FILE *in = fopen(argv[1], "rb");
  if (in == NULL) {
    perror(argv[1]);
    return 1;
  }
  buffer src = {0};
  int c;
  while ((c = fgetc(in)) != EOF) {
    unsigned char ch = (unsigned char)c;
    if (put(L, &ch, 1, &src)) return 1;
  }
  fclose(in);
  /* Under the chunk name the text is loaded with. */
  if (luaL_loadbufferx(L, (const char *)src.p, src.n, argv[2], "t") != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  buffer full = {0}, bc = {0};
  if (lua_dump(L, put, &full, 0) != 0) return 1;
  /* The header (lundump.c's checkHeader: signature, version, format,
   * LUAC_DATA, three sizes, LUAC_INT, LUAC_NUM) and the main function's
   * upvalue count, then the function. */
  size_t head = 4 + 1 + 1 + 6 + 3 + 8 + 8 + 1;
  copier cp = {full.p, full.p + full.n, &bc, full.n < head};
  copy(&cp, head);
  function(&cp, 0);
  if (cp.bad || cp.p != cp.end) {
    fprintf(stderr, "%s: a dump not of Lua 5.4's layout\n", argv[0]);
    return 1;
  }
  FILE *out = fopen(argv[3], "w");
  if (out == NULL) {
    perror(argv[3]);
    return 1;
  }
  fprintf(out, "/* Generated from %s by xcs-precompile; do not edit. */\n#include <stddef.h>\n"
               "const unsigned char %s[] = {",
          argv[1], argv[4]);
  for (size_t i = 0; i < bc.n; i++) fprintf(out, "%s%u,", i % 24 ? "" : "\n", bc.p[i]);
  fprintf(out, "\n};\nconst size_t %s_len = %zu;\n", argv[4], bc.n);
  int bad = ferror(out);
  if (fclose(out) != 0 || bad) return 1;
  lua_close(L);
  free(src.p);
  free(bc.p);
  free(full.p);
  return 0;
}
