-- unix_stream_spec.lua: UNIX stream sockets in-process: a path where a port
-- goes (socket.open(path, "UNIX"), socket.listen(path), socket.connect(path,
-- "UNIX")), the port-keyed calls keyed by the path, and the connection
-- behaviour TCP has (framing, backpressure, timeouts, shutdown, delay).
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

local dir
H.fresh_unix_dir(function(d) dir = d end)

-- A symbolic link at path to target (H.tmpdir's paths need no quoting).
local function symlink(target, path)
  assert(os.execute("ln -s '" .. target .. "' '" .. path .. "'"))
end

describe("a UNIX stream socket", function()
  it("serves a port-keyed module at a path, and the module's log says where", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/unix_echo.lua", { path = "echo.sock", prefix = "> " }))
      local path = dir .. "/echo.sock"
      assert.is_true(H.has_line(m:logs(), "listening on " .. path .. " (UNIX)"))
      assert.is_true(H.is_socket(path))
      local a = assert(S.connect(path, "UNIX"))
      local b = assert(S.connect("echo.sock", nil, "UNIX")) -- relative to --unix-dir
      a:write("from a")
      b:write("from b")
      assert.are.equal("> from a", a:read())
      assert.are.equal("> from b", b:read())
      m:unload()
      assert.are.equal("", a:read()) -- an orderly close
      assert.is_true(H.has_line(m:logs(), "closed " .. path .. " (UNIX)"))
      assert.is_false(H.exists(path))
    end)
  end)

  it("takes the path as the key of every port-keyed call, however it was written", function()
    run(function()
      local l = assert(S.open("app.sock", "UNIX"))
      local path = dir .. "/app.sock"
      assert.are.equal(path, l:port()) -- the key: the path, made absolute
      assert.are.equal(path, l:address())
      local c = assert(S.connect(path, "UNIX"))
      c:write("one")
      local data, conn = S.read("app.sock")
      assert.are.equal("one", data)
      assert.are.equal(3, S.write("app.sock", "ONE")) -- to the peer of the last read
      assert.are.equal("ONE", c:read())
      c:write("two")
      data, conn = S.read(path)
      assert.are.equal("two", data)
      assert.are.equal(3, S.write(path, "TWO", conn))
      assert.are.equal("TWO", c:read())
      c:write("three")
      assert.are.equal("three", (S.read(dir .. "/./app.sock"))) -- any spelling of it
      assert.are.equal(1, S.write(l, "*", "*"))
      assert.are.equal("*", c:read())
      H.raises({ "socket.open: " .. path .. " (UNIX) is already open in this module" },
        S.open, path, "UNIX")
      assert.is_true(S.close("app.sock"))
      assert.is_false(H.exists(path))
      assert.are.equal("", c:read())
      H.raises({ "socket.read: UNIX socket " .. path .. " is not open in this module" },
        S.read, "app.sock")
      H.raises({ "socket.write: UNIX socket " .. path .. " is not open in this module" },
        S.write, path, "x")
      H.raises({ "socket.close: UNIX socket " .. dir .. "/other.sock is not open in this module" },
        S.close, "other.sock")
    end)
  end)

  it("works in the request form, with the path as the port word", function()
    run(function()
      local l = assert(xcs.request "socket_open app.sock UNIX")
      local c = assert(S.connect("app.sock", "UNIX"))
      c:write("hi")
      assert.are.equal("hi", (xcs.request("socket_read", "app.sock")))
      assert.are.equal(11, xcs.request "socket_write app.sock hello world")
      assert.are.equal("hello world", c:read())
      assert.is_true(xcs.request("socket_close " .. l:port()))
      assert.are.equal("", c:read())
    end)
  end)

  it("hands out connections with socket.listen and accept, with framed reads", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/stream_lines.lua", { path = "lines.sock" }))
      local cs = {}
      for i = 1, 3 do cs[i] = assert(S.connect("lines.sock", "UNIX")) end
      for round = 1, 2 do
        for i = 3, 1, -1 do cs[i]:write("c" .. i .. " r" .. round .. "\n") end
        for i = 1, 3 do assert.are.equal(round .. " c" .. i .. " r" .. round, cs[i]:read("*l")) end
      end
      cs[1]:write("quit\n")
      assert.are.equal("", cs[1]:read())
      cs[2]:write("a\nb\n")
      assert.are.equal("3 a\n4", cs[2]:read(5)) -- exactly five bytes
      assert.are.equal(" ", cs[2]:readuntil("b"))
      assert.are.equal("\n", cs[2]:readany(10))
      cs[2]:shutdown() -- half close: the server sees the end, we still read
      assert.are.equal("", cs[2]:read("*a"))
      m:unload()
      assert.are.equal("", cs[3]:read())
      assert.is_true(H.has_line(m:logs(), "bye (unnamed) after 2"))
      assert.is_true(H.has_line(m:logs(), "bye (unnamed) after 4"))
    end)
  end)

  it("names both ends, in tostring and socket.list", function()
    run(function()
      local path = dir .. "/named.sock"
      local l = assert(S.listen("named.sock"))
      assert.are.equal("xcs.listener " .. path .. " (listening, accept)", tostring(l))
      assert.are.equal(path, l:port())
      xcs.spawn(function()
        local first = assert(l:accept(5))
        first:write("first")
        first:close()
      end)
      xcs.sleep(0)
      H.raises({ "accept: socket busy (another task is accepting on " .. path .. ")" },
        function() return l:accept() end)
      local c = assert(S.connect(path, "UNIX"))
      assert.are.equal("first", c:read("*a")) -- the other task took that one
      c = assert(S.connect(path, "UNIX"))
      local s = assert(l:accept())
      assert.are.equal(path, s:address())
      assert.are.equal("(unnamed)", s:peer()) -- a client binds no path
      assert.are.equal("(unnamed)", c:address())
      assert.are.equal(path, c:peer())
      assert.is_nil(c:port())
      assert.matches("^xcs%.tcp %(unnamed%) %-> " .. path:gsub("%p", "%%%0") .. " %(open; %d+ bytes in, %d+ out, %d+ queued%)$", tostring(c)) -- luacheck: ignore 631
      c:write("12345")
      assert.are.equal("12345", s:read(5))
      local seen = {}
      for _, t in ipairs(S.list()) do
        if t.protocol == "UNIX" then seen[t.kind .. " " .. t["local"] .. " " .. tostring(t.remote)] = t end
      end
      assert.truthy(seen["listener " .. path .. " nil"])
      assert.truthy(seen["connection (unnamed) " .. path])
      local srv = seen["connection " .. path .. " (unnamed)"]
      assert.truthy(srv)
      assert.are.equal(5, srv.bytes_in)
      assert.are.equal(5, seen["connection (unnamed) " .. path].bytes_out)
    end)
  end)

  it("keeps a read timeout harmless and a write waiting on a slow reader", function()
    run(function()
      local l = assert(S.listen("slow.sock"))
      local c = assert(S.connect("slow.sock", "UNIX"))
      local s = assert(l:accept())
      c:write("par")
      H.failed_read("ETIMEDOUT", "par", s:read("*l", 0.05))
      c:write("tial\n")
      assert.are.equal("partial", s:read("*l")) -- nothing was lost
      -- backpressure: 4 MiB to a reader that has not started yet
      local chunk = ("x"):rep(64 * 1024)
      local wrote, waited = 0, false
      xcs.spawn(function()
        for _ = 1, 64 do
          local t0 = xcs.now()
          assert(s:write(chunk))
          if xcs.now() - t0 > 0.01 then waited = true end
          wrote = wrote + #chunk
        end
        s:close()
      end)
      xcs.sleep(0.05)
      assert.is_true(wrote < 4 * 1024 * 1024) -- held back, not queued without bound
      local got = 0
      for _ = 1, 10000 do
        local data = assert(c:read())
        if data == "" then break end
        got = got + #data
      end
      assert.are.equal(64 * #chunk, got)
      assert.is_true(waited)
    end)
  end)

  it("delays what a module receives under --delay, as over TCP", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/unix_echo.lua", { path = "late.sock" },
        { delay_ms = 100 }))
      local c = assert(S.connect("late.sock", "UNIX"))
      local t0 = xcs.now()
      c:write("late")
      assert.are.equal("late", c:read())
      assert.is_true(xcs.now() - t0 >= 0.09, "answered after " .. (xcs.now() - t0))
      assert.is_true(m:faults().delayed >= 1)
    end)
  end)

  it("takes the options that apply to it, and refuses TCP's", function()
    run(function()
      local l = assert(S.listen("opts.sock", { backlog = 4, maxline = 4, read_timeout = 0.05 }))
      local c = assert(S.connect("opts.sock", "UNIX", { timeout = 1, send_timeout = 1 }))
      local s = assert(l:accept())
      assert.is_true(s:setoption("sndbuf", 65536))
      c:write("toolong\n")
      H.outcome("EMSGSIZE", s:read("*l"))
      local ok, _, code = s:readany(100) -- the listener's read timeout
      assert.are.equal("toolong\n", ok)
      ok, _, code = s:read()
      assert.are.equal("ETIMEDOUT", code)
      H.raises({ "setoption", "\"nodelay\" is a TCP option; a UNIX socket has none such" },
        function() return s:setoption("nodelay", true) end)
      H.raises({ "socket.listen: option 'keepalive' is a TCP option" },
        S.listen, "other.sock", { keepalive = 10 })
      H.raises({ "socket.connect: option 'nodelay' is a TCP option" },
        S.connect, "opts.sock", "UNIX", { nodelay = true })
      -- socket.open takes a listener's options as socket.listen does
      local o = assert(S.open("open.sock", "UNIX", { backlog = 4, maxline = 8 }))
      H.raises({ "socket.open: option 'keepalive' is a TCP option" },
        S.open, "other.sock", "UNIX", { keepalive = 10 })
      H.raises({ "socket.open: unknown option 'bogus' (expected " }, S.open, "other.sock", "UNIX",
        { bogus = 1 })
      H.raises({ "socket.open: bad argument #3 (options): expected a table, got 5" }, S.open,
        "other.sock", "UNIX", 5)
      o:close()
      assert.is_true(c:close("reset")) -- no RST on UNIX: what was queued is dropped
      local data, err = s:read()
      assert.truthy(data == "" or err, tostring(err))
    end)
  end)
