-- tasks_spec.lua: the main task, spawn, sleep, now, log, exit, how a module
-- concludes or fails, the module's own coroutines, and the CPU and memory
-- limits.
local xcs = require "xcs"
local H = require "helpers"

local DIR = "spec/fixtures/"

-- The position of the first of lines matching pattern, or nil.
local function index(lines, pattern)
  for i, line in ipairs(lines) do
    if line:find(pattern) then return i end
  end
end

describe("tasks", function()
  it("run the module's top-level code as the main task", function()
    local lines, status = H.run_module(DIR .. "tasks_spawn.lua")
    assert.are.equal("concluded", status)
    assert.truthy(H.match_line(lines, "^right after spawn\tfalse$"))
  end)

  it("spawn passes its arguments (nils too) and runs the task after the current step", function()
    local lines = H.run_module(DIR .. "tasks_spawn.lua")
    local right_after = index(lines, "^right after spawn\tfalse$")
    local spawned = index(lines, "^spawned\t3\ta\tnil\t3$")
    assert.truthy(right_after)
    assert.truthy(spawned, table.concat(lines, "\n"))
    assert.is_true(right_after < spawned)
    assert.truthy(H.match_line(lines, "^after sleep\ttrue$"))
  end)

  it("sleep waits, now is a monotonic number of seconds, log formats", function()
    local lines, status = H.run_module(DIR .. "tasks_time.lua")
    assert.are.equal("concluded", status)
    assert.truthy(H.match_line(lines, "^slept\ttrue\tfloat\t0$"), table.concat(lines, "\n"))
    assert.truthy(H.match_line(lines, "^logged line 42$"))
    assert.truthy(H.match_line(lines, "^sleep0\ttrue$"))
  end)

  it("spawn, sleep and exit check their arguments", function()
    xcs.run(function()
      assert.has_error(function() xcs.spawn("not a function") end)
      assert.has_error(function() xcs.sleep(-1) end)
      assert.has_error(function() xcs.sleep("soon") end)
    end)
  end)

  describe("a module", function()
    it("concludes when all its tasks have returned, not when the main task does", function()
      xcs.run(function()
        local m = assert(xcs.load(DIR .. "tasks_conclude.lua"))
        assert.are.equal("running", m:status())
        assert.are.equal("concluded", (m:wait()))
        local lines = m:logs()
        local main, first, second, concluded = index(lines, "^main done$"),
          index(lines, "^first done$"), index(lines, "^second done$"), index(lines, "^concluded$")
        assert.truthy(main and first and second and concluded, table.concat(lines, "\n"))
        assert.is_true(main < first and first < second and second < concluded)
        assert.is_nil(m:error())
      end)
    end)

    for _, case in ipairs {
      { how = "exit", status = "concluded" },
      { how = "true", status = "concluded" },
      { how = "zero", status = "concluded" },
      { how = "false", status = "failed", err = "^why it stopped$" },
      { how = "false_bare", status = "failed", err = "^exit%(false%)$" },
      { how = "one", status = "failed", err = "^exit%(1%)$" },
    } do
      for _, from in ipairs { "main", "spawned", "coroutine" } do
        it(("ends at once on exit (%s) from the %s task: %s"):format(case.how, from, case.status), function()
          local lines, status, err = H.run_module(DIR .. "tasks_exit.lua", { how = case.how, from = from },
            { timeout = 5 })
          assert.are.equal(case.status, status)
          assert.is_nil(H.match_line(lines, "not reached"))
          assert.is_nil(H.match_line(lines, "^pcall returned"))
          if case.err then
            assert.matches(case.err, err)
            assert.truthy(H.match_line(lines, "^failed: "))
          else
            assert.is_nil(err)
            assert.truthy(H.match_line(lines, "^concluded$"))
          end
        end)
      end
    end

    it("fails on an uncaught error: its name, the message and a traceback in the log, " ..
      "while a module beside it keeps serving", function()
      xcs.run(function()
        local echo = assert(xcs.load(DIR .. "tasks_echo.lua", { port = 0 }))
        local m = assert(xcs.load(DIR .. "tasks_fail.lua"))
        local status, err = m:wait()
        assert.are.equal("failed", status)
        assert.matches("^spec/fixtures/tasks_fail%.lua:%d+: boom in a task\nstack traceback:\n", err)
        assert.are.equal(err, m:error())
        local line = H.match_line(xcs.logs(), "^tasks_fail: failed: ")
        assert.truthy(line)
        assert.matches("tasks_fail%.lua:%d+: boom in a task", line)
        assert.matches("stack traceback:", line)
        assert.matches("in %a+ 'boom'", line) -- names where it was raised
        H.assert_serves(echo)
      end)
    end)

    for _, case in ipairs {
      { what = "nil", err = "^%(error object is a nil value%)" },
      { what = "table", err = "^%(error object is a table value%)" },
      { what = "tostring", err = "^%(error object is a table value%)" },
      { what = "number", err = "^42\n" },
      { what = "runtime", err = "attempt to index a nil value %(local 't'%)" },
    } do
      it("fails cleanly on error(" .. case.what .. ")", function()
        xcs.run(function()
          local echo = assert(xcs.load(DIR .. "tasks_echo.lua", { port = 0 }))
          local m = assert(xcs.load(DIR .. "tasks_fail.lua", { what = case.what }))
          local status, err = m:wait()
          assert.are.equal("failed", status)
          assert.matches(case.err, err)
          assert.matches("stack traceback:", err)
          H.assert_serves(echo)
        end)
      end)
    end
  end)

  describe("coroutines", function()
    local lines, status, err
    lazy_setup(function()
      lines, status, err = H.run_module(DIR .. "tasks_coroutines.lua")
    end)

    local expected = {
      ["wrap"] = "2 20 done x",
      ["created status"] = "suspended",
      ["inside isyieldable"] = "true",
      ["inside status"] = "running",
      ["resume 1"] = "true y1 2",
      ["suspended status"] = "suspended",
      ["resume 2"] = "true 1 back",
      ["dead status"] = "dead",
      ["resume dead"] = "false cannot resume dead coroutine",
      ["task isyieldable"] = "false",
      ["task running"] = "thread false",
      ["error"] = "false inside a coroutine",
      ["error status"] = "dead",
      ["wrap error"] = "false table 7",
      ["close"] = "true dead closed",
      ["close dead"] = "true",
      ["nested"] = "inner 1 inner 2",
      ["sleep in wrap"] = "1 2 3",
      ["tcp in coroutine"] = "true connected",
      ["tcp in coroutine 2"] = "true echo:hi",
      ["udp nested"] = "ping true",
      ["resume waiting"] = "false cannot resume a coroutine that is waiting on the host",
      ["close waiting"] = "false cannot close a coroutine that is waiting on the host",
      ["waiting one"] = "true woke",
      ["all done"] = "true",
    }
    local names = {}
    for name in pairs(expected) do names[#names + 1] = name end
    table.sort(names)

    it("run the whole fixture to its end", function()
      assert.are.equal("concluded", status, err)
    end)

    for _, name in ipairs(names) do
      it("work as in Lua: " .. name, function()
        local line = H.match_line(lines, "^" .. name:gsub("%p", "%%%0") .. ": ")
        assert.truthy(line, "no line '" .. name .. "' in:\n" .. table.concat(lines, "\n"))
        assert.are.equal(expected[name], line:sub(#name + 3))
      end)
    end
  end)

  for _, from in ipairs { "main", "spawned" } do
    it("a bare coroutine.yield from the " .. from .. " task fails the module clearly", function()
      local lines, status, err = H.run_module(DIR .. "tasks_yield.lua", { from = from }, { timeout = 5 })
      assert.are.equal("failed", status)
      assert.matches("coroutine.yield: a task cannot yield to the host; wait with sleep%(%) " ..
        "or a socket call instead", err)
      assert.matches("tasks_yield%.lua:%d+", err)
      assert.truthy(H.match_line(lines, "^isyieldable\tfalse$"))
      assert.is_nil(H.match_line(lines, "not reached"))
    end)
  end

  it("a task can neither resume nor close another task's thread", function()
    local lines, status, err = H.run_module(DIR .. "tasks_hijack.lua", nil, { timeout = 5 })
    assert.are.equal("concluded", status, err)
    local all = table.concat(lines, "\n")
    assert.truthy(H.match_line(lines, "^resume a task\tfalse\tcannot resume a task"), all)
    assert.truthy(H.match_line(lines, "^close a task\tfalse\tcannot close a task"), all)
    assert.truthy(H.match_line(lines, "^status of the task\tsuspended$"))
    assert.truthy(H.match_line(lines, "^main woke$"))
  end)

  -- The coroutine functions report misuse naming the function called, never
  -- the prelude's internals: the ones the host wraps in the host's words
  -- ("coroutine.resume: bad argument #1 (co) ..."), the others in Lua's.
  for _, fname in ipairs { "resume", "close", "wrap", "status", "create" } do
    it("coroutine." .. fname .. " of a wrong argument names itself", function()
      local lines, status = H.run_module(DIR .. "tasks_coroutine_misuse.lua")
      assert.are.equal("concluded", status)
      local line = H.match_line(lines, "^coroutine%." .. fname .. "%(42%): ")
      assert.truthy(line)
      assert.is_nil(line:find("prelude", 1, true), line)
      assert.truthy(line:find(": coroutine." .. fname .. ": bad argument #1", 1, true) or
        line:match("bad argument #1 to '[%w.]*" .. fname .. "'"), line)
    end)
  end

  describe("the CPU limit", function()
    before_each(function() xcs.configure { cpu_limit = 0.5 } end)
    after_each(function() xcs.configure { cpu_limit = 10 } end)

    for _, how in ipairs { "plain", "pcall", "spawned" } do
      it("fails a task computing without waiting (" .. how .. "); a neighbour keeps serving", function()
        xcs.run(function()
          local echo = assert(xcs.load(DIR .. "tasks_echo.lua", { port = 0 }))
          local t0 = xcs.now()
          local m = assert(xcs.load(DIR .. "tasks_cpu.lua", { how = how }))
          local status, err = m:wait()
          local took = xcs.now() - t0
          assert.are.equal("failed", status)
          assert.matches("^CPU limit: ran 0%.5 s without waiting %(%-%-cpu%-limit%)", err)
          assert.matches("stack traceback:", err)
          assert.truthy(H.match_line(xcs.logs(), "^tasks_cpu: failed: CPU limit"))
          assert.is_true(took >= 0.45 and took < 5, "took " .. took)
          H.assert_serves(echo)
        end, { timeout = 8 })
      end)
    end

    it("does not stop bursts shorter than the limit with waits between them", function()
      local lines, status, err = H.run_module(DIR .. "tasks_cpu.lua", { how = "bursts", burst = "0.2" },
        { timeout = 8 })
      assert.are.equal("concluded", status, err)
      assert.truthy(H.match_line(lines, "^survived$"))
    end)

    -- Run in a child process: if the limit does not hold, the loop is blocked
    -- for good, and only a SIGKILL ends it.
    it("fails a task that burns the CPU in fresh coroutines it resumes", function()
      xcs.run(function()
        local p = H.start("--cpu-limit", "0.3", DIR .. "tasks_cpu.lua", "how=coroutines")
        H.expect(p, "tasks_cpu: started")
        local code = p:wait(3)
        if code == nil then p:kill("KILL") end
        assert.are.equal(1, code, "the host was still running 3 s after its start")
        assert.matches("tasks_cpu: failed: [^\n]*CPU limit", p:output())
      end, { timeout = 10 })
    end)
  end)

  describe("the memory limit", function()
    before_each(function() xcs.configure { memory_limit = 16 } end)
    after_each(function() xcs.configure { memory_limit = 256 } end)

    it("fails only the module that goes over it", function()
      xcs.run(function()
        local echo = assert(xcs.load(DIR .. "tasks_echo.lua", { port = 0 }))
        local m = assert(xcs.load(DIR .. "tasks_memory.lua"))
        local status, err = m:wait()
        assert.are.equal("failed", status)
        assert.matches("^not enough memory %(memory limit: 16 MiB, %-%-memory%-limit%)", err)
        assert.matches("stack traceback:", err)
        assert.truthy(H.match_line(m:logs(), "^started$"))
        H.assert_serves(echo)
        -- and the host takes new modules afterwards
        local again = assert(xcs.load(DIR .. "tasks_conclude.lua"))
        assert.are.equal("concluded", (again:wait()))
      end)
    end)
  end)
end)
