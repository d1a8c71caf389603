-- framed_kv.lua: GET and SET of RESP2 (Redis's protocol) in the natural
-- framed style — read("*l") for each header line, read(n) for each bulk —
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

local function run(args)
  local cmd = args[1]
  if #cmd < 7 and cmd:byte() > 96 then cmd = cmd:upper() end -- clients mostly send upper case
  if cmd == "GET" then
    local v = store[args[2]]
    return v and "$" .. #v .. "\r\n" .. v .. "\r\n" or NIL
  elseif cmd == "SET" then
    store[args[2]] = args[3]
    return OK
  elseif cmd == "PING" then
    return "+PONG\r\n"
  elseif cmd == "CONFIG" then -- redis-benchmark asks for its settings first
    return "*0\r\n"
  end
  return "-ERR unknown command '" .. args[1] .. "'\r\n"
end

local byte, sub, STAR, DOLLAR = string.byte, string.sub, 42, 36

-- The count after the type byte of a header line ("*3", "$5"), or nil.
local function count(line, kind)
  if not line or byte(line) ~= kind then return nil end
  return math.tointeger(tonumber(sub(line, 2)))
end

-- One command: "*N" then N times "$len" and the bytes, CRLF after each.
-- nil at the end of input, false for what is not RESP.
local function command(c)
  local line = c:read("*l")
  if not line then return nil end
  local n = count(line, STAR)
  if not n or n < 1 then return false end
  local args = {}
  for i = 1, n do
    local len = count(c:read("*l"), DOLLAR)
    if not len or len < 0 then return false end
    local data = c:read(len + 2)
    if not data then return nil end
    args[i] = sub(data, 1, len)
  end
  return args
end

local function serve(c)
  while true do
    local out, args = {}, nil
    repeat
      args = command(c)
      if not args then break end
      out[#out + 1] = run(args)
    until not batch or c:buffered() == 0
    if #out > 0 then c:write(table.concat(out)) end
    if args == false then c:write("-ERR Protocol error\r\n") end
    if not args then break end
  end
  c:close()
end

local listener = assert(socket.listen(port, { read_timeout = math.huge }))
while true do
  spawn(serve, assert(listener:accept()))
end
