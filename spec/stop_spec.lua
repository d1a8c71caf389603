-- stop_spec.lua: a graceful stop. On SIGTERM a module with an unload hook
-- stops accepting, runs its hook with --stop-timeout to finish, flushes what
-- it wrote and closes; a second signal forces the stop.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local FIXTURE = "spec/fixtures/stop_hook.lua"

-- Starts xcshost with the options given and the fixture in `mode`; returns
-- the process and the port it serves.
local function start(mode, ...)
  local words = { ... }
  for _, w in ipairs { FIXTURE, "port=0", "mode=" .. mode } do words[#words + 1] = w end
  return H.start_serving("listening on 127%.0%.0%.1:(%d+)", table.unpack(words))
end

describe("a graceful stop", function()
  it("stops accepting, runs the unload hook, flushes and closes", function()
    xcs.run(function()
      local p, port = start("bye")
      local c = assert(S.connect("127.0.0.1", port))
      c:write("hello\n")
      assert.are.equal("hello\n", c:read())
      p:kill("TERM")
      H.expect(p, "stopped accepting on 127%.0%.0%.1:" .. port)
      local _, _, code = S.connect("127.0.0.1", port)
      assert.are.equal("ECONNREFUSED", code)
      assert.are.equal("bye\n", H.read_to_end(c))
      c:close() -- as a polite client does: the host then need not linger
      assert.are.equal(0, p:wait(5))
      assert.matches("unload hook: bye", p:output())
      assert.matches("stop_hook: concluded", p:output())
    end)
  end)

  it("unloads a module whose hook outlives --stop-timeout", function()
    xcs.run(function()
      local p, port = start("forever", "--stop-timeout", "0.3")
      local c = assert(S.connect("127.0.0.1", port))
      local t0 = xcs.now()
      p:kill("TERM")
      assert.are.equal("", H.read_to_end(c))
      c:close()
      assert.are.equal(0, p:wait(5))
      assert.is_true(xcs.now() - t0 >= 0.25)
      assert.matches("unload hook still running after 0%.3 s", p:output())
    end)
  end)

  it("is forced by a second signal", function()
    xcs.run(function()
      local p = start("forever", "--stop-timeout", "60")
      local t0 = xcs.now()
      p:kill("TERM")
      H.expect(p, "unload hook: forever")
      p:kill("INT")
      assert.are.equal(0, p:wait(5))
      assert.is_true(xcs.now() - t0 < 5)
      assert.matches("second SIGINT: closing everything now", p:output())
    end)
  end)

  it("runs the old version's hook when a reload replaces it", function()
    xcs.run(function()
      local port = H.closed_port()
      local m = assert(xcs.load(FIXTURE, { port = port, mode = "bye" }))
      local c = assert(S.connect("127.0.0.1", port))
      c:write("x")
      assert.are.equal("x", c:read())
      local m2 = assert(m:reload())
      assert.are.equal("bye\n", H.read_to_end(c)) -- the old version said goodbye
      c:close()
      assert.are.equal("concluded", (m:wait()))
      local c2 = assert(S.connect("127.0.0.1", port))
      c2:write("y")
      assert.are.equal("y", c2:read())
      assert.are.equal("running", m2:status())
    end)
  end)
end)
