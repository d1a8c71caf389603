-- lib/relay.lua: relaying one TCP connection to another, both ways, as the
-- relay examples do (require "lib.relay" from a module beside lib/).
--
-- relay.pair(client, upstream, who [, done]) copies bytes both ways
-- unchanged, one task per direction, and returns once both have ended.
-- Backpressure holds both ways: a write waits while the receiving side is
-- slow, and meanwhile its task reads no more, so a pair holds about 1 MiB
-- per direction at most, whatever the traffic. A half close is passed on (a
-- FIN from one side becomes shutdown() of the other); the pair is closed
-- once both directions have ended. An error on either side (a reset, a
-- peer taking nothing for the send timeout) resets both, so neither end
-- mistakes a broken relay for a clean end; it is logged as "WHO: DIRECTION:
-- why". done(), if given, is called once both sockets are closed.
local M = {}

local CHUNK = 64 * 1024

-- Copies `from` to `to` until `from` ends; false if either side failed.
local function pipe(from, to)
  while true do
    local data, err = from:readany(CHUNK)
    if data == "" then -- FIN: the other side gets it once what went before is sent
      to:shutdown()
      return true
    end
    if not data then return false, err end -- a reset, or the pair was closed
    local ok, werr = to:write(data) -- waits while `to` is slow
    if not ok then return false, werr end
  end
end

function M.pair(client, upstream, who, done)
  local running, failed = 2, false
  local function run(from, to, name)
    local ok, why = pipe(from, to)
    running = running - 1
    if not ok and not failed then -- the other task's wait, if any, ends as "closed"
      failed = true
      log("%s: %s: %s", who, name, why)
      client:close("reset")
      upstream:close("reset")
    end
    if running == 0 then
      client:close()
      upstream:close()
      if done then done() end
    end
  end
  spawn(run, client, upstream, "client to upstream")
  run(upstream, client, "upstream to client")
end

return M
