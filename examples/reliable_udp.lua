-- reliable_udp.lua: request/response over UDP that survives loss,
-- duplicates and reordering, as real networks (and the XCS documents' UDP,
-- losing about 30% of data) may serve them.
--
-- The client numbers its requests and sends one at a time; it waits `retry`
-- seconds for the answer to that number and sends the request again until
-- it comes; answers to other numbers (late ones, duplicates) it ignores. The
-- server executes each request once, in order: a request it has already
-- executed (a duplicate, or a retry whose answer was lost) gets the cached
-- answer again, never a second execution. Every answer carries how many
-- requests the server has executed for that client, so the client can check
-- "exactly once, in order" for itself.
--
--   request  "REQ <seq> <text>"
--   answer   "ACK <seq> <executed> <TEXT>"   (the text in capitals)
--
-- Run the server, with faults injected into what it receives:
--   xcshost --udp-loss 0.3 --udp-dup 0.1 --udp-reorder 0.1 --seed 42 \
--     examples/reliable_udp.lua port=9000
-- and a client (count requests, retry seconds per try):
--   xcshost examples/reliable_udp.lua server=127.0.0.1:9000 count=200
-- or both in one host, each receiving through the faults:
--   xcshost --udp-loss 0.3 --udp-dup 0.1 --udp-reorder 0.1 --seed 42 \
--     examples/reliable_udp.lua port=9000 \
--     examples/reliable_udp.lua server=127.0.0.1:9000 count=200

local function server(port)
  local sock = assert(socket.open(port, "UDP"))
  -- Per client address: the next request number and the last answer. A
  -- server must not grow without bound: past MAX_CLIENTS it starts over
  -- (clients then see their next request refused as out of order).
  local MAX_CLIENTS = 1024
  local clients, nclients = {}, 0
  while true do
    local data, from = sock:read()
    local seq, text = (data or ""):match("^REQ (%d+) (.*)$")
    seq = tonumber(seq)
    if seq then
      local c = clients[from]
      if not c then
        if nclients >= MAX_CLIENTS then clients, nclients = {}, 0 end
        c = { next = 1, executed = 0 }
        clients[from] = c
        nclients = nclients + 1
      end
      if seq == c.next then
        -- new: execute it, once
        c.executed = c.executed + 1
        c.answer = ("ACK %d %d %s"):format(seq, c.executed, text:upper())
        c.next = seq + 1
        sock:write(c.answer, from)
      elseif seq == c.next - 1 then
        sock:write(c.answer, from) -- executed already: the same answer again
      end
      -- anything else is a stale copy of an older request: ignore it
    end
  end
end

-- Waits up to `timeout` seconds for the answer to request seq; returns
-- executed, TEXT, and how many other datagrams it skipped; or nil on timeout.
local function await(sock, seq, timeout)
  local deadline = now() + timeout
  local skipped = 0
  for _ = 1, 10000 do
    local left = deadline - now()
    if left <= 0 then break end
    local data, _, code = sock:read(left)
    if code == "ETIMEDOUT" then break end
    local s, executed, text = (data or ""):match("^ACK (%d+) (%d+) (.*)$")
    if tonumber(s) == seq then return tonumber(executed), text, skipped end
    skipped = skipped + 1 -- an answer to an older request, or news of a lost send
  end
  return nil, nil, skipped
end

local function client(server_addr, count, retry, max_tries)
  local host, port = server_addr:match("^%[?(.-)%]?:(%d+)$")
  local sock = assert(socket.connect(host, tonumber(port), "UDP"))
  local sends, stale = 0, 0
  for seq = 1, count do
    local text = "message " .. seq
    local request = ("REQ %d %s"):format(seq, text)
    local executed, answer
    for try = 1, max_tries + 1 do
      if try > max_tries then
        exit(false, ("no answer to request %d after %d tries"):format(seq, max_tries))
      end
      sock:write(request)
      sends = sends + 1
      local skipped
      executed, answer, skipped = await(sock, seq, retry)
      stale = stale + skipped
      if executed then break end
    end
    if executed ~= seq or answer ~= text:upper() then
      exit(false, ("request %d: the server says it executed %d requests and answered %q")
        :format(seq, executed, answer))
    end
  end
  log("delivered %d of %d requests in order, exactly once: %d sends, %d resends, " ..
    "%d stale answers ignored", count, count, sends, sends - count, stale)
  sock:close()
end

if arg.server then
  client(arg.server, tonumber(arg.count) or 200, tonumber(arg.retry) or 0.2,
    tonumber(arg.tries) or 50)
else
  server(tonumber(arg.port) or 9000)
end
