-- kv.lua: an in-memory key-value server speaking RESP2, Redis's protocol,
-- so redis-cli and redis-benchmark are its clients.
--
-- Commands: PING [msg], ECHO msg, SET key value [EX s | PX ms | EXAT t | PXAT t] [NX | XX],
-- GET key, MGET key..., MSET key value..., DEL key..., EXISTS key...,
-- INCR key, DECR key, INCRBY key n, DBSIZE, INFO, FLUSHDB, FLUSHALL, SELECT 0,
-- SAVE, QUIT, and enough of COMMAND and CONFIG GET for the tools' start-up. Keys
-- with EX/PX expire when next looked at (wallclock()).
--
-- One task per connection keeps its own receive buffer: every complete
-- command in it is run, and the replies to a pipelined batch go out in one
-- write. A request over the limits (a bulk over 16 MiB, more than 1M
-- arguments) or that is not RESP gets "-ERR Protocol error" and the
-- connection closes, as Redis does.
--
-- Memory: past `evict_at` (default 0.8) of the module's --memory-limit,
-- about half the keys are forgotten, chosen by the table's order (as
-- Redis's allkeys-random policy does), and logged, so the store goes on
-- serving instead of failing on "not enough memory"; evict_at=0 turns that
-- off. INFO says how many keys were evicted.
--
-- Run it (--data-dir: SAVE and a stop keep the keys for the next start):
--   xcshost --data-dir /var/lib/xcs examples/kv.lua port=6380
-- Try it:
--   redis-cli -p 6380 SET greeting hello ; redis-cli -p 6380 GET greeting
--   redis-benchmark -p 6380 -t set,get -P 16 -q
local port = tonumber(arg.port) or 6380
local MAX_BULK, MAX_ARGS, MAX_INLINE = 16 * 1024 * 1024, 1024 * 1024, 64 * 1024

local store, expires, size = {}, {}, 0
local evicted = 0

local OK, NIL, PONG = "+OK\r\n", "$-1\r\n", "+PONG\r\n"

local function bulk(s) return "$" .. #s .. "\r\n" .. s .. "\r\n" end
local function int(n) return ":" .. n .. "\r\n" end
local function err(msg) return "-ERR " .. msg .. "\r\n" end

-- The value at key, forgetting it if it has expired.
local function get(key)
  local at = expires[key]
  if at and wallclock() >= at then
    store[key], expires[key], size = nil, nil, size - 1
  end
  return store[key]
end

local function set(key, value)
  if store[key] == nil then size = size + 1 end
  store[key], expires[key] = value, nil
end

local function del(key)
  if get(key) == nil then return 0 end
  store[key], expires[key], size = nil, nil, size - 1
  return 1
end

local function wrong_args(name) return err("wrong number of arguments for '" .. name .. "' command") end

local function incr_by(key, by)
  local v = get(key)
  local n = v == nil and 0 or math.tointeger(tonumber(v))
  if not n or (v and not v:find("^%-?%d+$")) then return err("value is not an integer or out of range") end
  n = n + by
  store[key] = tostring(n)
  if v == nil then size = size + 1 end
  return int(n)
end

local commands = {}
function commands.PING(a) return a[2] and bulk(a[2]) or PONG end
function commands.ECHO(a) return #a == 2 and bulk(a[2]) or wrong_args("echo") end
function commands.GET(a)
  if #a ~= 2 then return wrong_args("get") end
  local v = get(a[2])
  return v and bulk(v) or NIL
end
function commands.SET(a)
  if #a < 3 then return wrong_args("set") end
  local at, mode -- at: when it expires, wallclock() milliseconds
  local i = 4
  while i <= #a do
    local opt = a[i]:upper()
    if (opt == "EX" or opt == "PX" or opt == "EXAT" or opt == "PXAT") and not at and a[i + 1] then
      local n = math.tointeger(tonumber(a[i + 1]))
      if not n or n <= 0 then return err("invalid expire time in 'set' command") end
      local ms = (opt == "EX" or opt == "EXAT") and n * 1000 or n
      at = opt:find("AT$") and ms or wallclock() + ms
      i = i + 2
    elseif (opt == "NX" or opt == "XX") and not mode then
      mode, i = opt, i + 1
    else
      return err("syntax error")
    end
  end
  local exists = get(a[2]) ~= nil
  if (mode == "NX" and exists) or (mode == "XX" and not exists) then return NIL end
  set(a[2], a[3])
  expires[a[2]] = at
  return OK
