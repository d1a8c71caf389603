-- http_hello.lua: a small HTTP/1.1 server answering "Hello, world!\n" at /
-- (GET and HEAD), 404 elsewhere, built on the `http` library: one task per
-- connection keeps its own receive buffer and lets http.parse_request find
-- each request in it, so pipelined requests are parsed from one read and
-- answered with one write. Request bodies (Content-Length or chunked) are
-- read and skipped. Connections stay open between requests (HTTP/1.1 by
-- default; HTTP/1.0 when it asks for keep-alive) until the client says
-- "Connection: close" or stays idle `idle` seconds (default 5). A malformed
-- request gets 400 (the parser's status: 431 for a head over 8 KiB, 501 for
-- a transfer coding other than chunked, 505 for another HTTP version), a
-- request that stops half-way 408; each then closes.
--
-- Run it:
--   xcshost examples/http_hello.lua port=8080
-- Try it:
--   curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/    (one connection)
--   wrk -t1 -c10 -d5s http://127.0.0.1:8080/
local port = tonumber(arg.port) or 8080
local idle = tonumber(arg.idle) or 5
local LIMITS = { max_head = 8192, max_body = 1024 * 1024 }

local listener = assert(socket.listen(port))

-- One response, as a string; without `keep` it says the connection will close.
local function response(status, body, keep, head_only, extra)
  local head = ("HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain\r\n" ..
    "Content-Length: %d\r\n%s%s\r\n"):format(status, http.reason(status), http.date(), #body,
    keep and "" or "Connection: close\r\n", extra or "")
  return head_only and head or head .. body
end

-- The answer to one parsed request, and whether the connection stays open.
local function answer(req)
  if not req.method:find("^%u+$") then return response(400, "Bad Request\n"), false end
  local keep = req.keep_alive
  local extra = req.version == "1.0" and keep and "Connection: keep-alive\r\n" or nil
  local head_only = req.method == "HEAD"
  if req.path ~= "/" then
    return response(404, "Not Found\n", keep, head_only, extra), keep
  elseif req.method ~= "GET" and not head_only then
    return response(405, "Method Not Allowed\n", keep, false, (extra or "") .. "Allow: GET, HEAD\r\n"), keep
  end
  return response(200, "Hello, world!\n", keep, head_only, extra), keep
end

local function serve(c)
  local buf, at = "", 1 -- buf:sub(at) is what has arrived and is not parsed yet
  local out = {}        -- answers waiting to be written, in order

  -- Writes what is answered, then waits for more bytes: false once the
  -- connection is to close (after a 408 if a request stalled half-way).
  local function more()
    if #out > 0 then
      c:write(table.concat(out))
      out = {}
    end
    local data, _, code = c:readany(65536, idle)
    if data and data ~= "" then
      buf, at = buf:sub(at) .. data, 1
      return true
    end
    if code == "ETIMEDOUT" and not buf:sub(at):find("^[\r\n]*$") then
      c:write(response(408, "Request Timeout\n"))
    end
    return false
  end

  -- Makes sure n bytes from `at` have arrived.
  local function need(n)
    while #buf - at + 1 < n do
      if not more() then return false end
    end
    return true
  end

  while true do
    local req, next_at, status = http.parse_request(buf, at, LIMITS)
    if req == false then
      if not more() then break end
    elseif req == nil then
      out[#out + 1] = response(status, http.reason(status) .. "\n")
      break
    else
      at = next_at
      if req.chunked then -- the body: read it whole, then skip it
        local body, after, why
        repeat
          body, after, why = http.parse_chunked(buf, at, LIMITS)
        until body ~= false or not more()
        if body == nil then out[#out + 1] = response(why, http.reason(why) .. "\n") end
        if not body then break end
        at = after
      elseif (req.length or 0) > LIMITS.max_body then
        out[#out + 1] = response(413, "Content Too Large\n")
        break
      elseif req.length then
        if not need(req.length) then break end
        at = at + req.length
      end
      local text, keep = answer(req)
      out[#out + 1] = text
      if not keep then break end
    end
  end
  if #out > 0 then c:write(table.concat(out)) end
  c:close() -- flushes what was answered, then FIN
end

while true do
  spawn(serve, assert(listener:accept()))
end
