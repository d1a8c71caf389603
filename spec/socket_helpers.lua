-- socket_helpers.lua: small helpers shared by socket_spec, errors_spec and
-- request_spec. Call them inside xcs.run.
local xcs = require "xcs"
local S = xcs.socket

local H = {}

-- Reads from a TCP connection until `n` bytes have arrived or the peer
-- closed (at most 100 reads); returns what arrived.
function H.read_n(conn, n)
  local got = ""
  for _ = 1, 100 do
    if #got >= n then break end
    local data, err = conn:read()
    assert(data, err)
    if data == "" then break end
    got = got .. data
  end
  return got
end

-- The first of `lines` containing the plain text `text`, or nil.
function H.find_line(lines, text)
  for _, line in ipairs(lines) do
    if line:find(text, 1, true) then return line end
  end
end

-- Opens `proto` on port number p and closes it with socket.close, if it
-- can: afterwards this module's port-keyed table holds nothing stale for it
-- (a handle closed by handle:close() or by the end of a run leaves an entry
-- behind: see the pending core-bug spec in errors_spec).
function H.scrub(p, proto)
  local h = S.open(p, proto)
  if h then S.close(h) end
end

-- A port number nobody listens on now, for TCP nor UDP, and that this
-- module's port-keyed table holds nothing for.
function H.closed_port()
  local t, u, p = H.open_both()
  S.close(t)
  S.close(u)
  return p
end

-- A TCP listener and a UDP socket on one port number (a few tries, in case
-- the number the system gave for TCP is taken for UDP).
function H.open_both()
  for _ = 1, 20 do
    local t = assert(S.open(0, "TCP"))
    local u = S.open(t:port(), "UDP")
    if u then return t, u, t:port() end
    S.close(t)
  end
  error("no port number free for both TCP and UDP")
end

return H