end
function commands.MGET(a)
  if #a < 2 then return wrong_args("mget") end
  local out = { "*" .. (#a - 1) .. "\r\n" }
  for i = 2, #a do
    local v = get(a[i])
    out[#out + 1] = v and bulk(v) or NIL
  end
  return table.concat(out)
end
function commands.MSET(a)
  if #a < 3 or #a % 2 == 0 then return wrong_args("mset") end
  for i = 2, #a, 2 do set(a[i], a[i + 1]) end
  return OK
end
function commands.DEL(a)
  if #a < 2 then return wrong_args("del") end
  local n = 0
  for i = 2, #a do n = n + del(a[i]) end
  return int(n)
end
function commands.EXISTS(a)
  if #a < 2 then return wrong_args("exists") end
  local n = 0
  for i = 2, #a do n = n + (get(a[i]) and 1 or 0) end
  return int(n)
end
function commands.INCR(a) return #a == 2 and incr_by(a[2], 1) or wrong_args("incr") end
function commands.DECR(a) return #a == 2 and incr_by(a[2], -1) or wrong_args("decr") end
function commands.INCRBY(a)
  if #a ~= 3 then return wrong_args("incrby") end
  local by = a[3]:find("^%-?%d+$") and math.tointeger(tonumber(a[3]))
  return by and incr_by(a[2], by) or err("value is not an integer or out of range")
end
function commands.DBSIZE() return int(size) end
function commands.INFO()
  local l = limits()
  return bulk(("# Memory\r\nused_memory:%d\r\nmaxmemory:%d\r\n# Keyspace\r\nkeys:%d\r\nevicted_keys:%d\r\n")
    :format(l.memory, l.memory_limit, size, evicted))
end
function commands.FLUSHDB()
  store, expires, size = {}, {}, 0
  return OK
end
commands.FLUSHALL = commands.FLUSHDB
function commands.SELECT(a) return a[2] == "0" and OK or err("DB index is out of range") end
function commands.COMMAND() return "*0\r\n" end            -- redis-cli asks at start
function commands.CONFIG() return "*0\r\n" end             -- redis-benchmark asks for its settings
function commands.QUIT() return OK, true end

-- Persistence, where the operator gives the module a data directory
-- (--data-dir): SAVE writes every key as the SET command that makes it
-- again (with PXAT when it expires) to the file dump.resp, all or nothing,
-- and so does a graceful stop; the next start replays that file.
local SNAPSHOT = "dump.resp"
local function resp(...)
  local out = { "*" .. select("#", ...) .. "\r\n" }
  for _, a in ipairs { ... } do out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n" end
  return table.concat(out)
end
local function save()
  local out, now = {}, wallclock()
  for key, value in pairs(store) do
    local at = expires[key]
    if not at then
      out[#out + 1] = resp("SET", key, value)
    elseif at > now then
      out[#out + 1] = resp("SET", key, value, "PXAT", tostring(at))
    end
  end
  -- pcall: without --data-dir fs.write raises, naming the option.
  local ok, done, why = pcall(fs.write, SNAPSHOT, table.concat(out))
  if ok and done then return true end
  return nil, ok and why or done
end
function commands.SAVE()
  local ok, why = save()
  return ok and OK or err("SAVE failed: " .. tostring(why))
end

-- A header line ("*3" or "$5") at pos that did not match: nil while it may
-- still be arriving, or false and what is wrong with it.
local function bad_line(buf, pos, what)
  if not buf:find("\r\n", pos, true) then
    if #buf - pos > MAX_INLINE then return false, "too big " .. what .. " count string" end
    return nil
  end
  return false, "invalid " .. what .. " length"
end

-- Parses one command from buf at `at`: args, next position; or nil, and
-- the position the buffer must reach first (when it knows); or false and
-- what is wrong with the request. Each header line is one anchored match
-- whose position capture says where the next part starts, so a command
-- costs a few C calls (this loop is most of the server's time).
local match, sub, byte, tointeger = string.match, string.sub, string.byte, math.tointeger
local function parse(buf, at)
  if at > #buf then return nil end
  if byte(buf, at) ~= 42 then -- '*': else an inline command, a line of words
    local nl = buf:find("\n", at, true)
    if not nl then
      if #buf - at > MAX_INLINE then return false, "too big inline request" end
      return nil
    end
    local words = {}
    for w in sub(buf, at, nl - 1):gmatch("%S+") do words[#words + 1] = w end
    return words, nl + 1
  end
  local n, pos = match(buf, "^%*(%d+)\r\n()", at)
  n = tointeger(n)
  if not n or n > MAX_ARGS then
    if n then return false, "invalid multibulk length" end
    return bad_line(buf, at, "multibulk")
  end
  local args = {}
  for i = 1, n do
    if pos > #buf then return nil end
    local len, from = match(buf, "^%$(%d+)\r\n()", pos)
    len = tointeger(len)
    if not len or len > MAX_BULK then
      if byte(buf, pos) ~= 36 then return false, "expected '$', got '" .. sub(buf, pos, pos) .. "'" end
      if len then return false, "invalid bulk length" end
      return bad_line(buf, pos, "bulk")
    end
    local after = from + len
    if after + 1 > #buf then return nil, after + 1 end
    if byte(buf, after) ~= 13 or byte(buf, after + 1) ~= 10 then return false, "a bulk not ended by CRLF" end
    args[i] = sub(buf, from, after - 1)
    pos = after + 2
  end
  return args, pos
end

local function run(args)
  if #args == 0 then return "" end
  local f = commands[args[1]] or commands[args[1]:upper()] -- clients mostly send upper case
  if not f then return err("unknown command '" .. args[1] .. "'") end
  return f(args)
end

local function serve(c)
  local buf, at = "", 1
  while true do
    local out = {}
    local args, next_at, quit
    while true do
      args, next_at = parse(buf, at)
      if not args then break end
      at = next_at
      local reply
      reply, quit = run(args)
      out[#out + 1] = reply
      if quit then break end
    end
    if args == false then out[#out + 1] = err("Protocol error: " .. next_at) end
    if #out > 0 then c:write(table.concat(out)) end
    if quit or args == false then break end
    -- A long bulk still to come is read whole, not 64 KiB at a time.
    local want = next_at and next_at - #buf or 0
    local data = want > 65536 and c:read(want) or c:readany(65536)
    if not data or data == "" then break end
    buf, at = buf:sub(at) .. data, 1
  end
  c:close()
end

-- Replays the snapshot a SAVE or a stop left, if there is one.
local ok, saved = pcall(fs.read, SNAPSHOT)
if ok and saved then
  local at, keys = 1, 0
  while true do
    local args, next_at = parse(saved, at)
    if not args then break end
    run(args)
    at, keys = next_at, keys + 1
  end
  log("loaded %d keys from %s", keys, SNAPSHOT)
end
on_unload(function()
  if ok then
    local saved_ok, why = save()
    log(saved_ok and "saved %d keys to %s" or "could not save %d keys to %s: %s", size, SNAPSHOT, why)
  end
  exit() -- the clients still connected are closed in an orderly way
end)

-- Under memory pressure: forget every other key, then let the collector
-- give their memory back before the next look.
local evict_at = tonumber(arg.evict_at) or 0.8
if evict_at > 0 and limits().memory_limit > 0 then
  on_memory(evict_at, function()
    local n, before = 0, size
    for key in pairs(store) do -- assigning nil to a field during pairs is allowed
      if n % 2 == 0 then
        store[key], expires[key], size = nil, nil, size - 1
      end
      n = n + 1
    end
    evicted = evicted + before - size
    collectgarbage()
    log("memory past %d%% of the limit: evicted %d keys, %d left", evict_at * 100 // 1, before - size, size)
  end)
end

-- Clients may stay idle (Redis has no idle timeout by default either).
local listener = assert(socket.listen(port, { read_timeout = math.huge, maxall = MAX_BULK + 64 }))
while true do
  spawn(serve, assert(listener:accept()))
end
