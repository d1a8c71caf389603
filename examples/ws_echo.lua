-- ws_echo.lua: a WebSocket echo server (RFC 6455) at ws://HOST:PORT/, built
-- on the host's `crypto` and `base64` (the handshake's Sec-WebSocket-Accept
-- is base64(SHA-1(key .. GUID))) and the HTTP loop of lib/http_server.lua,
-- which hands the connection over once the upgrade is answered.
--
-- Every text or binary message comes back as it was sent (fragmented
-- messages are put together first), a ping gets its pong, and a close is
-- answered with the same status code before the connection closes. A
-- protocol error closes with 1002, text that is not UTF-8 with 1007, a
-- message over `max` bytes (default 1 MiB) with 1009, and a connection idle
-- for `idle` seconds (default 60) with 1001.
--
-- Run it:
--   xcshost examples/ws_echo.lua port=8082
-- Try it, with a WebSocket client (npm's ws, websocat, a browser's console):
--   new WebSocket("ws://127.0.0.1:8082/").onmessage = (e) => console.log(e.data)
local server = require "lib.http_server"

local port = tonumber(arg.port) or 8082
local MAX = tonumber(arg.max) or 1024 * 1024
local IDLE = tonumber(arg.idle) or 60
local GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

local CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10

-- The Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2).
local function accept_key(key)
  return base64.encode(crypto.sha1(key .. GUID))
end

-- One unmasked frame, FIN set, as a server sends it.
local function frame(opcode, payload)
  local n = #payload
  local len
  if n < 126 then
    len = string.char(n)
  elseif n < 65536 then
    len = string.char(126) .. string.pack(">I2", n)
  else
    len = string.char(127) .. string.pack(">I8", n)
  end
  return string.char(0x80 | opcode) .. len .. payload
end

-- payload XOR the 4-byte mask, eight bytes at a time.
local function unmask(payload, mask)
  local n = #payload
  local out = {}
  local m8 = string.unpack("<i8", mask .. mask)
  local i = 1
  while i + 7 <= n do
    out[#out + 1] = string.pack("<i8", string.unpack("<i8", payload, i) ~ m8)
    i = i + 8
  end
  for j = i, n do
    local k = mask:byte((j - 1) % 4 + 1)
    out[#out + 1] = string.char(payload:byte(j) ~ k)
  end
  return table.concat(out)
end

local VALID_CLOSE = { [1000] = true, [1001] = true, [1002] = true, [1003] = true, [1007] = true,
  [1008] = true, [1009] = true, [1010] = true, [1011] = true }

-- The frames of one connection, until a close.
local function session(c, rest)
  local buf, at = rest, 1

  -- Makes sure n bytes from `at` have arrived; false when the peer went.
  local function need(n)
    while #buf - at + 1 < n do
      local data, _, code = c:readany(65536, IDLE)
      if not data or data == "" then return false, code end
      buf, at = buf:sub(at) .. data, 1
    end
    return true
  end

  local function close(code, reason)
    c:write(frame(CLOSE, string.pack(">I2", code) .. (reason or "")))
    c:close()
  end

  local message, message_op = {}, nil
  local size = 0
  while true do
    local ok, why = need(2)
    if not ok then
      if why == "ETIMEDOUT" then return close(1001, "idle") end
      return c:close()
    end
    local b1, b2 = buf:byte(at, at + 1)
    local fin, opcode = b1 & 0x80 ~= 0, b1 & 0x0f
    local masked, len = b2 & 0x80 ~= 0, b2 & 0x7f
    local head = 2
    if b1 & 0x70 ~= 0 then return close(1002, "reserved bits set") end
    if not masked then return close(1002, "a client's frames must be masked") end
    if len == 126 then
      if not need(4) then return c:close() end
      len = string.unpack(">I2", buf, at + 2)
      head = 4
    elseif len == 127 then
      if not need(10) then return c:close() end
      len = string.unpack(">i8", buf, at + 2)
      head = 10
      if len < 0 then return close(1002, "a frame length over 2^63") end
    end
    local control = opcode >= 8
    if control and (len > 125 or not fin) then return close(1002, "a control frame too long or fragmented") end
    if not control and size + len > MAX then return close(1009, "a message over " .. MAX .. " bytes") end
    if not need(head + 4 + len) then return c:close() end
    local mask = buf:sub(at + head, at + head + 3)
    local payload = unmask(buf:sub(at + head + 4, at + head + 3 + len), mask)
    at = at + head + 4 + len

    if opcode == PING then
      c:write(frame(PONG, payload))
    elseif opcode == PONG then -- luacheck: ignore 542
      -- nothing to do: it answers no ping of ours
    elseif opcode == CLOSE then
      if #payload == 0 then
        c:write(frame(CLOSE, ""))
        return c:close()
      end
      local code = #payload >= 2 and string.unpack(">I2", payload)
      if not code or not (VALID_CLOSE[code] or (code >= 3000 and code <= 4999)) then
        return close(1002, "a bad close code")
      end
      if not utf8.len(payload, 3) then return close(1007, "a close reason that is not UTF-8") end
      return close(code)
    elseif opcode == TEXT or opcode == BINARY or opcode == CONT then
      if (opcode == CONT) ~= (message_op ~= nil) then
        return close(1002, opcode == CONT and "a continuation of no message" or "a new message inside another")
      end
      message_op = message_op or opcode
      message[#message + 1] = payload
      size = size + len
      if fin then
        local whole = table.concat(message)
        if message_op == TEXT and not utf8.len(whole) then return close(1007, "text that is not UTF-8") end
        c:write(frame(message_op, whole))
        message, message_op, size = {}, nil, 0
      end
    else
      return close(1002, "an unknown opcode " .. opcode)
    end
  end
end

-- Whether a comma-separated header value holds token (case aside).
local function has_token(value, token)
  for t in (value or ""):lower():gmatch("[^,%s]+") do
    if t == token then return true end
  end
  return false
end

local function handshake(req)
  if req.path ~= "/" then return 404, "Not Found\n" end
  local h = req.headers
  if req.method ~= "GET" or not has_token(h.upgrade, "websocket") or not has_token(h.connection, "upgrade") then
    return 426, "This is a WebSocket endpoint: upgrade to websocket\n",
      { Upgrade = "websocket", Connection = "close" }
  end
  if h["sec-websocket-version"] ~= "13" then
    return 426, "WebSocket version 13 only\n", { ["Sec-WebSocket-Version"] = "13", Connection = "close" }
  end
  local key = h["sec-websocket-key"] or ""
  local nonce = base64.decode(key)
  if not nonce or #nonce ~= 16 then
    return 400, "Sec-WebSocket-Key must be 16 bytes in base64\n", { Connection = "close" }
  end
  return "upgrade", function(c, rest)
    c:write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
      "Sec-WebSocket-Accept: " .. accept_key(key) .. "\r\n\r\n")
    session(c, rest)
  end
end

local listener = assert(socket.listen(port))
while true do
  spawn(server.serve, assert(listener:accept()), handshake)
end
