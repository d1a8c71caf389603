-- client.lua: a TCP client for line protocols. It connects to host:port,
-- sends each line, prints the line that comes back for it, closes and
-- concludes. It fails (exit status 1) if it cannot connect, or a reply does
-- not come within `timeout` seconds, or the server closes first.
--
-- Run it against the echo example (lines are separated by "|"):
--   xcshost examples/echo.lua port=7000
--   xcshost examples/client.lua host=127.0.0.1 port=7000 "lines=hello|how are you?"
-- Or against any line server, e.g. one made with socat:
--   socat TCP-LISTEN:7000,reuseaddr,fork EXEC:'tr a-z A-Z'
local host = arg.host or "127.0.0.1"
local port = tonumber(arg.port) or 7000
local timeout = tonumber(arg.timeout) or 5
local lines = {}
for line in (arg.lines or "hello|xcshost|goodbye"):gmatch("[^|]+") do lines[#lines + 1] = line end

local c, err = socket.connect(host, port, "TCP", { timeout = timeout })
if not c then exit(false, ("cannot connect to %s:%d: %s"):format(host, port, err)) end

for _, line in ipairs(lines) do
  c:write(line .. "\n")
  local reply, why = c:read("*l", timeout) -- a line without its "\n" (or "\r\n")
  if not reply then exit(false, ("no reply to %q: %s"):format(line, why)) end
  print(reply)
end
c:close()
