-- share/xcshost/xcshost.lua (LuaLS ---@meta) and share/xcshost/luacheckrc
-- name exactly what a module really sees: the sandbox's globals and the
-- fields of its tables (from a module that lists them), and the methods of
-- the handle metatables (from the registry of this Lua state, where the
-- test API registers the same metatables).
local H = require "helpers"

local META = "share/xcshost/xcshost.lua"
local RC = "share/xcshost/luacheckrc"
-- Lua built with LUA_COMPAT_MATHLIB (Debian's is) has these too; they are
-- deprecated, so neither file offers them.
local COMPAT = { atan2 = true, cosh = true, sinh = true, tanh = true, pow = true, frexp = true,
  ldexp = true, log10 = true }
-- Metatables of the test API, not of anything a module is given.
local TEST_ONLY = { ["xcs.process"] = true, ["xcs.module"] = true }

-- What the sandbox gives: globals, and fields by table name.
local function sandbox()
  local lines, status = H.run_module("spec/fixtures/editor_globals.lua")
  assert.are.equal("concluded", status)
  local globals, fields = {}, {}
  for name in lines[1]:gmatch("%S+") do
    local t, f = name:match("^([%w_]+)%.([%w_]+)$")
    if t then
      fields[t] = fields[t] or {}
      if not (t == "math" and COMPAT[f]) then fields[t][f] = true end
    else
      globals[name] = true
    end
  end
  return globals, fields
end

-- What the definition file declares: globals, fields by table, methods by class.
local function meta()
  local text = H.read(META)
  local globals, fields, methods, var_class = {}, {}, {}, {}
  for name in assert(text:match("\n%-%- standard: ([^\n]+)")):gmatch("%S+") do globals[name] = true end
  local class
  for line in text:gmatch("[^\n]+") do
    class = line:match("^%-%-%-@class (xcs%.%w+)") or class
    local var = line:match("^local (%w+) = {}")
    if var and class then
      var_class[var] = class
      methods[class] = {}
    end
    local g = line:match("^function ([%a_][%w_]*)%(") or line:match("^([%a_][%w_]*) = ")
    if g then globals[g] = true end
    local t, f = line:match("^function ([%a_][%w_]*)%.([%w_]+)%(")
    if not t then t, f = line:match("^([%a_][%w_]*)%.([%w_]+) = ") end
    if t then
      fields[t] = fields[t] or {}
      fields[t][f] = true
    end
    local v, m = line:match("^function (%w+):([%w_]+)%(")
    if v then methods[assert(var_class[v], "no class for " .. v)][m] = true end
  end
  return globals, fields, methods
end

describe("share/xcshost/xcshost.lua", function()
  it("declares exactly the globals of the sandbox, and the fields of the host's tables", function()
    local real, real_fields = sandbox()
    local declared, declared_fields = meta()
    assert.are.same(H.sorted_keys(real), H.sorted_keys(declared))
    for _, t in ipairs { "socket", "log", "os", "json", "base64", "hex", "crypto", "url", "http", "fs" } do
      assert.are.same(H.sorted_keys(real_fields[t]), H.sorted_keys(declared_fields[t]), t)
    end
  end)

  it("declares every method of every handle a module is given", function()
    local _, _, declared = meta()
    local real = {}
    for name, mt in pairs(debug.getregistry()) do
      if type(name) == "string" and name:match("^xcs%.") and not TEST_ONLY[name] and type(mt) == "table"
          and type(rawget(mt, "__index")) == "table" then
        real[name] = {}
        for m in pairs(mt.__index) do real[name][m] = true end
      end
    end
    assert.are.same(H.sorted_keys(real), H.sorted_keys(declared))
    for class, methods in pairs(real) do
      assert.are.same(H.sorted_keys(methods), H.sorted_keys(declared[class]), class)
    end
  end)

  it("is Lua that luac accepts, and a ---@meta file", function()
    require("xcs").run(function()
      local code, out = H.run("check", META) -- compiles in the sandbox too (it only defines)
      assert.are.equal(0, code, out)
      local p = H.tool { "luac5.4", "-p", META }
      assert.are.equal(0, p:wait(10), p:output())
    end)
    assert.truthy(H.read(META):find("^%-%-%-@meta xcshost\n"))
  end)
end)

describe("share/xcshost/luacheckrc", function()
  local function std()
    local env = {}
    assert(loadfile(RC, "t", env))()
    assert.are.equal("xcshost", env.std)
    return env.stds.xcshost
  end

  it("gives exactly the sandbox's globals, read-only, with the fields of its tables", function()
    local real, real_fields = sandbox()
    local s = std()
    local names, fields = {}, {}
    for k, v in pairs(s.read_globals) do
      if type(k) == "number" then
        names[v] = true
      else
        names[k] = true
        if v.fields then
          fields[k] = {}
          for _, f in ipairs(v.fields) do fields[k][f] = true end
        end
      end
    end
    -- strict is a global a module sets (strict = true), not one it is given
    for _, g in ipairs(s.globals) do if g ~= "strict" then names[g] = true end end
    assert.are.same(H.sorted_keys(real), H.sorted_keys(names))
    for t, f in pairs(fields) do
      assert.are.same(H.sorted_keys(real_fields[t]), H.sorted_keys(f), t)
    end
    assert.is_nil(names.io)
    assert.is_nil(names.debug)
    assert.is_nil(names.package)
  end)

  it("flags the typos `xcshost check` flags", function()
    require("xcs").run(function()
      local dir = H.tmpdir()
      H.write(dir .. "/typo.lua", "sokcet.open(7000, 'TCP')\nlocal s = string.fromat('%d', 1)\nio.write(s)\n")
      local p = H.tool { "luacheck", "--no-color", "--config", RC, dir .. "/typo.lua" }
      assert.are.equal(1, p:wait(20))
      local out = p:output()
      H.rmdir(dir)
      assert.truthy(out:find("accessing undefined variable 'sokcet'", 1, true), out)
      assert.truthy(out:find("accessing undefined field 'fromat' of global 'string'", 1, true), out)
      assert.truthy(out:find("accessing undefined variable 'io'", 1, true), out)
    end)
  end)
end)
