-- tls_bulk.lua (bench/tls): an HTTPS server for the TLS benchmark. GET /bulk
-- answers `mb` MiB (default 64) in 1 MiB writes; anything else "ok". One task
-- per connection; a client that only handshakes and closes (openssl s_time)
-- costs one accept and one read.
local port = tonumber(arg.port) or 0
local mb = tonumber(arg.mb) or 64
local tls = arg.tls ~= "0" and { cert = arg.cert or "server.pem", key = arg.key or "server.key" }
local l = assert(socket.listen(port, { tls = tls or nil })) -- tls=0: plain TCP, for comparison
local chunk = ("x"):rep(1024 * 1024)

local function serve(c)
  while true do
    local line = c:read("*l")
    if not line then break end
    local path = line:match("^GET (%S+)")
    repeat local h = c:read("*l") until not h or h == ""
    if path == "/bulk" then
      c:write(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"):format(mb * #chunk))
      for _ = 1, mb do if not c:write(chunk) then break end end
    elseif path then
      c:write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    end
  end
  c:close()
end

while true do
  spawn(serve, assert(l:accept()))
end
