-- prelude.lua: the Lua face of the host, run once in every module's state
-- (and in the `xcs` test module). It builds, over the C core:
--
--   socket.open/read/write/close keyed by port (or by UNIX socket path),
--   socket.connect, socket.listen
--   request(...)  the XCS request form, as a call or as one string
--   spawn, sleep, now, log, print, exit
--   coroutine.resume/wrap/yield that let socket calls wait from inside a
--   module's own coroutines
--
-- It runs before the globals are emptied, so everything it uses is captured
-- in a local here; `_ENV = nil` below makes any slip an immediate error.
local env, core, sandboxed = ...

local type, tostring, select, error, pairs, next, setmetatable, rawequal =
  type, tostring, select, error, pairs, next, setmetatable, rawequal
local format, upper, lower, match, gmatch = string.format, string.upper,
  string.lower, string.match, string.gmatch
local concat = table.concat
local tointeger, mtype = math.tointeger, math.type
local co_create, co_yield, co_running, co_close, co_isyieldable =
  coroutine.create, coroutine.yield, coroutine.running, coroutine.close,
  coroutine.isyieldable
local co_resume = core.resume -- coroutine.resume that tells the CPU watchdog who runs
co_close = core.close -- and coroutine.close, whose __close handlers are module code
local raw_xpcall = xpcall
local getinfo = debug.getinfo -- kept here only; modules never see debug
local HOST = core.HOST
local _ENV = nil

-- Misuse --------------------------------------------------------------------

-- socket.read and socket.write as modules call them: C in front of the
-- functions below (bindings/portkeyed.c), set once those are defined; and
-- forget_port, called whenever a socket goes into open[...] (the C side
-- remembers the last port it found).
local fast_read, fast_write, forget_port

-- Raises msg at the first caller outside this file (and outside the C
-- functions in front of it), so the position in the message is the
-- module's line that made the bad call.
local function raise(msg)
  local level = 2
  while true do
    local info = getinfo(level, "Sf")
    if not info or info.source ~= "=prelude" and info.func ~= fast_read and
      info.func ~= fast_write then break end
    level = level + 1
  end
  error(msg, level)
end

local function describe(v)
  if type(v) == "string" then return format("%q", v) end
  if type(v) == "number" then return tostring(v) end
  return type(v)
end

local function argerror(fname, i, name, expected, got)
  raise(format("%s: bad argument #%d (%s): expected %s, got %s", fname, i, name,
    expected, describe(got)))
end

local function check_port(fname, i, port, lowest)
  lowest = lowest or 0
  if mtype(port) == "integer" and port >= lowest and port <= 65535 then return port end
  local p = mtype(port) == "float" and tointeger(port)
  if not p or p < lowest or p > 65535 then
    argerror(fname, i, "port", format("an integer from %d to 65535", lowest), port)
  end
  return p
end

local function check_proto(fname, i, proto)
  local p = type(proto) == "string" and upper(proto)
  if p ~= "TCP" and p ~= "UDP" and p ~= "TLS" then
    argerror(fname, i, "protocol", '"TCP", "UDP" or "TLS"', proto)
  end
  return p
end

local function is_unix(p) return p == "UNIX" or p == "UNIX-DGRAM" end

-- The protocol string at i if it names a UNIX socket ("UNIX" or
-- "UNIX-DGRAM", any case), else nil.
local function unix_proto(proto)
  local p = type(proto) == "string" and upper(proto)
  return is_unix(p) and p or nil
end

-- Ports this module opened ----------------------------------------------------

-- UNIX sockets are keyed by their canonical path (handle:port() tells it);
-- `named` maps each spelling a module used for one to that path, so a
-- port-keyed call with the same spelling costs no look-up of the disk.
local open = { TCP = {}, UDP = {}, TLS = {}, UNIX = {}, ["UNIX-DGRAM"] = {} }
local open_tcp, open_udp, open_tls = open.TCP, open.UDP, open.TLS
-- socket.listen's listeners by port, only to say so when a port-keyed call names one.
local listening = setmetatable({}, { __mode = "v" })
local named = {}

-- The canonical path a port-keyed call's string means (raising on misuse:
-- no --unix-dir, a path outside it), or nil when there can be no such
-- socket (its directory does not exist).
local function unix_key(fname, i, what, argname)
  local path = named[what]
  if path then return path end
  return core.unix_path(what, fname, i, argname)
