-- sandbox_spec.lua: what a module can and cannot reach.
--
-- Each fixture under spec/fixtures/sandbox/ reports what it saw with print,
-- which lands in the host's log tagged with the module's name (m:logs()), or
-- fails with a message (m:error()).
local xcs = require "xcs"
local H = require "helpers"

local DIR = "spec/fixtures/sandbox/"

-- Runs one probe of sbx_probe.lua: returns "ok <values>" or "error <msg>".
local function probe(name)
  local lines, status, err = H.run_module(DIR .. "sbx_probe.lua",
    { probe = name, bin = H.hex(H.BINARY_CHUNK) })
  assert.are.equal("concluded", status, err)
  local line = H.match_line(lines, "^" .. name .. ": ")
  assert(line, "no report from probe " .. name .. " in:\n" .. table.concat(lines, "\n"))
  return line:sub(#name + 3)
end

describe("the sandbox", function()
  describe("does not reach", function()
    for _, name in ipairs { "io", "debug", "package", "dofile", "loadfile" } do
      it(name .. ": reading it raises 'undefined global'", function()
        assert.matches("^error spec/fixtures/sandbox/sbx_probe%.lua:%d+: undefined global '" ..
          name .. "'$", probe(name))
      end)
    end

    it("io through _G either, and rawget finds nothing", function()
      assert.matches("^error .*undefined global 'io'$", probe("G_io"))
      assert.are.equal("ok nil", probe("rawget_io"))
    end)

    it("os beyond time, clock, date and difftime", function()
      assert.are.equal("ok clock date difftime time", probe("os_keys"))
      assert.are.equal("ok nil", probe("os_execute"))
      assert.are.equal("ok integer,number,string,6.0", probe("os_time"))
    end)

    it("string.dump, neither as string.dump nor as a method of a string", function()
      assert.are.equal("ok nil", probe("string_dump"))
      assert.are.equal("ok nil", probe("method_dump"))
      assert.are.equal("ok nil", probe("meta_dump"))
    end)

    it("binary chunks through load with mode \"b\": an error", function()
      assert.matches("^error .*binary chunks are not allowed in a module", probe("load_b"))
    end)

    it("binary chunks through load with mode \"bt\" or none: nil and a message", function()
      assert.matches("^ok nil,.*attempt to load a binary chunk", probe("load_bt"))
      assert.matches("^ok nil,.*attempt to load a binary chunk", probe("load_default"))
      assert.matches("^ok nil,.*attempt to load a binary chunk", probe("load_reader"))
    end)

    for _, opt in ipairs { "collect", "step", "stop", "restart", "isrunning", "setpause",
      "setstepmul" } do
      it("collectgarbage(\"" .. opt .. "\")", function()
        assert.matches('^error .*collectgarbage: bad argument #1: "' .. opt .. '" is not ' ..
          "allowed in a module %(allowed: count, generational or incremental%)",
          probe("gc_" .. opt))
      end)
    end

    it("collectgarbage(\"generational\") and (\"incremental\") switch the collector's mode", function()
      assert.are.equal("ok incremental", probe("gc_generational"))
      assert.are.equal("ok incremental", probe("gc_incremental"))
    end)

    it("C modules: require looks for a .lua file beside the module only", function()
      assert.matches("^error .*cannot open spec/fixtures/sandbox/socket/core%.lua",
        probe("require_c"))
      assert.matches("^error .*cannot open spec/fixtures/sandbox/os%.lua", probe("require_os"))
    end)

    it("anything of another module: globals, the string metatable, libraries", function()
      local clean = xcs.run(function()
        local taint = assert(xcs.load(DIR .. "sbx_taint.lua"))
        assert.are.equal("concluded", (taint:wait()))
        assert.truthy(H.match_line(taint:logs(), "^tainted$"))
        local m = assert(xcs.load(DIR .. "sbx_clean.lua"))
        assert.are.equal("concluded", (m:wait()))
        return m:logs()
      end)
      assert.truthy(H.match_line(clean, "^upper\tABC$"))
      assert.truthy(H.match_line(clean, "^lower\tabc$"))
      assert.truthy(H.match_line(clean, "^pi\ttrue$"))
      assert.truthy(H.match_line(clean, "^global\tfalse\t.*undefined global 'tainted_global'$"))
      assert.truthy(H.match_line(clean, "^socket.open\ttrue$"))
    end)
  end)

  describe("reaches", function()
    it("collectgarbage(\"count\")", function()
      assert.are.equal("ok float", probe("gc_count"))
    end)

    it("globals it assigns itself; _G is its environment", function()
      assert.are.equal("ok 7", probe("assigned"))
      assert.are.equal("ok true", probe("G_is_ENV"))
    end)

    it("load of text, in the module's environment by default", function()
      assert.are.equal("ok true,function,true", probe("load_env"))
      assert.are.equal("ok set by a chunk", probe("load_global"))
      assert.matches("^error .*undefined global 'also_no_such_global'$", probe("load_typo"))
    end)

    it("load of text with an environment of its own", function()
      assert.are.equal("ok 5,nil", probe("load_own_env"))
    end)

    it("load of bad text: nil and the message", function()
      assert.matches("^ok nil,snippet:1: unexpected symbol", probe("load_syntax"))
    end)
  end)

  it("raises on reading an undefined global, naming it", function()
    assert.matches("^error .*sbx_probe.lua:%d+: undefined global 'no_such_global'$",
      probe("typo"))
  end)

  it("sends print and log to the host's log, tagged with the module's name", function()
    local lines, status = H.run_module(DIR .. "sbx_print.lua")
    assert.are.equal("concluded", status)
    assert.truthy(H.match_line(lines, "^hello\t42\tnil\ttrue\t1%.5$"))
    assert.truthy(H.match_line(lines, "^custom tostring$"))
    assert.truthy(H.match_line(lines, "^$"))
    assert.truthy(H.match_line(lines, "^log 7 formatted$"))
    assert.truthy(H.match_line(lines, "^plain %%d, no arguments$"))
    -- and in the whole log, the tag is the file name without .lua
    local all = xcs.logs()
    assert.truthy(H.match_line(all, "^sbx_print: hello\t42\tnil\ttrue\t1%.5$"))
  end)

  it("keeps a printed line whole when it holds a zero byte", function()
    local lines = H.run_module(DIR .. "sbx_print.lua")
    local line = H.match_line(lines, "^zero")
    assert.truthy(line)
    if not line:find("after the zero byte", 1, true) then
      pending("core bug: a log line is cut at a zero byte: print(\"zero\\0byte\", " ..
        "\"after\") logs only \"zero\" (bindings/socket.c l_log formats with \"%.*s\", " ..
        "which stops at the NUL; pass the bytes through, or escape them)")
    end
    assert.truthy(line:find("after the zero byte", 1, true))
  end)

  describe("require", function()
    it("loads a sibling .lua file into the same sandbox, once", function()
      local lines, status, err = H.run_module(DIR .. "sbx_require.lua")
      assert.are.equal("concluded", status, err)
      -- the library got its name as ..., saw the module's globals and socket
      assert.truthy(H.match_line(lines, "^util\t42\tsbx_util\tset by the main module\tfunction$"))
      -- the second require gave the same table without running the file again
      assert.truthy(H.match_line(lines, "^same\ttrue\t1$"))
      -- and what the library set is the module's global
      assert.truthy(H.match_line(lines, "^util set\tyes$"))
    end)

    it("maps dots to folders", function()
      local lines = H.run_module(DIR .. "sbx_require.lua")
      assert.truthy(H.match_line(lines, "^deep\tdeep, required as sbx_lib%.deep$"))
    end)

    it("gives true for a file that returns nothing", function()
      local lines = H.run_module(DIR .. "sbx_require.lua")
      assert.truthy(H.match_line(lines, "^nothing\ttrue$"))
    end)

    it("detects a cycle and names the module", function()
      local _, status, err = H.run_module(DIR .. "sbx_cycle.lua")
      assert.are.equal("failed", status)
      assert.matches("loop requiring 'sbx_cyc_a'", err)
    end)

    for _, name in ipairs { "../sbx_util", "sbx_lib/deep", "/etc/passwd", "..", "sbx..util",
      ".sbx_util", "sbx_util.", "", "sbx util" } do
      it(("rejects the name %q"):format(name), function()
        local lines, status = H.run_module(DIR .. "sbx_require_try.lua", { name = name })
        assert.are.equal("concluded", status)
        assert.truthy(H.match_line(lines, "^try 1: error .*expected a module name such as 'util'"),
          table.concat(lines, "\n"))
      end)
    end

    it("rejects a name with a zero byte", function()
      local lines = H.run_module(DIR .. "sbx_require_try.lua", { hex = H.hex("sbx_util\0.x") })
      assert.truthy(H.match_line(lines, "^try 1: error .*expected a module name"),
        table.concat(lines, "\n"))
    end)

    it("says clearly that a file is missing", function()
      local lines = H.run_module(DIR .. "sbx_require_try.lua", { name = "sbx_missing" })
      assert.truthy(H.match_line(lines,
        "^try 1: error cannot open spec/fixtures/sandbox/sbx_missing%.lua: No such file or directory$"),
        table.concat(lines, "\n"))
    end)

    it("names the file and line of a syntax error in a required file", function()
      local lines = H.run_module(DIR .. "sbx_require_try.lua", { name = "sbx_broken" })
      assert.truthy(H.match_line(lines,
        "^try 1: error spec/fixtures/sandbox/sbx_broken%.lua:3: unexpected symbol"), table.concat(lines, "\n"))
    end)

    it("passes on an error raised by a required file", function()
      local lines = H.run_module(DIR .. "sbx_require_try.lua", { name = "sbx_raises" })
      assert.truthy(H.match_line(lines,
        "^try 1: error spec/fixtures/sandbox/sbx_raises%.lua:1: raised while loading"), table.concat(lines, "\n"))
    end)

    -- Lua's require does not remember a failure: asking again tries again.
    for _, name in ipairs { "sbx_missing", "sbx_raises" } do
      it("tries again after a failed require of " .. name .. " (no false 'loop')", function()
        local lines = H.run_module(DIR .. "sbx_require_try.lua", { name = name, times = 2 })
        assert.truthy(H.match_line(lines, "^try 1: error "))
        local first = H.match_line(lines, "^try 1: ")
        local second = H.match_line(lines, "^try 2: ")
        assert.are.equal(first:sub(8), second and second:sub(8))
      end)
    end
  end)
end)
