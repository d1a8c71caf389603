/*
 * lib_codec.c — base64 (RFC 4648, standard and URL-safe alphabets) and hex.
 *
 * Encoders take any bytes. Decoders take text from outside, so they never
 * raise on it: a character outside the alphabet, a bad length or bad
 * padding returns nil and a message naming the byte. Decoding is strict
 * (no whitespace, no missing padding in the standard alphabet): what one
 * input means is never a guess.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "bindings/lib.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(lua_State *L, const char *alphabet, int pad, const char *fname) {
  size_t len;
  const unsigned char *s = (const unsigned char *)xcs_lib_string(L, 1, fname, "data", &len);
  if (len > ((size_t)-1 - 3) / 4 * 3) return luaL_error(L, "not enough memory");
  size_t out = (len + 2) / 3 * 4;
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, out);
  size_t n = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    p[n++] = alphabet[v >> 18];
    p[n++] = alphabet[(v >> 12) & 63];
    p[n++] = alphabet[(v >> 6) & 63];
    p[n++] = alphabet[v & 63];
  }
  if (i < len) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0);
    p[n++] = alphabet[v >> 18];
    p[n++] = alphabet[(v >> 12) & 63];
    if (i + 1 < len) p[n++] = alphabet[(v >> 6) & 63];
    else if (pad) p[n++] = '=';
    if (pad) p[n++] = '=';
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

static int value_of(const char *alphabet, unsigned char c) {
  const char *hit = c ? memchr(alphabet, c, 64) : NULL;
  return hit ? (int)(hit - alphabet) : -1;
}

static int bad(lua_State *L, const char *fname, const char *what, size_t at) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s at byte %d", fname, what, (int)at);
  return 2;
}

/* Unpadded input is accepted only by the URL-safe decoder (JWTs and the
 * like leave the padding off); with padding, the length must be a
 * multiple of 4. Bits left over in the last character must be zero, so
 * every text decodes from exactly one string. */
static int b64_decode(lua_State *L, const char *alphabet, int url, const char *fname) {
  size_t len;
  const unsigned char *s = (const unsigned char *)xcs_lib_string(L, 1, fname, "text", &len);
  size_t data = len;
  while (data > 0 && s[data - 1] == '=' && len - data < 2) data--;
  int padded = data < len;
  if (padded && len % 4 != 0) return bad(L, fname, "padding ('=') where the text has no 4-character end", data + 1);
  if (!padded && !url && len % 4 != 0)
    return bad(L, fname, "the text ends without its padding ('=')", len + 1);
  if (data % 4 == 1) return bad(L, fname, "a lone character where a group needs at least two", data);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, data / 4 * 3 + 3);
  size_t n = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < data; i++) {
    int x = value_of(alphabet, s[i]);
    if (x < 0) {
      lua_pushnil(L);
      if (s[i] >= 0x21 && s[i] < 0x7f)
        lua_pushfstring(L, "%s: '%c' at byte %d is not in the %s alphabet", fname, (int)s[i],
                        (int)i + 1, url ? "URL-safe base64" : "base64");
      else {
        char byte[8];
        snprintf(byte, sizeof byte, "0x%02x", (unsigned)s[i]);
        lua_pushfstring(L, "%s: byte %s at byte %d is not in the %s alphabet", fname, byte,
                        (int)i + 1, url ? "URL-safe base64" : "base64");
      }
      return 2;
    }
    v = v << 6 | (unsigned)x;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      p[n++] = (char)(v >> bits);
      v &= (1u << bits) - 1;
    }
  }
  if (v != 0) return bad(L, fname, "non-zero bits after the last byte", data);
  luaL_pushresultsize(&b, n);
  return 1;
}

static int l_b64_encode(lua_State *L) { return b64_encode(L, std_alphabet, 1, "base64.encode"); }
static int l_b64_decode(lua_State *L) { return b64_decode(L, std_alphabet, 0, "base64.decode"); }
static int l_b64_urlencode(lua_State *L) { return b64_encode(L, url_alphabet, 0, "base64.urlencode"); }
static int l_b64_urldecode(lua_State *L) { return b64_decode(L, url_alphabet, 1, "base64.urldecode"); }

static int l_hex_encode(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)xcs_lib_string(L, 1, "hex.encode", "data", &len);
  if (len > (size_t)-1 / 2) return luaL_error(L, "not enough memory");
  static const char digits[] = "0123456789abcdef";
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len * 2);
  for (size_t i = 0; i < len; i++) {
    p[2 * i] = digits[s[i] >> 4];
    p[2 * i + 1] = digits[s[i] & 15];
  }
  luaL_pushresultsize(&b, len * 2);
  return 1;
}

static int nibble(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int l_hex_decode(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)xcs_lib_string(L, 1, "hex.decode", "text", &len);
  if (len % 2 != 0) return bad(L, "hex.decode", "an odd number of digits: a lone digit", len);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len / 2);
  for (size_t i = 0; i < len; i += 2) {
    int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return bad(L, "hex.decode", "not a hex digit", hi < 0 ? i + 1 : i + 2);
    p[i / 2] = (char)(hi << 4 | lo);
  }
  luaL_pushresultsize(&b, len / 2);
  return 1;
}

void xcs_lib_base64_open(lua_State *L) {
  static const luaL_Reg b64[] = {{"encode", l_b64_encode},
                                 {"decode", l_b64_decode},
                                 {"urlencode", l_b64_urlencode},
                                 {"urldecode", l_b64_urldecode},
                                 {NULL, NULL}};
  luaL_newlib(L, b64);
}

void xcs_lib_hex_open(lua_State *L) {
  static const luaL_Reg hex[] = {{"encode", l_hex_encode}, {"decode", l_hex_decode}, {NULL, NULL}};
  luaL_newlib(L, hex);
}
