/*
 * fuzz_http.c — http.parse_request, http.parse_response and
 * http.parse_chunked on any bytes (bindings/lib_http.c), the way a server
 * walks a pipelined buffer.
 *
 * Properties, per input:
 *   - nothing raises on bytes: a parser gives a result and the position
 *     after it (past init, within the buffer plus one), false, or nil, a
 *     message naming the parser and an HTTP status of 400, 413, 431, 501 or
 *     505;
 *   - walking the buffer from message to message ends (positions grow);
 *   - every prefix of a complete head or chunked body is incomplete
 *     (false), never an error and never a different message: bytes that
 *     arrive one at a time parse as the whole would;
 *   - a request's fields have their types, and length is never set with
 *     chunked;
 *   - http.parse_date (lib_http_values.c) never raises on bytes, and a date
 *     it reads is written back by http.date as one that reads the same.
 */
#include "fuzz/lib_props.h"

static const char props[] =
    "local buf = ...\n"
    "local STATUS = { [400] = 1, [413] = 1, [431] = 1, [501] = 1, [505] = 1 }\n"
    "local function outcome(name, init, v, nxt, code)\n"
    "  if v == false then assert(nxt == nil, name .. ': false and more'); return false end\n"
    "  if v == nil then\n"
    "    assert(type(nxt) == 'string' and nxt:find('^http%.' .. name .. ': '), name .. ': message')\n"
    "    assert(STATUS[code], name .. ': status ' .. tostring(code))\n"
    "    return nil\n"
    "  end\n"
    "  assert(math.type(nxt) == 'integer' and nxt > init and nxt <= #buf + 1, name .. ': next')\n"
    "  return v, nxt, code\n"
    "end\n"
    "local function prefixes(name, f, init, nxt, opts)\n"
    "  local n = nxt - init\n"
    "  local step = n > 200 and n // 50 or 1\n"
    "  for len = 0, n - 1, step do\n"
    "    local v = f(buf:sub(1, init - 1 + len), init, opts)\n"
    "    assert(v == false, name .. ': a prefix of ' .. len .. ' bytes is not incomplete')\n"
    "  end\n"
    "end\n"
    "for _, name in ipairs { 'parse_request', 'parse_response' } do\n"
    "  local f, init = http[name], 1\n"
    "  for _ = 1, 64 do\n"
    "    local v, nxt = outcome(name, init, f(buf, init, { max_head = 2048 }))\n"
    "    if not v then break end\n"
    "    prefixes(name, f, init, nxt, { max_head = 2048 })\n"
    "    assert(type(v.headers) == 'table' and type(v.version) == 'string', name .. ': fields')\n"
    "    assert(type(v.keep_alive) == 'boolean' and type(v.chunked) == 'boolean', name .. ': framing')\n"
    "    assert(not (v.chunked and v.length), name .. ': length with chunked')\n"
    "    if name == 'parse_request' then\n"
    "      assert(type(v.method) == 'string' and v.path == v.target:match('^[^?]*'), 'path')\n"
    "    end\n"
    "    init = nxt\n"
    "    if v.chunked then\n"
    "      local body, after, trailers = outcome('parse_chunked', init, http.parse_chunked(buf, init))\n"
    "      if not body then break end\n"
    "      prefixes('parse_chunked', http.parse_chunked, init, after)\n"
    "      assert(type(body) == 'string' and type(trailers) == 'table', 'chunked results')\n"
    "      init = after\n"
    "    elseif v.length and v.length > 0 then\n"
    "      init = init + v.length\n"
    "      if init > #buf then break end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local body, after = outcome('parse_chunked', 1, http.parse_chunked(buf, 1, { max_body = 4096 }))\n"
    "if body then prefixes('parse_chunked', http.parse_chunked, 1, after, { max_body = 4096 }) end\n"
    "local t, err = http.parse_date(buf)\n"
    "if t then\n"
    "  assert(math.type(t) == 'integer', 'parse_date: an integer')\n"
    "  assert(http.parse_date(http.date(t)) == t, 'parse_date: date round trip')\n"
    "else\n"
    "  assert(type(err) == 'string' and err:find('^http%.parse_date: '), 'parse_date: message')\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  props_run(props, "fuzz_http", data, size);
  return 0;
}
