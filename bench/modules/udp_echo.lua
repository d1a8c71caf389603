-- udp_echo.lua: UDP echo in the port-keyed style: each datagram goes back to
-- its sender.
local udp = assert(socket.open(tonumber(arg.port) or 0, "UDP"))
while true do
  local data, from = socket.read(udp)
  if data then socket.write(udp, data, from) end
end
