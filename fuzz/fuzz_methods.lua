-- fuzz_methods.lua — the driver of fuzz/fuzz_methods.c, compiled into it.
--
-- Called as chunk(xcs, ops, cfg). Inside one xcs.run it makes a handle of
-- every type a module can hold (a listener, a connection and its accepted
-- peer, a UDP socket, a UNIX datagram socket and a client of it, a queue, a
-- condition, a task's handle, a repeating timer, a process when an op asks
-- for one), then runs each op — TYPE:METHOD(SELF, args...) —
-- in a task of its own, protected, so any raise is fine and only a crash or
-- a sanitizer report is a finding. Between ops the main task gives the loop
-- one turn, so waits started by earlier ops complete, time out or stay
-- parked; the run's end closes everything and cancels what still waits.
local xcs, ops, cfg = ...
local S = xcs.socket

local function note(fmt, ...)
  if cfg.verbose then io.stderr:write(string.format(fmt, ...), "\n") end
end

-- The metatables, sorted by name, each with its methods sorted by name.
local types = {}
local function find_types()
  local byname = {}
  for k, v in pairs(debug.getregistry()) do
    if type(k) == "string" and k:match("^xcs%.") and type(v) == "table" and v.__name == k
        and type(v.__index) == "table" and k ~= "xcs.module" then
      byname[#byname + 1] = k
    end
  end
  table.sort(byname)
  for _, name in ipairs(byname) do
    local methods = {}
    for m in pairs(debug.getregistry()[name].__index) do methods[#methods + 1] = m end
    table.sort(methods)
    types[#types + 1] = { name = name, methods = methods, index = debug.getregistry()[name].__index }
  end
end

local BIG = setmetatable({}, { __name = "big" }) -- see value()
local own = {} -- type name -> the driver's handle of it
local pool     -- the values arguments and selves are drawn from

local function make_handles()
  local l = assert(S.listen(0))
  local c = assert(S.connect(cfg.bind, l:port()))
  local s = assert(l:accept())
  local u = assert(S.open(0, "UDP"))
  local d = assert(S.open("d.sock", "UNIX-DGRAM"))
  local dc = assert(S.connect("d.sock", "UNIX-DGRAM"))
  local closed = assert(S.open(0, "UDP"))
  closed:close()
  own["xcs.listener"], own["xcs.tcp"], own["xcs.udp"], own["xcs.unixdgram"] = l, c, u, dc
  -- What tasks wait on besides sockets: a queue that fills at 2, a
  -- condition, a task still running, a timer that keeps firing.
  local q, cv = xcs.queue(2), xcs.condition()
  local t = xcs.spawn(function() xcs.sleep(0.02); return 1 end)
  local tm = xcs.every(0.001, function() end)
  own["xcs.queue"], own["xcs.condition"], own["xcs.task"], own["xcs.timer"] = q, cv, t, tm
  pool = table.pack(
    nil, false, true, 0, 1, -1, 2, 3, 64, 65536, math.maxinteger, math.mininteger, 0.5, 0.001,
    1e300, math.huge, -math.huge, 0 / 0, "", "x", "*l", "*a", "l", "a", "\n", "\r\n", "*",
    "reset", "TERM", "KILL", "HUP", "broadcast", "ttl", "multicast_loop", "multicast_ttl",
    "nodelay", "keepalive", "maxline", "maxall", "read_timeout", "send_timeout",
    "239.1.2.3", "127.0.0.1", "::1", cfg.bind .. ":" .. u:port(), "127.0.0.1:1",
    "[::1]:1", "d.sock", cfg.dir .. "/d.sock", "nope.sock", "%", string.rep("b", 70000),
    BIG, {}, { read = 0.001, send = 0.001 }, { 1, 2 }, print,
    function() return 1 end, coroutine.create(print), io.stdout, l, c, s, u, d, dc, closed,
    q, cv, t, tm,
    string.rep("c", 60000)
  )
end

-- Stands in the pool for a string over the high-water mark, made only when
-- an op takes it (making it costs more than the rest of a run).
local big

local function value(i)
  local v = pool[1 + i % pool.n]
  if v == BIG then
    big = big or string.rep("B", 2 << 20)
    return big
  end
  return v
end

local function lazy_process()
  if own["xcs.process"] == nil then
    own["xcs.process"] = assert(xcs.process { "/bin/sh", "-c", "echo hi; sleep 0.05" })
  end
  return own["xcs.process"]
end

local progress -- when the running op last made progress

local function call(op)
  local t = types[1 + op.type % #types]
  local name = t.methods[1 + op.method % #t.methods]
  local f = t.index[name]
  local self
  if op.self < 0x80 then
    self = t.name == "xcs.process" and lazy_process() or own[t.name]
  else
    self = value(op.self - 0x80)
  end
  local args = {}
  for i, a in ipairs(op.args) do args[i] = value(a) end
  local n = #op.args
  note("%s:%s(%s, %d args) ctx %d", t.name, name, tostring(self), n, op.ctx)
  local function run() return f(self, table.unpack(args, 1, n)) end
  local function report(...)
    local shown = {}
    for i = 1, math.min(select("#", ...), 4) do shown[i] = tostring((select(i, ...))) end
    note("  -> %s", table.concat(shown, ", "))
  end
  if op.ctx == 1 then
    local co = coroutine.create(run)
    report(coroutine.resume(co))
  elseif op.ctx == 2 then
    local co = coroutine.create(run)
    local res
    pcall(table.sort, { 3, 2, 1 }, function(a, b)
      if not res then res = table.pack(coroutine.resume(co)) end
      return a < b
    end)
    if res then report(table.unpack(res, 1, res.n)) end
  end
  if op.ctx == 1 or op.ctx == 2 then
    -- The task waits of its own accord, as module code goes on to do: a
    -- wait the coroutine started must not still hold it (issue 14).
    xcs.sleep(0.001)
  elseif op.ctx == 3 then
    xcs.sleep(0)
    report(pcall(run))
  else
    local deadline = xcs.now() + 0.05
    for _ = 2, op.times do -- a loop turn each, so receivers take what came
      pcall(run)
      progress = xcs.now()
      xcs.sleep(0)
      if xcs.now() > deadline then break end
    end
    report(pcall(run))
  end
end

local function main()
  find_types()
  make_handles()
  for _, op in ipairs(ops) do
    -- The next op starts once this one is done, or has waited 5 ms without
    -- progress (it stays parked; the run's end cancels it).
    local done = false
    progress = xcs.now()
    xcs.spawn(function() call(op); done = true end)
    repeat xcs.sleep(0) until done or xcs.now() > progress + 0.005
  end
  xcs.sleep(0.002)
end

xcs.configure { bind = cfg.bind, unix_dir = cfg.dir }
os.remove(cfg.dir .. "/d.sock")
local ok, err = pcall(xcs.run, main, { timeout = 8 })
if not ok and not tostring(err):find("timed out", 1, true) then error(err, 0) end
