-- pubsub.lua: a publish/subscribe line server over TCP. Each client speaks
-- lines:
--
--   SUB topic            subscribe        -> "+OK subscribed to topic"
--   UNSUB topic          unsubscribe      -> "+OK unsubscribed from topic"
--   PUB topic message    publish          -> "+OK N" (N: subscribers it went to)
--   QUIT                                  -> "+OK bye", then the server closes
--
-- and receives "MSG topic message" for every message published to a topic
-- it is subscribed to, in the order published. Anything else gets "-ERR
-- ..." naming what was wrong, and the connection goes on.
--
-- Each client has a reader task and a writer task joined by a queue
-- (queue(max)): publishing only pushes onto the subscribers' queues, so a
-- slow subscriber never holds up a publisher or the others. A subscriber
-- whose queue is full (max_queued= lines, default 10000) is too slow to
-- keep: it gets "-ERR too slow: N messages waiting" and is closed, as
-- Redis does past its pub/sub output limit.
--
-- Run it:
--   xcshost examples/pubsub.lua port=7004
-- Try it, in two terminals:
--   nc 127.0.0.1 7004      then: SUB news
--   nc 127.0.0.1 7004      then: PUB news hello
local port = tonumber(arg.port) or 7004
local max_queued = tonumber(arg.max_queued) or 10000

local topics = {} -- topic -> { [client] = true }

local function deliver(client, line)
  if client.closed then return false end
  if client.out:push(line, 0) then return true end -- 0: never waits
  client.closed = true -- too slow: its writer says so and closes
  client.out = queue(2) -- its last words, and the end
  client.out:push(("-ERR too slow: %d messages waiting\n"):format(max_queued))
  client.out:push(false)
  return false
end

local function reply(client, line) deliver(client, line .. "\n") end

local commands = {}
function commands.SUB(client, topic)
  if not topic or topic:find("%s") then return "-ERR usage: SUB topic" end
  topics[topic] = topics[topic] or {}
  topics[topic][client] = true
  client.subs[topic] = true
  return "+OK subscribed to " .. topic
end
function commands.UNSUB(client, topic)
  if not topic or not client.subs[topic] then return "-ERR not subscribed to " .. tostring(topic) end
  topics[topic][client], client.subs[topic] = nil, nil
  if next(topics[topic]) == nil then topics[topic] = nil end
  return "+OK unsubscribed from " .. topic
end
function commands.PUB(_, topic, message)
  if not topic or not message then return "-ERR usage: PUB topic message" end
  local line, n = "MSG " .. topic .. " " .. message .. "\n", 0
  for sub in pairs(topics[topic] or {}) do
    if deliver(sub, line) then n = n + 1 end
  end
  return "+OK " .. n
end

local function forget(client)
  for topic in pairs(client.subs) do
    topics[topic][client] = nil
    if next(topics[topic]) == nil then topics[topic] = nil end
  end
  client.subs = {}
end

local function serve(conn)
  local client = { out = queue(max_queued), subs = {} }
  -- Writes what is queued, every line already waiting in one write, until
  -- the false that ends it (client.out is looked up each time: a client
  -- found too slow gets a new queue with only its last words).
  local writer = spawn(function()
    local batch, done = {}, false
    while not done do
      local line = client.out:pop()
      while line do
        batch[#batch + 1] = line
        if #batch == 256 then line = nil break end
        line = client.out:pop(0) -- nil once none is waiting
      end
      done = line == false
      if #batch > 0 and not conn:write(table.concat(batch)) then break end
      batch = {}
    end
    conn:close()
  end)
  while not client.closed do
    local line = conn:read("*l")
    if not line then break end
    local name, topic, rest = line:match("^(%S+)%s*(%S*)%s?(.*)$")
    name = name and name:upper()
    if name == "QUIT" then
      reply(client, "+OK bye")
      break
    end
    local f = commands[name]
    if not f then
      reply(client, "-ERR unknown command '" .. (name or "") .. "' (SUB, UNSUB, PUB, QUIT)")
    else
      reply(client, f(client, topic ~= "" and topic or nil, rest ~= "" and rest or nil))
    end
  end
  forget(client)
  if not client.closed then
    client.closed = true
    client.out:push(false) -- after what is queued: the writer sends it all, then closes
  end
  writer:wait()
end

local listener = assert(socket.listen(port, { read_timeout = math.huge }))
while true do
  spawn(serve, assert(listener:accept()))
end
