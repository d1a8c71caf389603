-- preempt_spec.lua: a module computing without waiting is preempted, so
-- other modules keep answering; its own tasks never interleave mid-step.
local xcs = require "xcs"
local S = xcs.socket

describe("preemption", function()
  before_each(function() xcs.configure { cpu_limit = 5 } end)
  after_each(function() xcs.configure { cpu_limit = 10 } end)

  it("lets a neighbour answer while a module computes", function()
    xcs.run(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", echo:port()))
      local busy = assert(xcs.load("spec/fixtures/preempt_busy.lua", { secs = 1.5 }))
      for i = 1, 5 do
        c:write("ping " .. i)
        assert.are.equal("ping " .. i, c:read())
        assert.are.equal("running", busy:status()) -- answered while it computes
      end
      assert.are.equal("concluded", (busy:wait()))
      local logs = table.concat(busy:logs(), "\n")
      assert.matches("busy done, cut in: false", logs)
      assert.matches("second task ran", logs)
    end, { timeout = 10 })
  end)

  it("runs a task held behind a preempted step as soon as that step waits", function()
    -- Without that, the step's task, woken by a timer on every turn, ran
    -- ahead of the held one for as long as it went on.
    xcs.run(function()
      local m = assert(xcs.load("spec/fixtures/preempt_fair.lua"))
      assert.are.equal("concluded", (m:wait()))
      local logs = table.concat(m:logs(), "\n")
      assert.matches("spawned task ran after round 1 of 1", logs)
    end, { timeout = 10 })
  end)

  it("still fails a module that computes past the CPU limit", function()
    xcs.configure { cpu_limit = 0.3 }
    xcs.run(function()
      local busy = assert(xcs.load("spec/fixtures/preempt_busy.lua", { secs = 5 }))
      local status, err = busy:wait()
      assert.are.equal("failed", status)
      assert.matches("CPU limit", err)
    end, { timeout = 10 })
  end)
end)
