/*
 * lib_json.h — what json.encode and json.decode share (bindings/lib_json.c,
 * bindings/lib_json_decode.c): the markers of null and of arrays, the
 * UTF-8 check, and the options both take.
 */
#ifndef XCS_LIB_JSON_H
#define XCS_LIB_JSON_H

#include <lua.h>
#include <stddef.h>

/* json.null is the address of xcs_json_null; the registry holds the
 * metatable that marks a table as an array at &xcs_json_array_key. */
extern const char xcs_json_null;
extern const char xcs_json_array_key;

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
size_t xcs_json_utf8_len(const unsigned char *s, size_t n);

/* The max_depth option of the options table at index opts (0: none). */
int xcs_json_depth(lua_State *L, int opts, const char *fname);
/* Checks that argument i is nil or a table of only the known keys (list
 * names them for the error); returns its absolute index, or 0 for nil. */
int xcs_json_options(lua_State *L, int i, const char *fname, const char *const *known,
                     const char *list);

/* json.decode(text [, opts]) */
int xcs_json_decode(lua_State *L);

#endif
