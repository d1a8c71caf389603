-- loopback.lua: a module that is its own client, run directly by xcshost in
-- ctest so the whole host (start, tasks, TCP, UDP, conclude, exit status) is
-- checked by the executable itself, under LeakSanitizer in the ASan build.
local listener = assert(socket.open(0, "TCP"))
local udp = assert(socket.open(0, "UDP"))

spawn(function()
  local c = assert(socket.connect("127.0.0.1", listener:port(), "TCP"))
  for i = 1, 100 do
    assert(c:write("ping " .. i .. "\n"))
    local got = ""
    while #got < #("ping " .. i .. "\n") do got = got .. assert(c:read()) end
    assert(got == "ping " .. i .. "\n", got)
  end
  c:close()
  local u = assert(socket.connect("127.0.0.1", udp:port(), "UDP"))
  assert(u:write("datagram"))
  assert(u:read() == "datagram")
  u:close()
end)

local clients = 0
while true do
  local data, from = socket.read(listener)
  if data == "" then break end
  clients = clients + 1
  socket.write(listener, data, from)
end
local data, from = socket.read(udp)
socket.write(udp, data, from)
socket.close(udp)
socket.close(listener)
print("served " .. clients .. " chunks")
