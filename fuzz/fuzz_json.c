/*
 * fuzz_json.c — json.decode on any text, then json.encode of what it gave
 * (bindings/lib_json_decode.c, bindings/lib_json.c).
 *
 * Properties, per input:
 *   - decode never raises on text: it returns a value, or nil and a
 *     message "json.decode: ... at byte N" with N within the text (or one
 *     past it);
 *   - what it decoded encodes (unless it holds a number too big for a
 *     double: JSON's 1e400 reads as inf, which JSON cannot write), and the
 *     encoding is a fixed point: decoding it and encoding again (sorted
 *     keys) gives the same text, compact or indented;
 *   - a max_depth of 3 either decodes the same or fails with a message.
 */
#include "fuzz/lib_props.h"

static const char props[] =
    "local text = ...\n"
    "local v, err = json.decode(text)\n"
    "if v == nil then\n"
    "  assert(type(err) == 'string', 'no message')\n"
    "  local at = tonumber(err:match('^json%.decode: .* at byte (%d+)'))\n"
    "  assert(at and at >= 1 and at <= #text + 1, 'bad position: ' .. err)\n"
    "  return\n"
    "end\n"
    "local ok, s = pcall(json.encode, v, { sort_keys = true })\n"
    "if not ok then\n"
    "  assert(tostring(s):find('cannot encode %-?inf'), 'encode failed: ' .. tostring(s))\n"
    "  return\n"
    "end\n"
    "local again, aerr = json.decode(s)\n"
    "assert(aerr == nil, 'its own output does not decode: ' .. tostring(aerr))\n"
    "local s2 = json.encode(again, { sort_keys = true })\n"
    "assert(s2 == s, 'not a fixed point: ' .. s .. ' / ' .. s2)\n"
    "local pretty = json.encode(again, { sort_keys = true, indent = true })\n"
    "assert(json.encode((json.decode(pretty)), { sort_keys = true }) == s, 'indent changed it')\n"
    "local shallow, why = json.decode(text, { max_depth = 3 })\n"
    "if shallow == nil then\n"
    "  assert(why:find('nested too deep'), 'depth: ' .. tostring(why))\n"
    "else\n"
    "  assert(json.encode(shallow, { sort_keys = true }) == s, 'max_depth changed it')\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  props_run(props, "fuzz_json", data, size);
  return 0;
}
