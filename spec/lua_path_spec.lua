-- lua_path_spec.lua: --lua-path DIR (xcs.configure{ lua_path = }): require loads pure-Lua
-- libraries from there into the module's sandbox, never a C module (host/sandbox.c).
local xcs = require "xcs"
local H = require "helpers"

local LIB = "spec/fixtures/lua_path/lib"

-- Runs spec/fixtures/lua_path/probe.lua what=what with lua_path set; its one line.
local function probe(what, lua_path)
  xcs.configure { lua_path = lua_path or { LIB } }
  local lines, status, err = H.run_module("spec/fixtures/lua_path/probe.lua", { what = what })
  xcs.configure { lua_path = false }
  assert.are.equal("concluded", status, err)
  return lines[1]
end

describe("--lua-path", function()
  it("loads Debian's dkjson, Penlight's pl.stringx and inifile into the sandbox", function()
    xcs.configure { lua_path = { "/usr/share/lua/5.4" } }
    local lines, status, err = H.run_module("spec/fixtures/lua_path/uses_debian.lua")
    xcs.configure { lua_path = false }
    assert.are.equal("concluded", status, err)
    assert.is_true(H.has_line(lines, 'dkjson [1,2,{"a":"b"}]'))
    assert.is_true(H.has_line(lines, "stringx a|b|c x"))
    assert.is_true(H.has_line(lines, "same true"))
    assert.is_true(H.has_line(lines, "inifile 8080 edge"))                       -- its memory backend
    assert.is_true(H.has_line(lines, "inifile io false attempt to call a nil value (field 'open')"))
  end)

  it("gives a library the module's globals, package.config and an empty io, and nothing more", function()
    assert.are.equal("ok mylib: table table table string table table nil nil nil nil set false",
      probe("mylib"):gsub("false\t.*", "false"))
  end)

  it("finds name/init.lua, and prefers a file beside the module", function()
    assert.are.equal("ok pkg/init.lua", probe("pkg"))
    assert.are.equal("ok beside the module", probe("beside"))
  end)

  it("never loads a C module, and lists every place it looked", function()
    local d = H.plain(LIB)
    assert.matches("^error .*cannot open spec/fixtures/lua_path/cmod%.lua: No such file or directory; " ..
      "nor is 'cmod' under %-%-lua%-path %(no " .. d .. "/cmod%.lua, " .. d ..
      "/cmod/init%.lua; C modules are never loaded%)$", probe("cmod"))
    assert.matches("no " .. d .. "/no/such/lib%.lua, " .. d .. "/no/such/lib/init%.lua;",
      probe("missing"))
  end)

  it("searches several directories in order", function()
    assert.are.equal("ok pkg/init.lua", probe("pkg", { "spec/fixtures/sandbox", LIB }))
  end)

  it("is off by default: only files beside the module", function()
    assert.matches("^error .*cannot open spec/fixtures/lua_path/mylib%.lua: No such file or directory$",
      probe("mylib", {}))
  end)

  it("raises for a bad xcs.configure value", function()
    H.raises({ "xcs.configure: lua_path[1] must be a string, not a number" }, xcs.configure,
      { lua_path = { 1 } })
    xcs.configure { lua_path = false }
  end)

  describe("under xcshost", function()
    it("runs a module with Debian's libraries", function()
      xcs.run(function()
        local code, out = H.run("--lua-path", "/usr/share/lua/5.4", "spec/fixtures/lua_path/uses_debian.lua")
        assert.are.equal(0, code, out)
        assert.truthy(out:find("uses_debian: stringx a|b|c x", 1, true), out)
      end, { timeout = 30 }) -- xcshost under valgrind on a loaded machine is slow to start
    end)

    it("refuses a directory that is not there, naming it", function()
      xcs.run(function()
        local code, out = H.run("--lua-path", "/no/such/dir", "spec/fixtures/lua_path/probe.lua")
        assert.are.equal(2, code)
        assert.are.equal("xcshost: --lua-path /no/such/dir: No such file or directory\n", out)
        code, out = H.run("--lua-path", "spec/lua_path_spec.lua", "spec/fixtures/lua_path/probe.lua")
        assert.are.equal(2, code)
        assert.are.equal("xcshost: --lua-path spec/lua_path_spec.lua: not a directory\n", out)
      end, { timeout = 30 }) -- xcshost under valgrind on a loaded machine is slow to start
    end)

    it("leaves require as it was with no options at all", function()
      xcs.run(function()
        local code, out = H.run("spec/fixtures/lua_path/uses_debian.lua")
        assert.are.equal(1, code)
        assert.truthy(out:find("cannot open spec/fixtures/lua_path/dkjson.lua: No such file or directory",
          1, true), out)
      end, { timeout = 30 }) -- xcshost under valgrind on a loaded machine is slow to start
    end)
  end)
end)
