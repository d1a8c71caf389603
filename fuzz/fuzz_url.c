/*
 * fuzz_url.c — url.unescape, url.escape, url.parse_query, url.build_query
 * and url.parse on any text (bindings/lib_url.c).
 *
 * Properties, per input:
 *   - nothing raises on text: a result, or nil and a message with a byte
 *     position within the text;
 *   - escape then unescape gives back what unescape gave; escape's output
 *     holds only unreserved characters and %XX;
 *   - a parsed query, built again and parsed again, is the same table
 *     (names and values, lists in order, bare names as true);
 *   - url.parse gives strings, and a port from 0 to 65535.
 */
#include "fuzz/lib_props.h"

static const char props[] =
    "local text = ...\n"
    "local function check_fail(v, err, what)\n"
    "  assert(v == nil and type(err) == 'string', what .. ': no message')\n"
    "  local at = tonumber(err:match(' at byte (%d+)$'))\n"
    "  assert(at and at >= 1 and at <= #text + 1, what .. ': bad position: ' .. err)\n"
    "end\n"
    "local plain, err = url.unescape(text)\n"
    "if plain then\n"
    "  local e = url.escape(plain)\n"
    "  assert(not e:find('[^%w%-%._~%%]'), 'escape left a reserved byte: ' .. e)\n"
    "  assert(url.unescape(e) == plain, 'escape/unescape changed it')\n"
    "else check_fail(plain, err, 'unescape') end\n"
    "local function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local q, qerr = url.parse_query(text, 1000)\n"
    "if q then\n"
    "  local built = url.build_query(q)\n"
    "  local q2 = assert(url.parse_query(built, 1000))\n"
    "  assert(same(q, q2), 'query round trip: ' .. built)\n"
    "else check_fail(q, qerr, 'parse_query') end\n"
    "local u, uerr = url.parse(text)\n"
    "if u then\n"
    "  for k, v in pairs(u) do\n"
    "    if k == 'port' then assert(math.type(v) == 'integer' and v >= 0 and v <= 65535, 'port')\n"
    "    else assert(type(v) == 'string', k .. ' is not a string') end\n"
    "  end\n"
    "  assert(u.path, 'no path')\n"
    "else check_fail(u, uerr, 'parse') end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  props_run(props, "fuzz_url", data, size);
  return 0;
}
