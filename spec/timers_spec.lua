-- timers_spec.lua: after(s, fn) and every(s, fn), each cancellable; the
-- function runs as a task of its own each time.
local xcs = require "xcs"
local H = require "helpers"

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("timers", function()
  it("after runs fn once, that much later, as a task that may wait", function()
    run(function()
      local q = xcs.queue()
      local t0 = xcs.now()
      local t = xcs.after(0.05, function()
        xcs.sleep(0) -- a task: it may wait
        q:push(xcs.now() - t0)
      end)
      assert.matches("^xcs.timer", tostring(t))
      local waited = q:pop(2)
      assert.is_true(waited >= 0.04, waited)
      H.outcome("ETIMEDOUT", q:pop(0.1)) -- once
    end)
  end)

  it("every runs fn until cancelled", function()
    run(function()
      local q = xcs.queue()
      local n = 0
      local t
      t = xcs.every(0.01, function()
        n = n + 1
        if n == 3 then t:cancel() end
        q:push(n)
      end)
      for i = 1, 3 do assert.are.equal(i, q:pop(2)) end
      H.outcome("ETIMEDOUT", q:pop(0.05))
      t:cancel() -- again: nothing
    end)
  end)

  it("cancel before it fires: fn never runs", function()
    run(function()
      local ran = false
      xcs.after(0.02, function() ran = true end):cancel()
      xcs.sleep(0.05)
      assert.is_false(ran)
    end)
  end)

  it("a module's timers end with it", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/timers_tick.lua"))
      local c = assert(xcs.socket.connect("127.0.0.1", m:port()))
      assert.are.equal("tick", c:read("*l"))
      assert.are.equal("tick", c:read("*l"))
      m:unload()
      assert.are.equal("unloaded", m:wait())
      assert.are.equal("", c:read("*a"))
    end)
  end)

  it("keep their module running until they are done (xcshost, no options)", function()
    local code, out = xcs.run(H.run, "spec/fixtures/timers_keep.lua")
    assert.are.equal(0, code, out)
    local later, ticks = out:find("timers_keep: later\n", 1, true), out:find("timers_keep: ticks\t3\n", 1, true)
    local concluded = out:find("timers_keep: concluded", 1, true)
    assert.truthy(later and ticks and concluded, out)
    assert.is_true(concluded > later and concluded > ticks, out)
  end)

  it("do not hold a module back from a graceful stop", function()
    local out = xcs.run(function()
      local p = H.start("spec/fixtures/timers_keep.lua", "hook=1")
      H.expect(p, "timers_keep: ticking")
      assert(p:kill("TERM"))
      assert.are.equal(0, p:wait(5), p:output())
      return p:output()
    end)
    assert.truthy(out:find("timers_keep: stopping\n", 1, true), out)
    assert.truthy(out:find("timers_keep: concluded", 1, true), out)
  end)

  it("raises on misuse", function()
    run(function()
      H.raises({ "after: bad argument #1 (seconds): expected a number from 0 to 1e9, got -1" },
        xcs.after, -1, print)
      H.raises({ "every: bad argument #1 (seconds): expected a number from 0.001 to 1e9, got 0" },
        xcs.every, 0, print)
      H.raises({ "after: bad argument #2 (fn): expected a function, got no value" }, xcs.after, 1)
    end)
  end)
end)
