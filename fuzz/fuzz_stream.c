/*
 * fuzz_stream.c — the framing of TCP reads (bindings/stream.c: read(),
 * read(n), "*l", "*a", readany(max), readuntil(delim, max); maxline and
 * maxall; partials; timeouts; the peer's FIN or RST), through the Lua API a
 * module uses, on a real loopback connection.
 *
 * Per input: a fresh interpreter with the test API (luaopen_xcs, as busted
 * loads it: its own host and loop), and fuzz/fuzz_stream.lua, compiled in,
 * as the driver. This file decodes the input into a script of ops (below)
 * and hands it over; the driver runs it in xcs.run on a pair connected
 * through socket.listen/connect/accept on 127.0.0.42 (XCS_FUZZ_BIND), checks
 * every read against its model of the documented framing and raises on a
 * break, which is reported here and aborts (a libFuzzer crash).
 *
 * Design:
 *   - Only the Lua API: the harness does not know stream.c's structs, so it
 *     survives changes inside it; the C is still instrumented, so libFuzzer
 *     sees its branches.
 *   - Deterministic enough: the ops run in order in one task, and a send
 *     "later" is a task that sleeps 0-5 ms first. Which read sees which
 *     chunk depends on the loop's timing, but the model accepts any timing,
 *     so a finding never depends on it (a run shows it again).
 *   - Fast: small limits (maxline 1-64, maxall 1-383 bytes, as well as the
 *     defaults) make the EMSGSIZE paths reachable with short inputs; per-read
 *     timeouts are 0, 1 or 4 ms (or the connection's read_timeout, 5 ms);
 *     at most MAX_OPS ops and MAX_SENT bytes sent. Most inputs take well
 *     under 10 ms.
 *
 * Input: two header bytes (maxline, maxall; 0xff keeps the default), then
 * ops, each an opcode byte (modulo 16) and its arguments (missing bytes
 * read as 0):
 *    0 send LEN DATA[LEN]            a:write(DATA) now
 *    1 send K PAT[K] COUNT16         PAT (1-16 bytes) repeated, up to 64 KiB
 *    2 send-later DELAY LEN DATA     the same, from a task after DELAY
 *    3 shutdown FLAG                 a:shutdown(), now or (FLAG & 1) later
 *    4 reset 'R'                     a:close("reset") (only after an 'R')
 *    5 read T                        b:read(nil, T)
 *    6 read N T                      b:read(n, T)
 *    7 read-line T                   b:read("*l" or "l", T); T & 8: "*n" or "n"
 *    8 read-all T                    b:read("*a" or "a", T)
 *    9 readany N T                   b:readany(max, T)
 *   10 readuntil K DELIM[K] N T      b:readuntil(DELIM (1-8 bytes), max, T)
 *   11 maxline V, 12 maxall V        b:setoption(...)
 *   13 sleep D                       xcs.sleep(0, 1 ms or 3 ms)
 *   14 send-tick LEN DATA            a:write(DATA), then one loop turn
 *   15 reset-at-end                  b ends with close("reset"), not close()
 * T: the low two bits pick the timeout (0, 1 ms, 4 ms, none given); bit 2
 * picks "l"/"a" over "*l"/"*a". N: a byte below 0xf0 is itself (readany:
 * plus one), else a 16-bit number shifted by up to 8 (up to 16 MiB).
 *
 * XCS_FUZZ_VERBOSE=1 prints each op and what it returned.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HARNESS "fuzz_stream"
#include "driver.h"

#define MAX_OPS 64
#define MAX_SENT (512 * 1024) /* under the 1 MiB at which a write waits */
#define MAX_CHUNK (64 * 1024)

extern const char fuzz_stream_lua[];
extern const size_t fuzz_stream_lua_len;

static unsigned u16(input *in) {
  unsigned hi = u8(in);
  return hi << 8 | u8(in);
}

/* Pushes up to n bytes of the input. */
static void bytes(lua_State *L, input *in, size_t n) {
  if (n > in->n) n = in->n;
  lua_pushlstring(L, (const char *)in->p, n);
  in->p += n;
  in->n -= n;
}

static lua_Integer count(input *in, unsigned b) {
  if (b < 0xf0) return b;
  return (lua_Integer)(u16(in) + 1) << ((b - 0xf0) % 9);
}

static lua_Integer maxline_of(unsigned v) {
  return v < 0xc0 ? 1 + v % 64 : (lua_Integer)1 << (6 + (v - 0xc0) % 11); /* 64 .. 64 KiB */
}

static lua_Integer maxall_of(unsigned v) {
  return v < 0xc0 ? 1 + 2 * v : (lua_Integer)1 << (9 + (v - 0xc0) % 16); /* 512 .. 16 MiB */
}

static void set_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static const double delays[] = {0, 0.001, 0.002, 0.005};

/* stack: op. A read's timeout and pattern from the T byte. */
static unsigned read_args(lua_State *L, input *in, const char *star, const char *plain) {
  unsigned t = u8(in);
  static const double timeouts[] = {0, 0.001, 0.004};
  if ((t & 3) < 3) set_num(L, "timeout", timeouts[t & 3]);
  if (star) set_str(L, "pattern", t & 4 ? plain : star);
  return t;
}

/* stack: op. A send's data: LEN bytes of the input, within MAX_SENT. */
static void send_data(lua_State *L, input *in, size_t len) {
  if (len > MAX_SENT - in->sent) len = MAX_SENT - in->sent;
  bytes(L, in, len);
  in->sent += lua_rawlen(L, -1);
  lua_setfield(L, -2, "data");
}

