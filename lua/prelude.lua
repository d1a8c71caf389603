-- prelude.lua: the Lua face of the host, run once in every module's state
-- (and in the `xcs` test module). It builds, over the C core:
--
--   socket.open/read/write/close keyed by port, socket.connect
--   request(...)  the XCS request form, as a call or as one string
--   spawn, sleep, now, log, print, exit
--   coroutine.resume/wrap/yield that let socket calls wait from inside a
--   module's own coroutines
--
-- It runs before the globals are emptied, so everything it uses is captured
-- in a local here; `_ENV = nil` below makes any slip an immediate error.
local env, core, sandboxed = ...

local type, tostring, select, error, pairs, setmetatable, rawequal =
  type, tostring, select, error, pairs, setmetatable, rawequal
local format, upper, match, gmatch = string.format, string.upper, string.match,
  string.gmatch
local concat = table.concat
local tointeger, mtype = math.tointeger, math.type
local co_create, co_resume, co_yield, co_running, co_close, co_isyieldable =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running,
  coroutine.close, coroutine.isyieldable
local HOST = core.HOST
co_resume = core.resume -- tells the CPU watchdog which coroutine runs
local _ENV = nil

-- Misuse --------------------------------------------------------------------

local function describe(v)
  if type(v) == "string" then return format("%q", v) end
  if type(v) == "number" then return tostring(v) end
  return type(v)
end

local function argerror(fname, i, name, expected, got)
  error(format("%s: bad argument #%d (%s): expected %s, got %s", fname, i, name,
    expected, describe(got)), 3)
end

local function check_port(fname, i, port, lowest)
  if mtype(port) == "integer" and port >= (lowest or 0) and port <= 65535 then return port end
  local p = tointeger(port)
  if mtype(port) ~= "integer" and not (mtype(port) == "float" and p) then p = nil end
  if not p or p < (lowest or 0) or p > 65535 then
    argerror(fname, i, "port", format("an integer from %d to 65535", lowest or 0), port)
  end
  return p
end

local function check_proto(fname, i, proto)
  local p = type(proto) == "string" and upper(proto)
  if p ~= "TCP" and p ~= "UDP" then argerror(fname, i, "protocol", '"TCP" or "UDP"', proto) end
  return p
end

-- Ports this module opened ----------------------------------------------------

local open = { TCP = {}, UDP = {} }

local function live(h)
  return h ~= nil and not core.isclosed(h)
end

local function lookup(fname, what)
  if type(what) == "userdata" then return what end
  local port = check_port(fname, 1, what)
  local t, u = open.TCP[port], open.UDP[port]
  -- The common case, one socket on the port, costs no call into C; a
  -- handle closed behind our back then raises "attempt to use a closed socket".
  if t and u then
    if not live(t) then t = nil end
    if not live(u) then u = nil end
    if t and u then
      error(format("%s: port %d is open as both TCP and UDP; pass the handle " ..
        "socket.open returned", fname, port), 3)
    end
  end
  if not (t or u) then error(format("%s: port %d is not open in this module", fname, port), 3) end
  return t or u
end

-- The peer of each task's last read on each socket, so a reply needs no `to`.
local last = setmetatable({}, { __mode = "k" })

local function remember(h, from)
  local task = core.task()
  if not task then return end
  local peers = last[task]
  if not peers then
    peers = setmetatable({}, { __mode = "k" })
    last[task] = peers
  end
  peers[h] = from
end

local function recall(h)
  local task = core.task()
  local peers = task and last[task]
  return peers and peers[h]
end

-- The socket table ------------------------------------------------------------

local socket = {}

function socket.open(port, protocol)
  port = check_port("socket.open", 1, port)
  local p = check_proto("socket.open", 2, protocol)
  if port ~= 0 and live(open[p][port]) then
    error(format("socket.open: port %d (%s) is already open in this module", port, p), 2)
  end
  local h, err, code
  if p == "TCP" then h, err, code = core.tcp_listen(port) else h, err, code = core.udp_open(port) end
  if not h then return nil, err, code end
  open[p][h:port()] = h
  return h
end

local function finish_read(h, data, from, ...)
  if data and from ~= nil then remember(h, from) end
  return data, from, ...
end

function socket.read(what)
  local h = lookup("socket.read", what)
  return finish_read(h, h:read())
end

