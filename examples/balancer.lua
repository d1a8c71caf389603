-- balancer.lua: a health-checking TCP load balancer. Each client of `port`
-- is relayed (lib/relay.lua: both ways, backpressure, half close, resets)
-- to the next backend in turn that is up.
--
-- A backend is up until a health check or a client's connect to it fails,
-- and up again once a check succeeds: every `check` seconds (default 1) a
-- task per backend connects to it (timeout: `check_timeout`, default 1 s)
-- and closes again. Each change is logged ("backend 127.0.0.1:7000 is down:
-- ECONNREFUSED: connection refused"). A client whose backend refuses is
-- tried on the next one up; with none up, it is closed at once (its peer
-- sees the connection end before any byte), and that is logged too.
--
-- Run it in front of two echo servers:
--   xcshost examples/echo.lua port=7000 examples/echo.lua port=7001 \
--     examples/balancer.lua port=7003 backends=127.0.0.1:7000,127.0.0.1:7001
-- Try it:
--   nc 127.0.0.1 7003          (each connection goes to the next backend)
local pair = require("lib.relay").pair

local port = tonumber(arg.port) or 7003
local interval = tonumber(arg.check) or 1
local check_timeout = tonumber(arg.check_timeout) or 1

-- No read timeout: a relayed connection may stay idle as long as its ends like.
local opts = { read_timeout = math.huge }

local backends = {}
for item in (arg.backends or "127.0.0.1:7000"):gmatch("[^,%s]+") do
  local host, bport = item:match("^%[(.+)%]:(%d+)$") -- [::1]:7000
  if not host then host, bport = item:match("^([^:]+):(%d+)$") end
  bport = tonumber(bport)
  if not host or not bport or bport > 65535 then
    error("backends: expected a list such as 127.0.0.1:7000,[::1]:7001, not '" .. item .. "'", 0)
  end
  backends[#backends + 1] = { host = host, port = bport, name = item, up = true }
end
if #backends == 0 then error("backends: expected at least one, such as backends=127.0.0.1:7000", 0) end

local function mark(b, up, why)
  if b.up == up then return end
  b.up = up
  if up then log("backend %s is up", b.name) else log("backend %s is down: %s", b.name, why) end
end

local function check(b)
  while true do
    local c, err = socket.connect(b.host, b.port, "TCP", { timeout = check_timeout })
    if c then c:close() end
    mark(b, c ~= nil, err)
    sleep(interval)
  end
end

-- The next backend up after the last one given, connected: its socket,
-- or nil once every backend was tried.
local turn = 0
local function connect_next()
  for _ = 1, #backends do
    turn = turn % #backends + 1
    local b = backends[turn]
    if b.up then
      local c, err = socket.connect(b.host, b.port, "TCP", opts)
      if c then return c end
      mark(b, false, err)
    end
  end
end

local function serve(client)
  local who = client:peer()
  local upstream = connect_next()
  if not upstream then
    log("%s: no backend is up", who)
    client:close()
    return
  end
  pair(client, upstream, who)
end

for _, b in ipairs(backends) do spawn(check, b) end
local listener = assert(socket.listen(port, opts))
log("balancing %s over %s", listener:address(), arg.backends or "127.0.0.1:7000")
while true do
  spawn(serve, assert(listener:accept()))
end
