-- framed_kv.lua: GET and SET of RESP2 (Redis's protocol) in the natural
-- framed style — read(c, 1) for each header line's type byte and
-- read(c, "*n") for its count, read(c, n) for each bulk and read(c, 2) for
-- the CRLF after it —
-- with the replies to a pipelined batch sent in one write: a task answers
-- what conn:buffered() says has already arrived, then writes them together.
-- batch=0 writes each reply on its own, to show what the batching is worth.
-- bench/framed runs it under redis-benchmark -P 16 against redis-server.
--
--   xcshost bench/framed_kv.lua port=6380 [batch=0]
local port = tonumber(arg.port) or 6380
local batch = arg.batch ~= "0"

local store = {}
local OK, NIL = "+OK\r\n", "$-1\r\n"

-- A bulk reply's header, "$<length>\r\n", made once per length (up to 1 KiB):
-- turning a number into text is the dearest part of a short reply.
local header = setmetatable({}, { __index = function(t, n)
  local h = "$" .. n .. "\r\n"
  if n < 1024 then t[n] = h end
  return h
end })

-- The connection's methods, kept in locals: c:read(1) looks `read` up in the
-- handle's metatable on every call, read(c, 1) does not. Every connection
-- has the same ones; the first accepted connection gives them.
local read, buffered

-- Each command: how many words it takes with its name (-1: any), and what
-- it answers to them (args[1] is the name).
local commands = {
  GET = { 2, function(args)
    local v = store[args[2]]
    return v and header[#v] .. v .. "\r\n" or NIL
  end },
  SET = { 3, function(args)
    store[args[2]] = args[3]
    return OK
  end },
  PING = { -1, function() return "+PONG\r\n" end },
  CONFIG = { -1, function() return "*0\r\n" end }, -- redis-benchmark asks for its settings first
}

-- The reply to the n words in args.
local function run(args, n)
  local name = args[1]
  local cmd = commands[name] or commands[name:upper()] -- clients mostly send upper case
  if not cmd then return "-ERR unknown command '" .. name .. "'\r\n" end
  if cmd[1] >= 0 and cmd[1] ~= n then
    return "-ERR wrong number of arguments for '" .. name:lower() .. "' command\r\n"
  end
  return cmd[2](args)
end

-- What a failed read(c, "*n") of a header's count means: false for a line
-- that is no integer (not RESP), nil for the end of input.
local function failed(code)
  if code == "EPROTO" then return false end
  return nil
end

-- One command: "*N" then N times "$len" and the bytes, CRLF after each,
-- its words put in args[1..N] (a table the connection reuses: its stale
-- tail past N is never read). Each header line is read(c, 1) for its type
-- byte and read(c, "*n") for its count. N; nil at the end of input, false
-- for what is not RESP.
local function command(c, args)
  local t = read(c, 1)
  if t ~= "*" then return t and false end
  local n, _, code = read(c, "*n")
  if not n then return failed(code) end
  if n < 1 then return false end
  for i = 1, n do
    t = read(c, 1)
    if t ~= "$" then return t and false end
    local len
    len, _, code = read(c, "*n")
    if not len then return failed(code) end
    if len < 0 then return false end
    local data = read(c, len)
    if not data then return nil end
    local crlf = read(c, 2)
    if crlf ~= "\r\n" then return crlf and false end
    args[i] = data
  end
  return n
end

local function serve(c)
  local args, out = {}, {} -- reused from command to command, batch to batch
  while true do
    local k, n = 0, nil
    repeat
      n = command(c, args)
      if not n then break end
      k = k + 1
      out[k] = run(args, n)
    until not batch or buffered(c) == 0
    if k > 0 then c:write(table.concat(out, "", 1, k)) end
    if n == false then c:write("-ERR Protocol error\r\n") end
    if not n then break end
  end
  c:close()
end

local listener = assert(socket.listen(port, { read_timeout = math.huge }))
while true do
  local c = assert(listener:accept())
  read, buffered = c.read, c.buffered
  spawn(serve, c)
end