end

-- The handle on `port` of one protocol, forgetting it if it was closed.
local function held(p, port)
  local h = open[p][port]
  if h == nil then return nil end
  local kind = core.kind(h)
  if not kind then
    open[p][port] = nil
    return nil
  end
  return h, kind
end

-- The socket a port-keyed call means, and its kind ("listener", "tcp",
-- "udp", "udp-connected").
local function lookup(fname, what)
  -- The common case first, with no type checks: a port number held by one
  -- protocol only (a table key 7000.0 finds 7000; a string never a port;
  -- TCP and TLS share a port space).
  local t, u = open_tcp[what] or open_tls[what], open_udp[what]
  local h = t == nil and u or u == nil and t
  if h then
    local kind = core.kind(h)
    if kind then return h, kind end
  end
  if type(what) == "userdata" then
    local kind = core.kind(what)
    if kind == nil then raise(fname .. ": attempt to use a closed socket") end
    if kind then return what, kind end
  end
  if type(what) == "string" then
    local path = unix_key(fname, 1, what, "port")
    local h, kind
    if path then
      h, kind = held("UNIX", path)
      if not h then h, kind = held("UNIX-DGRAM", path) end
    end
    if not h then
      raise(format("%s: UNIX socket %s is not open in this module", fname, path or what))
    end
    return h, kind
  end
  local port = check_port(fname, 1, what)
  -- One look (a call into C) per socket held on the port, none more. (TCP
  -- and TLS listeners share the TCP port space: one of them at most.)
  local t, tkind = held("TCP", port)
  if not t then t, tkind = held("TLS", port) end
  local u, ukind = held("UDP", port)
  if t and u then
    raise(format("%s: port %d is open as both TCP and UDP; pass the handle " ..
      "socket.open returned", fname, port))
  end
  if not (t or u) then
    local l = listening[port]
    if l and core.kind(l) then
      raise(format("%s: port %d is a socket.listen listener, which port-keyed calls do not " ..
        "serve: use the listener (l:accept() gives each client, and the connection reads " ..
        "and writes), or open the port with socket.open(%d, \"TCP\")", fname, port, port))
    end
    raise(format("%s: port %d is not open in this module", fname, port))
  end
  return t or u, tkind or ukind
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

-- UDP opts: address (one of --bind's, a multicast group or a broadcast
-- address: socket.open only), rcvbuf and sndbuf (bytes: SO_RCVBUF, SO_SNDBUF).
local udp_options = { address = "socket.open", rcvbuf = true, sndbuf = true }

