-- statsd.lua: a statsd-like metrics collector. Clients send metrics over
-- UDP in statsd's line format; the totals are read as JSON over HTTP (the
-- host's `json` and `http` libraries, through lib/http_server.lua).
--
--   name:value|c[|@rate]   a counter: value (scaled by 1/rate) is added
--   name:value|g           a gauge: set to value; "+3" or "-3" moves it
--   name:value|ms[|@rate]  a timer: count, sum, min, max, mean of the values
--   name:value|s           a set: how many distinct values were seen
--
-- A datagram may hold several lines (one per '\n', or "\r\n"). A line that is not of
-- this form is counted in "bad_lines" and skipped, so a broken sender
-- cannot hide the good lines of others. Memory is bounded: past max_entries
-- names and set members (default 100000) a line that would add one is
-- counted in "dropped" instead.
--
--   GET  /metrics   {"counters":{...},"gauges":{...},"timers":{...},"sets":{...},
--                    "packets":N,"bad_lines":N,"dropped":N,"since_ms":T}
--   POST /flush     the same, then counters, timers and sets start again from
--                   nothing (gauges keep their values), as statsd's flush does
--
-- Run it:
--   xcshost examples/statsd.lua port=8125 http_port=8126 [rcvbuf=BYTES (4 MiB)]
-- Try it:
--   echo "requests:1|c" | nc -u -q0 127.0.0.1 8125
--   printf 'latency:12|ms\nlatency:30|ms\nusers:alice|s' | nc -u -q0 127.0.0.1 8125
--   curl -s http://127.0.0.1:8126/metrics
local server = require "lib.http_server"

local port = tonumber(arg.port) or 8125
local http_port = tonumber(arg.http_port) or 8126
local max_entries = tonumber(arg.max_entries) or 100000
-- Metrics come in bursts (every client flushing at once): a deep receive
-- buffer holds a burst while the loop below catches up, instead of the
-- kernel dropping it. The system may cap it (net.core.rmem_max).
local rcvbuf = tonumber(arg.rcvbuf) or 4 * 1024 * 1024

local gauges = {}
local counters, timers, sets, packets, bad, dropped, since, entries

local function reset()
  counters, timers, sets, packets, bad, dropped, since = {}, {}, {}, 0, 0, 0, wallclock()
  entries = 0
  for _ in pairs(gauges) do entries = entries + 1 end
end
reset()

-- Whether one more name or set member may be kept.
local function room()
  if entries >= max_entries then return false end
  entries = entries + 1
  return true
end

-- Adds one line: "ok", "bad" (not a metric) or "dropped" (no room).
local function add(line)
  local name, value, kind, rest = line:match("^([^:|@]+):([^|]+)|(%a+)(.*)$")
  if not name then return "bad" end
  local rate = 1
  if rest ~= "" then
    rate = tonumber(rest:match("^|@([%d.]+)$"))
    if not rate or rate <= 0 or rate > 1 then return "bad" end
  end
  if kind == "s" then
    local set = sets[name]
    if not set then
      if not room() then return "dropped" end
      set = { count = 0, seen = {} }
      sets[name] = set
    end
    if not set.seen[value] then
      if not room() then return "dropped" end
      set.seen[value], set.count = true, set.count + 1
    end
    return "ok"
  end
  local n = tonumber(value)
  if not n or n ~= n or n == math.huge or n == -math.huge then return "bad" end
  local store = kind == "c" and counters or kind == "g" and gauges or kind == "ms" and timers
  if not store then return "bad" end
  if store[name] == nil and not room() then return "dropped" end
  if kind == "c" then
    counters[name] = (counters[name] or 0) + (rate == 1 and n or n / rate)
  elseif kind == "g" then
    local delta = value:find("^[+-]")
    gauges[name] = delta and (gauges[name] or 0) + n or n
  else
    local t = timers[name]
    if not t then
      t = { count = 0, sum = 0, min = n, max = n }
      timers[name] = t
    end
    t.count = t.count + (rate == 1 and 1 or 1 / rate)
    t.sum = t.sum + (rate == 1 and n or n / rate)
    t.min, t.max = math.min(t.min, n), math.max(t.max, n)
  end
  return "ok"
end

local function snapshot()
  local out = { counters = {}, gauges = {}, timers = {}, sets = {}, packets = packets,
    bad_lines = bad, dropped = dropped, since_ms = since }
  for k, v in pairs(counters) do out.counters[k] = v end
  for k, v in pairs(gauges) do out.gauges[k] = v end
  for k, t in pairs(timers) do
    out.timers[k] = { count = t.count, sum = t.sum, min = t.min, max = t.max, mean = t.sum / t.count }
  end
  for k, s in pairs(sets) do out.sets[k] = s.count end
  return json.encode(out, { sort_keys = true }) .. "\n", { ["Content-Type"] = "application/json" }
end

local function handle(req)
  if req.path ~= "/metrics" and req.path ~= "/flush" then return 404, "no such resource\n" end
  if req.path == "/metrics" and req.method == "GET" then return 200, snapshot() end
  if req.path == "/flush" and req.method == "POST" then
    local body, headers = snapshot()
    reset()
    return 200, body, headers
  end
  return 405, "use GET /metrics or POST /flush\n"
end

local udp = assert(socket.open(port, "UDP", { rcvbuf = rcvbuf }))
local listener = assert(socket.listen(http_port))

spawn(function()
  while true do
    spawn(server.serve, assert(listener:accept()), handle)
  end
end)

while true do
  local data = udp:read()
  if data then
    packets = packets + 1
    for line in data:gmatch("[^\r\n]+") do
      local outcome = add(line)
      if outcome == "bad" then
        bad = bad + 1
      elseif outcome == "dropped" then
        dropped = dropped + 1
      end
    end
  end
end
