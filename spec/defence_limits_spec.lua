-- defence_limits_spec.lua: who may connect. Connections per remote address
-- (host-wide) and per listener, the accept rate, and the log that tells of
-- each kind of refusal once per interval rather than once per connection.
local xcs = require "xcs"
local S = xcs.socket
local H = require "defence_helpers"

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

local ECHO = "spec/fixtures/defence_echo.lua"
local ACCEPT = "spec/fixtures/defence_accept.lua"

describe("the per-address limit", function()
  after_each(function() H.configure() end)

  it("closes connections from an address over it at once, and admits again once one left", function()
    H.configure { max_per_address = 3 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local port = m:port()
      local held = {}
      for i = 1, 3 do
        local how, c = H.try(port)
        assert.are.equal("admitted", how, "client " .. i)
        held[i] = c
      end
      assert.are.equal("refused", H.try(port))
      local line = ("refused a connection from 127.0.0.1 to 127.0.0.1:%d over the "
        .. "per-address limit (3)"):format(port)
      assert.are.same({ line }, H.lines(m:logs(), "refused"))
      -- the admitted ones are served as before
      held[2]:write("still here\n")
      assert.are.equal("still here\n", held[2]:read())
      H.leave(held[1])
      local how, c = H.try(port)
      assert.are.equal("admitted", how)
      assert.are.equal("refused", H.try(port))
      c:close()
      for i = 2, 3 do held[i]:close() end
    end)
  end)

  it("counts an address across every listener of the host", function()
    H.configure { max_per_address = 2 }
    run(function()
      local a = assert(xcs.load(ECHO, { port = 0 }))
      local b = assert(xcs.load(ACCEPT, { port = 0 }))
      local how1, c1 = H.try(a:port())
      local how2, c2 = H.try(b:port())
      assert.are.same({ "admitted", "admitted" }, { how1, how2 })
      assert.are.equal("refused", H.try(a:port()))
      assert.are.equal("refused", H.try(b:port()))
      assert.are.equal(1, #H.lines(a:logs(), "over the per-address limit (2)"))
      assert.are.equal(1, #H.lines(b:logs(), "over the per-address limit (2)"))
      c1:close()
      c2:close()
    end)
  end)

  it("keeps a refused client from accept(): it takes the next admitted one", function()
    H.configure { max_per_address = 1 }
    run(function()
      local m = assert(xcs.load(ACCEPT, { port = 0 }))
      local how, c1 = H.try(m:port())
      assert.are.equal("admitted", how)
      for _ = 1, 3 do assert.are.equal("refused", H.try(m:port())) end
      H.leave(c1)
      local how2, c2 = H.try(m:port())
      assert.are.equal("admitted", how2)
      c2:write("second\n")
      assert.are.equal("second\n", c2:read())
      c2:close()
    end)
  end)

  it("counts an IPv6 client by its /64", function()
    H.configure { max_per_address = 1 }
    xcs.configure { bind = "::1" }
    local ok, err = pcall(run, function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local c = assert(S.connect("::1", m:port()))
      c:write("six\n")
      assert.are.equal("six\n", c:read())
      local d = assert(S.connect("::1", m:port()))
      d:write("seven\n")
      local got = d:read()
      assert.is_true(got == "" or got == nil, tostring(got))
      assert.are.same({ ("refused a connection from ::/64 to [::1]:%d over the per-address "
        .. "limit (1)"):format(m:port()) }, H.lines(m:logs(), "refused"))
      c:close()
      d:close()
    end)
    xcs.configure { bind = "127.0.0.1" }
    assert(ok, err)
  end)

  it("is off at 0", function()
    H.configure { max_per_address = 0 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local held = {}
      for i = 1, 100 do
        local how, c = H.try(m:port())
        assert.are.equal("admitted", how, "client " .. i)
        held[i] = c
      end
      for _, c in ipairs(held) do c:close() end
      assert.are.same({}, H.lines(m:logs(), "refused"))
    end)
  end)

  it("lets clients from 127.0.0.2 in while 127.0.0.1 is over it", function()
    local load = H.bench_tool("xcs-bench-load")
    if not load then
      pending("needs bench/xcs-bench-load (built with the project) to connect from 127.0.0.2")
      return
    end
    H.configure { max_per_address = 2 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local held = {}
      for i = 1, 2 do
        local how, c = H.try(m:port())
        assert.are.equal("admitted", how)
        held[i] = c
      end
      assert.are.equal("refused", H.try(m:port()))
      local p = assert(xcs.process { load, "--host", "127.0.0.1", "--source", "127.0.0.2",
        "--port", tostring(m:port()), "--connections", "2", "--seconds", "0.3",
        "--warmup", "0" })
      assert.are.equal(0, (p:wait(8)))
      local out = p:output()
      assert.truthy(out:find("errors=0", 1, true), out)
      assert.is_true(tonumber(out:match("roundtrips=(%d+)")) > 0, out)
      assert.are.equal("refused", H.try(m:port())) -- 127.0.0.1 is still over it
      for _, c in ipairs(held) do c:close() end
    end)
  end)
end)

describe("the per-listener limit", function()
  after_each(function() H.configure() end)

  it("closes clients past --max-clients at once, on both kinds of listener", function()
    H.configure { max_clients = 2, max_per_address = 0 }
    run(function()
      for _, fixture in ipairs { ECHO, ACCEPT } do
        local m = assert(xcs.load(fixture, { port = 0 }))
        local held = {}
        for i = 1, 2 do
          local how, c = H.try(m:port())
          assert.are.equal("admitted", how, fixture)
          held[i] = c
        end
        assert.are.equal("refused", H.try(m:port()))
        assert.are.same({
          ("refused a connection to 127.0.0.1:%d over the per-listener limit (2)"):format(m:port()),
        }, H.lines(m:logs(), "refused"))
        H.leave(held[1])
        local how, c = H.try(m:port())
        assert.are.equal("admitted", how)
        c:close()
        held[2]:close()
        m:unload()
      end
    end)
  end)
end)

describe("the accept rate", function()
  after_each(function() H.configure() end)

  it("admits a burst, then closes the rest at once", function()
    H.configure { accept_rate = 0.01, accept_burst = 2 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local how1, c1 = H.try(m:port())
      local how2, c2 = H.try(m:port())
      assert.are.same({ "admitted", "admitted" }, { how1, how2 })
      assert.are.equal("refused", H.try(m:port()))
      assert.are.same({
        ("refused a connection from 127.0.0.1 to 127.0.0.1:%d over the accept rate "
          .. "(0.01/s, burst 2)"):format(m:port()),
      }, H.lines(m:logs(), "refused"))
      c1:close()
      c2:close()
    end)
  end)

  it("is not used up by an address over its own limit", function()
    H.configure { accept_rate = 0.01, accept_burst = 2, max_per_address = 1 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local how, c1 = H.try(m:port()) -- the first token
      assert.are.equal("admitted", how)
      for _ = 1, 5 do assert.are.equal("refused", H.try(m:port())) end -- per address
      H.leave(c1)
      local how2, c2 = H.try(m:port()) -- the second token, still there
      assert.are.equal("admitted", how2)
      H.leave(c2)
      assert.are.equal("refused", H.try(m:port())) -- no token left
      assert.are.equal(1, #H.lines(m:logs(), "over the accept rate"))
    end)
  end)
end)

describe("the defence log", function()
  after_each(function() H.configure() end)

  it("tells of the first refusal at once and sums up the rest", function()
    H.configure { max_per_address = 1, report_interval = 60 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local how, c = H.try(m:port())
      assert.are.equal("admitted", how)
      for _ = 1, 40 do assert.are.equal("refused", H.try(m:port())) end
      assert.are.equal(1, #H.lines(m:logs(), "refused"))
      c:close()
      m:unload() -- its last word sums up what was not told yet
      local lines = H.lines(m:logs(), "refused")
      assert.are.equal(2, #lines)
      local n, secs = lines[2]:match("^refused (%d+) connections from 127%.0%.0%.1 to "
        .. "127%.0%.0%.1:%d+ over the per%-address limit %(1%) in the last ([%d.]+) s$")
      assert.are.equal("39", n, lines[2])
      assert.is_true(tonumber(secs) < 9)
    end)
  end)

  it("writes one line per interval while refusals go on", function()
    H.configure { max_per_address = 1, report_interval = 0.2 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local how, c = H.try(m:port())
      assert.are.equal("admitted", how)
      for _ = 1, 5 do assert.are.equal("refused", H.try(m:port())) end
      local sum = H.await_log(m, "^refused 4 connections .* in the last [%d.]+ s$", 3)
      assert.truthy(sum, table.concat(m:logs(), "\n"))
      -- the window closes when a whole interval brings nothing: the next
      -- refusal is told at once again
      assert.is_nil(H.await_log(m, "^refused 0 ", 0.5))
      assert.are.equal("refused", H.try(m:port()))
      assert.are.equal(2, #H.lines(m:logs(), "refused a connection"))
      c:close()
    end)
  end)

  it("names other addresses when more than one was refused", function()
    H.configure { max_per_address = 1, report_interval = 60 }
    local load = H.bench_tool("xcs-bench-load")
    if not load then
      pending("needs bench/xcs-bench-load to connect from 127.0.0.2")
      return
    end
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local how, c = H.try(m:port())
      assert.are.equal("admitted", how)
      assert.are.equal("refused", H.try(m:port())) -- told at once
      assert.are.equal("refused", H.try(m:port())) -- counted, from 127.0.0.1
      -- two connections from 127.0.0.2: one admitted, one refused
      local p = assert(xcs.process { load, "--host", "127.0.0.1", "--source", "127.0.0.2",
        "--port", tostring(m:port()), "--connections", "2", "--seconds", "0.2", "--warmup", "0" })
      p:wait(8)
      c:close()
      m:unload()
      local lines = H.lines(m:logs(), "refused")
      assert.are.equal(2, #lines, table.concat(lines, "\n"))
      assert.truthy(lines[2]:find("^refused 2 connections from 127%.0%.0%.1 and other addresses "),
        lines[2])
    end)
  end)
end)