local function udp_opts(fname, i, opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then argerror(fname, i, "options", "a table", opts) end
  local takes = fname == "socket.open" and "address, rcvbuf or sndbuf" or "rcvbuf or sndbuf"
  for k, v in pairs(opts) do
    local o = udp_options[k]
    if not o or (o ~= true and o ~= fname) then
      raise(format("%s: bad argument #%d (options): unknown option %s (UDP takes %s)", fname, i,
        describe(k), takes))
    end
    if k == "address" and type(v) ~= "string" then
      argerror(fname, i, "options", "address to be an IP address string", v)
    elseif k ~= "address" and not (mtype(v) == "integer" and v > 0) then
      argerror(fname, i, "options", k .. " to be bytes (an integer > 0)", v)
    end
  end
  return opts
end

-- Sets the buffer sizes opts asks for on the new UDP socket h: h, or (h
-- closed) nil, msg, code.
local function udp_buffers(h, opts)
  if not opts then return h end
  for i = 1, 2 do
    local name = i == 1 and "rcvbuf" or "sndbuf"
    if opts[name] then
      local ok, err, code = h:setoption(name, opts[name])
      if not ok then
        h:close()
        return nil, err, code
      end
    end
  end
  return h
end

-- A UNIX datagram socket has no options: any given is named in the error.
local function no_dgram_opts(fname, i, opts)
  if opts ~= nil and type(opts) ~= "table" then argerror(fname, i, "options", "a table", opts) end
  local name = opts and next(opts)
  if name ~= nil then
    raise(format("%s: bad argument #%d (options): unknown option %s (a UNIX-DGRAM socket " ..
      "takes none)", fname, i, describe(name)))
  end
end

-- socket.open(path, "UNIX" | "UNIX-DGRAM" [, opts]): a UNIX stream
-- listener (as "TCP" is, with its options) or a bound datagram socket (as
-- "UDP" is) at path.
local function open_unix(path, p, opts)
  if type(path) ~= "string" then
    argerror("socket.open", 1, "path", "the path of a socket file (a string)", path)
  end
  if p == "UNIX" then
    if opts ~= nil and type(opts) ~= "table" then
      argerror("socket.open", 3, "options", "a table", opts)
    end
  else
    no_dgram_opts("socket.open", 3, opts)
  end
  local key, err, code = unix_key("socket.open", 1, path, "path")
  if not key then return nil, err, code end
  if held(p, key) then
    raise(format("socket.open: %s (%s) is already open in this module", key, p))
  end
  local h
  if p == "UNIX" then
    h, err, code = core.tcp_listen(path, opts)
  else
    h, err, code = core.unixdgram_open(path)
  end
  if not h then return nil, err, code end
  key = h:port()
  open[p][key] = h
  named[path], named[key] = key, key
  return h
end

function socket.open(port, protocol, opts)
  local up = unix_proto(protocol)
  if up then return open_unix(port, up, opts) end
  if type(port) == "string" and match(port, "/") then
    argerror("socket.open", 1, "port", 'an integer from 0 to 65535 (a path opens a UNIX ' ..
      'socket: socket.open(path, "UNIX"))', port)
  end
  port = check_port("socket.open", 1, port)
  local p = check_proto("socket.open", 2, protocol)
  if port ~= 0 and held(p, port) then
    raise(format("socket.open: port %d (%s) is already open in this module", port, p))
  end
  local h, err, code
  if p == "TCP" then
    if opts ~= nil and type(opts) ~= "table" then
      argerror("socket.open", 3, "options", "a table", opts)
    end
    h, err, code = core.tcp_listen(port, opts)
  elseif p == "TLS" then
    if type(opts) ~= "table" then
      argerror("socket.open", 3, "opts", "TLS options: a table with cert = and key =", opts)
    end
    h, err, code = core.tcp_listen(port, nil, false, opts)
  else
    opts = udp_opts("socket.open", 3, opts)
    h, err, code = core.udp_open(port, opts and opts.address)
    if h == false then raise(err) end
    if h then h, err, code = udp_buffers(h, opts) end
  end
  if not h then return nil, err, code end
  open[p][h:port()] = h
  forget_port()
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
  local h, kind = lookup("socket.write", what)
  if type(data) ~= "string" then argerror("socket.write", 2, "data", "a string", data) end
  if to == nil then
    if kind == "listener" or kind == "udp" then
      to = recall(h)
      if to == nil then
        raise("socket.write: bad argument #3 (to): nothing was read from this socket " ..
          "in this task, so there is no peer to reply to; pass `to`")
      end
    elseif kind == "unixdgram" then
      to = recall(h)
      if to == nil then
        raise("socket.write: bad argument #3 (to): nothing was read from this socket " ..
          "in this task, so there is no peer to reply to; pass `to`")
      end
      if to == "" then
        raise("socket.write: bad argument #3 (to): the sender of the last datagram " ..
          "bound no path, so it cannot be answered")
      end
    end
  elseif kind == "listener" then
    if to ~= "*" and type(to) ~= "userdata" then
      argerror("socket.write", 3, "to", 'a client connection or "*"', to)
    end
  elseif kind == "udp" then
    if not core.isaddress(to, true) then
      argerror("socket.write", 3, "to", 'an address such as "127.0.0.1:7000" or ' ..
        '"localhost:7000"', to)
    end
  elseif kind == "unixdgram" then
    if type(to) ~= "string" then
      argerror("socket.write", 3, "to", "the path of a socket file", to)
    end
    core.unix_path(to, "socket.write", 3, "to") -- raises on misuse
  else
    argerror("socket.write", 3, "to", "nothing (this socket has one peer)", to)
  end
  return h:write(data, to)
end

fast_read, fast_write, forget_port = core.portkeyed(open_tcp, open_udp, open_tls, last, { __mode = "k" },
  socket.read, socket.write)
socket.read, socket.write = fast_read, fast_write

function socket.close(what)
  -- Closing a closed handle again is allowed, as handle:close() is.
  if type(what) == "userdata" and core.kind(what) == nil then return true end
  local h = lookup("socket.close", what)
  for _, ports in pairs(open) do
    for port, held in pairs(ports) do
      if rawequal(held, h) then
        ports[port] = nil
        if type(port) == "string" then
          for spelling, path in pairs(named) do
            if path == port then named[spelling] = nil end
          end
        end
      end
    end
  end
  return h:close()
end

-- socket.connect(path, "UNIX" | "UNIX-DGRAM" [, opts]), or with the
-- protocol in its usual place: socket.connect(path, nil, "UNIX" [, opts]).
local function connect_unix(path, p, opts)
  if type(path) ~= "string" then
    argerror("socket.connect", 1, "path", "the path of a socket file (a string)", path)
  end
  if p == "UNIX" then
    if opts ~= nil and type(opts) ~= "table" then
      argerror("socket.connect", 3, "opts", "a table of options", opts)
    end
    return core.unix_connect(path, opts)
  end
  no_dgram_opts("socket.connect", 3, opts)
  return core.unixdgram_connect(path)
end

-- What socket.connect(..., "TLS", opts) passes to TLS; the rest of opts
-- are the connection's own (timeout, read_timeout, nodelay...).
local tls_client = { servername = true, verify = true, ca = true, cert = true, key = true,
  alpn = true, min_version = true, ciphers = true, ciphersuites = true,
  handshake_timeout = true }

local function split_tls(opts)
  local conn, tls = {}, {}
  for k, v in pairs(opts or {}) do
    if tls_client[k] then tls[k] = v else conn[k] = v end
  end
  return conn, tls
end

function socket.connect(host, port, protocol, opts)
  local up = unix_proto(port)
  if up then return connect_unix(host, up, protocol) end
  up = port == nil and unix_proto(protocol)
  if up then return connect_unix(host, up, opts) end
  if type(host) ~= "string" or host == "" then
    argerror("socket.connect", 1, "host", "a host name or IP address", host)
  end
  if port == nil and match(host, "/") then
    argerror("socket.connect", 2, "port", 'an integer from 1 to 65535 (for a UNIX socket: ' ..
      'socket.connect(path, "UNIX"))', port)
  end
  port = check_port("socket.connect", 2, port, 1)
  local p = check_proto("socket.connect", 3, protocol == nil and "TCP" or protocol)
  if opts ~= nil and type(opts) ~= "table" then
    argerror("socket.connect", 4, "opts", "a table of options", opts)
  end
  -- "[::1]", as addresses are shown, is the IPv6 literal ::1
  host = match(host, "^%[(.+)%]$") or host
  if p == "TCP" then return core.tcp_connect(host, port, opts) end
  if p == "TLS" then
    local conn_opts, tls = split_tls(opts)
    return core.tcp_connect(host, port, conn_opts, tls)
  end
  opts = udp_opts("socket.connect", 4, opts)
  local h, err, code = core.udp_connect(host, port)
  if not h then return nil, err, code end
  return udp_buffers(h, opts)
end

-- A listener that hands out each client as its own connection, through
-- listener:accept(), for one task per connection.
function socket.listen(port, opts)
  if type(port) == "string" then -- a UNIX socket path
    if opts ~= nil and type(opts) ~= "table" then
      argerror("socket.listen", 2, "opts", "a table of options", opts)
    end
    return core.tcp_listen(port, opts, true)
  end
  port = check_port("socket.listen", 1, port)
  if opts ~= nil and type(opts) ~= "table" then
    argerror("socket.listen", 2, "opts", "a table of options", opts)
  end
  local tls = opts and opts.tls
  local l, err, code
  if tls ~= nil then
    if type(tls) ~= "table" then
      argerror("socket.listen", 2, "opts", "tls to be a table of TLS options", tls)
    end
    local rest = {}
    for k, v in pairs(opts) do if k ~= "tls" then rest[k] = v end end
    l, err, code = core.tcp_listen(port, rest, true, tls)
  else
    l, err, code = core.tcp_listen(port, opts, true)
  end
  if l then listening[l:port()] = l end
  return l, err, code
end

-- What the module holds: a table per socket (protocol, kind, local, remote,
-- bytes_in, bytes_out, age, handle, ...).
socket.list = core.list

env.socket = socket

-- The request form ----------------------------------------------------------------

local commands = {
  socket_open = socket.open,
  socket_read = socket.read,
  socket_write = socket.write,
  socket_close = socket.close,
}

-- A port word is decimal digits ("0x50" and "8e1" are not ports).
local function word_port(w)
  return match(w, "^%d+$") and tointeger(w) or w
end

local arity = { socket_open = 2, socket_read = 1, socket_close = 1 }

-- "socket_open 80 UDP" -> "socket_open", 80, "UDP". For socket_write,
-- everything after the port (and one space) is DATA, verbatim.
local function parse(line)
  local cmd, rest = match(line, "^%s*(%S+)%s?(.*)$")
  if not cmd then raise("request: empty command (expected socket_open, socket_read, " ..
    "socket_write or socket_close)") end
  cmd = lower(cmd)
  if cmd == "socket_write" then
    local port, data = match(rest, "^%s*(%S+) ?(.*)$")
    return cmd, word_port(port), data
  end
  local args = {}
  for w in gmatch(rest, "%S+") do args[#args + 1] = #args == 0 and word_port(w) or w end
  if arity[cmd] and #args > arity[cmd] then
    raise(format("request: %q takes %d word%s after the command, got %d", cmd,
      arity[cmd], arity[cmd] > 1 and "s" or "", #args))
  end
  return cmd, args[1], args[2]
end

local function request(cmd, ...)
  if type(cmd) ~= "string" then
    argerror("request", 1, "command", 'a string such as "socket_open 80 UDP"', cmd)
  end
  local f = commands[lower(cmd)]
  if f then return f(...) end
  if select("#", ...) == 0 and (cmd == "" or match(cmd, "%s")) then
    local name, a, b = parse(cmd)
    f = commands[name]
    if f then return f(a, b) end
    cmd = name
  end
  raise(format("request: unknown command %s (expected socket_open, socket_read, " ..
    "socket_write or socket_close)", describe(cmd)))
end

env.request = request

-- Tasks and the log -------------------------------------------------------------

env.spawn, env.sleep, env.now, env.exit = core.spawn, core.sleep, core.now, core.exit
env.after, env.every = core.after, core.every
env.limits, env.on_memory = core.limits, core.on_memory
env.queue, env.condition = core.queue, core.condition
env.on_unload = core.on_unload
env.worker = core.worker

-- log(fmt, ...) logs at info; log.error, log.warn, log.info and log.debug at
-- their level (--log-level drops what is below the host's).
local function logger(level)
  return function(fmt, ...)
    if select("#", ...) > 0 then core.log(format(fmt, ...), level)
    else core.log(tostring(fmt), level) end
  end
end
local log_at = logger("info")
local levels = { error = logger("error"), warn = logger("warn"), info = log_at, debug = logger("debug") }
env.log = setmetatable({}, { -- empty: every level is read through __index, none replaced
  __call = function(_, ...) return log_at(...) end,
  __index = function(_, k)
    return levels[k] or raise(format("log.%s: no such level (error, warn, info, debug)", tostring(k)))
  end,
  __newindex = function() raise("log: its levels cannot be changed") end,
  __metatable = false,
})

if not sandboxed then return end

-- xpcall: a message handler runs where the CPU limit's error is raised,
-- inside the watchdog's hook, where hooks are off; once the limit has
-- stopped the module, the handler is skipped so it cannot loop unwatched.
env.xpcall = function(f, msgh, ...)
  if type(msgh) ~= "function" then return raw_xpcall(f, msgh, ...) end
  return raw_xpcall(f, function(e)
    if core.killed() then return e end
    return msgh(e)
  end, ...)
end

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

local function check_co(fname, co)
  if type(co) ~= "thread" then argerror(fname, 1, "co", "a coroutine", co) end
end

function coroutine.resume(co, ...)
  check_co("coroutine.resume", co)
  if parked[co] then return false, "cannot resume a coroutine that is waiting on the host" end
  return pass(co, co_resume(co, ...))
end

function coroutine.wrap(f)
  if type(f) ~= "function" then argerror("coroutine.wrap", 1, "f", "a function", f) end
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
  check_co("coroutine.close", co)
  if parked[co] then return false, "cannot close a coroutine that is waiting on the host" end
  if core.is_task(co) then return false, "cannot close a task: tasks are run by the host" end
  return co_close(co)
end
