-- http_hello.lua: a small HTTP/1.1 server answering "Hello, world!\n" at /
-- (GET and HEAD), 404 elsewhere. The connection loop is lib/http_server.lua,
-- over the host's `http` library: pipelined requests are parsed from one
-- read and answered with one write, request bodies (Content-Length or
-- chunked) are read and skipped, connections stay open between requests
-- (HTTP/1.1 by default; HTTP/1.0 when it asks for keep-alive) until the
-- client says "Connection: close" or stays idle `idle` seconds (default 5).
-- A malformed request gets 400 (the parser's status: 431 for a head over
-- 8 KiB, 413 for a body over 1 MiB, 501 for a transfer coding other than
-- chunked, 505 for another HTTP version), a request that stops half-way
-- 408; each then closes.
--
-- Run it:
--   xcshost examples/http_hello.lua port=8080
-- Try it:
--   curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/    (one connection)
--   wrk -t1 -c10 -d5s http://127.0.0.1:8080/
local server = require "lib.http_server"

-- Required (by examples/https_hello.lua), or given cert= and key= (files
-- under --tls-dir), it serves HTTPS instead: port 8443 by default, with
-- server.pem and server.key.
local https = ... == "http_hello" or arg.cert ~= nil
local port = tonumber(arg.port) or (https and 8443 or 8080)
local opts = { idle = tonumber(arg.idle) or 5 }
local tls = https and { cert = arg.cert or "server.pem", key = arg.key or "server.key" } or nil

local function hello(req)
  if not req.method:find("^%u+$") then return 400, "Bad Request\n", { Connection = "close" } end
  if req.path ~= "/" then return 404, "Not Found\n" end
  if req.method ~= "GET" and req.method ~= "HEAD" then
    return 405, "Method Not Allowed\n", { Allow = "GET, HEAD" }
  end
  return 200, "Hello, world!\n"
end

local listener = assert(socket.listen(port, { tls = tls }))

-- One task per client, forever. Required (by https_hello.lua) the file
-- returns this instead of running it: a require cannot wait.
local function accept_all()
  while true do
    spawn(server.serve, assert(listener:accept()), hello, opts)
  end
end

if ... == "http_hello" then return accept_all end
accept_all()
