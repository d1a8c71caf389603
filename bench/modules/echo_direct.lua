-- echo_direct.lua: examples/echo.lua (or, with protocol=UDP, udp_echo.lua)
-- without the prelude's port-keyed functions: the same loop calling the
-- socket's own read and write methods. bench/profile subtracts it from the
-- port-keyed echo to weigh the prelude.
local s = assert(socket.open(tonumber(arg.port) or 0, arg.protocol or "TCP"))
local read, write = s.read, s.write
while true do
  local data, from = read(s)
  if data then write(s, data, from) end
end
