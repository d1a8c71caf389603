-- fuzz_stream.lua — the driver of fuzz/fuzz_stream.c, compiled into it.
--
-- Called as chunk(xcs, ops, cfg) with the script fuzz_stream.c decoded from
-- one fuzz input. Inside xcs.run it connects a loopback pair through the
-- Lua API a module uses (socket.listen, socket.connect, accept): `a` sends,
-- `b` reads. The ops run in order in the run's task; "later" sends and
-- shutdowns are tasks of their own that act after a short sleep, so data
-- also arrives while a read waits. Every read's outcome is checked against
-- a model of the documented framing (README.md, "TCP connections"), and a
-- break raises "fuzz_stream: ..." with the ops that led to it.
--
-- The model knows `sent` (what a's writes queued, in order, recorded as
-- each write returns) and `pos` (the first byte of it no read returned).
-- What has arrived at b is not known, only bounded: `known` bytes at least
-- (the last partial, less what was read since), at most all of sent.
--   - Whatever a read returns is the next bytes of sent: nothing lost,
--     duplicated or reordered across chunk boundaries.
--   - read(n) returns exactly n bytes; a line holds no LF, loses one CR
--     before its LF, and is at most maxline; readuntil returns what comes
--     before the first delimiter, at most min(max, maxall) bytes, and
--     consumes the delimiter; "*a" returns all the rest, after the FIN.
--   - A failed framed read's partial is everything buffered: the next bytes
--     of sent, at least `known`; they stay, so the next read() returns them
--     (at least) again. Its code fits: ETIMEDOUT only while that partial
--     cannot complete the read and no end was seen; "closed" only after
--     a's FIN, with all the rest as partial; EMSGSIZE only when the partial
--     breaks the limit. read() and readany() fail without a partial and
--     never with "closed" or EMSGSIZE; they return "" only at the end.
--   - At the end (a shuts down if the script did not), read() drains the
--     rest, every read answers as after an end, and the half-closed pair
--     still carries data the other way.
-- After a's close("reset") bytes may be lost and any code may come; then
-- only the order is checked, and that a fatal code sticks.
local xcs, ops, cfg = ...
local S = xcs.socket

