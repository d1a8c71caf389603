-- unix_host_spec.lua: UNIX sockets end to end with the real xcshost:
-- --unix-dir, the socket files on SIGTERM, after SIGKILL, between two hosts,
-- and across a SIGHUP reload.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

local dir -- also the spec's own for its client sockets
H.fresh_unix_dir(function(d) dir = d end)

describe("xcshost with UNIX sockets", function()
  it("refuses them without --unix-dir, naming the option", function()
    run(function()
      local code, out = H.run("spec/fixtures/unix_echo.lua", "path=app.sock")
      assert.are.equal(1, code)
      assert.truthy(out:find('socket.open: bad argument #1 (path): "app.sock" names a UNIX socket, ' ..
        "and this host allows none: start it with --unix-dir DIR", 1, true), out)
      code, out = H.run("--help")
      assert.are.equal(0, code)
      assert.truthy(out:find("--unix-dir DIR", 1, true))
    end)
  end)

  it("removes its socket files when stopped by SIGTERM", function()
    run(function()
      local p = H.start("--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock",
        "spec/fixtures/unix_dgram_echo.lua", "path=" .. dir .. "/d.sock")
      H.expect(p, "unix_echo: listening on " .. H.plain(dir) .. "/app%.sock %(UNIX%)")
      H.expect(p, "unix_dgram_echo: bound to " .. H.plain(dir) .. "/d%.sock %(UNIX%-DGRAM%)")
      assert.are.equal("x", H.ask("x", dir .. "/app.sock", "UNIX"))
      local c = assert(S.connect("d.sock", "UNIX-DGRAM"))
      c:write("y")
      assert.are.equal("echo:y", (c:read(5)))
      c:close()
      assert.is_true(H.is_socket(dir .. "/app.sock") and H.is_socket(dir .. "/d.sock"))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      assert.matches("unix_echo: closed " .. H.plain(dir) .. "/app%.sock %(UNIX%)", p:output())
      assert.matches("closed " .. H.plain(dir) .. "/d%.sock %(UNIX%-DGRAM%)", p:output())
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
      local p = H.start("--unix-dir", dir, file)
      H.expect(p, "listening on " .. H.plain(path))
      assert.are.equal("hello", H.ask("x", path, "UNIX"))
      p:kill("TERM")
      H.expect(p, "hook: stopped accepting on " .. H.plain(path) .. " %(UNIX%)")
      H.expect(p, "hook running")
      assert.is_false(H.exists(path))
      local _, _, code = S.connect(path, "UNIX")
      assert.are.equal("ENOENT", code)
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("refuses a path another host serves, and replaces what a killed host left", function()
    run(function()
      local path = dir .. "/app.sock"
      local a = H.start("--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock", "prefix=a:")
      H.expect(a, "listening on")
      local status, out = H.run("--unix-dir", dir, "spec/fixtures/unix_echo.lua", "path=app.sock")
      assert.are.equal(1, status)
      assert.truthy(out:find("EADDRINUSE: a socket is open on " .. path, 1, true), out)
      assert.are.equal("a:x", H.ask("x", path, "UNIX")) -- the first still serves, undisturbed
      a:kill("KILL") -- no chance to clean up: the file stays, stale
      a:wait(5)
      assert.is_true(H.is_socket(path))
      local _, _, code = S.connect(path, "UNIX")
      assert.are.equal("ECONNREFUSED", code)
      local c = H.start("--unix-dir", dir,
        "spec/fixtures/unix_echo.lua", "path=app.sock", "prefix=c:")
      H.expect(c, "unix_echo: replaced the stale socket file " .. H.plain(path))
      H.expect(c, "listening on " .. H.plain(path))
      assert.are.equal("c:x", H.ask("x", path, "UNIX"))
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
      local p = H.start("--unix-dir", dir, file)
      H.expect(p, "listening on " .. H.plain(path))
      assert.are.equal("v1:x", H.ask("x", path, "UNIX"))
      version("v2:")
      p:kill("HUP")
      H.expect(p, "took over " .. H.plain(path) .. " from the running version")
      assert.are.equal("v2:x", H.ask("x", path, "UNIX"))
      H.expect(p, "srv: closed " .. H.plain(path)) -- the old version's end left the new one's file
      assert.are.equal("v2:x", H.ask("x", path, "UNIX"))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      assert.is_false(H.exists(path))
    end)
  end)
end)