function socket.write(what, data, to)
  local h = lookup("socket.write", what)
  if type(data) ~= "string" then argerror("socket.write", 2, "data", "a string", data) end
  if to == nil then
    to = recall(h)
    if to == nil and core.needs_to(h) then
      error("socket.write: bad argument #3 (to): nothing was read from this socket " ..
        "in this task, so there is no peer to reply to; pass `to`", 2)
    end
  end
  return h:write(data, to)
end

function socket.close(what)
  local h = lookup("socket.close", what)
  for _, ports in pairs(open) do
    for port, held in pairs(ports) do
      if rawequal(held, h) then ports[port] = nil end
    end
  end
  return h:close()
end

function socket.connect(host, port, protocol)
  if type(host) ~= "string" then argerror("socket.connect", 1, "host", "a string", host) end
  port = check_port("socket.connect", 2, port, 1)
  local p = check_proto("socket.connect", 3, protocol == nil and "TCP" or protocol)
  if p == "TCP" then return core.tcp_connect(host, port) end
  return core.udp_connect(host, port)
end

env.socket = socket

-- The request form ----------------------------------------------------------------

local commands = {
  socket_open = socket.open,
  socket_read = socket.read,
  socket_write = socket.write,
  socket_close = socket.close,
}

local function word_port(w)
  return tointeger(w) or w
end

-- "socket_write 80 hello world": everything after the port, verbatim, is DATA.
local function parse(line)
  local cmd, rest = match(line, "^%s*(%S+)%s?(.*)$")
  if cmd == "socket_write" then
    local port, data = match(rest, "^%s*(%S+) ?(.*)$")
    return cmd, word_port(port), data
  end
  local args = {}
  for w in gmatch(rest, "%S+") do args[#args + 1] = #args == 0 and word_port(w) or w end
  return cmd, args[1], args[2], args[3]
end

local function request(cmd, ...)
  if type(cmd) ~= "string" then
    argerror("request", 1, "command", 'a string such as "socket_open 80 UDP"', cmd)
  end
  local f = commands[cmd]
  if f then return f(...) end
  if select("#", ...) == 0 and match(cmd, "%s") then
    local name = parse(cmd)
    f = commands[name]
    if f then return f(select(2, parse(cmd))) end
    cmd = name
  end
  error(format("request: unknown command %s (expected socket_open, socket_read, " ..
    "socket_write or socket_close)", describe(cmd)), 2)
end

env.request = request

-- Tasks and the log -------------------------------------------------------------

env.spawn, env.sleep, env.now, env.exit = core.spawn, core.sleep, core.now, core.exit

env.log = function(fmt, ...)
  if select("#", ...) > 0 then core.log(format(fmt, ...)) else core.log(tostring(fmt)) end
end

if not sandboxed then return end

env.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  core.log(concat(parts, "\t"))
end

-- Coroutines ---------------------------------------------------------------------
-- A socket call inside a module's own coroutine yields HOST up to whoever
-- resumed it; resume passes such yields on to its own resumer, up to the
-- task, and hands the answer back down when the task is resumed.

local coroutine = env.coroutine
local parked = setmetatable({}, { __mode = "k" }) -- coroutines waiting on the host

local pass

local function after_wait(co, ...)
  parked[co] = nil
  return pass(co, co_resume(co, ...))
end

pass = function(co, ok, first, ...)
  if ok and rawequal(first, HOST) then
    parked[co] = true
    return after_wait(co, co_yield(first, ...))
  end
  return ok, first, ...
end

function coroutine.resume(co, ...)
  if parked[co] then return false, "cannot resume a coroutine that is waiting on the host" end
  return pass(co, co_resume(co, ...))
end

function coroutine.wrap(f)
  local co = co_create(f)
  local function unwrap(ok, ...)
    if ok then return ... end
    co_close(co)
    error((...), 0)
  end
  return function(...) return unwrap(coroutine.resume(co, ...)) end
end

function coroutine.yield(...)
  if core.is_task(co_running()) then
    error("coroutine.yield: a task cannot yield to the host; wait with sleep() " ..
      "or a socket call instead", 2)
  end
  return co_yield(...)
end

function coroutine.isyieldable()
  return co_isyieldable() and not core.is_task(co_running())
end

function coroutine.close(co)
  if parked[co] then return false, "cannot close a coroutine that is waiting on the host" end
  return co_close(co)
end
