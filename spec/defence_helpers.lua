-- defence_helpers.lua: shared by the defence_*_spec files. Call the
-- socket helpers inside xcs.run.
local xcs = require "xcs"
local S = xcs.socket

local H = {}

-- The host's defaults (README, --help): what every spec puts back. The
-- hard limits are off; only shedding when descriptors are short is on.
H.DEFAULTS = {
  max_clients = 0, max_per_address = 0, accept_rate = 0, accept_burst = 1000,
  first_data_timeout = 0, idle_timeout = 0, max_queued = 16 * 1024 * 1024,
  report_interval = 5,
}

-- xcs.configure with the defaults under `over`, so one spec's limits never
-- leak into the next.
function H.configure(over)
  local t = {}
  for k, v in pairs(H.DEFAULTS) do t[k] = v end
  for k, v in pairs(over or {}) do t[k] = v end
  xcs.configure(t)
end

-- Connects, sends `probe`, and tells what the server did: "admitted" (the
-- probe came back: an echo server), or "refused" (closed at once: an
-- orderly close or a reset, with nothing echoed).
function H.try(port, probe)
  probe = probe or "ping\n"
  local c = assert(S.connect("127.0.0.1", port))
  c:write(probe) -- may fail if the reset came first: the read tells
  local got, err, code = c:read()
  if got == probe then return "admitted", c end
  c:close()
  if got == "" or code == "ECONNRESET" or code == "EPIPE" then return "refused" end
  error(("unexpected answer %q (%s)"):format(tostring(got), tostring(err)))
end

-- Closes an admitted client and waits until the host has let it go: its
-- half close reaches the module, which reads "" and the host then closes
-- the connection, so the client reads "" only once the host has counted it
-- out.
function H.leave(c)
  assert(c:shutdown())
  for _ = 1, 100 do
    local got = c:read()
    if got == "" or got == nil then break end
  end
  c:close()
end

-- The lines holding `text` (plain).
function H.lines(lines, text)
  local found = {}
  for _, line in ipairs(lines) do
    if line:find(text, 1, true) then found[#found + 1] = line end
  end
  return found
end

-- Polls m's log until a line matching the Lua pattern comes (at most
-- `seconds`); returns it, or nil. For log lines a timer writes: there is
-- no event for a spec to wait on.
function H.await_log(m, pattern, seconds)
  local deadline = xcs.now() + (seconds or 5)
  repeat
    for _, line in ipairs(m:logs()) do
      if line:match(pattern) then return line end
    end
    xcs.sleep(0.02)
  until xcs.now() > deadline
end

-- The path of a bench tool beside the xcshost under test, or nil.
function H.bench_tool(name)
  local xcshost = os.getenv("XCSHOST") or "build/xcshost"
  local path = xcshost:gsub("[^/]*$", "") .. "bench/" .. name
  local f = io.open(path)
  if not f then return nil end
  f:close()
  return path
end

return H
