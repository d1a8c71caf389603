-- task_handles_spec.lua: spawn returns the task's handle (wait, cancel,
-- status), and a task that raises fails alone: logged with the module's
-- name and a traceback, its wait tells, what it made or was given is
-- closed (a connection with a reset), and the module serves on. Its main
-- task's error, or any under --strict or `strict = true`, fails the module.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("spawn's handle", function()
  it("t:wait() gives true and the results; t:status() says how it went", function()
    run(function()
      local t = xcs.spawn(function(a, b)
        xcs.sleep(0.01)
        return a + b, "sum", nil
      end, 1, 2)
      assert.are.equal("running", t:status())
      assert.are.same({ true, 3, "sum", nil, n = 4 }, table.pack(t:wait()))
      assert.are.equal("done", t:status())
      assert.are.same({ true, 3, "sum", nil, n = 4 }, table.pack(t:wait())) -- again: the same
      assert.are.equal("xcs.task (done)", tostring(t))
    end)
  end)

  it("a handle nobody keeps is collected while its task runs on; a kept one is told", function()
    run(function()
      local q = xcs.queue()
      local done = 0
      for _ = 1, 50 do -- handles dropped at once: nothing of them stays
        xcs.spawn(function() q:pop(); done = done + 1 end)
      end
      local kept = xcs.spawn(function() q:pop(); return "kept" end)
      local weak = setmetatable({ xcs.spawn(function() q:pop() end) }, { __mode = "v" })
      collectgarbage("collect")
      collectgarbage("collect")
      assert.is_nil(weak[1]) -- collected although its task still waits
      for _ = 1, 52 do q:push(true) end
      assert.are.same({ true, "kept" }, { kept:wait(2) })
      xcs.sleep(0)
      assert.are.equal(50, done)
    end)
  end)

  it("t:wait(timeout) gives nil, ETIMEDOUT while it runs; several tasks may wait", function()
    run(function()
      local q = xcs.queue()
      local t = xcs.spawn(function() return q:pop() end)
      H.outcome("ETIMEDOUT", t:wait(0.02))
      H.outcome("ETIMEDOUT", t:wait(0))
      local seen = xcs.queue()
      for i = 1, 3 do xcs.spawn(function() seen:push(select(2, t:wait()) .. i) end) end
      xcs.sleep(0)
      q:push("v")
      local got = { seen:pop(2), seen:pop(2), seen:pop(2) }
      table.sort(got)
      assert.are.same({ "v1", "v2", "v3" }, got)
    end)
  end)

  it("t:cancel() stops it now: its __close runs, what it made closes, wait says cancelled", function()
    run(function()
      local closed = false
      local l
      local t = xcs.spawn(function()
        local _ <close> = setmetatable({}, { __close = function() closed = true end })
        l = assert(S.listen(0))
        xcs.sleep(30)
      end)
      xcs.sleep(0.01)
      assert.is_true(t:cancel())
      assert.is_true(closed)
      assert.are.equal("cancelled", t:status())
      assert.are.same({ false, "cancelled" }, { t:wait() })
      H.raises({ "attempt to use a closed socket" }, l.accept, l)
      assert.is_false(t:cancel()) -- it ended: nothing to do
    end)
  end)

  it("a task cannot wait for or cancel itself", function()
    run(function()
      local me
      me = xcs.spawn(function()
        xcs.sleep(0)
        local ok1, e1 = pcall(me.wait, me)
        local ok2, e2 = pcall(me.cancel, me)
        return e1, e2
      end)
      local _, e1, e2 = me:wait(2)
      assert.matches("task:wait: a task cannot wait for itself", e1)
      assert.matches("task:cancel: a task cannot cancel itself", e2)
    end)
  end)
end)

