-- host_spec.lua: the xcshost executable end to end — command line, exit
-- status, failing modules, stop signals, the bind address.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local F = "spec/fixtures/"

-- Starts xcshost keeping only what it writes to stderr (stdout is dropped),
-- to show that a message goes to stderr.
local function start_stderr_only(...)
  return assert(xcs.process { "/bin/sh", "-c", 'exec "$0" "$@" 2>&1 >/dev/null', H.XCSHOST, ... })
end

describe("xcshost", function()
  describe("command line", function()
    for _, flag in ipairs { "--help", "-h" } do
      it(flag .. " prints the usage and exits 0", function()
        xcs.run(function()
          local code, out = H.run(flag)
          assert.are.equal(0, code)
          assert.matches("^usage: xcshost %[options%] MODULE%.lua %[key=value %.%.%.%]", out)
          for _, opt in ipairs { "--bind", "--memory-limit", "--cpu-limit", "--linger-ms",
            "--version", "Exit status" } do
            assert.truthy(out:find(opt, 1, true), opt .. " missing from the usage")
          end
        end)
      end)
    end

    for _, flag in ipairs { "--version", "-V" } do
      it(flag .. " prints the version and exits 0", function()
        xcs.run(function()
          local code, out = H.run(flag)
          assert.are.equal(0, code)
          assert.matches("^xcshost %d+%.%d+%.%d+ %(Lua 5%.4, libuv %d+%.%d+%.%d+%)\n$", out)
          assert.are.equal("xcshost " .. xcs.version, out:match("^(xcshost %S+)"))
        end)
      end)
    end

    for _, case in ipairs {
      { words = { "--nope", F .. "host_echo.lua" },
        msg = "^xcshost: unknown option '%-%-nope' %(see xcshost %-%-help%)\n$" },
      { words = {}, msg = "^xcshost: no module given" },
      { words = { "port=0", F .. "host_echo.lua" },
        msg = "^xcshost: argument 'port=0' comes before any module\n$" },
      { words = { "--cpu-limit", "soon", F .. "host_echo.lua" },
        msg = "^xcshost: bad value 'soon' for option %-%-cpu%-limit" },
      { words = { "--bind" }, msg = "^xcshost: option '%-%-bind' needs a value" },
      { words = { "--bind", "example.com", F .. "host_echo.lua" },
        msg = "^xcshost: %-%-bind needs IP addresses such as 127%.0%.0%.1, 0%.0%.0%.0 or ::, " ..
          "not 'example%.com'" },
    } do
      it("rejects bad usage with status 2: " .. table.concat(case.words, " "), function()
        xcs.run(function()
          local code, out = H.run(table.unpack(case.words))
          assert.are.equal(2, code)
          assert.matches(case.msg, out)
        end)
      end)
    end

    it("exits 2 naming a module file that is missing", function()
      xcs.run(function()
        local code, out = H.run(F .. "host_no_such_module.lua")
        assert.are.equal(2, code)
        assert.are.equal("xcshost: cannot open spec/fixtures/host_no_such_module.lua: " ..
          "No such file or directory\n", out)
      end)
    end)

    it("exits 2 when the module is a directory", function()
      xcs.run(function()
        local code, out = H.run("spec/fixtures/")
        assert.are.equal(2, code)
        assert.matches("^xcshost: cannot read spec/fixtures/", out)
      end)
    end)

    it("runs a module with a #! first line, keeping its line numbers", function()
      xcs.run(function()
        local code, out = H.run(F .. "host_shebang.lua")
        assert.are.equal(1, code)
        assert.truthy(out:find("host_shebang: shebang ok\n", 1, true), out)
        assert.truthy(out:find("host_shebang: failed: spec/fixtures/host_shebang.lua:4: raised on line 4\n",
          1, true), out)
      end)
    end)

    it("exits 2 on a syntax error, naming file and line, starting no module", function()
      xcs.run(function()
        local p = start_stderr_only(F .. "host_echo.lua", "port=0", F .. "host_syntax.lua")
        local code = p:wait(10)
        assert.are.equal(2, code)
        local out = p:output()
        assert.matches("xcshost: spec/fixtures/host_syntax%.lua:%d+: '%)' expected %(to close '%(' at line 4%)", out)
        assert.is_nil(out:find("listening", 1, true)) -- all or nothing
      end)
    end)

    it("hands key=value words to the module before them as arg (strings)", function()
      xcs.run(function()
        local code, out = H.run(F .. "host_args.lua", "port=0", "greeting=hello world", "empty=",
          "eq=a=b")
        assert.are.equal(0, code)
        assert.truthy(out:find("host_args: args\t0\tstring\thello world\ttrue\ta=b\n", 1, true), out)
      end)
    end)

    it("keeps each module's arguments to itself", function()
      xcs.run(function()
        local code, out = H.run(F .. "host_args.lua", "greeting=first", F .. "host_args.lua", "port=7")
        assert.are.equal(0, code)
        assert.truthy(out:find("host_args: args\tnil\tnil\tfirst\tfalse\tnil\n", 1, true), out)
        assert.truthy(out:find("host_args: args\t7\tstring\tnil\tfalse\tnil\n", 1, true), out)
      end)
    end)
  end)

  describe("exit status", function()
    it("is 0 when the module concludes", function()
      xcs.run(function()
        local code, out = H.run(F .. "host_args.lua")
        assert.are.equal(0, code)
        assert.truthy(out:find("host_args: concluded\n", 1, true), out)
      end)
    end)

    it("is 1 when a module fails, with its traceback on stderr, while another module " ..
      "keeps serving until it ends", function()
      xcs.run(function()
        local p = start_stderr_only(F .. "host_serve_once.lua", "port=0", F .. "host_fail.lua")
        local port = tonumber(H.expect(p, "^host_serve_once: listening on 127%.0%.0%.1:(%d+) %(TCP%)$"))
        H.expect(p, "^host_fail: failed: spec/fixtures/host_fail%.lua:3: host module failing$")
        H.expect(p, "^stack traceback:$")
        H.expect(p, "host_fail%.lua:3: in %a+ 'fail_now'")
        -- the other module still serves
        local c = assert(S.connect("127.0.0.1", port))
        for i = 1, 3 do
          assert.are.equal(5, c:write("ping" .. i))
          assert.are.equal("ping" .. i, c:read())
        end
        c:shutdown()
        assert.are.equal("", H.read_to_end(c))
        H.expect(p, "^host_serve_once: concluded$")
        assert.are.equal(1, p:wait(5))
      end)
    end)
  end)

  for _, sig in ipairs { "TERM", "INT" } do
    describe("on SIG" .. sig, function()
      it("logs that it stops, closes clients in order and exits 0", function()
        xcs.run(function()
          local p, port = H.start_serving("^host_echo: listening on 127%.0%.0%.1:(%d+) %(TCP%)$",
            F .. "host_echo.lua", "port=0")
          local c1 = assert(S.connect("127.0.0.1", port))
          local c2 = assert(S.connect("127.0.0.1", port))
          c1:write("one")
          assert.are.equal("one", c1:read())
          c2:write("two")
          assert.are.equal("two", c2:read())
          local t0 = xcs.now()
          assert.is_true(p:kill(sig))
          H.expect(p, "^xcshost: stopping on SIG" .. sig .. ": unloading every module$")
          -- an orderly close, not a reset
          assert.are.equal("", H.read_to_end(c1))
          assert.are.equal("", H.read_to_end(c2))
          c1:close()
          c2:close()
          H.expect(p, "^host_echo: unloading$")
          local code, signal = p:wait(5)
          assert.are.equal(0, code)
          assert.are.equal(0, signal)
          assert.is_true(xcs.now() - t0 < 3, "took " .. (xcs.now() - t0) .. " s")
          assert.truthy(p:output():find("host_echo: closed 127.0.0.1:" .. port .. " (TCP)", 1, true))
          -- and the port is free
          local l = assert(S.open(port, "TCP"))
          S.close(l)
        end)
      end)

      it("closes everything at once on a second SIG" .. sig, function()
        xcs.run(function()
          -- a long linger: only the second signal can end it quickly
          local p, port = H.start_serving("listening on 127%.0%.0%.1:(%d+)",
            "--linger-ms", "60000", F .. "host_echo.lua", "port=0")
          local c = assert(S.connect("127.0.0.1", port))
          c:write("x")
          assert.are.equal("x", c:read())
          p:kill(sig)
          -- the client gets FIN but does not close its side: the host lingers
          assert.are.equal("", H.read_to_end(c))
          local t0 = xcs.now()
          p:kill(sig)
          H.expect(p, "^xcshost: second SIG" .. sig .. ": closing everything now$")
          assert.are.equal(0, p:wait(5))
          assert.is_true(xcs.now() - t0 < 3)
          c:close()
        end)
      end)
    end)
  end

  it("stops on SIGTERM with a failed module behind it: status 1", function()
    xcs.run(function()
      local p = H.start(F .. "host_fail.lua", F .. "host_echo.lua", "port=0")
      H.expect(p, "^host_fail: failed: ")
      p:kill("TERM")
      H.expect(p, "stopping on SIGTERM")
      assert.are.equal(1, p:wait(5))
    end)
  end)

  it("listens on the --bind address", function()
    xcs.run(function()
      local p, port = H.start_serving("^host_echo: listening on 127%.0%.0%.2:(%d+) %(TCP%)$",
        "--bind", "127.0.0.2", F .. "host_echo.lua", "port=0")
      local c = assert(S.connect("127.0.0.2", port))
      c:write("over 127.0.0.2")
      assert.are.equal("over 127.0.0.2", c:read())
      assert.are.equal("127.0.0.2:" .. port, c:peer())
      -- not on 127.0.0.1
      H.outcome("ECONNREFUSED", S.connect("127.0.0.1", port))
      p:kill("TERM")
      assert.are.equal("", H.read_to_end(c))
      c:close()
      assert.are.equal(0, p:wait(5))
    end)
  end)
end)
