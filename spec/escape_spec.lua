-- escape_spec.lua: no way out. Every known way out of a Lua 5.4 sandbox,
-- tried by a module, must fail; the module must not escape, and the host and
-- a neighbour module (spec/fixtures/escape_echo.lua) must keep serving after
-- each attempt. This is the sandbox's regression suite: a new way out gets a
-- probe here.
--
-- Attacks that could block the host for good (finalizers and message
-- handlers the CPU watchdog cannot reach, C functions it cannot interrupt)
-- or crash it run in child xcshost processes, all at once, each bounded by
-- a shared deadline and SIGKILL; see "beyond the watchdog" below.
local xcs = require "xcs"
local H = require "helpers"

local DIR = "spec/fixtures/"

-- Loads `file` beside the echo, lets `during(m)` act on it (unload it,
-- say), waits until it has ended, and checks that the echo still serves.
-- Returns the module's log lines, status and error.
local function attack(file, args, during)
  return xcs.run(function()
    local echo = assert(xcs.load(DIR .. "escape_echo.lua"))
    local m = assert(xcs.load(DIR .. file, args))
    if during then during(m) end
    local status, err = m:wait()
    H.assert_serves(echo)
    return m:logs(), status, err
  end)
end

-- Runs one probe of escape_probe.lua: returns "ok <values>" or
-- "error <message>", once the module showed it still computes and waits.
local function probe(name, args)
  args = args or {}
  args.probe, args.bin = name, H.hex(H.BINARY_CHUNK)
  local lines, status, err = attack("escape_probe.lua", args)
  assert.are.equal("concluded", status, err)
  local line = H.match_line(lines, "^" .. name .. ": [oe]")
  assert(line, "no report from probe " .. name .. " in:\n" .. table.concat(lines, "\n"))
  assert.truthy(H.match_line(lines, "^" .. name .. ": alive$"), table.concat(lines, "\n"))
  return line:sub(#name + 3)
end

-- A probe run without pcall: what it raises fails the module.
local function probe_fails(name)
  local _, status, err = attack("escape_probe.lua", { probe = name, uncaught = true })
  assert.are.equal("failed", status)
  return err
end

local function limited()
  before_each(function() xcs.configure { cpu_limit = 0.5, memory_limit = 16 } end)
  after_each(function() xcs.configure { cpu_limit = 10, memory_limit = 256 } end)
end

describe("no way out:", function()
  describe("string.dump and binary chunks", function()
    it("string.dump is gone by every road", function()
      assert.are.equal("ok nil", probe("dump_global"))
      assert.are.equal("ok nil", probe("dump_method"))
      assert.are.equal("ok nil", probe("dump_meta"))
      assert.matches("^error .*attempt to call a nil value %(method 'dump'%)", probe("dump_call"))
    end)

    it("load with mode \"b\", or a reader giving binary pieces with mode \"b\": an error", function()
      assert.matches("^error .*binary chunks are not allowed in a module", probe("load_b"))
      assert.matches("^error .*binary chunks are not allowed in a module", probe("load_reader_b"))
    end)

    it("load of a binary string with mode \"bt\", \"tb\", none, or an env: nil and a message", function()
      for _, name in ipairs { "load_bt", "load_tb", "load_default", "load_env" } do
        assert.matches("^ok nil,attempt to load a binary chunk", probe(name))
      end
    end)

    it("load with a reader returning binary pieces", function()
      assert.matches("^ok nil,attempt to load a binary chunk", probe("load_reader"))
      -- a signature after text is just bad text
      assert.matches("^ok nil,.*unexpected symbol", probe("load_reader_late"))
      assert.matches("^error .*bad argument #3 to 'load'", probe("load_mode_table"))
    end)

    describe("binary files", function()
      local dir
      before_each(function()
        dir = H.tmpdir()
        H.write(dir .. "/bin.lua", H.BINARY_CHUNK)
        H.write(dir .. "/binmain.lua", H.BINARY_CHUNK)
        H.write(dir .. "/main.lua", 'print("bin", pcall(require, "bin"))\n' ..
          'print("dir", pcall(require, "sub"))\n')
        H.mkdir(dir .. "/sub.lua")
      end)
      after_each(function() H.rmdir(dir) end)

      it("a module file that is a binary chunk is not loaded", function()
        local m, err = xcs.run(function() return xcs.load(dir .. "/binmain.lua") end)
        assert.is_nil(m)
        assert.matches("binmain%.lua: a binary chunk, not Lua text", err)
      end)

      it("require of a binary file, or of a directory, fails", function()
        local lines, status = H.run_module(dir .. "/main.lua")
        assert.are.equal("concluded", status)
        assert.truthy(H.match_line(lines, "^bin\tfalse\t.*bin%.lua: a binary chunk, not Lua text"),
          table.concat(lines, "\n"))
        assert.truthy(H.match_line(lines, "^dir\tfalse\tcannot read .*sub%.lua: Is a directory$"),
          table.concat(lines, "\n"))
      end)
    end)
  end)

  describe("debug, io, os and package", function()
    it("debug is not reachable, by name, _G or rawget", function()
      assert.matches("^error .*undefined global 'debug'$", probe("debug"))
      assert.matches("^error .*undefined global 'debug'$", probe("G_debug"))
      assert.are.equal("ok nil", probe("rawget_debug"))
    end)

    it("io is not reachable", function()
      assert.matches("^error .*undefined global 'io'$", probe("io"))
      assert.are.equal("ok nil", probe("rawget_io"))
    end)

    it("os has time, clock, date and difftime only", function()
      assert.are.equal("ok clock date difftime time", probe("os_keys"))
      -- execute exit getenv remove rename tmpname setlocale
      assert.are.equal("ok nil,nil,nil,nil,nil,nil,nil", probe("os_absent"))
      assert.matches("^error .*invalid conversion specifier", probe("os_date_bad"))
    end)

    it("package, dofile and loadfile are not reachable", function()
      assert.matches("^error .*undefined global 'package'$", probe("package"))
      assert.are.equal("ok nil", probe("rawget_package"))
      assert.matches("^error .*undefined global 'dofile'$", probe("dofile"))
      assert.matches("^error .*undefined global 'loadfile'$", probe("loadfile"))
    end)

    for _, name in ipairs { "os", "io", "debug", "package", "string", "xcs", "lfs", "socket.core" } do
      it(("require %q looks for a .lua file beside the module only"):format(name), function()
        local path = DIR .. name:gsub("%.", "/") .. ".lua"
        assert.are.equal("error cannot open " .. path .. ": No such file or directory",
          probe("require", { name = name }))
      end)
    end

    for _, name in ipairs { "../escape_lib", "/etc/passwd", "./escape_lib", "fixtures/escape_lib",
      "..", ".", "...escape_lib", "escape_lib.", "escape_lib\0" } do
      it(("require %q is refused"):format(name), function()
        assert.matches("^error .*expected a module name such as 'util'",
          probe("require", { name = name }))
      end)
    end
  end)

  describe("collectgarbage", function()
    for _, opt in ipairs { "collect", "stop", "restart", "step", "setpause", "setstepmul",
      "isrunning", "no such option" } do
      it(("(%q) raises"):format(opt), function()
        assert.matches('^error .*is not allowed in a module %(allowed: count, generational ' ..
          "or incremental%)",
          probe("gc", { opt = opt, n = "0" }))
      end)
    end

    it("(\"count\") and () count", function()
      assert.are.equal("ok float", probe("gc_none"))
    end)
  end)

  describe("metatables", function()
    it("the string metatable holds a string table without dump", function()
      assert.are.equal("ok table,table,false,nil", probe("string_meta"))
      assert.matches("^error .*bad argument #1 to 'setmetatable' %(table expected, got string%)",
        probe("setmetatable_string"))
    end)

    it("a trapped string metatable does not stop the module's own socket calls", function()
      -- socket.open(70000) still raises (its message now goes through the
      -- trap), and opening and closing a socket still work
      assert.matches("^ok false,.*,true,true$", probe("string_meta_trap"))
    end)

    it("handles' metatables are hidden and cannot be replaced", function()
      assert.matches("^ok xcs handle,xcs handle,xcs handle,nil,nil,false,.*table expected, got xcs%.udp",
        probe("handle_meta"))
    end)

    it("the environment: a metatable, rawset or _ENV = nil reach nothing but the module", function()
      assert.are.equal("ok fake io,fake debug,nil", probe("env_meta"))
      assert.are.equal("ok mine,true", probe("env_rawset"))
      assert.matches("^error .*attempt to index a nil value %(local '_ENV'%)", probe("env_nil"))
    end)

    it("load's environment is the module's, or the one given, never the host's", function()
      assert.are.equal("ok true,true", probe("load_env_G"))
      assert.matches("^error c:1: undefined global 'io'$", probe("load_env_inherit"))
      assert.matches("^error c:1: attempt to index a nil value %(upvalue '_ENV'%)", probe("load_env_nil"))
      assert.are.equal("ok nil,nil,nil", probe("load_env_empty"))
    end)
  end)

  describe("deep recursion and the C stack", function()
    local cases = {
      recursion = "stack overflow",
      gsub_meta = "C stack overflow",
      sort_meta = "C stack overflow",
      lt_meta = "C stack overflow",
      index_chain = "'__index' chain too long; possible loop",
      index_loop = "'__index' chain too long; possible loop",
      index_fn = "C stack overflow",
      tostring_meta = "C stack overflow",
      concat_meta = "C stack overflow",
      pattern_nest = "pattern too complex",
      pattern_captures = "too many captures",
    }
    for _, name in ipairs { "recursion", "gsub_meta", "sort_meta", "lt_meta", "index_chain",
      "index_loop", "index_fn", "tostring_meta", "concat_meta", "pattern_nest",
      "pattern_captures" } do
      it(name .. ": an error the module can catch", function()
        local got = probe(name)
        assert.are.equal("error ", got:sub(1, 6))
        assert.truthy(got:find(cases[name], 1, true), got)
      end)
    end

    it("deep pcall, coroutine and parser nesting: an error the module can catch", function()
      assert.are.equal("ok true,C stack overflow", probe("pcall_nest"))
      assert.are.equal("ok true,C stack overflow", probe("coroutine_nest"))
      assert.are.equal("ok false,error in error handling", probe("xpcall_handler"))
      assert.are.equal("ok nil,C stack overflow", probe("parser_nest"))
      assert.are.equal("ok nil,C stack overflow", probe("table_nest"))
    end)

    it("uncaught, fails only the module; an error object is never called", function()
      assert.matches("stack overflow", probe_fails("recursion"))
      assert.matches("^%(error object is a table value%)", probe_fails("error_object"))
    end)
  end)

  describe("memory bombs, under memory_limit = 16", function()
    -- Memory only: under ASan and a busy machine, filling 16 MiB can take
    -- longer than a short CPU limit, and the limit under test is memory.
    before_each(function() xcs.configure { memory_limit = 16 } end)
    after_each(function() xcs.configure { memory_limit = 256 } end)
    for _, name in ipairs { "rep", "rep_sep", "table_growth", "string_keys", "concat_loop",
      "table_concat", "utf8_char", "format_q", "pack", "gsub_grow", "coroutines", "closures",
      "load_source" } do
      it(name .. ": not enough memory, and the module goes on", function()
        assert.are.equal("error not enough memory", probe(name))
      end)
    end

    it("sizes Lua refuses before allocating", function()
      assert.matches("^error .*resulting string too large", probe("rep_huge"))
      assert.matches("^error .*invalid conversion specification: '%%099999d'", probe("format_width"))
      assert.matches("^error .*too many results to unpack", probe("unpack"))
    end)

    it("uncaught, fails only the module, naming the limit", function()
      assert.matches("^not enough memory %(memory limit: 16 MiB, %-%-memory%-limit%)",
        probe_fails("table_growth"))
      assert.matches("^not enough memory %(memory limit: 16 MiB, %-%-memory%-limit%)",
        probe_fails("rep"))
    end)
  end)

  describe("__gc", function()
    -- Lua runs finalizers with hooks off, where the CPU watchdog cannot stop
    -- them, and at unload; so a module may not have any.
    it("a metatable with __gc is refused", function()
      local _, status, err = attack("escape_gc.lua", { how = "after_unload" })
      assert.are.equal("failed", status)
      assert.matches("bad argument #2 to 'setmetatable' %(__gc metamethods are not allowed " ..
        "in a module%)", err)
    end)

    it("a __gc added to a metatable already set never runs", function()
      local lines, status, err = attack("escape_gc.lua", { how = "late" })
      assert.are.equal("concluded", status, err)
      assert.truthy(H.match_line(lines, "^late gc set$"), table.concat(lines, "\n"))
      assert.is_nil(H.match_line(lines, "^finalizer ran"))
    end)
  end)

  describe("__close", function()
    limited()

    it("a handler that waits, raises or yields to the host when its block ends", function()
      local lines, status = attack("escape_close.lua", { how = "wait" })
      assert.are.equal("concluded", status)
      assert.truthy(H.match_line(lines, "^handler waited$"))
      assert.truthy(H.match_line(lines, "^wait: ok nil$"))
      lines = attack("escape_close.lua", { how = "raise" })
      assert.truthy(H.match_line(lines, "^raise: error .*raised by __close$"), table.concat(lines, "\n"))
      lines = attack("escape_close.lua", { how = "yield" })
      assert.truthy(H.match_line(lines, "^yield: error .*a task cannot yield to the host"),
        table.concat(lines, "\n"))
    end)

    it("a handler that never returns fails the module at the CPU limit", function()
      local lines, status, err = attack("escape_close.lua", { how = "loop" })
      assert.are.equal("failed", status)
      assert.matches("CPU limit", err)
      assert.is_nil(H.match_line(lines, "^not reached$"))
    end)

    it("handlers run by an unload cannot wait, open or spawn, and their errors are dropped", function()
      for _, how in ipairs { "unload_wait", "unload_raise" } do
        local lines, status = attack("escape_close.lua", { how = how }, function(m)
          assert.are.equal("running", m:status())
          m:unload()
        end)
        local all = table.concat(lines, "\n")
        assert.are.equal("unloaded", status)
        assert.truthy(H.match_line(lines, "^handler runs$"), all)
        if how == "unload_wait" then
          assert.truthy(H.match_line(lines, "^sleep: error sleep: "), all)
          assert.truthy(H.match_line(lines, "^open: error .*the module is unloading$"), all)
          assert.truthy(H.match_line(lines, "^read: error "), all)
          assert.truthy(H.match_line(lines, "^spawn: error spawn: the module is not running$"), all)
        end
      end
    end)

    it("a handler that never returns, run by an unload, is stopped at the CPU limit", function()
      local t0 = xcs.now()
      local lines, status = attack("escape_close.lua", { how = "unload_loop" }, function(m)
        m:unload()
      end)
      assert.are.equal("unloaded", status)
      assert.truthy(H.match_line(lines, "^handler runs$"))
      assert.is_true(xcs.now() - t0 < 5)
    end)
  end)

  describe("coroutines across limits", function()
    limited()

    it("a busy loop in a coroutine, inside pcall, inside a coroutine fails the module", function()
      local lines, status, err = attack("escape_coro.lua", { how = "runaway" })
      assert.are.equal("failed", status)
      assert.matches("CPU limit", err)
      assert.is_nil(H.match_line(lines, "^not reached$"))
    end)

    it("a task cannot be resumed or closed by module code", function()
      local lines, status = attack("escape_coro.lua", { how = "tasks" })
      assert.are.equal("concluded", status)
      assert.truthy(H.match_line(lines, "^resume the main task: true false cannot resume a task"))
      assert.truthy(H.match_line(lines, "^close the main task: true false cannot close a task"))
      assert.truthy(H.match_line(lines, "^main task still runs$"))
    end)

    it("a coroutine waiting on the host cannot be resumed or closed", function()
      local lines, status = attack("escape_coro.lua", { how = "parked" })
      local all = table.concat(lines, "\n")
      assert.are.equal("concluded", status)
      assert.truthy(H.match_line(lines, "^resume a parked coroutine: true false cannot resume a coroutine " ..
        "that is waiting on the host$"), all)
      assert.truthy(H.match_line(lines, "^close a parked coroutine: true false cannot close a coroutine " ..
        "that is waiting on the host$"), all)
      assert.truthy(H.match_line(lines, "^the parked coroutine: true true for the parked one "), all)
    end)

    it("pcall around a coroutine stopped by the CPU limit does not save the module", function()
      local lines, status, err = attack("escape_coro.lua", { how = "catch_kill" })
      if status ~= "failed" then
        pending("core bug: the CPU limit is swallowed when the busy loop ran in a coroutine: " ..
          "pcall(coroutine.wrap(function() while true do end end)) returns false, and the " ..
          "module goes on (here it waited, logged \"still running after the kill\" and " ..
          status .. "); bindings/task.c xcs_task_run should fail the module whenever " ..
          "m->limits.killed is set after lua_resume, whatever the status")
      end
      assert.are.equal("failed", status)
      assert.matches("CPU limit", err)
      assert.is_nil(H.match_line(lines, "^still running after the kill$"))
    end)
  end)

  -- Attacks that block or crash the host while these bugs and limits stand
  -- run in child xcshost processes beside escape_echo.lua, all started at
  -- once so the file stays fast. Once a child's attack began (its marker
  -- line), the spec pings the child's echo and waits for it to log the ping:
  -- as long as the control child (whose attack the watchdog does stop) took,
  -- plus a second, and at least DEADLINE from the start. Then every child
  -- gets SIGTERM, and SIGKILL if it has not stopped half a second later.
  describe("beyond the watchdog (in child processes)", function()
    local CASES = {
      -- name = { fixture, argument, --cpu-limit, marker line }
      control = { "escape_coro.lua", "how=runaway", "0.2", "^escape_coro: looping$" },
      xpcall = { "escape_coro.lua", "how=xpcall", "0.2", "^escape_coro: looping$" },
      kill_close = { "escape_close.lua", "how=kill_close", "0.2", "^escape_close: looping$" },
      coroutine_close = { "escape_close.lua", "how=coroutine_close", "0.2", "^escape_close: closing$" },
      wait_in_sort = { "escape_coro.lua", "how=sort", "2", "^escape_coro: read: " },
      wait_in_gsub = { "escape_coro.lua", "how=gsub", "2", "^escape_coro: read: " },
      wait_in_tostring = { "escape_coro.lua", "how=tostring", "2", "^escape_coro: read: " },
      pattern = { "escape_cfunc.lua", "how=pattern", "0.5", "^escape_cfunc: attack$" },
      move = { "escape_cfunc.lua", "how=move", "0.5", "^escape_cfunc: attack$" },
    }
    local DEADLINE = 2 -- seconds from the start
    local results

    local function run_children()
      if results then return results end
      local ok, got = pcall(xcs.run, function()
        local names, procs, out = {}, {}, {}
        for name in pairs(CASES) do names[#names + 1] = name end
        table.sort(names)
        local t0 = xcs.now()
        for _, name in ipairs(names) do
          local c = CASES[name]
          procs[name] = H.start("--cpu-limit", c[3], "--memory-limit", "16",
            DIR .. "escape_echo.lua", DIR .. c[1], c[2])
        end
        local function left(until_) return math.max(0.01, until_ - xcs.now()) end
        -- A p:expect or p:wait right after one that timed out returns
        -- "timeout" at once (bindings/process.c reads the task's last wake
        -- status on entry); a sleep(0) first gives it a fresh status.
        local function expect(p, pattern, until_)
          xcs.sleep(0)
          return p:expect(pattern, left(until_))
        end
        local function wait(p, until_)
          xcs.sleep(0)
          return p:wait(left(until_)) ~= nil
        end
        -- Each child's echo gets its ping once the child's attack began
        -- (starting a dozen children on a busy machine can take seconds)...
        local conns = {}
        for _, name in ipairs(names) do
          local p, r = procs[name], {}
          out[name] = r
          local line, port = expect(p, "^escape_echo: listening on 127%.0%.0%.1:(%d+)", t0 + 10)
          r.started = line ~= nil
          r.marker = r.started and expect(p, CASES[name][4], t0 + 10) ~= nil
          conns[name] = r.started and xcs.socket.connect("127.0.0.1", tonumber(port), "TCP")
          if conns[name] then
            r.sent = xcs.now()
            conns[name]:write("ping")
          end
        end
        -- ...and as long to answer as the control (whose attack the watchdog
        -- does stop) took, plus a second.
        local function answer(name, until_)
          local r = out[name]
          if conns[name] then
            r.answered = expect(procs[name], "^escape_echo: echoed ping$", until_) ~= nil
            r.waited = xcs.now() - r.sent
            conns[name]:close()
          end
          r.exited = wait(procs[name], 0)
        end
        answer("control", xcs.now() + 10)
        local answer_by = math.max(t0 + DEADLINE, xcs.now() + 1)
        for _, name in ipairs(names) do
          if name ~= "control" then answer(name, answer_by) end
        end
        for _, name in ipairs(names) do procs[name]:kill("TERM") end
        local term = xcs.now() + 0.5
        for _, name in ipairs(names) do
          local p, r = procs[name], out[name]
          r.stopped = r.exited or wait(p, term)
          if not r.stopped then
            p:kill("KILL")
            p:wait(5)
          end
          r.output = p:output()
        end
        return out
      end, { timeout = 30 })
      results = ok and got or { error = got }
      return results
    end

    -- Pends with what was seen when the neighbour did not answer; once the
    -- bug is fixed the assertions after it hold and the spec passes.
    local function check(name, bug)
      local all = run_children()
      if all.error then error(all.error, 0) end
      local r = all[name]
      assert(r.started, "the child did not start within 10 s:\n" .. tostring(r.output))
      if not r.answered then
        local seen
        if r.exited then
          seen = "the host died: " .. (r.output:match("[^\n]*Assertion[^\n]*") or
            r.output:match("[^\n]*ERROR: AddressSanitizer[^\n]*") or "(no message)")
        else
          seen = ("the neighbour got no answer for %.1f s; SIGTERM %s"):format(r.waited or 0,
            r.stopped and "stopped it" or "did not stop it, SIGKILL did")
        end
        pending(bug .. " [" .. seen .. "]")
      end
      assert.is_true(r.answered, r.output)
      assert.is_true(r.stopped, r.output)
      return r
    end

    it("control: a busy loop the watchdog stops leaves the neighbour answering", function()
      local all = run_children()
      if all.error then error(all.error, 0) end
      local r = all.control
      assert.is_true(r.answered, r.output)
      assert.is_true(r.stopped, r.output)
      assert.matches("escape_coro: failed: [^\n]*CPU limit", r.output)
    end)

    it("an xpcall message handler that never returns, after the CPU limit tripped", function()
      local r = check("xpcall", "core bug: the CPU limit's error is raised inside the count " ..
        "hook, where hooks are off, and Lua calls xpcall's message handler right there, so " ..
        "a handler that loops is never stopped. Fix: the sandbox's xpcall wraps the " ..
        "handler and skips it once the module's limits.killed is set")
      assert.matches("escape_coro: failed: [^\n]*CPU limit", r.output)
    end)

    it("a __close handler that never returns, in a task stopped by the CPU limit", function()
      local r = check("kill_close", "core bug: a task stopped by the CPU limit is left with " ..
        "hooks off (the error left the hook by longjmp), and the unload's lua_resetthread " ..
        "runs its pending __close handlers so, unstoppable. Fix: xcs_task_cancel_all skips " ..
        "lua_resetthread once limits.killed is set (lua_close frees the thread anyway)")
      assert.matches("escape_close: failed: [^\n]*CPU limit", r.output)
    end)

    it("a __close handler that never returns, run by coroutine.close", function()
      check("coroutine_close", "core bug: coroutine.close runs the coroutine's __close " ..
        "handlers without telling the watchdog which thread runs (xcs_limits_running), so " ..
        "the hook goes to the caller and a looping handler is never stopped. Fix: route " ..
        "coroutine.close (and the prelude's wrap) through a core.close that sets the " ..
        "running thread and refuses once limits.killed is set, as core.resume does")
    end)

    local STALE = "core bug: a socket call in a coroutine.wrap called where the task cannot " ..
      "wait (%s) yields to the prelude's pass, whose co_yield then fails with \"attempt to " ..
      "yield across a C-call boundary\"; the read stays recorded with the task as its " ..
      "waiter, so the task's next wait trips the assert in xcs_task_wait (debug) or, in a " ..
      "release build, a later datagram resumes a task that is waiting elsewhere or freed " ..
      "(ASan: heap-use-after-free in unslot). Fix: core.resume records whether its " ..
      "resumer can yield all the way to the task (lua_isyieldable(L) and, for a " ..
      "coroutine, its own resumer's answer), and xcs_task_check raises \"cannot wait " ..
      "here\" when not"
    for name, where in pairs { wait_in_sort = "a table.sort comparator",
      wait_in_gsub = "a string.gsub callback", wait_in_tostring = "a __tostring metamethod",
      } do
      it("a socket call in a coroutine, inside " .. where .. ", leaves nothing behind", function()
        local r = check(name, STALE:format(where))
        assert.matches("escape_coro: attack: [^\n]*false", r.output)
        assert.matches("escape_coro: slept 0%.2 s", r.output)
        assert.matches("escape_coro: read: late datagram", r.output)
      end)
    end

    -- Known limit, not a bug to fix here: the watchdog's hook only fires
    -- between Lua instructions, so work inside one C call is out of its reach.
    it("pattern matching over a long subject (a C function the hook cannot interrupt)", function()
      check("pattern", "known limit: string.find(string.rep(\"a\", 1e6), \".-.-.-b\") " ..
        "backtracks O(n^3) inside lstrlib's C matcher, where no count hook fires; " ..
        "--cpu-limit 0.5 cannot stop it and the whole host is blocked. Bound it with a " ..
        "step cap in a sandboxed matcher (or subject-length caps)")
    end)

    it("table.move over 2^62 empty slots (a C loop the hook cannot interrupt)", function()
      check("move", "known limit: table.move({}, 1, 2^62, 1, {}) loops in C without " ..
        "allocating, so neither the memory limit nor the CPU watchdog stops it; the host " ..
        "is blocked. Bound it with a cap on e - f in a sandboxed table.move")
    end)
  end)

  describe("files (--read-dir, --data-dir)", function()
    -- R (read) and D (data) with links out to S, a secret directory.
    local R, D, S
    before_each(function()
      R, D, S = H.tmpdir(), H.tmpdir(), H.tmpdir()
      H.write(S .. "/secret.txt", "TOPSECRET")
      H.write(R .. "/ok.txt", "allowed")
      H.mkdir(R .. "/sub")
      H.write(R .. "/sub/ok2.txt", "allowed too")
      H.mkdir(D .. "/escape_fs")
      local links = { [R .. "/link_out"] = S, [R .. "/link_file"] = S .. "/secret.txt",
        [R .. "/link_rel"] = "../" .. S:match("[^/]+$"), [R .. "/inner"] = "sub",
        [D .. "/escape_fs/planted"] = S .. "/secret.txt",
        [D .. "/escape_fs/planted2"] = S .. "/secret.txt" }
      for at, to in pairs(links) do assert(os.execute(("ln -s '%s' '%s'"):format(to, at))) end
      xcs.configure { read_dirs = R, data_dir = D }
    end)
    after_each(function() H.rmdir(R) H.rmdir(D) H.rmdir(S) end)

    it("no path, symlink, .. or NUL byte reads, lists, writes or removes outside", function()
      local lines, status, err = attack("escape_fs.lua", { secret = S })
      assert.are.equal("concluded", status, err)
      local text = table.concat(lines, "\n")
      assert.truthy(H.has_line(lines, "done"), text)
      assert.falsy(text:find("TOPSECRET", 1, true), text)
      assert.falsy(text:find("root:", 1, true), text) -- /etc/passwd
      local oks = {}
      for _, line in ipairs(lines) do
        if line:find(": ok ", 1, true) then oks[#oks + 1] = line end
      end
      assert.are.same({ "write planted: ok true", "remove planted2: ok true",
        "read ok.txt: ok allowed",
        "read inner/ok2.txt: ok allowed too" }, oks)
      assert.truthy(H.find_line(lines, 'read planted: no EACCES: fs.read: "planted" leads ' ..
        "outside the directories modules may read"), text)
      assert.truthy(H.find_line(lines, "read ok.txt\\0/../../secret/secret.txt: no fs.read: " ..
        "bad argument #1 (path): the path contains a NUL byte"), text)
      -- the secret is where it was, as it was; the planted links were replaced or removed
      local f = assert(io.open(S .. "/secret.txt"))
      assert.are.equal("TOPSECRET", f:read("a"))
      f:close()
      assert.is_false(H.exists(S .. "/x"))
      local p = assert(io.open(D .. "/escape_fs/planted"))
      assert.are.equal("escaped", p:read("a"))
      p:close()
      assert.is_false(H.exists(D .. "/escape_fs/planted2"))
    end)
  end)

  describe("another module's state", function()
    it("is untouched by what a neighbour changes in its own, and its sockets are out of reach", function()
      local taint_lines, clean_lines = xcs.run(function()
        local echo = assert(xcs.load(DIR .. "escape_echo.lua"))
        local taint = assert(xcs.load(DIR .. "escape_taint.lua", { victim = echo:port() }))
        local clean = assert(xcs.load(DIR .. "escape_clean.lua"))
        assert.are.equal("concluded", (clean:wait()))
        H.assert_serves(echo)
        assert.are.equal("running", taint:status())
        return taint:logs(), clean:logs()
      end)
      local all = table.concat(taint_lines, "\n")
      local NOT_OPEN = "port %d+ is not open in this module$"
      assert.truthy(H.match_line(taint_lines, "^read: false socket.read: " .. NOT_OPEN), all)
      assert.truthy(H.match_line(taint_lines, "^write: false socket.write: " .. NOT_OPEN), all)
      assert.truthy(H.match_line(taint_lines, "^close: false socket.close: " .. NOT_OPEN), all)
      assert.truthy(H.match_line(taint_lines, "^request close: false .*" .. NOT_OPEN), all)
      assert.truthy(H.match_line(taint_lines, "^open: true nil EADDRINUSE"), all)
      assert.truthy(H.match_line(taint_lines, "^tainted$"), all)
      assert.are.same({
        "upper ABC", "lower abc", "format 7", "add 11", "pi true", "sort function",
        "time integer", "wrap function", "lib pristine",
        "global " .. DIR .. "escape_clean.lua:12: undefined global 'tainted_global'",
        "rawget nil", "concluded",
      }, clean_lines)
    end)
  end)

  describe("the host", function()
    -- Everything a module reaches: the safe standard library, and the
    -- host's own functions listed here. A new global (or a library function
    -- Lua adds) shows up as unexpected until it is reviewed and listed.
    local LIBS = {
      table = "concat insert move pack remove sort unpack",
      math = "abs acos asin atan ceil cos deg exp floor fmod log max min modf rad random " ..
        "randomseed sin sqrt tan tointeger type ult",
      utf8 = "char codepoint codes len offset",
      coroutine = "close create isyieldable resume running status wrap yield",
    }
    -- Lua built with LUA_COMPAT_MATHLIB (Debian's is) has these as well.
    local OPTIONAL = "_G.math.atan2 _G.math.cosh _G.math.sinh _G.math.tanh _G.math.pow " ..
      "_G.math.frexp _G.math.ldexp _G.math.log10"
    local function allowed()
      local allow = {}
      local function add(prefix, names)
        for n in names:gmatch("%S+") do allow[prefix .. n] = true end
      end
      add("_G.", "assert error getmetatable ipairs next pairs pcall rawequal rawget rawlen " ..
        "rawset select setmetatable tonumber tostring type xpcall")
      for lib, names in pairs(LIBS) do add("_G." .. lib .. ".", names) end
      -- string functions are first reached through the string metatable
      add('getmetatable("").__index.', "byte char find format gmatch gsub len lower match " ..
        "pack packsize rep reverse sub unpack upper")
      add('getmetatable("").', "__add __sub __mul __div __mod __pow __unm __idiv")
      add("_G.", "os.time os.clock os.date os.difftime")
      -- the host's
      add("_G.", "load require collectgarbage print exit spawn sleep now request worker " ..
        "on_unload socket.open socket.read socket.write socket.close socket.connect " ..
        "socket.listen socket.list after every queue condition limits on_memory env fs.read " ..
        "fs.lines fs.list fs.write fs.remove")
      -- the module library (README "Libraries")
      add("_G.", "wallclock json.encode json.decode json.array json.is_array " ..
        "base64.encode base64.decode base64.urlencode base64.urldecode hex.encode hex.decode " ..
        "crypto.sha1 crypto.sha256 crypto.sha512 crypto.hmac crypto.equal crypto.random " ..
        "url.escape url.unescape url.parse_query url.build_query url.parse " ..
        "http.parse_request http.parse_response http.parse_chunked http.date http.parse_date http.reason")
      allow["getmetatable(_G).__index"] = true -- raises "undefined global" (or builds a library)
      allow["getmetatable(_G).__newindex"] = true -- rawset, and the library of that name is not built
      return allow
    end

    it("no function beyond the allow-list is reachable from the module's globals", function()
      local lines, status = attack("escape_reach.lua")
      assert.are.equal("concluded", status)
      local allow, reached, unexpected, others, keys = allowed(), {}, {}, {}, {}
      for _, line in ipairs(lines) do
        local kind, rest = line:match("^(%S+) (.*)$")
        if kind == "function" then
          reached[rest] = true
          if not allow[rest] then unexpected[#unexpected + 1] = rest end
        elseif kind == "other" then
          -- json.null is a light userdata: a bare address, with no metatable or methods
          if rest ~= "_G.json.null userdata" then others[#others + 1] = rest end
        elseif kind == "key" then
          keys[#keys + 1] = rest
        end
      end
      for path in OPTIONAL:gmatch("%S+") do
        for i = #unexpected, 1, -1 do
          if unexpected[i] == path then table.remove(unexpected, i) end
        end
      end
      local missing = {}
      for path in pairs(allow) do
        if not reached[path] then missing[#missing + 1] = path end
      end
      table.sort(missing)
      assert.are.same({}, unexpected)
      assert.are.same({}, others)
      assert.are.same({}, keys)
      assert.are.same({}, missing)
      assert.truthy(H.match_line(lines, "^walked %d+$"))
    end)
  end)
end)
