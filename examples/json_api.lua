-- json_api.lua: an HTTP/1.1 JSON API over an in-memory collection of items,
-- built on the host's `json`, `http` and `url` libraries and the HTTP
-- connection loop of lib/http_server.lua (keep-alive, pipelining, chunked
-- request bodies).
--
--   GET    /items[?limit=N&after=ID]   the items in id order: {"items":[...],"next":ID|null}
--   POST   /items                      body: a JSON object -> 201 and the item with its "id"
--   GET    /items/ID                   the item (Last-Modified: when it was last written), or 404;
--                                      304 when If-Modified-Since is not before that
--   PUT    /items/ID                   body: a JSON object: replaces the item (200), or 404
--   DELETE /items/ID                   204, or 404
--   GET    /health                     {"items":N,"memory_kib":K,"time_ms":T}
--
-- Errors are JSON too: {"error":"..."} with 400 (malformed JSON, naming the
-- byte; a body that is not an object; a bad query), 404, 405 or 415 (a body
-- that is not application/json). A body over 64 KiB gets the loop's 413.
--
-- Run it:
--   xcshost examples/json_api.lua port=8081
-- Try it:
--   curl -s -X POST -H 'Content-Type: application/json' -d '{"name":"tea"}' http://127.0.0.1:8081/items
--   curl -s http://127.0.0.1:8081/items/1
--   curl -s 'http://127.0.0.1:8081/items?limit=10'
local server = require "lib.http_server"

local port = tonumber(arg.port) or 8081
local MAX_BODY = 64 * 1024

local items, next_id, count = {}, 1, 0
local modified = {} -- id -> seconds since 1970 when the item was last written

local JSON = { ["Content-Type"] = "application/json" }

local function reply(status, value, headers)
  return status, json.encode(value, { sort_keys = true }) .. "\n", headers or JSON
end

local function problem(status, message)
  return reply(status, { error = message })
end

-- The JSON object in a request's body, or nil and the answer to give.
local function object_of(req, body)
  local ctype = (req.headers["content-type"] or ""):lower()
  if not ctype:find("^application/json") then
    return nil, { problem(415, "expected a body of Content-Type application/json") }
  end
  local value, err = json.decode(body)
  if value == nil then return nil, { problem(400, err) } end
  if type(value) ~= "table" or json.is_array(value) then
    return nil, { problem(400, "expected a JSON object") }
  end
  value.id = nil
  return value
end

local function list(req)
  local q, err = url.parse_query(req.query or "")
  if not q then return problem(400, err) end
  local limit = tonumber(q.limit or 100)
  local after = tonumber(q.after or 0)
  if not limit or limit < 1 or limit > 1000 or limit % 1 ~= 0 or not after then
    return problem(400, "limit must be an integer from 1 to 1000, after an item id")
  end
  local out = json.array()
  local id = after + 1
  while id < next_id and #out < limit do
    if items[id] then out[#out + 1] = items[id] end
    id = id + 1
  end
  local more = nil
  for later = id, next_id - 1 do
    if items[later] then more = out[#out].id break end
  end
  return reply(200, { items = out, next = more or json.null })
end

local function handle(req, body)
  local path = req.path
  if path == "/health" and req.method == "GET" then
    return reply(200, { items = count, memory_kib = math.floor(collectgarbage("count")),
      time_ms = wallclock() })
  elseif path == "/items" then
    if req.method == "GET" then return list(req) end
    if req.method ~= "POST" then return problem(405, "use GET or POST on /items") end
    local item, answer = object_of(req, body)
    if not item then return table.unpack(answer) end
    item.id, next_id, count = next_id, next_id + 1, count + 1
    items[item.id], modified[item.id] = item, wallclock() // 1000
    return reply(201, item)
  end
  local id = path:match("^/items/(%d+)$")
  if not id then return problem(404, "no such resource: " .. path) end
  id = tonumber(id)
  if not items[id] then return problem(404, "no item " .. id) end
  if req.method == "GET" then
    -- A date that does not parse is ignored, as RFC 9110 §13.1.3 says.
    local since = http.parse_date(req.headers["if-modified-since"] or "")
    local last = http.date(modified[id])
    if since and since >= modified[id] then return 304, "", { ["Last-Modified"] = last } end
    return reply(200, items[id], { ["Content-Type"] = "application/json", ["Last-Modified"] = last })
  elseif req.method == "PUT" then
    local item, answer = object_of(req, body)
    if not item then return table.unpack(answer) end
    item.id = id
    items[id], modified[id] = item, wallclock() // 1000
    return reply(200, item)
  elseif req.method == "DELETE" then
    items[id], modified[id], count = nil, nil, count - 1
    return 204, ""
  end
  return problem(405, "use GET, PUT or DELETE on /items/" .. id)
end

-- A request whose body is over MAX_BODY is refused by the loop with 413.
local listener = assert(socket.listen(port))
while true do
  spawn(server.serve, assert(listener:accept()), handle, { max_body = MAX_BODY })
end
