-- defence_pressure_spec.lua: the defence that is on by default. Only when
-- the host's file descriptors run short does it refuse or shed, and then
-- fairly: the address holding the most connections gives one up (one that
-- sent nothing first), and an address with a handful is never refused.
-- The real xcshost runs with a small fd limit (ulimit -n), so that is
-- reached with a few hundred connections.
local xcs = require "xcs"
local S = xcs.socket
local HH = require "helpers"
local H = require "defence_helpers"

local LOAD = H.bench_tool("xcs-bench-load")
local LIMIT = 160 -- the host keeps an eighth back (at least 32): ~128 for clients

local function start_limited()
  local p = assert(xcs.process { "sh", "-c", 'ulimit -n "$0" && exec "$@"', tostring(LIMIT),
    HH.XCSHOST, "--report-interval", "60", "examples/echo.lua", "port=0" })
  local port = tonumber(HH.expect(p, "^echo: listening on 127%.0%.0%.1:(%d+) %(TCP%)$"))
  return p, port
end

describe("when file descriptors run short", function()
  if not LOAD then
    it("needs bench/xcs-bench-load", function() pending("build the bench tools") end)
    return
  end

  it("refuses the address holding the most, sheds its silent connections, and serves others",
    function()
      xcs.run(function()
        local p, port = start_limited()
        -- 20 clients of 127.0.0.1 that talk, then 180 that say nothing
        local talkers, silent = {}, {}
        for i = 1, 20 do
          local how, c = H.try(port, "talk\n")
          assert.are.equal("admitted", how, "talker " .. i)
          talkers[i] = c
        end
        for i = 1, 180 do silent[i] = assert(S.connect("127.0.0.1", port)) end
        HH.expect(p, ("^echo: refused a connection from 127%%.0%%.0%%.1 to 127%%.0%%.0%%.1:%d "
          .. "while file descriptors are short %%(limit %d%%): its address holds the most "
          .. "connections$"):format(port, LIMIT))
        -- Another address still gets in, and is answered every time.
        local load = assert(xcs.process { LOAD, "--host", "127.0.0.1", "--source", "127.0.0.2",
          "--port", tostring(port), "--connections", "10", "--seconds", "0.5", "--warmup", "0" })
        assert.are.equal(0, (load:wait(10)))
        local out = load:output()
        assert.truthy(out:find("errors=0", 1, true), out)
        assert.is_true(tonumber(out:match("roundtrips=(%d+)")) > 0, out)
        HH.expect(p, ("^echo: shed a client from 127%%.0%%.0%%.1 of 127%%.0%%.0%%.1:%d to make "
          .. "room while file descriptors are short %%(limit %d%%): its address holds the most "
          .. "connections$"):format(port, LIMIT))
        -- The ones shed were silent: every talker is still served.
        for i, c in ipairs(talkers) do
          assert(c:write("again\n"))
          assert.are.equal("again\n", c:read(), "talker " .. i)
        end
        local shed = 0
        for _, c in ipairs(silent) do
          local got, _, code = c:read(nil, 0.001)
          if got == "" or code == "ECONNRESET" then shed = shed + 1 end
        end
        assert.is_true(shed >= 10, "shed " .. shed) -- at least one per client of 127.0.0.2
        for _, c in ipairs(talkers) do c:close() end
        for _, c in ipairs(silent) do c:close() end
        p:kill("TERM")
        assert.are.equal(0, (p:wait(5)))
      end, { timeout = 30 })
    end)

  it("never refuses with descriptors to spare, whatever one address holds", function()
    xcs.run(function()
      local p, port = start_limited()
      local held = {}
      for i = 1, 60 do
        local how, c = H.try(port)
        assert.are.equal("admitted", how, "client " .. i)
        held[i] = c
      end
      for _, c in ipairs(held) do c:close() end
      p:kill("TERM")
      assert.are.equal(0, (p:wait(5)))
      assert.falsy(p:output():find("refused", 1, true), p:output())
    end)
  end)
end)
