-- The xcs test module itself: what a spec author relies on.
local xcs = require "xcs"
local S = xcs.socket

describe("the xcs test module", function()
  it("m:logs() holds the lines of this load only", function()
    xcs.run(function() assert(xcs.load("examples/echo.lua", { port = 0 })) end)
    local logs, port = xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      return m:logs(), m:port()
    end)
    assert.are.same({ "listening on 127.0.0.1:" .. port .. " (TCP)" }, logs)
  end)

  it("passes an assertion failure inside xcs.run on to busted, message and all", function()
    local ok, err = pcall(xcs.run, function() assert.are.equal(1, 2) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Expected objects to be equal", 1, true))
  end)
end)

describe("xcs.run and the modules it loaded", function()
  local H = require "helpers"

  it("fails when a module failed and the spec never looked", function()
    local err = H.raises({ "xcs.run: module xcs_fails failed: spec/fixtures/xcs_fails.lua:2: " ..
      "xcs_fails: as planned", "{ may_fail = true }" }, xcs.run, function()
      assert(xcs.load("spec/fixtures/xcs_fails.lua"))
    end)
    assert.falsy(err:find("xcs_fails_later", 1, true))
  end)

  it("fails for a module that failed after the spec's last look", function()
    H.raises({ "xcs.run: module xcs_fails_later failed: spec/fixtures/xcs_fails_later.lua:4" },
      xcs.run, function()
        local m = assert(xcs.load("spec/fixtures/xcs_fails_later.lua"))
        assert.are.equal("running", m:status())
        xcs.sleep(0.3)
      end)
  end)

  it("names the failure in a timeout too", function()
    H.raises({ "xcs.run: timed out after 0.2", "module xcs_fails failed" }, xcs.run, function()
      assert(xcs.load("spec/fixtures/xcs_fails.lua"))
      xcs.sleep(5)
    end, { timeout = 0.2 })
  end)

  it("passes when the spec read the failure: m:status(), m:error() or m:wait()", function()
    xcs.run(function()
      assert.are.equal("failed", assert(xcs.load("spec/fixtures/xcs_fails.lua")):status())
      assert.truthy(assert(xcs.load("spec/fixtures/xcs_fails.lua")):error())
      local status, err = assert(xcs.load("spec/fixtures/xcs_fails_later.lua")):wait()
      assert.are.equal("failed", status)
      assert.matches("as planned", err)
    end)
  end)

  it("passes when the spec said the module may fail", function()
    xcs.run(function()
      assert(xcs.load("spec/fixtures/xcs_fails.lua", {}, { may_fail = true }))
      assert(xcs.load("spec/fixtures/xcs_fails_later.lua", nil, { may_fail = true }))
      xcs.sleep(0.2)
    end)
  end)

  it("m:ports() lists the ports of its listeners and UDP sockets, in the order opened", function()
    xcs.run(function()
      local m = assert(xcs.load("spec/fixtures/xcs_ports.lua"))
      local ports = m:ports()
      assert.are.equal(3, #ports)
      assert.are.equal(m:port(), ports[1])
      assert.are.same({ ports[1], ports[3] }, m:ports("TCP"))
      assert.are.same({ ports[2] }, m:ports("udp"))
      assert(S.connect("127.0.0.1", ports[3])) -- the listener's
      H.raises({ 'ports: bad argument #1 (expected "TCP" or "UDP", got "UNIX")' }, m.ports, m, "UNIX")
      m:unload()
      assert.are.same({}, m:ports())
    end)
  end)
end)

describe("xcs.configure", function()
  local H = require "helpers"
  local function bound()
    return xcs.run(function()
      local l <close> = assert(S.open(0, "TCP"))
      return (l:address():match("^(.*):%d+$"))
    end)
  end

  it("inside a run, lasts until the run ends", function()
    assert.are.equal("127.0.0.2", xcs.run(function()
      xcs.configure { bind = "127.0.0.2" }
      local l <close> = assert(S.open(0, "TCP"))
      return (l:address():match("^(.*):%d+$"))
    end))
    assert.are.equal("127.0.0.1", bound())
  end)

  it("in a test, lasts for the rest of that test (1 of 2: sets it)", function()
    xcs.configure { bind = "127.0.0.3" }
    assert.are.equal("127.0.0.3", bound())
    assert.are.equal("127.0.0.3", bound())
  end)

  it("in a test, lasts for the rest of that test (2 of 2: it is gone)", function()
    assert.are.equal("127.0.0.1", bound())
  end)

  describe("in a before_each", function()
    before_each(function() xcs.configure { bind = "127.0.0.4" } end)
    it("holds for each test of its block", function() assert.are.equal("127.0.0.4", bound()) end)
    it("and again", function() assert.are.equal("127.0.0.4", bound()) end)
  end)

  it("ends with its describe block", function() assert.are.equal("127.0.0.1", bound()) end)

  it("raises on an unknown option, listing the known ones", function()
    H.raises({ "xcs.configure: unknown option binds (expected bind, memory_limit, ",
      " strict, proxy_protocol_from, lua_path or tls_dir)" }, xcs.configure, { binds = "127.0.0.1" })
  end)

  it("applies nothing of a table with a bad value", function()
    H.raises({ "xcs.configure: bind needs IP addresses, not 'nowhere'" }, xcs.configure,
      { max_sockets = 1, bind = "nowhere" })
    xcs.run(function()
      local a, b = assert(S.open(0, "TCP")), assert(S.open(0, "UDP")) -- two at once: no cap
      a:close()
      b:close()
    end)
  end)
end)

describe("xcs.process", function()
  local H = require "helpers"

  it("writes stdin = text to the program, then closes it", function()
    xcs.run(function()
      local p = assert(xcs.process { "/bin/cat", stdin = "one\ntwo\n" })
      assert.are.equal(0, p:wait(5))
      assert.are.equal("one\ntwo\n", p:output())
    end)
  end)

  it("with stdin = true, p:write talks to it and p:close_stdin ends its input", function()
    xcs.run(function()
      local p = assert(xcs.process { "/bin/cat", stdin = true })
      assert.is_true(p:write("ping\n"))
      assert.are.equal("ping", H.expect(p, "^ping$"))
      assert.is_true(p:write("pong\n"))
      assert.is_true(p:close_stdin())
      assert.are.equal(0, p:wait(5))
      assert.are.equal("ping\npong\n", p:output())
      H.raises({ "write: the process has no stdin", "stdin = true" }, p.write, p, "late")
    end)
  end)

  it("has no stdin unless asked: the program reads end of file", function()
    xcs.run(function()
      local p = assert(xcs.process { "/bin/cat" })
      assert.are.equal(0, p:wait(5))
      assert.are.equal("", p:output())
      H.raises({ "write: the process has no stdin" }, p.write, p, "x")
    end)
  end)

  it("env sets and removes variables of the environment it inherits", function()
    xcs.run(function()
      local p = assert(xcs.process { "/bin/sh", "-c", 'echo "[$XCS_A] [$XCS_B] [${HOME-unset}]"',
        env = { XCS_A = "one two", XCS_B = 2, HOME = false } })
      assert.are.equal(0, p:wait(5))
      assert.are.equal("[one two] [2] [unset]\n", p:output())
      local q = assert(xcs.process { "/bin/sh", "-c", 'echo "[${PATH:+set}]"' })
      assert.are.equal(0, q:wait(5))
      assert.are.equal("[set]\n", q:output()) -- the spec's own environment, by default
    end)
  end)

  it("raises on a bad stdin, env or option", function()
    xcs.run(function()
      H.raises({ "process: stdin must be a string" }, xcs.process, { "/bin/cat", stdin = 1 })
      H.raises({ "process: env names must be strings without '='" }, xcs.process,
        { "/bin/cat", env = { ["A=B"] = "x" } })
      H.raises({ "process: env.A must be a string, a number or false" }, xcs.process,
        { "/bin/cat", env = { A = {} } })
      H.raises({ "process: unknown option environ (expected stdin or env)" }, xcs.process,
        { "/bin/cat", environ = {} })
      local p = assert(xcs.process { "/bin/cat", stdin = true })
      H.raises({ "process:kill: unknown signal 'STOP' (expected TERM, INT, KILL or HUP)" },
        p.kill, p, "STOP")
      assert(p:kill())
      p:wait(5)
    end)
  end)
end)

describe("busted's configuration (.busted)", function()

  it("is in every directory of the tree but the fuzz corpora, handing over to the root's", function()
    local git = io.popen("git ls-files 2>/dev/null")
    local dirs, missing = {}, {}
    for f in git:lines() do
      local d = f:match("^(.*)/[^/]*$")
      while d and not d:match("^fuzz/corpus/") do -- and the directories above it
        dirs[d] = true
        d = d:match("^(.*)/[^/]*$")
      end
    end
    git:close()
    if next(dirs) == nil then return pending("not a git checkout") end
    for d in pairs(dirs) do
      local depth = select(2, d:gsub("/", "")) + 1
      local f = io.open(d .. "/.busted")
      local text = f and f:read("a") or ""
      if f then f:close() end
      if not text:find('dofile("' .. ("../"):rep(depth) .. '.busted")', 1, true) then
        missing[#missing + 1] = d
      end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("lets plain `busted` run the suite from any directory of the tree", function()
    local so = assert(package.searchpath("xcs", package.cpath))
    local cpath = so:gsub("xcs%.so$", "?.so")
    if not cpath:match("^/") then cpath = os.getenv("PWD") .. "/" .. cpath end
    for _, dir in ipairs { ".", "spec", "spec/fixtures/sandbox", "examples", "bindings" } do
      local out = xcs.run(function()
        local p = assert(xcs.process { "/bin/sh", "-c",
          ("cd %s && busted --cpath='%s' --list"):format(dir, cpath) })
        assert.are.equal(0, p:wait(60), p:output())
        return p:output()
      end, { timeout = 70 })
      assert.truthy(out:find("spec/xcs_spec.lua:%d+: busted's configuration"), dir .. ": " .. out)
      assert.truthy(out:find("examples/echo_spec.lua:%d+: "), dir .. ": " .. out)
    end
  end)
end)
