-- proxy.lua: a TCP relay. Each client of `port` gets its own connection to
-- upstream_host:upstream_port, and bytes flow both ways unchanged, one task
-- per direction. Backpressure holds both ways: a write waits while the
-- receiving side is slow, and meanwhile its task reads no more, so the proxy
-- holds about 1 MiB per direction at most, whatever the traffic.
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
local CHUNK = 64 * 1024

-- No read timeout: a relayed connection may stay idle as long as its ends
-- like. The send timeout stays: it is what drops a peer that stopped reading.
local opts = { read_timeout = math.huge }

local listener = assert(socket.listen(port, opts))
log("relaying %s to %s", listener:address(), upstream_name)
local pairs_open = 0

-- Copies `from` to `to` until `from` ends; false if either side failed.
local function pipe(from, to)
  while true do
    local data, err = from:readany(CHUNK)
    if data == "" then -- FIN: the other side gets it once what went before is sent
      to:shutdown()
      return true
    end
    if not data then return false, err end -- a reset, or the pair was closed
    local ok, werr = to:write(data) -- waits while `to` is slow
    if not ok then return false, werr end
  end
end

local function relay(client)
  local who = client:peer()
  local upstream, err = socket.connect(up_host, up_port, "TCP", opts)
  if not upstream then
    log("%s: upstream %s: %s", who, upstream_name, err)
    client:close()
    return
  end
  pairs_open = pairs_open + 1
  local running, failed = 2, false
  local function run(from, to, name)
    local ok, why = pipe(from, to)
    running = running - 1
    if not ok and not failed then -- the other task's wait, if any, ends as "closed"
      failed = true
      log("%s: %s: %s", who, name, why)
      client:close("reset")
      upstream:close("reset")
    end
    if running == 0 then
      client:close()
      upstream:close()
      pairs_open = pairs_open - 1
    end
  end
  spawn(run, client, upstream, "client to upstream")
  run(upstream, client, "upstream to client")
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