describe("a task that raises", function()
  it("fails alone: logged with a traceback, the module serves on", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/tasks_alone.lua"))
      local bad = assert(S.connect("127.0.0.1", m:port()))
      local good = assert(S.connect("127.0.0.1", m:port()))
      good:write("before\n")
      assert.are.equal("before", good:read("*l"))
      bad:write("boom\n")
      -- the connection it was given is reset, so its peer knows
      H.outcome("ECONNRESET", bad:read("*l"))
      good:write("after\n")
      assert.are.equal("after", good:read("*l"))
      assert.are.equal("running", m:status())
      local line = H.match_line(m:logs(), "^task failed: ")
      assert.truthy(line, table.concat(m:logs(), "\n"))
      assert.matches("tasks_alone%.lua:%d+: attempt to perform arithmetic on a nil value", line)
      assert.matches("stack traceback:", line)
      assert.truthy(H.match_line(xcs.logs(), "^tasks_alone: task failed: "))
    end)
  end)

  it("on its memory limit fails alone too, and the module keeps its state", function()
    xcs.configure { memory_limit = 16 }
    run(function()
      local m = assert(xcs.load("spec/fixtures/tasks_alone.lua"))
      local good = assert(S.connect("127.0.0.1", m:port()))
      local hog = assert(S.connect("127.0.0.1", m:port()))
      hog:write("hog\n")
      H.outcome("ECONNRESET", hog:read("*l"))
      good:write("still here\n")
      assert.are.equal("still here", good:read("*l"))
      assert.truthy(H.match_line(m:logs(), "^task failed: not enough memory %(memory limit: 16 MiB"))
    end)
  end)

  it("closes the listener it made", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/tasks_alone.lua"))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("listen\n")
      local port = tonumber(c:read("*l"))
      assert(S.connect("127.0.0.1", port)):close()
      c:write("now fail\n")
      H.outcome("ECONNRESET", c:read("*l"))
      H.outcome("ECONNREFUSED", S.connect("127.0.0.1", port))
      assert.are.equal("running", m:status())
    end)
  end)

  it("fails the module when it is the main task", function()
    local _, status, err = H.run_module("spec/fixtures/host_fail.lua")
    assert.are.equal("failed", status)
    assert.matches("host module failing", err)
  end)

  it("fails the module under strict = true, and under xcshost --strict", function()
    local _, status = H.run_module("spec/fixtures/tasks_fail.lua") -- it sets strict = true
    assert.are.equal("failed", status)
    local code, out = xcs.run(function()
      local p = H.start("--strict", "spec/fixtures/tasks_alone.lua", "port=0")
      local port = tonumber(H.expect(p, "listening on 127%.0%.0%.1:(%d+)"))
      local c = assert(S.connect("127.0.0.1", port))
      c:write("boom\n")
      return p:wait(5), p:output()
    end)
    assert.are.equal(1, code)
    assert.truthy(out:find("tasks_alone: failed: spec/fixtures/tasks_alone.lua:10: attempt to " ..
      "perform arithmetic on a nil value", 1, true), out)
  end)

  it("without --strict, xcshost keeps the module running", function()
    local out = xcs.run(function()
      local p = H.start("spec/fixtures/tasks_alone.lua", "port=0")
      local port = tonumber(H.expect(p, "listening on 127%.0%.0%.1:(%d+)"))
      local c = assert(S.connect("127.0.0.1", port))
      c:write("boom\n")
      H.expect(p, "^tasks_alone: task failed: ")
      local d = assert(S.connect("127.0.0.1", port))
      d:write("ok\n")
      assert.are.equal("ok", d:read("*l"))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      return p:output()
    end)
    assert.falsy(out:find("tasks_alone: failed", 1, true), out)
  end)
end)

describe("xcs.configure{ strict = true }", function()
  it("makes a spawned task's error fail its module", function()
    xcs.configure { strict = true }
    local _, status, err = H.run_module("spec/fixtures/xcs_strict.lua")
    assert.are.equal("failed", status)
    assert.matches("spawned and failing", err)
  end)

  it("lasts for that test only", function()
    local logs, status = H.run_module("spec/fixtures/xcs_strict.lua")
    assert.are.equal("concluded", status)
    assert.truthy(H.match_line(logs, "^task failed: .*spawned and failing"))
  end)
end)
