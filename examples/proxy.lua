-- proxy.lua: a TCP relay. Each client of `port` gets its own connection to
-- upstream_host:upstream_port, and bytes flow both ways unchanged, one task
-- per direction (lib/relay.lua). Backpressure holds both ways: a write waits
-- while the receiving side is slow, and meanwhile its task reads no more, so
-- the proxy holds about 1 MiB per direction at most, whatever the traffic.
-- A half close is passed on (a FIN from one side becomes shutdown() of the
-- other); the pair is closed once both directions have ended. An error on
-- either side (a reset, a peer taking nothing for the 60 s send timeout)
-- resets both, so neither end mistakes a broken relay for a clean end. A
-- client whose upstream cannot be reached is closed in an orderly way.
-- `stats=SECONDS` logs the number of pairs and the module's memory that often.
--
-- Run it in front of the echo example:
--   xcshost examples/echo.lua port=7000 examples/proxy.lua port=7002 upstream_port=7000
-- Try it:
--   nc 127.0.0.1 7002           (or: socat - TCP:127.0.0.1:7002)
local port = tonumber(arg.port) or 7002
local up_host = arg.upstream_host or "127.0.0.1"
local up_port = tonumber(arg.upstream_port) or 7000
local upstream_name = (up_host:find(":", 1, true) and not up_host:find("^%[") and "[%s]:%d"
  or "%s:%d"):format(up_host, up_port) -- "[::1]:7000", as addresses are shown
local pair = require("lib.relay").pair -- both ways, backpressure, half close, resets

-- No read timeout: a relayed connection may stay idle as long as its ends
-- like. The send timeout stays: it is what drops a peer that stopped reading.
local opts = { read_timeout = math.huge }

local listener = assert(socket.listen(port, opts))
log("relaying %s to %s", listener:address(), upstream_name)
local pairs_open = 0

local function relay(client)
  local who = client:peer()
  local upstream, err = socket.connect(up_host, up_port, "TCP", opts)
  if not upstream then
    log("%s: upstream %s: %s", who, upstream_name, err)
    client:close()
    return
  end
  pairs_open = pairs_open + 1
  pair(client, upstream, who, function() pairs_open = pairs_open - 1 end)
end

local stats = tonumber(arg.stats)
if stats then
  spawn(function()
    while true do
      sleep(stats)
      log("pairs: %d, memory: %.0f KiB", pairs_open, collectgarbage("count"))
    end
  end)
end

while true do
  spawn(relay, assert(listener:accept()))
end
