-- echo_accept.lua: TCP echo with a task per connection (listener:accept()),
-- the style bench/run compares with the port-keyed examples/echo.lua. The
-- connection is spawn's argument, as README's examples pass it: the task
-- owns it (a failure resets it), and no closure is made per connection.
local listener = assert(socket.listen(tonumber(arg.port) or 0))

local function serve(c)
  while true do
    local data = c:read(nil, math.huge) -- whatever has arrived; no read timeout
    if not data or data == "" or not c:write(data) then break end
  end
  c:close()
end

while true do
  local c = listener:accept()
  if c then spawn(serve, c) end
end