end)

describe("a UNIX socket path", function()
  it("must lead inside --unix-dir, or the call raises naming the function, argument and option", function()
    run(function()
      local outside = dir .. "-outside"
      H.mkdir(outside)
      H.mkdir(dir .. "/sub")
      symlink(outside, dir .. "/escape")            -- a directory leading out
      symlink(outside .. "/x.sock", dir .. "/evil.sock") -- a file leading out
      local ok, err = pcall(function()
        local want = "outside the --unix-dir directory " .. dir
        H.raises({ 'socket.open: bad argument #1 (path): "../x.sock" resolves to ', want },
          S.open, "../x.sock", "UNIX")
        H.raises({ 'socket.listen: bad argument #1 (path): "sub/../../x.sock"', want },
          S.listen, "sub/../../x.sock")
        H.raises({ 'socket.open: bad argument #1 (path): "/etc/x.sock" resolves to /etc/x.sock', want },
          S.open, "/etc/x.sock", "UNIX-DGRAM")
        H.raises({ 'socket.connect: bad argument #1 (path): "escape/x.sock" resolves to ' ..
          outside .. "/x.sock", want }, S.connect, "escape/x.sock", "UNIX")
        H.raises({ 'socket.connect: bad argument #1 (path): "evil.sock" is a symlink to ' ..
          outside .. "/x.sock", want }, S.connect, "evil.sock", "UNIX")
        H.raises({ "socket.read: bad argument #1 (port)", want }, S.read, "../x.sock")
        H.raises({ "socket.listen: bad argument #1 (path)", "nope/../../../x.sock", want },
          S.listen, "nope/../../../x.sock") -- a directory that does not exist, leading out
      end)
      H.rmdir(outside)
      assert(ok, err)
      -- inside is fine, through a subdirectory or a symlink that stays inside
      symlink(dir .. "/sub", dir .. "/inner")
      local l = assert(S.listen("inner/ok.sock"))
      assert.are.equal(dir .. "/sub/ok.sock", l:port())
      assert.is_userdata(S.connect(dir .. "/sub/ok.sock", "UNIX"))
    end)
  end)

  it("is refused when the host allows no UNIX sockets, naming --unix-dir", function()
    xcs.configure { unix_dir = false }
    run(function()
      local want = "this host allows none: start it with --unix-dir DIR"
      H.raises({ 'socket.open: bad argument #1 (path): "app.sock" names a UNIX socket', want },
        S.open, "app.sock", "UNIX")
      H.raises({ "socket.listen: bad argument #1 (path)", want }, S.listen, "/tmp/app.sock")
      H.raises({ "socket.connect: bad argument #1 (path)", want }, S.connect, "app.sock", "UNIX")
      H.raises({ "socket.open: bad argument #1 (path)", want }, S.open, "d.sock", "UNIX-DGRAM")
      H.raises({ 'socket.read: bad argument #1 (port): expected an integer from 0 to 65535, got "app.sock"',
        "--unix-dir" }, S.read, "app.sock")
      H.raises({ "socket.close: bad argument #1 (port)", "--unix-dir" }, S.close, "app.sock")
    end)
  end)

  it("says so when it is too long for a UNIX socket, or names no file", function()
    run(function()
      local long = ("x"):rep(120) .. ".sock"
      H.raises({ 'socket.open: bad argument #1 (path): "' .. long .. '" is ' .. (#dir + 1 + #long) ..
        " bytes long as " .. dir .. "/" .. long .. "; a UNIX socket path holds at most 107 (sun_path)" },
        S.open, long, "UNIX")
      for _, bad in ipairs { "", "sub/", ".", "..", "sub/.." } do
        H.raises({ "socket.listen: bad argument #1 (path): expected the path of a socket file" },
          S.listen, bad)
      end
      H.raises({ "socket.open: bad argument #1 (path): expected the path of a socket file (a string), got 7000" },
        S.open, 7000, "UNIX")
      H.raises({ "socket.connect: bad argument #1 (path)", "got nil" }, S.connect, nil, "UNIX")
      H.raises({ 'socket.connect: bad argument #2 (port)', 'socket.connect(path, "UNIX")' },
        S.connect, dir .. "/app.sock")
      H.raises({ 'socket.open: bad argument #1 (port)', 'socket.open(path, "UNIX")',
        'got "' .. dir .. '/app.sock"' }, S.open, dir .. "/app.sock", "TCP")
      -- a directory that does not exist is an outcome, not misuse
      assert.matches("^ENOENT: no directory " .. dir .. "/nodir",
        H.outcome("ENOENT", S.listen("nodir/x.sock")))
    end)
  end)
end)

describe("a UNIX socket file", function()
  it("is replaced when stale, refused when live, and left alone when not a socket", function()
    run(function()
      local path = dir .. "/app.sock"
      H.make_stale(path)
      local _, err, code = S.connect(path, "UNIX")
      assert.are.equal("ECONNREFUSED", code, err)
      local l = assert(S.open(path, "UNIX")) -- luacheck: ignore l (held open)
      assert.is_true(H.has_line(xcs.logs("spec"), "replaced the stale socket file " .. path))
      local c = assert(S.connect(path, "UNIX")) -- the new one answers
      c:write("x")
      assert.are.equal("x", (S.read(path)))
      -- live: held by this host's own modules
      local m = assert(xcs.load("spec/fixtures/unix_echo.lua", { path = "app.sock" }))
      assert.are.equal("failed", m:wait())
      assert.matches("EADDRINUSE: " .. H.plain(path) .. " is in use by spec", m:error())
      assert.are.equal("EADDRINUSE: " .. path .. " is in use by this module",
        H.outcome("EADDRINUSE", S.listen("app.sock")))
      -- not a socket
      H.write(dir .. "/plain", "keep me")
      assert.are.equal("EEXIST: " .. dir .. "/plain exists and is not a socket (it is left alone)",
        H.outcome("EEXIST", S.open("plain", "UNIX")))
      assert.are.equal("keep me", io.open(dir .. "/plain"):read("a"))
      _, _, code = S.connect("nothing.sock", "UNIX")
      assert.are.equal("ENOENT", code)
    end)
  end)

  it("is removed when its socket closes, however that happens", function()
    local paths = {}
    run(function()
      for _, name in ipairs { "a", "b", "c", "d", "e" } do paths[name] = dir .. "/" .. name .. ".sock" end
      local a = assert(S.open("a.sock", "UNIX"))
      assert.is_true(S.close(paths.a)) -- socket.close
      assert.is_false(H.exists(paths.a))
      assert.is_true(a:close()) -- again: nothing more
      local b = assert(S.listen("b.sock"))
      assert.is_true(b:close()) -- handle:close
      assert.is_false(H.exists(paths.b))
      local m = assert(xcs.load("spec/fixtures/unix_echo.lua", { path = "c.sock" }))
      assert.is_true(H.exists(paths.c))
      m:unload() -- unload
      assert.is_false(H.exists(paths.c))
      -- a failing module is unloaded too
      local f = dir .. "/fail.lua"
      H.write(f, 'socket.listen("d.sock")\nsleep(0.01)\nerror("boom")\n')
      m = assert(xcs.load(f))
      assert.is_true(H.exists(paths.d))
      assert.are.equal("failed", m:wait())
      assert.is_false(H.exists(paths.d))
      assert.is_userdata(S.listen("e.sock")) -- left open: the end of the run closes it
      assert.is_true(H.exists(paths.e))
    end)
    assert.is_false(H.exists(paths.e))
  end)

  it("is not removed once it is not the file the socket made", function()
    run(function()
      local path = dir .. "/app.sock"
      local l = assert(S.listen("app.sock"))
      assert(os.rename(path, dir .. "/moved.sock"))
      H.write(path, "someone else's")
      l:close()
      assert.are.equal("someone else's", io.open(path):read("a"))
      assert.is_true(H.is_socket(dir .. "/moved.sock")) -- not at the path it made: kept
    end)
  end)
end)

describe("reloading a module on a UNIX path", function()
  local function write_module(path, version)
    H.write(path, ([[
socket.open(arg.path, "UNIX")
while true do
  local data, from = socket.read(arg.path)
  if data ~= "" then socket.write(arg.path, %q .. ":" .. data, from) end
end
]]):format(version))
  end

  it("hands the new version the listening socket and its file", function()
    run(function()
      local file, path = dir .. "/server.lua", dir .. "/app.sock"
      write_module(file, "v1")
      local m = assert(xcs.load(file, { path = "app.sock" }))
      assert.are.equal("v1:x", H.ask("x", path, "UNIX"))
      write_module(file, "v2")
      local m2 = assert(m:reload())
      assert.are.equal("v2:x", H.ask("x", path, "UNIX"))
      assert.is_true(H.has_line(m2:logs(), "took over " .. path .. " from the running version"))
      m:wait()
      assert.is_true(H.exists(path)) -- the old version's end left the new one's file
      assert.are.equal("v2:x", H.ask("x", path, "UNIX"))
      -- no connection attempt is refused while it reloads
      local refused, answered, tries, done = 0, 0, 0, false
      xcs.spawn(function()
        while not done and tries < 2000 do
          tries = tries + 1
          local reply, _, code = H.ask("x", path, "UNIX")
          if code then refused = refused + 1 end
          if reply and reply ~= "" then answered = answered + 1 end
        end
        done = true
      end)
      for v = 3, 8 do
        xcs.sleep(0.01)
        write_module(file, "v" .. v)
        m2 = assert(m2:reload())
      end
      done = true
      assert.are.equal(0, refused)
      assert.is_true(answered > 0)
      assert.are.equal("v8:x", H.ask("x", path, "UNIX"))
      m2:unload()
      assert.is_false(H.exists(path))
    end)
  end)
end)
