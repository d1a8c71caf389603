-- `xcshost check MODULE.lua ...`: compiled in the sandbox, never run;
-- syntax errors and reads of undefined globals and fields reported as
-- FILE:LINE: message; exit status 0 fine, 1 a problem, 2 unreadable.
local xcs = require "xcs"
local H = require "helpers"

describe("xcshost check", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmdir(dir) end)

  local function check(...)
    local words = table.pack("check", ...)
    return xcs.run(function() return H.run(table.unpack(words, 1, words.n)) end)
  end

  it("passes every example, and runs none of them (exit 0)", function()
    local examples = {}
    for _, name in ipairs { "echo", "chat", "client", "http_hello", "proxy", "reliable_udp", "udp_echo" } do
      examples[#examples + 1] = "examples/" .. name .. ".lua"
    end
    local code, out = check(table.unpack(examples))
    assert.are.equal(0, code, out)
    for _, path in ipairs(examples) do
      assert.truthy(H.find_line(H.lines(out), path .. ": ok"), out)
    end
    assert.falsy(out:find("listening", 1, true), out)
  end)

  it("names the typo of a global and of a library function, with file, line and a guess", function()
    local path = dir .. "/typo.lua"
    H.write(path, table.concat({
      "local function helper() return 1 end",
      "function shared() return helper() end -- a global the module defines itself",
      "sokcet.open(7000, 'TCP')",
      "local s = string.fromat('%d', shared())",
      "spawn(function() return undefined_thing end)",
      "print(arg.port, _G.anything, s)",
    }, "\n"))
    local code, out = check(path)
    assert.are.equal(1, code, out)
    local lines = H.lines(out)
    assert.truthy(H.has_line(lines, path .. ":3: reads undefined global 'sokcet' (did you mean 'socket'?)"), out)
    assert.truthy(H.has_line(lines, path .. ":4: reads undefined field 'string.fromat' (did you mean 'format'?)"), out)
    assert.truthy(H.has_line(lines, path .. ":5: reads undefined global 'undefined_thing'"), out)
    assert.falsy(out:find("shared", 1, true), out)
    assert.falsy(out:find("arg", 1, true), out)
    assert.falsy(out:find(": ok", 1, true), out)
  end)

  it("counts the globals a file it requires assigns, as require finds that file", function()
    H.mkdir(dir .. "/lib")
    H.write(dir .. "/lib/util.lua", "function helper() return 1 end\nrequire 'lib.more'\nrequire 'lib.util'\n")
    H.write(dir .. "/lib/more.lua", "shared_limit = 10\n")
    H.write(dir .. "/main.lua", "require 'lib.util'\nlog('%d %d', helper(), shared_limit)\n" ..
      "local name = 'lib.missing'\nrequire(name)\nrequire 'lib.absent'\nlog(absent_global)\n")
    local code, out = check(dir .. "/main.lua")
    assert.are.equal(1, code, out)
    assert.are.same({ dir .. "/main.lua:6: reads undefined global 'absent_global'" }, H.lines(out))
  end)

  it("reports a syntax error with its line (exit 1)", function()
    local path = dir .. "/broken.lua"
    H.write(path, "local x = 1\nlocal y = \n")
    local code, out = check(path)
    assert.are.equal(1, code, out)
    assert.truthy(out:find(path .. ":3: unexpected symbol near <eof>", 1, true), out)
  end)

  it("refuses a binary chunk, as running it would", function()
    local path = dir .. "/binary.lua"
    H.write(path, H.BINARY_CHUNK)
    local code, out = check(path)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("a binary chunk, not Lua text", 1, true), out)
  end)

  it("exits 2 on a file it cannot read, and still checks the others", function()
    local code, out = check(dir .. "/missing.lua", "examples/echo.lua")
    assert.are.equal(2, code, out)
    assert.truthy(out:find("cannot open " .. dir .. "/missing.lua", 1, true), out)
    assert.truthy(out:find("examples/echo.lua: ok", 1, true), out)
  end)

  it("exits 2 with no module", function()
    local code, out = check()
    assert.are.equal(2, code, out)
    assert.truthy(out:find("no module given", 1, true), out)
  end)

  it("takes the options that shape the sandbox, and a module's key=value words as a run would", function()
    local code, out = check("--memory-limit", "64", "examples/echo.lua", "port=7000", "examples/chat.lua")
    assert.are.equal(0, code, out)
    assert.are.same({ "examples/echo.lua: ok", "examples/chat.lua: ok" }, H.lines(out))
  end)
end)
