-- The copy-paste examples of README's Install, Checking, Logs, Metrics,
-- systemd and Editor and linter parts, run as written (a fixed port becomes
-- a free one, `xcshost` the binary under test) and compared with the output
-- the README shows.
local xcs = require "xcs"
local cjson = require "cjson"
local H = require "helpers"
local S = xcs.socket

local README = H.read("README.md")
local BUILD = os.getenv("XCS_BUILD_DIR")

-- The text of the part whose heading is `title` (any level), up to the next heading.
local function part(title)
  local start = assert(README:find("\n#+ " .. H.plain(title) .. "\n"), "no part " .. title)
  local rest = README:sub(start + 1)
  local stop = rest:find("\n#+ [^\n]+\n", 2)
  return stop and rest:sub(1, stop) or rest
end

-- The fenced code blocks of a part, in order (the indented ones of a list too).
local function blocks(text)
  local list = {}
  for body in text:gmatch("```%w*\n(.-)\n *```") do
    list[#list + 1] = body:gsub("\n  +", "\n"):gsub("^  +", "")
  end
  return list
end

-- Runs a shell line (xcshost in it is the binary under test): exit status, output.
local function sh(line, dir)
  line = line:gsub("^xcshost ", H.XCSHOST .. " "):gsub(" xcshost ", " " .. H.XCSHOST .. " ")
  local p = H.tool { "sh", "-c", (dir and "cd '" .. dir .. "' && " or "") .. line }
  return p:wait(60), p:output()
end

-- The words of a command line, the binary under test for xcshost.
local function words(line)
  local w = {}
  for word in line:gmatch("%S+") do w[#w + 1] = word == "xcshost" and H.XCSHOST or word end
  return table.unpack(w)
end

local function run(fn) return xcs.run(fn, { timeout = 60 }) end

local dir
before_each(function() dir = H.tmpdir() end)
after_each(function() H.rmdir(dir) end)

describe("README", function()
  it("Checking a module without running it: the session, output and status as shown", function()
    run(function()
      local b = blocks(part("Checking a module without running it"))
      H.write(dir .. "/typo.lua", b[1] .. "\n")
      H.mkdir(dir .. "/examples")
      H.write(dir .. "/examples/echo.lua", H.read("examples/echo.lua"))
      local session = H.lines(b[2])
      assert.are.equal("$ xcshost check examples/echo.lua typo.lua", session[1])
      local code, out = sh(session[1]:sub(3), dir)
      assert.are.same({ session[2], session[3], session[4] }, H.lines(out))
      assert.are.equal("$ echo $?", session[5])
      assert.are.equal(tonumber(session[6]), code)
    end)
  end)

  it("Install: make install PREFIX=... and the installed xcshost", function()
    if not BUILD then return pending("needs XCS_BUILD_DIR (ctest sets it)") end
    run(function()
      local lines = H.lines(blocks(part("Install"))[1])
      assert.truthy(lines[1]:find("^make install PREFIX=%$HOME/%.local$"))
      local code, out = sh("HOME='" .. dir .. "'; " .. lines[1] .. " BUILD='" .. BUILD .. "' >/dev/null && " ..
        lines[2])
      assert.are.equal(0, code, out)
      assert.truthy(H.match_line(H.lines(out), "^xcshost %d"), out) -- after what cmake may say
    end)
  end)

  it("Logs: the JSON line shown", function()
    run(function()
      local b = blocks(part("Logs"))
      local port = H.closed_port()
      local cmd = b[1]:gsub("7000", port)
      local p = H.start(select(2, words(cmd)))
      local line = H.expect(p, '^(.*"event":"listen".*)$')
      local got, want = cjson.decode(line), cjson.decode((b[2]:gsub("7000", port)))
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", got.time)
      got.time, want.time = nil, nil
      assert.are.same(want, got)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("Metrics: the curl line gives the sample shown after `echo hello | nc`", function()
    run(function()
      local b = blocks(part("Metrics"))
      local lines = H.lines(b[1])
      local port, mport = H.closed_port(), H.closed_port()
      while mport == port do mport = H.closed_port() end
      local function ports(s) return (s:gsub("7000", port):gsub("9100", mport)) end
      local p = H.start(select(2, words(ports(lines[1]))))
      H.expect(p, "echo: listening on")
      local c = assert(S.connect("127.0.0.1", port))
      assert(c:write("hello\n"))
      assert.are.equal("hello\n", c:read())
      c:close()
      local code, out = sh(ports(lines[2]))
      assert.are.equal(0, code, out)
      assert.are.equal(b[2] .. "\n", out)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("systemd: socket activation as shown", function()
    run(function()
      local b = blocks(part("systemd"))
      local port = H.closed_port()
      local p = assert(xcs.process { words((b[1]:gsub("7000", port))) })
      H.expect(p, "Listening on")
      local c = assert(S.connect("127.0.0.1", port))
      assert(c:write("x\n"))
      assert.are.equal("x\n", c:read())
      H.expect(p, H.plain((b[2]:gsub("7000", port))))
      c:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("Editor and linter: the .luarc.json is JSON, and luacheck says what is shown", function()
    run(function()
      local b = blocks(part("Editor and linter"))
      local luarc = cjson.decode(b[1])
      assert.are.equal("Lua 5.4", luarc["runtime.version"])
      assert.are.same({ "/usr/share/xcshost" }, luarc["workspace.library"])
      H.write(dir .. "/typo.lua", blocks(part("Checking a module without running it"))[1] .. "\n")
      local cmd = b[2]:gsub("/usr/share/xcshost/luacheckrc", os.getenv("PWD") .. "/share/xcshost/luacheckrc")
      local code, out = sh("luacheck --no-color" .. cmd:sub(#"luacheck" + 1), dir)
      assert.are.equal(1, code, out)
      for _, want in ipairs(H.lines(b[3])) do
        assert.truthy(out:find(want, 1, true), want .. " not in:\n" .. out)
      end
    end)
  end)
end)
