-- sync_spec.lua: what a module's tasks wait on besides sockets and time:
-- queue(max) and condition(), from the spec's own tasks (the same calls
-- a module has) and from a module.
local xcs = require "xcs"
local H = require "helpers"

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("queue", function()
  it("hands values over in order; push waits while full, pop while empty", function()
    run(function()
      local q = xcs.queue(2)
      local got, log = {}, {}
      xcs.spawn(function()
        for _ = 1, 5 do got[#got + 1] = q:pop() end
      end)
      for i = 1, 5 do
        assert.is_true(q:push(i))
        log[#log + 1] = q:len()
      end
      for _ = 1, 100 do
        if #got == 5 then break end
        xcs.sleep(0)
      end
      assert.are.same({ 1, 2, 3, 4, 5 }, got)
      assert.is_true(math.max(table.unpack(log)) <= 2)
      assert.are.equal(0, q:len())
    end)
  end)

  it("times out: pop on an empty queue, push on a full one; pop(0) only looks", function()
    run(function()
      local q = xcs.queue(1)
      H.outcome("ETIMEDOUT", q:pop(0))
      local t0 = xcs.now()
      assert.are.equal("ETIMEDOUT: the queue stayed empty", select(2, q:pop(0.05)))
      assert.is_true(xcs.now() - t0 >= 0.04)
      assert.is_true(q:push("a"))
      H.outcome("ETIMEDOUT", q:push("b", 0.02))
      assert.are.equal("a", q:pop())
      assert.are.equal("xcs.queue (0 of 1 queued)", tostring(q))
    end)
  end)

  it("wakes each of several waiting tasks, none twice", function()
    run(function()
      local q = xcs.queue()
      local got = {}
      for i = 1, 3 do
        xcs.spawn(function()
          local v = q:pop()
          got[#got + 1] = i .. ":" .. v
        end)
      end
      xcs.sleep(0)
      for _, v in ipairs { "a", "b", "c" } do q:push(v) end
      for _ = 1, 100 do
        if #got == 3 then break end
        xcs.sleep(0)
      end
      table.sort(got)
      assert.are.equal(3, #got)
      assert.are.same({ "a", "b", "c" }, { got[1]:sub(3), got[2]:sub(3), got[3]:sub(3) })
    end)
  end)

  it("raises on misuse", function()
    run(function()
      H.raises({ "queue: bad argument #1 (max): expected an integer > 0, got 0" }, xcs.queue, 0)
      local q = xcs.queue()
      H.raises({ "queue:push: bad argument #1 (value): nil cannot be queued" }, q.push, q, nil)
      H.raises({ "bad argument #1 to 'pop' (expected a timeout in seconds (a number >= 0), got -1)" },
        function() return q:pop(-1) end)
      H.raises({ "bad argument #1 to 'wait' (expected a timeout in seconds (a number >= 0), got \"x\")" },
        function() return xcs.condition():wait("x") end)
      H.raises({ "bad argument #1 to 'wait' (expected a timeout in seconds (a number >= 0), got -2)" },
        function() return xcs.spawn(print):wait(-2) end)
    end)
    H.raises({ "queue:pop: can only wait inside a task" }, function() xcs.queue():pop() end)
  end)
end)

describe("condition", function()
  it("signal wakes one waiting task, broadcast every one", function()
    run(function()
      local c = xcs.condition()
      local woke = 0
      for _ = 1, 3 do xcs.spawn(function() assert(c:wait()) woke = woke + 1 end) end
      xcs.sleep(0)
      assert.are.equal("xcs.condition (3 waiting)", tostring(c))
      assert.is_true(c:signal())
      assert.are.equal(2, c:broadcast())
      assert.is_false(c:signal()) -- nobody left: a signal is not kept
      for _ = 1, 100 do
        if woke == 3 then break end
        xcs.sleep(0)
      end
      assert.are.equal(3, woke)
      H.outcome("ETIMEDOUT", c:wait(0.02))
    end)
  end)

  it("a module's tasks wait on it, and unloading the module while they do is clean", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/sync_pubsub.lua"))
      local l = assert(xcs.socket.connect("127.0.0.1", m:port()))
      local lines = {}
      for _ = 1, 3 do lines[#lines + 1] = l:read("*l") end
      assert.are.same({ "news 1", "news 2", "news 3" }, lines)
      m:unload() -- its subscriber tasks wait on the condition: cancelled, nothing leaks
      assert.are.equal("unloaded", m:wait())
    end)
  end)
end)

describe("xcshost with no options", function()
  it("runs a module using queue, condition, after, every, limits and a task handle", function()
    local code, out = xcs.run(H.run, "spec/fixtures/sync_all.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("sync_all: sum\t6\tproduced\n", 1, true), out)
    assert.truthy(out:find("sync_all: ticks\t3\tlater\n", 1, true), out)
    assert.truthy(out:find("sync_all: memory\ttrue\n", 1, true), out)
    assert.truthy(out:find("sync_all: concluded", 1, true), out)
  end)
end)
