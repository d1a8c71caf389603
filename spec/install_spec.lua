-- Installing: `cmake --install` and `make install PREFIX=...` into a
-- temporary prefix, then the installed xcshost, the installed `xcs` module
-- (from the INSTALL_CMOD folder lua5.4 looks in), the man page and the
-- files under share/xcshost, used from there.
local xcs = require "xcs"
local H = require "helpers"

local BUILD = os.getenv("XCS_BUILD_DIR") -- ctest sets it (spec/CMakeLists.txt)

-- Runs a program to its end: exit status, output. (lua5.4 keeps a sanitizer
-- build's LD_PRELOAD: the xcs module it loads is instrumented too.)
local function sh(...)
  local argv = { ... }
  local lua = false
  for _, a in ipairs(argv) do lua = lua or a == "lua5.4" end
  local p = lua and assert(xcs.process(argv)) or H.tool(argv)
  local code = p:wait(60)
  return code, p:output()
end

-- INSTALL_CMOD as the build was configured with.
local function cmod()
  return assert(H.read(BUILD .. "/CMakeCache.txt"):match("\nINSTALL_CMOD:STRING=([^\n]*)"))
end

describe("installing", function()
  if not BUILD then
    pending("needs XCS_BUILD_DIR (ctest sets it)")
    return
  end
  local prefix
  before_each(function() prefix = H.tmpdir() end)
  after_each(function() H.rmdir(prefix) end)

  local function check_installed()
    local bin = prefix .. "/bin/xcshost"
    local code, out = sh(bin, "--version")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("^xcshost %d+%.%d+%.%d+"), out)
    -- the examples and the editor files, used from where they were installed
    code, out = sh(bin, "check", prefix .. "/share/xcshost/examples/echo.lua",
      prefix .. "/share/xcshost/xcshost.lua")
    assert.are.equal(0, code, out)
    assert.falsy(H.exists(prefix .. "/share/xcshost/examples/echo_spec.lua"))
    code, out = sh("luacheck", "--no-color", "--config", prefix .. "/share/xcshost/luacheckrc",
      prefix .. "/share/xcshost/examples")
    assert.are.equal(0, code, out)
    code, out = sh("man", "-M", prefix .. "/share/man", "-w", "xcshost")
    assert.are.equal(0, code, out)
    assert.truthy(H.exists(prefix .. "/share/doc/xcshost/README.md"))
    assert.truthy(H.exists(prefix .. "/share/xcshost/contrib/xcshost.service"))
    -- the xcs module, from the folder lua5.4 takes C modules from
    local dir = cmod():match("^/") and cmod() or prefix .. "/" .. cmod()
    assert.truthy(H.exists(dir .. "/xcs.so"), dir)
    code, out = sh("env", "LUA_CPATH=" .. dir .. "/?.so", "lua5.4", "-e",
      'local x = require "xcs"; print(x.run(function() return "ran" end))')
    assert.are.equal(0, code, out)
    assert.are.equal("ran\n", out)
    -- the installed binary runs a module
    code, out = sh(bin, prefix .. "/share/xcshost/examples/udp_echo.lua", "port=0", "count=0")
    assert.truthy(out:find("udp_echo: bound to 127.0.0.1:", 1, true), out)
  end

  it("cmake --install --prefix puts everything under the prefix", function()
    xcs.run(function()
      local code, out = sh("cmake", "--install", BUILD, "--prefix", prefix)
      assert.are.equal(0, code, out)
      check_installed()
    end)
  end)

  it("make install PREFIX=... does the same", function()
    xcs.run(function()
      local code, out = sh("make", "-s", "install", "BUILD=" .. BUILD, "PREFIX=" .. prefix)
      assert.are.equal(0, code, out)
      check_installed()
    end)
  end)
end)
