-- echo_accept.lua: TCP echo with a task per connection (listener:accept()),
-- the style bench/run compares with the port-keyed examples/echo.lua.
local listener = assert(socket.listen(tonumber(arg.port) or 0))
while true do
  local c = listener:accept()
  if c then
    spawn(function()
      while true do
        local data = c:read(nil, math.huge) -- whatever has arrived; no read timeout
        if not data or data == "" or not c:write(data) then break end
      end
      c:close()
    end)
  end
end
