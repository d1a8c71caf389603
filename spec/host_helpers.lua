-- host_helpers.lua: running the real xcshost binary from a spec. Call these
-- inside xcs.run.
local xcs = require "xcs"

local H = {}

H.XCSHOST = os.getenv("XCSHOST") or "build/xcshost"

-- Starts xcshost with the given words (stdout and stderr merged).
function H.start(...)
  return assert(xcs.process { H.XCSHOST, ... })
end

-- Starts xcshost keeping only what it writes to stderr (stdout is dropped),
-- to show that a message goes to stderr.
function H.start_stderr_only(...)
  return assert(xcs.process { "/bin/sh", "-c", 'exec "$0" "$@" 2>&1 >/dev/null', H.XCSHOST, ... })
end

-- Runs xcshost to its end: exit status and everything it printed.
function H.run(...)
  local p = H.start(...)
  local code, signal = p:wait(10)
  assert(code, "xcshost did not exit within 10 s")
  assert(signal == 0, "xcshost was killed by signal " .. tostring(signal))
  return code, p:output()
end

-- Waits for a line matching pattern; raises with the output so far if none
-- comes. Returns the captures (or the line).
function H.expect(p, pattern, timeout)
  local res = table.pack(p:expect(pattern, timeout or 5))
  if res[1] == nil then
    error(("no line matching %q (%s); output was:\n%s"):format(pattern, tostring(res[2]),
      p:output()), 2)
  end
  if res.n > 1 then return table.unpack(res, 2, res.n) end
  return res[1]
end

-- Reads a connection until the peer's orderly close ("" from read), failing
-- on an error such as a reset. Returns what arrived before the close.
function H.read_to_end(c, max_reads)
  local parts = {}
  for _ = 1, max_reads or 10000 do
    local data, err, code = c:read()
    assert(data, ("read failed: %s (%s)"):format(tostring(err), tostring(code)))
    if data == "" then return table.concat(parts) end
    parts[#parts + 1] = data
  end
  error("the peer never closed")
end

return H
