-- http_hello.lua: a small HTTP/1.1 server answering "Hello, world!\n" at /
-- (GET and HEAD), 404 elsewhere. One task per connection reads requests
-- with read("*l") and answers them in order, so pipelined requests work.
-- Connections stay open between requests (HTTP/1.1 by default; HTTP/1.0
-- when it asks for keep-alive) until the client says "Connection: close" or
-- stays idle `idle` seconds (default 5). A malformed request gets 400, a
-- line over 8 KiB 431, a request that stops half-way 408; each then closes.
--
-- Run it:
--   xcshost examples/http_hello.lua port=8080
-- Try it:
--   curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/    (one connection)
--   wrk -t1 -c10 -d5s http://127.0.0.1:8080/
local port = tonumber(arg.port) or 8080
local idle = tonumber(arg.idle) or 5
local MAX_HEADERS, MAX_BODY = 100, 1024 * 1024

-- A request must arrive within 10 s once begun; lines are at most 8 KiB.
-- With cert= and key= (files under --tls-dir) it serves HTTPS instead:
-- examples/https_hello.lua.
local tls = arg.cert and { cert = arg.cert, key = arg.key } or nil
local listener = assert(socket.listen(port, { maxline = 8192, read_timeout = 10, tls = tls }))

local reasons = {
  [200] = "OK", [400] = "Bad Request", [404] = "Not Found", [405] = "Method Not Allowed",
  [408] = "Request Timeout", [413] = "Content Too Large", [431] = "Request Header Fields Too Large",
  [501] = "Not Implemented", [505] = "HTTP Version Not Supported",
}

-- Writes one response; without `keep` it says the connection will close.
local function respond(c, status, body, keep, head_only, extra)
  local head = ("HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain\r\n" ..
    "Content-Length: %d\r\n%s%s\r\n"):format(status, reasons[status],
    os.date("!%a, %d %b %Y %H:%M:%S GMT"), #body, keep and "" or "Connection: close\r\n", extra or "")
  c:write(head_only and head or head .. body)
end

-- Answers an error, after which the connection closes: false.
local function fail(c, status, why)
  respond(c, status, why .. "\n")
  return false
end

-- Reads one request and answers it; true to keep the connection open.
local function serve_one(c)
  local line, code, partial, _
  for _ = 1, 3 do -- a client may send empty lines between requests: skip a few
    line, _, code, partial = c:read("*l", idle)
    if line ~= "" then break end
  end
  if not line then -- closed, or idle too long: close quietly unless a request began
    if code == "ETIMEDOUT" and partial ~= "" then return fail(c, 408, "Request Timeout") end
    if code == "EMSGSIZE" then return fail(c, 431, "Request line too long") end
    return false
  end
  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then return fail(c, 400, "Bad Request") end

  local headers = {} -- lower-case name -> value (repeats joined with ", ")
  for i = 1, MAX_HEADERS + 1 do
    line, _, code = c:read("*l")
    if not line then
      if code == "ETIMEDOUT" then return fail(c, 408, "Request Timeout") end
      if code == "EMSGSIZE" then return fail(c, 431, "Header line too long") end
      return false
    end
    if line == "" then break end
    if i > MAX_HEADERS then return fail(c, 431, "Too many header lines") end
    local name, value = line:match("^([!#$%%&'*+%-.^_`|~%w]+):[ \t]*(.-)[ \t]*$")
    if not name then return fail(c, 400, "Bad Request") end
    name = name:lower()
    headers[name] = headers[name] and headers[name] .. ", " .. value or value
  end

  if version ~= "1.1" and version ~= "1.0" then return fail(c, 505, "HTTP Version Not Supported") end
  if version == "1.1" and not headers.host then return fail(c, 400, "Host header missing") end
  if headers["transfer-encoding"] then return fail(c, 501, "Chunked bodies not supported") end
  local length = tonumber(headers["content-length"] and headers["content-length"]:match("^%d+$"))
  if headers["content-length"] and not length then return fail(c, 400, "Bad Content-Length") end
  if (length or 0) > MAX_BODY then return fail(c, 413, "Content Too Large") end
  if length and length > 0 and not c:read(length) then return false end -- a body: skip it

  local connection = (headers.connection or ""):lower()
  local keep
  if version == "1.1" then
    keep = not connection:find("%f[%w]close%f[^%w]")
  else
    keep = connection:find("%f[%w]keep%-alive%f[^%w]") ~= nil
  end
  local extra = version == "1.0" and keep and "Connection: keep-alive\r\n" or nil
  local path = target:match("^[^?]*")
  if path ~= "/" then
    respond(c, 404, "Not Found\n", keep, method == "HEAD", extra)
  elseif method ~= "GET" and method ~= "HEAD" then
    respond(c, 405, "Method Not Allowed\n", keep, false, (extra or "") .. "Allow: GET, HEAD\r\n")
  else
    respond(c, 200, "Hello, world!\n", keep, method == "HEAD", extra)
  end
  return keep
end

local function serve(c)
  while serve_one(c) do end
  c:close() -- flushes what was answered, then FIN
end

-- One task per client, forever. Required (by https_hello.lua) the file
-- returns this instead of running it: a require cannot wait.
local function accept_all()
  while true do
    spawn(serve, assert(listener:accept()))
  end
end

if ... == "http_hello" then return accept_all end
accept_all()