/* Pushes the op the input starts with (a table); 0 at its end. */
static int decode_op(lua_State *L, input *in) {
  if (in->n == 0) return 0;
  unsigned code = u8(in) % 16;
  lua_createtable(L, 0, 6);
  switch (code) {
    case 0:
    case 14:
      set_str(L, "op", "send");
      send_data(L, in, u8(in));
      if (code == 14) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "tick");
      }
      break;
    case 1: {
      set_str(L, "op", "send");
      size_t k = 1 + u8(in) % 16;
      size_t times = 1 + u16(in);
      bytes(L, in, k);
      size_t plen = lua_rawlen(L, -1);
      size_t len = plen * times;
      if (len > MAX_CHUNK) len = MAX_CHUNK;
      if (len > MAX_SENT - in->sent) len = MAX_SENT - in->sent;
      const char *pat = lua_tostring(L, -1);
      luaL_Buffer buf;
      char *out = luaL_buffinitsize(L, &buf, len);
      for (size_t i = 0; i < len; i++) out[i] = pat[i % plen];
      luaL_pushresultsize(&buf, len);
      lua_remove(L, -2);
      in->sent += len;
      lua_setfield(L, -2, "data");
      break;
    }
    case 2:
      set_str(L, "op", "send");
      set_num(L, "delay", delays[u8(in) % 4]);
      send_data(L, in, u8(in));
      break;
    case 3: {
      unsigned f = u8(in);
      set_str(L, "op", "shutdown");
      if (f & 1) set_num(L, "delay", delays[(f >> 1) % 4]);
      break;
    }
    case 4:
      set_str(L, "op", u8(in) == 'R' ? "reset" : "sleep");
      set_num(L, "delay", 0);
      break;
    case 5:
      set_str(L, "op", "read");
      set_str(L, "what", "any");
      read_args(L, in, NULL, NULL);
      break;
    case 6:
      set_str(L, "op", "read");
      set_str(L, "what", "bytes");
      set_int(L, "n", count(in, u8(in)));
      read_args(L, in, NULL, NULL);
      break;
    case 7: {
      set_str(L, "op", "read");
      set_str(L, "what", "line");
      unsigned t = read_args(L, in, "*l", "l");
      if (t & 8) set_str(L, "pattern", t & 4 ? "n" : "*n"); /* a line that is an integer */
      break;
    }
    case 8:
      set_str(L, "op", "read");
      set_str(L, "what", "all");
      read_args(L, in, "*a", "a");
      break;
    case 9:
      set_str(L, "op", "read");
      set_str(L, "what", "upto");
      set_int(L, "n", 1 + count(in, u8(in)));
      read_args(L, in, NULL, NULL);
      break;
    case 10: {
      set_str(L, "op", "read");
      set_str(L, "what", "until");
      bytes(L, in, 1 + u8(in) % 8);
      if (lua_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushliteral(L, "\n");
      }
      lua_setfield(L, -2, "delim");
      unsigned m = u8(in);
      if (m != 0xff) set_int(L, "n", count(in, m)); /* else maxline, the default */
      read_args(L, in, NULL, NULL);
      break;
    }
    case 11:
      set_str(L, "op", "setoption");
      set_str(L, "name", "maxline");
      set_int(L, "value", maxline_of(u8(in)));
      break;
    case 12:
      set_str(L, "op", "setoption");
      set_str(L, "name", "maxall");
      set_int(L, "value", maxall_of(u8(in)));
      break;
    case 13:
      set_str(L, "op", "sleep");
      set_num(L, "delay", (double[]){0, 0.001, 0.003}[u8(in) % 3]);
      break;
    case 15:
      set_str(L, "op", "reset-at-end");
      break;
  }
  return 1;
}

/* Pushes the driver's arguments: xcs, ops, cfg. */
static void decode(lua_State *L, const uint8_t *data, size_t size) {
  input in = {data, size, 0};
  luaL_requiref(L, "xcs", luaopen_xcs, 0);
  unsigned maxline = u8(&in), maxall = u8(&in);
  lua_createtable(L, MAX_OPS, 0);
  for (int i = 1; i <= MAX_OPS && decode_op(L, &in); i++) lua_rawseti(L, -2, i);
  lua_createtable(L, 0, 5);
  if (maxline != 0xff) set_int(L, "maxline", maxline_of(maxline));
  if (maxall != 0xff) set_int(L, "maxall", maxall_of(maxall));
  set_num(L, "read_timeout", 0.005);
  const char *bind = getenv("XCS_FUZZ_BIND");
  set_str(L, "bind", bind && *bind ? bind : "127.0.0.42");
  const char *v = getenv("XCS_FUZZ_VERBOSE");
  lua_pushboolean(L, v && *v && strcmp(v, "0") != 0);
  lua_setfield(L, -2, "verbose");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  if (luaL_loadbuffer(L, fuzz_stream_lua, fuzz_stream_lua_len, "=fuzz_stream.lua") != LUA_OK)
    FAIL("%s", lua_tostring(L, -1));
  decode(L, data, size);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    const char *msg = luaL_tolstring(L, -1, NULL);
    if (strncmp(msg, "fuzz_stream: ", 13) == 0) msg += 13; /* the driver's own */
    FAIL("%s", msg);
  }
  lua_close(L); /* closes the host: the loop and everything left on it */
  return 0;
}
