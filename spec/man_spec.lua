-- share/man/man1/xcshost.1 against `xcshost --help`: the same options (with
-- the same argument names), commands, signals, exit statuses and
-- environment variables; and groff finds nothing wrong in it.
local xcs = require "xcs"
local H = require "helpers"

local MAN = "share/man/man1/xcshost.1"

local function help()
  return xcs.run(function()
    local code, out = H.run("--help")
    assert.are.equal(0, code)
    return out
  end)
end

local function man_source() return H.read(MAN) end

-- "--name ARG" (or "--name") for every option a text defines, as a set.
local function help_options(text)
  local set = {}
  for line in text:gmatch("[^\n]+") do
    local short, long = line:match("^  %-(%a), (%-%-[%w-]+)")
    if short then
      set["-" .. short] = true
      set[long] = true
    else
      local opt, arg = line:match("^  (%-%-[%w-]+) (%S+)")
      if opt then set[opt .. " " .. arg] = true end
    end
  end
  return set
end

local function man_options(text)
  local set = {}
  for line in text:gmatch("[^\n]+") do
    line = line:gsub("\\%-", "-")
    local opt, arg = line:match('^%.BI (%-%-[%w-]+) " (%S+)"$')
    if opt then set[opt .. " " .. arg] = true end
    local a, b = line:match('^%.BR (%-%a) ", " (%-%-[%w-]+)$')
    if a then
      set[a] = true
      set[b] = true
    end
  end
  return set
end

describe("the man page xcshost(1)", function()
  it("documents exactly the options --help lists, with the same argument names", function()
    local from_help, from_man = help_options(help()), man_options(man_source())
    assert.truthy(#H.sorted_keys(from_help) > 25, "too few options found in --help")
    assert.are.same(H.sorted_keys(from_help), H.sorted_keys(from_man))
  end)

  it("has every command, signal, exit status and environment variable of --help", function()
    local text, man = help(), man_source():gsub("\\%-", "-"):gsub("\\f[BIRP]", "")
    for cmd in text:gmatch("xcshost ctl PATH (%a+)") do
      assert.truthy(man:find('"PATH " ' .. cmd, 1, true), "ctl " .. cmd .. " not in the man page")
    end
    assert.truthy(text:find("xcshost check", 1, true))
    assert.truthy(man:find("xcshost check", 1, true))
    for sig in text:gmatch("SIG%u+") do
      assert.truthy(man:find(sig, 1, true), sig .. " not in the man page")
    end
    for var in text:gmatch("%u+_%u+") do
      if var:match("^NOTIFY") or var:match("^LISTEN") or var:match("^WATCHDOG") then
        assert.truthy(man:find(var, 1, true), var .. " not in the man page")
      end
    end
    local statuses = man:match("%.SH EXIT STATUS(.-)%.SH")
    for code in text:gmatch("(%d) when") do
      assert.truthy(statuses:find("\n.B " .. code .. "\n", 1, true), "exit status " .. code)
    end
    assert.truthy(statuses:find("\n.B 2\n", 1, true))
  end)

  it("renders without a warning", function()
    xcs.run(function()
      local p = H.tool { "groff", "-man", "-ww", "-z", MAN }
      assert.are.equal(0, p:wait(20))
      assert.are.equal("", p:output())
    end)
  end)
end)
