-- tls_hold.lua (bench/tls): opens n connections (default 500) to port over
-- `proto` ("TLS" or "TCP"), sends an HTTP/1.1 request on each and reads the
-- status line (so each TLS handshake is done and records went both ways),
-- logs "holding N" and keeps them open, idle, until stopped.
local n, port, proto = tonumber(arg.n) or 500, tonumber(arg.port), arg.proto or "TLS"
local opts = proto == "TLS" and { verify = false } or nil
local conns = {}
for i = 1, n do
  local c = assert(socket.connect("127.0.0.1", port, proto, opts))
  c:write("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
  assert(c:read("*l"))
  conns[i] = c
end
log("holding %d", #conns)
while true do sleep(3600) end
