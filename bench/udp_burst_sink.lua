-- udp_burst_sink.lua: counts the datagrams of a burst, for bench/udp_burst.
-- Binds a UDP port (rcvbuf=BYTES: SO_RCVBUF, else the system's), prints
-- "sink PORT", then counts what arrives until, after the first datagram,
-- nothing has come for a second; prints "got N" and concludes.
local u = assert(socket.open(0, "UDP", { rcvbuf = tonumber(arg.rcvbuf) }))
print("sink " .. u:port())
local n = 0
assert(u:read()) -- the first one: the burst has begun
n = 1
while true do
  local data = u:read(1)
  if not data then break end
  n = n + 1
end
print("got " .. n)
