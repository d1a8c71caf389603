-- unix_dgram_spec.lua: UNIX datagram sockets: socket.open(path,
-- "UNIX-DGRAM"), socket.connect(path, "UNIX-DGRAM"), read -> data, from-path,
-- write(data, to-path); boundaries kept, the queue bounded, the files removed.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

local dir
H.fresh_unix_dir(function(d) dir = d end)

describe("a UNIX datagram socket", function()
  it("answers a connected client, which has a path of its own while open", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/unix_dgram_echo.lua", { path = "echo.sock" }))
      local path = dir .. "/echo.sock"
      assert.is_true(H.has_line(m:logs(), "bound to " .. path .. " (UNIX-DGRAM)"))
      local c = assert(S.connect("echo.sock", "UNIX-DGRAM"))
      local own = c:address()
      assert.matches("^" .. H.plain(dir) .. "/%.xcs%-%d+%-%d+%.sock$", own)
      assert.are.equal(path, c:peer())
      assert.is_true(H.is_socket(own))
      assert.are.equal(2, c:write("hi"))
      local data, from = c:read(5)
      assert.are.equal("echo:hi", data)
      assert.are.equal(path, from)
      assert.are.equal("xcs.unixdgram " .. own .. " -> " .. path .. " (0 datagrams waiting)",
        tostring(c))
      H.raises({ "this socket sends only to " .. path },
        function() return c:write("x", dir .. "/other.sock") end)
      c:close()
      assert.is_false(H.exists(own))
      m:unload()
      assert.is_false(H.exists(path))
      assert.is_true(H.has_line(m:logs(), "closed " .. path .. " (UNIX-DGRAM)"))
      assert.is_true(H.has_line(xcs.logs("spec"), "sending from " .. own .. " to " .. path ..
        " (UNIX-DGRAM)"))
    end)
  end)

  it("keeps datagram boundaries and tells each sender's path; a reply needs no `to`", function()
    run(function()
      local a = assert(S.open("a.sock", "UNIX-DGRAM"))
      local b = assert(S.open(dir .. "/b.sock", "UNIX-DGRAM"))
      for _, d in ipairs { "one", "", ("x"):rep(60000), "four" } do
        assert.are.equal(#d, a:write(d, "b.sock"))
      end
      for _, d in ipairs { "one", "", ("x"):rep(60000), "four" } do
        local data, from = S.read("b.sock")
        assert.are.equal(d, data)
        assert.are.equal(dir .. "/a.sock", from)
      end
      assert.are.equal(5, S.write("b.sock", "reply")) -- to the sender of the last read
      assert.are.same({ "reply", dir .. "/b.sock" }, { a:read(5) })
      assert.are.equal(3, S.write(b, "two", "a.sock"))
      assert.are.equal("two", (a:read(5)))
      local kinds = {}
      for _, t in ipairs(S.list()) do
        if t.protocol == "UNIX-DGRAM" then kinds[t["local"]] = t end
      end
      assert.are.equal("socket", kinds[dir .. "/a.sock"].kind)
      assert.are.equal(60007, kinds[dir .. "/a.sock"].bytes_out)
      assert.are.equal(60007, kinds[dir .. "/b.sock"].bytes_in)
      assert.are.equal(8, kinds[dir .. "/b.sock"].bytes_out)
      assert.is_true(S.close("a.sock"))
      assert.is_false(H.exists(dir .. "/a.sock"))
    end)
  end)

  it("returns what the network says, and raises on misuse", function()
    run(function()
      local a = assert(S.open("a.sock", "UNIX-DGRAM"))
      assert.are.equal("ENOENT: no such file or directory (" .. dir .. "/nobody.sock)",
        H.outcome("ENOENT", a:write("x", "nobody.sock")))
      H.make_stale(dir .. "/stale.sock")
      local ok, err, code = a:write("x", "stale.sock")
      assert.are.equal("ECONNREFUSED", code, err)
      ok, err, code = a:write(("x"):rep(65537), "a.sock")
      assert.are.equal("EMSGSIZE", code)
      assert.are.equal("EMSGSIZE: a UNIX datagram carries at most 65536 bytes here, not 65537", err)
      ok, err, code = a:read(0.02)
      assert.are.equal("ETIMEDOUT", code)
      code = select(3, S.connect("nobody.sock", "UNIX-DGRAM"))
      assert.are.equal("ENOENT", code)
      H.raises({ 'socket.write: bad argument #3 (to): "../x.sock" resolves to' , "--unix-dir" },
        S.write, "a.sock", "x", "../x.sock")
      H.raises({ 'write: bad argument #3 (to): "/etc/x.sock"', "outside the --unix-dir directory" },
        function() return a:write("x", "/etc/x.sock") end)
      H.raises({ "socket.write: bad argument #3 (to): nothing was read from this socket" },
        S.write, "a.sock", "x")
      H.raises({ "socket.write: bad argument #3 (to): expected the path of a socket file" },
        S.write, "a.sock", "x", 7000)
      H.raises({ "socket.open: bad argument #1 (path)", "got 0" }, S.open, 0, "unix-dgram")
      H.raises({ 'socket.open: bad argument #3 (options): unknown option "rcvbuf" (a UNIX-DGRAM ' ..
        "socket takes none)" }, S.open, "b.sock", "UNIX-DGRAM", { rcvbuf = 1 })
      H.raises({ 'socket.connect: bad argument #3 (options): unknown option "x"' },
        S.connect, "a.sock", "UNIX-DGRAM", { x = 1 })
      -- live: the path is taken
      ok, err, code = S.open("a.sock", "UNIX")
      assert.are.equal("EADDRINUSE", code, err)
      local m = assert(xcs.load("spec/fixtures/unix_dgram_echo.lua", { path = "a.sock" }))
      assert.are.equal("failed", m:wait())
      assert.matches("EADDRINUSE", m:error())
      -- a stale file is replaced
      local s = assert(S.open("stale.sock", "UNIX-DGRAM"))
      assert.are.equal(1, a:write("y", "stale.sock"))
      assert.are.equal("y", (s:read(5)))
      xcs.spawn(function() a:read() end)
      xcs.sleep(0)
      H.raises({ "read: socket busy reading" }, function() return a:read() end)
    end)
  end)

  it("bounds what waits to be read, and a writer waits for room", function()
    run(function()
      local r = assert(S.open("r.sock", "UNIX-DGRAM"))
      local c = assert(S.connect("r.sock", "UNIX-DGRAM"))
      -- nobody reads r: the host queues 1024, the kernel a few more, then
      -- the writer waits, here at most 0.05 s
      local sent, code
      for i = 1, 2000 do
        local ok, _, c3 = c:write(tostring(i), nil, 0.05)
        if not ok then
          code = c3
          break
        end
        sent = i
      end
      assert.are.equal("ETIMEDOUT", code)
      assert.is_true(sent >= 1024 and sent < 1200, tostring(sent))
      -- nothing lost, in order
      for i = 1, sent do assert.are.equal(tostring(i), (r:read(1))) end
      H.outcome("ETIMEDOUT", r:read(0))
      -- a reader that comes later lets a waiting writer go on
      xcs.spawn(function()
        xcs.sleep(0.05)
        for _ = 1, 40 do r:read(1) end
      end)
      for i = 1, 40 do assert.are.equal(#tostring(i), c:write(tostring(i))) end
    end)
  end)

  it("is handed to the new version on a reload, with its file", function()
    run(function()
      local file, path = dir .. "/server.lua", dir .. "/srv.sock"
      H.write(file, 'local p = arg.path\nsocket.open(p, "UNIX-DGRAM")\n' ..
        'while true do local d = socket.read(p); socket.write(p, "v1:" .. d) end\n')
      local m = assert(xcs.load(file, { path = "srv.sock" }))
      local c = assert(S.connect(path, "UNIX-DGRAM"))
      c:write("x")
      assert.are.equal("v1:x", (c:read(5)))
      H.write(file, 'local p = arg.path\nsocket.open(p, "UNIX-DGRAM")\n' ..
        'while true do local d = socket.read(p); socket.write(p, "v2:" .. d) end\n')
      local m2 = assert(m:reload())
      assert.is_true(H.has_line(m2:logs(), "took over " .. path .. " from the running version"))
      m:wait()
      assert.is_true(H.is_socket(path))
      c:write("y")
      assert.are.equal("v2:y", (c:read(5)))
      m2:unload()
      assert.is_false(H.exists(path))
    end)
  end)
end)