local log = {} -- the last lines of what happened, for a failure's message
local function note(fmt, ...)
  local line = string.format(fmt, ...)
  if cfg.verbose then io.stderr:write(line, "\n") end
  log[#log + 1] = line
  if #log > 40 then table.remove(log, 1) end
end

-- A string as text that shows every byte: "a\r\n" -> "a\x0d\x0a".
local function q(s)
  if type(s) ~= "string" then return tostring(s) end
  local more = ""
  if #s > 64 then
    more = string.format("...(%d bytes)", #s)
    s = s:sub(1, 64)
  end
  return '"' .. s:gsub('[^\32-\126]', function(c)
    return string.format("\\x%02x", c:byte())
  end):gsub('"', '\\"') .. '"' .. more
end

local function fail(fmt, ...)
  local msg = "fuzz_stream: " .. string.format(fmt, ...)
  error(msg .. "\n  after:\n    " .. table.concat(log, "\n    "), 0)
end

local st = {
  sent = "",     -- what a's writes queued, in order
  pos = 1,       -- the first byte of sent no read has returned
  known = 0,     -- bytes b has buffered at least
  shut = false,  -- a:shutdown() returned: a FIN follows sent
  rst = false,   -- a:close("reset"): later bytes may be lost
  eof = false,   -- a read saw the end
  fatal = nil,   -- the code of a fatal error: every later read answers it
  pending = 0,   -- "later" ops not done yet
  reset_at_end = false, -- b ends with close("reset") rather than close()
  maxline = 64 * 1024,
  maxall = 16 * 1024 * 1024,
}
local a, b

-- The sender ----------------------------------------------------------------------

local function send(data)
  if st.rst then return end -- a is closed: using it would raise
  local n, msg, code = a:write(data)
  if n == #data then
    st.sent = st.sent .. data
    note("a:write(%s) -> %d", q(data), n)
  elseif n == nil and code == "closed" and st.shut then
    note("a:write(%s) -> nil, %s (after shutdown)", q(data), q(msg))
  else
    fail("a:write(%s) -> %s, %s, %s", q(data), tostring(n), q(msg), q(code))
  end
end

local function shutdown()
  if st.rst or st.shut then return end
  local ok, msg = a:shutdown()
  if ok ~= true then fail("a:shutdown() -> %s, %s", tostring(ok), q(msg)) end
  st.shut = true
  note("a:shutdown()")
end

local function reset()
  if st.rst then return end
  a:close("reset")
  st.rst = true
  note('a:close("reset")')
end

local function later(delay, fn, ...)
  st.pending = st.pending + 1
  xcs.spawn(function(...)
    xcs.sleep(delay)
    fn(...)
    st.pending = st.pending - 1
  end, ...)
end

-- The model -----------------------------------------------------------------------

-- The integer a "*n" line spells (an optional sign, decimal digits, within
-- 64 bits), or nil.
local function integer_of(line)
  local v = line:find("^[+-]?%d+$") and tonumber(line) -- a float past 64 bits
  return math.type(v) == "integer" and v or nil
end

local function is_num(op) return op.pattern == "*n" or op.pattern == "n" end

local function limit_of(op) -- readuntil's bound on what precedes the delimiter
  return math.min(op.n or st.maxline, st.maxall)
end

-- What a read makes of `buf` buffered, by the documented rules (eof: the
-- FIN is behind it): "ok", "wait", "closed" or "EMSGSIZE".
local function outcome(op, buf, eof)
  local w = op.what
  if w == "any" or w == "upto" then
    return (#buf > 0 or eof) and "ok" or "wait"
  elseif w == "bytes" then
    if op.n > st.maxall then return "EMSGSIZE" end
    if #buf >= op.n then return "ok" end
  elseif w == "line" then
    local i = buf:find("\n", 1, true)
    if i then
      local k = i - 1
      if k > 0 and buf:byte(k) == 13 then k = k - 1 end
      if k > st.maxline then return "EMSGSIZE" end
      return (is_num(op) and not integer_of(buf:sub(1, k))) and "EPROTO" or "ok"
    end
    if #buf > st.maxline + 1 then return "EMSGSIZE" end -- +1: a CR may end it
  elseif w == "all" then
    if #buf > st.maxall then return "EMSGSIZE" end
    if eof then return "ok" end
  else
    local i = buf:find(op.delim, 1, true)
    if i then return i - 1 > limit_of(op) and "EMSGSIZE" or "ok" end
    -- a delimiter found later starts after the last #delim - 1 bytes
    if #buf - #op.delim + 1 > limit_of(op) then return "EMSGSIZE" end
  end
  return eof and "closed" or "wait"
end

local function describe(op)
  local t = op.timeout and string.format("%g", op.timeout) or "default"
  if op.what == "any" then return "read(nil, " .. t .. ")" end
  if op.what == "bytes" then return string.format("read(%d, %s)", op.n, t) end
  if op.what == "line" then return string.format("read(%s, %s)", q(op.pattern), t) end
  if op.what == "all" then return string.format("read(%s, %s)", q(op.pattern), t) end
  if op.what == "upto" then return string.format("readany(%d, %s)", op.n, t) end
  return string.format("readuntil(%s, %s, %s)", q(op.delim), tostring(op.n), t)
end

local function call(op)
  local w = op.what
  if w == "any" then return b:read(nil, op.timeout) end
  if w == "bytes" then return b:read(op.n, op.timeout) end
  if w == "line" or w == "all" then return b:read(op.pattern, op.timeout) end
  if w == "upto" then return b:readany(op.n, op.timeout) end
  return b:readuntil(op.delim, op.n, op.timeout)
end

-- The next n bytes of sent are s?
local function is_next(s)
  return s == st.sent:sub(st.pos, st.pos + #s - 1)
end

local function succeeded(op, s, extra)
  local w, sent, pos = op.what, st.sent, st.pos
  local avail = #sent - pos + 1
  if type(s) ~= (is_num(op) and "number" or "string") then
    fail("%s returned a %s", describe(op), type(s))
  end
  if extra ~= nil then fail("%s returned a second value %s", describe(op), q(extra)) end
  if st.fatal then fail("%s returned %s after %s", describe(op), q(s), st.fatal) end
  local used
  if w == "any" or w == "upto" then
    if s == "" then
      if not st.shut and not st.rst then fail("%s returned \"\" before a shut down", describe(op)) end
      if st.known > 0 then fail("%s returned \"\" with %d bytes buffered", describe(op), st.known) end
      if avail > 0 and not st.rst then
        fail("%s returned \"\" (the end) with %d bytes sent and never returned", describe(op), avail)
      end
      st.eof = true
      used = 0
    else
      if w == "upto" and #s > op.n then fail("%s returned %d bytes", describe(op), #s) end
      local least = w == "upto" and math.min(op.n, st.known) or st.known
      if #s < least then
        fail("%s returned %d bytes, but %d were buffered (a partial said so)", describe(op), #s,
             least)
      end
      if not is_next(s) or #s > avail then
        fail("%s returned %s, but the next bytes sent are %s", describe(op), q(s),
             q(sent:sub(pos, pos + #s - 1)))
      end
      used = #s
    end
  elseif w == "bytes" then
    if op.n > st.maxall then fail("%s succeeded with maxall %d", describe(op), st.maxall) end
    if #s ~= op.n then fail("%s returned %d bytes", describe(op), #s) end
    if not is_next(s) or #s > avail then
      fail("%s returned %s, but the next bytes sent are %s", describe(op), q(s),
           q(sent:sub(pos, pos + #s - 1)))
    end
    used = #s
  elseif w == "line" then
    local i = sent:find("\n", pos, true)
    if is_num(op) then -- the integer of the next line, which a "*l" would give
      local line = i and sent:sub(pos, i - 1):gsub("\r$", "")
      if not line or s ~= integer_of(line) or math.type(s) ~= "integer" then
        fail("%s returned %s, but the next line sent is %s", describe(op), tostring(s), q(line))
      end
      s = line
    end
    if s:find("\n", 1, true) then fail("%s returned a line with an LF: %s", describe(op), q(s)) end
    if #s > st.maxline then
      fail("%s returned a line of %d bytes, over maxline %d", describe(op), #s, st.maxline)
    end
    if i == nil then fail("%s returned %s, but no LF was sent", describe(op), q(s)) end
    local line = sent:sub(pos, i - 1)
    if line:byte(-1) == 13 then line = line:sub(1, -2) end
    if s ~= line then fail("%s returned %s, but the next line sent is %s", describe(op), q(s), q(line)) end
    used = i - pos + 1
  elseif w == "all" then
    if not st.shut and not st.rst then fail("%s returned before a shut down", describe(op)) end
    if #s > st.maxall then fail("%s returned %d bytes, over maxall %d", describe(op), #s, st.maxall) end
    if #s < st.known then fail("%s returned %d bytes, but %d were buffered", describe(op), #s, st.known) end
    if s ~= sent:sub(pos, pos + #s - 1) or (#s ~= avail and not st.rst) then
      fail("%s returned %s, but the rest sent is %s", describe(op), q(s), q(sent:sub(pos)))
    end
    st.eof = true
    used = #s
  else
    local i = sent:find(op.delim, pos, true)
    if i == nil then fail("%s returned %s, but the delimiter was not sent", describe(op), q(s)) end
    local before = sent:sub(pos, i - 1)
    if s ~= before then
      fail("%s returned %s, but what was sent before the delimiter is %s", describe(op), q(s),
           q(before))
    end
    if #s > limit_of(op) then
      fail("%s returned %d bytes, over its limit %d", describe(op), #s, limit_of(op))
    end
    used = #s + #op.delim
  end
  note("b:%s -> %s", describe(op), q(s))
  st.pos = pos + used
  st.known = w == "any" and 0 or math.max(st.known - used, 0)
end

local function failed(op, msg, code, partial, extra)
  local w = op.what
  local framed = w ~= "any" and w ~= "upto"
  note("b:%s -> nil, %s, %s, %s", describe(op), q(msg), q(code), q(partial))
  if type(msg) ~= "string" or type(code) ~= "string" or msg:sub(1, #code + 2) ~= code .. ": " then
    fail("%s failed with message %s and code %s", describe(op), q(msg), q(code))
  end
  if extra ~= nil then fail("%s failed with a fifth value", describe(op)) end
  if framed and type(partial) ~= "string" then fail("%s failed without a partial", describe(op)) end
  if not framed and partial ~= nil then fail("%s failed with a partial", describe(op)) end
  partial = partial or ""
  if not is_next(partial) then
    fail("%s: partial %s is not the next bytes sent, %s", describe(op), q(partial),
         q(st.sent:sub(st.pos, st.pos + #partial - 1)))
  end
  if st.fatal then
    if code ~= st.fatal then fail("%s failed with %s after %s", describe(op), code, st.fatal) end
    return
  end
  if #partial < st.known then
    fail("%s: partial of %d bytes, but %d were buffered", describe(op), #partial, st.known)
  end
  if code == "ETIMEDOUT" then
    if st.eof then fail("%s timed out after the end was seen", describe(op)) end
    if not framed and st.known > 0 then
      fail("%s timed out with %d bytes buffered", describe(op), st.known)
    end
    local o = outcome(op, partial, false)
    if o ~= "wait" then fail("%s timed out, but its partial %s gives %s", describe(op), q(partial), o) end
  elseif code == "closed" then
    if not st.shut and not st.rst then fail("%s: closed, but a did not shut down", describe(op)) end
    if #partial ~= #st.sent - st.pos + 1 and not st.rst then
      fail("%s: closed with a partial of %d bytes, but %d were sent and not returned",
           describe(op), #partial, #st.sent - st.pos + 1)
    end
    local o = outcome(op, partial, true)
    if o ~= "closed" then fail("%s: closed, but its partial %s gives %s", describe(op), q(partial), o) end
    st.eof = true
  elseif code == "EPROTO" then
    local o = outcome(op, partial, false)
    if o ~= "EPROTO" then fail("%s: EPROTO, but its partial %s gives %s", describe(op), q(partial), o) end
  elseif code == "EMSGSIZE" then
    local o = outcome(op, partial, false)
    if o ~= "EMSGSIZE" then fail("%s: EMSGSIZE, but its partial %s gives %s", describe(op), q(partial), o) end
  elseif st.rst then
    st.fatal = code
  else
    fail("%s failed with %s (%s) though nothing reset the connection", describe(op), code, msg)
  end
  st.known = #partial
end

local function read(op)
  local s, msg, code, partial, extra = call(op)
  if s ~= nil then
    succeeded(op, s, msg)
    return s
  end
  failed(op, msg, code, partial, extra)
  return nil, code
end

-- The script -----------------------------------------------------------------------

-- A connection's fatal error answers setoption too (and releases the
-- socket, buffered bytes and all), even before a read reported it.
local function setoption(name, v)
  local ok, msg, code = b:setoption(name, v)
  note("b:setoption(%q, %d) -> %s %s", name, v, tostring(ok), msg and q(msg) or "")
  if not ok then
    if not (st.rst and type(code) == "string" and (st.fatal == nil or code == st.fatal)) then
      fail("b:setoption(%q, %d) -> %s, %s", name, v, q(msg), q(code))
    end
    st.fatal = code
  end
  st[name] = v -- set even when it fails
end

local function step(op)
  local k = op.op
  if k == "send" then
    if op.delay then later(op.delay, send, op.data) else send(op.data) end
    if op.tick then xcs.sleep(0) end
  elseif k == "shutdown" then
    if op.delay then later(op.delay, shutdown) else shutdown() end
  elseif k == "reset" then
    reset()
  elseif k == "read" then
    read(op)
  elseif k == "setoption" then
    setoption(op.name, op.value)
  elseif k == "sleep" then
    xcs.sleep(op.delay)
  elseif k == "reset-at-end" then
    st.reset_at_end = true
  else
    fail("unknown op %s", tostring(k))
  end
end

-- What every read answers once the end was read and nothing is buffered.
local function after_end()
  local checks = {
    {what = "any", want = ""},
    {what = "upto", n = 5, want = ""},
    {what = "all", pattern = "*a", want = ""},
    {what = "bytes", n = 1, want = "closed"},
    {what = "bytes", n = 0, want = ""},
    {what = "line", pattern = "*l", want = "closed"},
    {what = "until", delim = "\n", want = "closed"},
  }
  for _, op in ipairs(checks) do
    op.timeout = 0
    local s, code = read(op)
    if (s or code) ~= op.want then fail("after the end, %s gave %s", describe(op), q(s or code)) end
  end
end

local function finish()
  for _ = 1, 10000 do -- the "later" tasks: each waits a few ms at most
    if st.pending == 0 then break end
    xcs.sleep(0.001)
  end
  if st.pending > 0 then fail("%d later ops still pending", st.pending) end
  if st.rst or st.fatal then
    -- Only the order can be checked: drain whatever still comes.
    for _ = 1, #st.sent + 2 do
      local s = read {what = "any", timeout = 0.2}
      if s == nil or s == "" then break end
    end
    return
  end
  shutdown()
  for _ = 1, #st.sent + 2 do
    local s, code = read {what = "any", timeout = 2}
    if code == "ETIMEDOUT" then
      fail("after a's shutdown, %d bytes and the end did not arrive in 2 s", #st.sent - st.pos + 1)
    end
    if s == "" then break end
  end
  if not st.eof then fail("read() never returned \"\" after a's shutdown") end
  after_end()
  -- Half closed: b still writes, and a still reads.
  local n = b:write("bye")
  if n ~= 3 then fail("b:write after a's shutdown -> %s", tostring(n)) end
  local s, msg = a:read(3, 2)
  if s ~= "bye" then fail("a:read(3) after a's shutdown -> %s, %s", q(s), q(msg)) end
  note("half close: b:write, a:read(3) -> \"bye\"")
end

local function main()
  local l = assert(S.listen(0))
  a = assert(S.connect(cfg.bind, l:port()))
  b = assert(l:accept(2))
  l:close()
  b:setoption("read_timeout", cfg.read_timeout)
  if cfg.maxline then setoption("maxline", cfg.maxline) end
  if cfg.maxall then setoption("maxall", cfg.maxall) end
  for i = 1, #ops do step(ops[i]) end
  finish()
  if st.reset_at_end then
    b:close("reset")
    note('b:close("reset")')
  end
  b:close()
  a:close()
end

xcs.configure { bind = cfg.bind }
xcs.run(main, { timeout = 8 })
