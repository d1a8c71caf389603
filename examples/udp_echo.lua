-- udp_echo.lua: UDP echo, written with the request form of the XCS Socket
-- document (`request socket_open 80 UDP`, `request socket_read 80`,
-- `request socket_write 80 data`, `request socket_close 80`), both as one
-- string of words and as a call. Every datagram goes back to its sender as
-- it came, empty ones included (UDP keeps the boundaries).
--
-- Port 80 needs root, so the port is an argument (default 8080). With
-- count=N it echoes N datagrams, closes the socket and finishes; without it
-- it runs until the host stops.
--
-- Run it:
--   xcshost examples/udp_echo.lua port=8080
-- Try it (each line you type is one datagram, echoed back):
--   socat - UDP:127.0.0.1:8080
--   nc -u 127.0.0.1 8080
local port = tonumber(arg.port) or 8080
local count = tonumber(arg.count) or math.huge

-- One string of words, as the document writes it.
local udp = assert(request("socket_open " .. port .. " UDP"))
port = udp:port() -- the one the system chose, when asked for port 0

local echoed = 0
while echoed < count do
  -- The call form: the sender's address comes back too.
  local data, from = request("socket_read", port)
  if data then
    -- "socket_write PORT DATA": everything after the port is the data, and
    -- without an address it goes to `from`, the sender of the last read.
    request("socket_write " .. port .. " " .. data)
    echoed = echoed + 1
  else
    log("read failed: %s", from) -- news about an earlier send; keep serving
  end
end

request("socket_close " .. port)
