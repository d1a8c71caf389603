-- unix_host_spec.lua: UNIX sockets end to end with the real xcshost:
-- --unix-dir, the socket files on SIGTERM, after SIGKILL, between two hosts,
-- and across a SIGHUP reload.
local xcs = require "xcs"
local H = require "unix_helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

local function expect(p, pattern)
  local line = p:expect(pattern, 5)
  assert(line, ("no line matching %q; output was:\n%s"):format(pattern, p:output()))
  return line
end

local function plain(s) return (s:gsub("%p", "%%%0")) end

local dir
before_each(function()
  dir = H.tmpdir()
  xcs.configure { unix_dir = dir } -- the spec's own client sockets
end)
after_each(function()
  xcs.configure { unix_dir = false }
  H.rmdir(dir)
end)

local function ask(path, what)
  local c, err, code = S.connect(path, "UNIX")
  if not c then return nil, err, code end
  c:write(what or "x")
  local reply = c:read()
  c:close()
  return reply
end

describe("xcshost with UNIX sockets", function()
  it("refuses them without --unix-dir, naming the option", function()
    run(function()
      local p = assert(xcs.process { H.XCSHOST, "spec/fixtures/unix_echo.lua", "path=app.sock" })
      assert.are.equal(1, p:wait(5))
      local out = p:output()
      assert.truthy(out:find('socket.open: bad argument #1 (path): "app.sock" names a UNIX socket, ' ..
        "and this host allows none: start it with --unix-dir DIR", 1, true), out)
      local help = assert(xcs.process { H.XCSHOST, "--help" })
      assert.are.equal(0, help:wait(5))
      assert.truthy(help:output():find("--unix-dir DIR", 1, true))
    end)
  end)

  it("removes its socket files when stopped by SIGTERM", function()
    run(function()
      local p = assert(xcs.process { H.XCSHOST, "--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock",
        "spec/fixtures/unix_dgram_echo.lua", "path=" .. dir .. "/d.sock" })
      expect(p, "unix_echo: listening on " .. plain(dir) .. "/app%.sock %(UNIX%)")
      expect(p, "unix_dgram_echo: bound to " .. plain(dir) .. "/d%.sock %(UNIX%-DGRAM%)")
      assert.are.equal("x", ask(dir .. "/app.sock"))
      local c = assert(S.connect("d.sock", "UNIX-DGRAM"))
      c:write("y")
      assert.are.equal("echo:y", (c:read(5)))
      c:close()
      assert.is_true(H.is_socket(dir .. "/app.sock") and H.is_socket(dir .. "/d.sock"))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      assert.matches("unix_echo: closed " .. plain(dir) .. "/app%.sock %(UNIX%)", p:output())
      assert.matches("closed " .. plain(dir) .. "/d%.sock %(UNIX%-DGRAM%)", p:output())
      assert.is_false(H.exists(dir .. "/app.sock"))
      assert.is_false(H.exists(dir .. "/d.sock"))
    end)
  end)

  it("stops accepting at once on SIGTERM, its file gone while the unload hook runs", function()
    run(function()
      local file, path = dir .. "/hook.lua", dir .. "/hook.sock"
      H.write(file, [[
local l = assert(socket.listen("hook.sock"))
on_unload(function()
  log("hook running")
  sleep(0.3)
  exit()
end)
while true do
  local c = l:accept()
  if c then c:write("hello") c:close() end
end
]])
      local p = assert(xcs.process { H.XCSHOST, "--unix-dir", dir, file })
      expect(p, "listening on " .. plain(path))
      assert.are.equal("hello", ask(path))
      p:kill("TERM")
      expect(p, "hook: stopped accepting on " .. plain(path) .. " %(UNIX%)")
      expect(p, "hook running")
      assert.is_false(H.exists(path))
      local _, _, code = S.connect(path, "UNIX")
      assert.are.equal("ENOENT", code)
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("refuses a path another host serves, and replaces what a killed host left", function()
    run(function()
      local path = dir .. "/app.sock"
      local a = assert(xcs.process { H.XCSHOST, "--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock", "prefix=a:" })
      expect(a, "listening on")
      local b = assert(xcs.process { H.XCSHOST, "--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock" })
      assert.are.equal(1, b:wait(5))
      assert.truthy(b:output():find("EADDRINUSE: a socket is open on " .. path, 1, true), b:output())
      assert.are.equal("a:x", ask(path)) -- the first still serves, undisturbed
      a:kill("KILL") -- no chance to clean up: the file stays, stale
      a:wait(5)
      assert.is_true(H.is_socket(path))
      local _, _, code = S.connect(path, "UNIX")
      assert.are.equal("ECONNREFUSED", code)
      local c = assert(xcs.process { H.XCSHOST, "--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock", "prefix=c:" })
      expect(c, "unix_echo: replaced the stale socket file " .. plain(path))
      expect(c, "listening on " .. plain(path))
      assert.are.equal("c:x", ask(path))
      c:kill("TERM")
      assert.are.equal(0, c:wait(5))
      assert.is_false(H.exists(path))
    end)
  end)

  it("hands a UNIX listener to the new version on SIGHUP", function()
    run(function()
      local file, path = dir .. "/srv.lua", dir .. "/app.sock"
      local function version(v)
        H.write(file, ([[
socket.open("app.sock", "UNIX")
while true do
  local data, from = socket.read("app.sock")
  if data ~= "" then socket.write("app.sock", %q .. data, from) end
end
]]):format(v))
      end
      version("v1:")
      local p = assert(xcs.process { H.XCSHOST, "--unix-dir", dir, file })
      expect(p, "listening on " .. plain(path))
      assert.are.equal("v1:x", ask(path))
      version("v2:")
      p:kill("HUP")
      expect(p, "took over " .. plain(path) .. " from the running version")
      assert.are.equal("v2:x", ask(path))
      expect(p, "srv: closed " .. plain(path)) -- the old version's end left the new one's file
      assert.are.equal("v2:x", ask(path))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      assert.is_false(H.exists(path))
    end)
  end)
end)
