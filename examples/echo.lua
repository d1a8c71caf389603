-- echo.lua: TCP echo, in the port-keyed style of the XCS Socket document.
-- Every client's bytes come back to it; `from` says which client sent them.
--
--   xcshost examples/echo.lua port=7000
--   nc 127.0.0.1 7000            (or: socat - TCP:127.0.0.1:7000)
local port = tonumber(arg.port) or 7000

local listener = assert(socket.open(port, "TCP"))
port = listener:port() -- the one the system chose, when asked for port 0

while true do
  local data, from = socket.read(port)
  socket.write(port, data, from)
end
