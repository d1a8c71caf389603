-- chat.lua: a line-based chat room over TCP, using the "*" broadcast.
--
-- Each complete line a client sends goes to every client, prefixed with who
-- said it ("127.0.0.1:5555: hello"). A client joins when it first says
-- something (the port-keyed read hears of a client when it sends) and leaves
-- when it closes its side; both are announced to everyone
-- ("* 127.0.0.1:5555 joined", "* 127.0.0.1:5555 left"). A line may arrive in
-- pieces: each client's unfinished line is kept until its newline. A line
-- over 4096 bytes is refused rather than buffered without bound: the sender
-- is told as soon as it goes over, and the rest of that line is dropped.
--
-- Run it:
--   xcshost examples/chat.lua port=7001
-- Try it from two or more terminals (type a line and press Enter; Ctrl-C
-- leaves, or Ctrl-D with socat and with nc -N):
--   nc 127.0.0.1 7001
--   socat - TCP:127.0.0.1:7001
local MAX_LINE = 4096
local port = tonumber(arg.port) or 7001

local listener = assert(socket.open(port, "TCP"))
port = listener:port() -- the one the system chose, when asked for port 0

local partial = {} -- client connection -> its line so far; set once it joined

local function say(text) socket.write(port, text, "*") end

local function refuse(client)
  socket.write(port, "* line too long (the limit is " .. MAX_LINE .. " bytes), dropped\n", client)
end

while true do
  local data, client = socket.read(port)
  local who = client:peer()
  if data == "" then -- the client closed its side; the host closes ours
    if partial[client] then say("* " .. who .. " left\n") end
    partial[client] = nil
  else
    if not partial[client] then
      say("* " .. who .. " joined\n")
      partial[client] = ""
    end
    local text = partial[client] .. data
    local cut = text:match("^.*\n()") or 1 -- the unfinished line starts here
    local refused = #partial[client] > MAX_LINE -- the line in progress was refused
    for line in text:sub(1, cut - 1):gmatch("(.-)\r?\n") do
      if #line <= MAX_LINE then
        say(who .. ": " .. line .. "\n")
      elseif not refused then
        refuse(client)
      end
      refused = false
    end
    local rest = text:sub(cut)
    if #rest > MAX_LINE and not refused then refuse(client) end
    -- Keep one byte over the limit at most: enough to know the line is refused.
    partial[client] = rest:sub(1, MAX_LINE + 1)
  end
end
