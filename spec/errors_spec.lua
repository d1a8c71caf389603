-- errors_spec.lua: misuse raises an error naming the function and the
-- argument; network outcomes return nil, message, code with a stable code.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("misuse raises an error naming the function and the argument:", function()
  it("a port out of range", function()
    run(function()
      local range = "expected an integer from 0 to 65535"
      H.raises({ "socket.open: bad argument #1 (port)", range, "got 70000" }, S.open, 70000, "TCP")
      H.raises({ "socket.open: bad argument #1 (port)", range, "got -1" }, S.open, -1, "UDP")
      H.raises({ "socket.read: bad argument #1 (port)", range, "got 65536" }, S.read, 65536)
      H.raises({ "socket.write: bad argument #1 (port)", range, "got 70000" }, S.write, 70000, "x")
      H.raises({ "socket.close: bad argument #1 (port)", range, "got -1" }, S.close, -1)
      H.raises({ "socket.connect: bad argument #2 (port)", "expected an integer from 1 to 65535",
        "got 0" }, S.connect, "127.0.0.1", 0)
      H.raises({ "socket.connect: bad argument #2 (port)", "got 65536" },
        S.connect, "127.0.0.1", 65536)
    end)
  end)

  it("a port that is not an integer", function()
    run(function()
      H.raises({ "socket.open: bad argument #1 (port)", "got 1.5" }, S.open, 1.5, "TCP")
      H.raises({ "socket.open: bad argument #1 (port)", 'got "80"' }, S.open, "80", "TCP")
      H.raises({ "socket.read: bad argument #1 (port)", "got table" }, S.read, {})
      H.raises({ "socket.write: bad argument #1 (port)", "got boolean" }, S.write, true, "x")
      H.raises({ "socket.close: bad argument #1 (port)", 'got "all"' }, S.close, "all")
      H.raises({ "socket.connect: bad argument #2 (port)", 'got "80"' },
        S.connect, "127.0.0.1", "80")
    end)
  end)

  it("a missing port", function()
    run(function()
      H.raises({ "socket.open: bad argument #1 (port)", "got nil" }, S.open, nil, "TCP")
      H.raises({ "socket.read: bad argument #1 (port)", "got nil" }, S.read)
      H.raises({ "socket.write: bad argument #1 (port)", "got nil" }, S.write, nil, "x")
      H.raises({ "socket.close: bad argument #1 (port)", "got nil" }, S.close)
      H.raises({ "socket.connect: bad argument #2 (port)", "got nil" }, S.connect, "127.0.0.1")
    end)
  end)

  it("an unknown protocol", function()
    run(function()
      local want = 'expected "TCP", "UDP" or "TLS"'
      H.raises({ "socket.open: bad argument #2 (protocol)", want, 'got "SCTP"' }, S.open, 0, "SCTP")
      H.raises({ "socket.open: bad argument #2 (protocol)", want, "got nil" }, S.open, 0)
      H.raises({ "socket.open: bad argument #2 (protocol)", want, "got 17" }, S.open, 0, 17)
      H.raises({ "socket.open: bad argument #2 (protocol)", 'got "TCP "' }, S.open, 0, "TCP ")
      H.raises({ "socket.connect: bad argument #3 (protocol)", want, 'got "ICMP"' },
        S.connect, "127.0.0.1", 80, "ICMP")
    end)
  end)

  it("a host that is not a string", function()
    run(function()
      H.raises({ "socket.connect: bad argument #1 (host)", "expected a host name or IP address", "got nil" },
        S.connect, nil, 80)
      H.raises({ "socket.connect: bad argument #1 (host)", "got 2130706433" },
        S.connect, 2130706433, 80)
    end)
  end)

  it("data that is not a string", function()
    run(function()
      local u, l = S.open(0, "UDP"), S.open(0, "TCP")
      for _, port in ipairs { u:port(), l:port() } do
        H.raises({ "socket.write: bad argument #2 (data)", "expected a string", "got 42" },
          S.write, port, 42, "127.0.0.1:9")
        H.raises({ "socket.write: bad argument #2 (data)", "got nil" }, S.write, port)
        H.raises({ "socket.write: bad argument #2 (data)", "got table" }, S.write, port, {})
      end
      H.raises({ "socket.write: bad argument #2 (data)", "got 42" }, S.write, u, 42, "127.0.0.1:9")
      -- a handle's own write names itself
      local c = assert(S.connect("127.0.0.1", l:port()))
      H.raises({ "bad argument #1 to 'write'", "string expected, got table" },
        function() local _ = c:write({}) end)
      H.raises({ "bad argument #1 to 'write'", "string expected, got nil" },
        function() local _ = u:write(nil, "127.0.0.1:9") end)
    end)
  end)

  it("a port this module never opened", function()
    run(function()
      local p = H.closed_port()
      H.raises({ "socket.read: port " .. p .. " is not open in this module" }, S.read, p)
      H.raises({ "socket.write: port " .. p .. " is not open in this module" }, S.write, p, "x")
      H.raises({ "socket.close: port " .. p .. " is not open in this module" }, S.close, p)
      -- a port another module holds is not this module's either
      local m = assert(xcs.load("spec/fixtures/sock_echo.lua", { port = H.closed_port() }))
      H.raises({ "socket.read: port " .. m:port() .. " is not open in this module" },
        S.read, m:port())
    end)
  end)

  it("a socket.listen port in a port-keyed call, which is told to use the listener", function()
    run(function()
      local l = assert(S.listen(0))
      local p = l:port()
      for _, f in ipairs { "read", "write", "close" } do
        H.raises({ "socket." .. f .. ": port " .. p .. " is a socket.listen listener, which " ..
          "port-keyed calls do not serve: use the listener (l:accept() gives each client, " ..
          "and the connection reads and writes), or open the port with socket.open(" .. p ..
          ", \"TCP\")" }, S[f], p, "x")
      end
      l:close()
      H.raises({ "socket.read: port " .. p .. " is not open in this module" }, S.read, p)
    end)
  end)

  it("a C function whose caller cannot name it still names itself (no '?')", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/errors_named.lua"))
      assert.are.equal("concluded", m:wait())
      local lines = table.concat(m:logs(), "\n")
      assert.truthy(lines:find("bad argument #2 to 'udp.join'", 1, true), lines)
      assert.truthy(lines:find("bad argument #3 to 'udp.setoption'", 1, true), lines)
      assert.truthy(lines:find("bad argument #2 to 'queue.pop'", 1, true), lines)
      assert.truthy(lines:find("bad argument #1 to 'task.wait'", 1, true), lines)
      assert.falsy(lines:find("'?'", 1, true), lines)
    end)
  end)

  it("a port opened twice in one module", function()
    run(function()
      for _, proto in ipairs { "TCP", "UDP" } do
        local p = S.open(0, proto):port()
        H.raises({ "socket.open: port " .. p .. " (" .. proto .. ") is already open in this module" },
          S.open, p, proto:lower())
      end
    end)
  end)

  it("a write without `to` when this task read nothing from that socket", function()
    run(function()
      local no_peer = { "socket.write: bad argument #3 (to)", "nothing was read from this socket" }
      local u, l = S.open(0, "UDP"), S.open(0, "TCP")
      H.raises(no_peer, S.write, u:port(), "x")
      H.raises(no_peer, S.write, l:port(), "x")
      H.raises(no_peer, S.write, u, "x")
      -- a read on another socket gives no peer for this one
      local other = S.open(0, "UDP")
      S.write(u, "to other", other:address())
      assert.are.equal("to other", (S.read(other)))
      H.raises(no_peer, S.write, u, "x")
      -- nor does a read made by another task
      local c = assert(S.connect("127.0.0.1", l:port()))
      xcs.spawn(function()
        c:write("hi")
        S.read(l:port())
        S.write(l:port(), "read it")
      end)
      assert.are.equal("read it", H.read_n(c, 7))
      H.raises(no_peer, S.write, l:port(), "x")
      -- an unconnected UDP handle needs its `to` too
      H.raises({ "bad argument", "expected the address to send to" },
        function() return u:write("x") end)
    end)
  end)

  it("a `to` that is not an address or client of the socket", function()
    run(function()
      local u, l = S.open(0, "UDP"), S.open(0, "TCP")
      for _, to in ipairs { "nope", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:port", ":80", "42" } do
        H.raises({ "bad argument #3 (to)",
          'expected an address such as "127.0.0.1:7000" or "localhost:7000", got "' .. to .. '"' },
          S.write, u:port(), "x", to)
      end
      H.raises({ "socket.write: bad argument #3 (to)",
        'expected a client connection or "*", got "somebody"' }, S.write, l:port(), "x", "somebody")
      H.raises({ "bad argument", "xcs.tcp expected" }, S.write, l:port(), "x", u)
      -- a connection that is not one of this listener's clients
      local l2 = S.open(0, "TCP")
      local c = assert(S.connect("127.0.0.1", l2:port()))
      c:write("hi")
      local _, theirs = S.read(l2)
      H.raises({ "bad argument", "not a client of this port" }, S.write, l:port(), "x", theirs)
      H.raises({ "bad argument", "not a client of this port" }, S.write, l:port(), "x", c)
    end)
  end)

  it("a `to` error names socket.write and its argument #3 (to)", function()
    run(function()
      local u, l = S.open(0, "UDP"), S.open(0, "TCP")
      H.raises({ "socket.write: bad argument #3 (to)" }, S.write, u:port(), "x", "nope")
      H.raises({ "socket.write: bad argument #3 (to)" }, S.write, l:port(), "x", "somebody")
    end)
  end)

  it("a socket used after it was closed", function()
    run(function()
      local u = S.open(0, "UDP")
      local p = u:port()
      H.scrub(p, "TCP")
      S.close(u)
      H.raises({ "attempt to use a closed socket" }, S.read, u)
      H.raises({ "attempt to use a closed socket" }, S.write, u, "x", "127.0.0.1:9")
      H.raises({ "attempt to use a closed socket" }, function() return u:read() end)
      H.raises({ "attempt to use a closed socket" }, function() return u:port() end)
      H.raises({ "socket.read: port " .. p .. " is not open in this module" }, S.read, p)
      H.raises({ "socket.write: port " .. p .. " is not open in this module" }, S.write, p, "x")
      H.raises({ "socket.close: port " .. p .. " is not open in this module" }, S.close, p)
      assert.is_true(S.close(u)) -- closing a handle again is allowed
    end)
  end)

  it("a port whose handle was closed by handle:close() is no longer open", function()
    run(function()
      local u = S.open(0, "UDP")
      local p = u:port()
      u:close()
      H.raises({ "socket.read: port " .. p .. " is not open in this module" }, S.read, p)
      -- a UDP socket closed by its handle does not make the TCP one on the
      -- same port number ambiguous (both numbers come from open_both, since a
      -- free UDP number may be taken for TCP by a test running beside this one)
      local t, u2, p2 = H.open_both()
      u2:close()
      assert.is_true(S.close(p2)) -- the TCP one, without asking which
      assert.is_true(xcs.socket.list()[1] == nil or t ~= xcs.socket.list()[1].handle)
      H.raises({ "socket.read: port " .. p2 .. " is not open in this module" }, S.read, p2)
    end)
  end)

  it("a closed socket's error names the function used", function()
    run(function()
      local u = S.open(0, "UDP")
      S.close(u)
      H.raises({ "socket.read" }, S.read, u)
      H.raises({ "read" }, function() return u:read() end)
    end)
  end)

  it("two tasks reading one socket at once", function()
    run(function()
      for _, proto in ipairs { "UDP", "TCP" } do
        local h = S.open(0, proto)
        local c = assert(S.connect("127.0.0.1", h:port(), proto))
        local err
        xcs.spawn(function() -- runs while the main task waits in its read
          err = H.raises({ "read: socket busy reading", "another task is reading" }, S.read, h)
          c:write("done")
        end)
        assert.are.equal("done", (S.read(h)))
        assert.truthy(err)
      end
    end)
  end)

  describe("in a module", function()
    local cases = {
      open_range = "socket.open: bad argument #1 (port): expected an integer from 0 to 65535, got 70000",
      open_proto = 'socket.open: bad argument #2 (protocol): expected "TCP", "UDP" or "TLS", got "SCTP"',
      read_unopened = "socket.read: port 1 is not open in this module",
      write_data = "socket.write: bad argument #2 (data): expected a string, got 42",
      write_no_peer = "socket.write: bad argument #3 (to): nothing was read from this socket",
      closed_handle = "attempt to use a closed socket",
      request_unknown = 'request: unknown command "socket_frobnicate"',
    }
    for case, text in pairs(cases) do
      it("fails the module and logs why: " .. case, function()
        run(function()
          local m = assert(xcs.load("spec/fixtures/sock_misuse.lua", { case = case }))
          local status, err = m:wait()
          assert.are.equal("failed", status)
          assert.truthy(err:find(text, 1, true), err)
          assert.are.equal(err, m:error())
          assert.are.equal("failed", m:status())
          assert.truthy(H.find_line(m:logs(), "failed: " .. err:match("^[^\n]*")))
          assert.is_nil(H.find_line(m:logs(), "not reached"))
        end)
      end)
    end

    it("points the error at the module's line, not at the prelude", function()
      run(function()
        local said = { open_range = "socket%.open:", open_proto = "socket%.open:",
          read_busy = "read: socket busy" }
        for case, words in pairs(said) do
          local m = assert(xcs.load("spec/fixtures/sock_misuse.lua", { case = case }))
          local _, err = m:wait()
          assert.truthy(err:find("^spec/fixtures/sock_misuse%.lua:%d+: " .. words), err)
        end
      end)
    end)
  end)
end)

describe("a network outcome returns nil, message and a stable code:", function()
  for _, proto in ipairs { "TCP", "udp" } do -- the module names it in any case
    it("EADDRINUSE when a module opens a " .. proto:upper() .. " port the spec holds", function()
      run(function()
        local p = S.open(0, proto:upper()):port()
        local m = assert(xcs.load("spec/fixtures/sock_open.lua", { port = p, proto = proto }))
        assert.are.equal("concluded", (m:wait()))
        assert.truthy(H.find_line(m:logs(),
          "open failed: EADDRINUSE: address already in use [EADDRINUSE]"))
      end)
    end)
  end

  it("EADDRINUSE when the spec opens a port a module holds", function()
    run(function()
      for _, proto in ipairs { "TCP", "UDP" } do
        local m = assert(xcs.load("spec/fixtures/sock_open.lua",
          { port = 0, proto = proto, hold = true }))
        H.outcome("EADDRINUSE", S.open(m:port(), proto))
        assert.are.equal("running", m:status())
      end
    end)
  end)

  it("EADDRINUSE when two modules open one port", function()
    run(function()
      local m1 = assert(xcs.load("spec/fixtures/sock_open.lua", { port = 0, hold = true }))
      local p = m1:port()
      local m2 = assert(xcs.load("spec/fixtures/sock_open.lua", { port = p }))
      assert.are.equal("concluded", (m2:wait()))
      assert.truthy(H.find_line(m2:logs(), "open failed: EADDRINUSE: "))
      assert.are.equal("running", m1:status()) -- the holder is not disturbed
      local c = assert(S.connect("127.0.0.1", p))
      assert.are.equal("127.0.0.1:" .. p, c:peer())
    end)
  end)

  it("EADDRNOTAVAIL when the host binds an address this machine does not have", function()
    xcs.configure { bind = "192.0.2.1" } -- TEST-NET-1: never a local address
    finally(function() xcs.configure { bind = "127.0.0.1" } end)
    run(function()
      H.outcome("EADDRNOTAVAIL", S.open(0, "TCP"))
      H.outcome("EADDRNOTAVAIL", S.open(0, "UDP"))
      local m = assert(xcs.load("spec/fixtures/sock_open.lua", { port = 0 }))
      assert.are.equal("concluded", (m:wait()))
      assert.truthy(H.find_line(m:logs(), "open failed: EADDRNOTAVAIL: "))
    end)
  end)

  it("ECONNREFUSED when connecting to a TCP port nobody listens on", function()
    run(function()
      local ok, msg, code = S.connect("127.0.0.1", H.closed_port(), "TCP")
      H.outcome("ECONNREFUSED", ok, msg, code)
      assert.are.equal("ECONNREFUSED: connection refused", msg)
    end)
  end)

  it("ECONNREFUSED on a connected UDP socket whose datagram nobody took", function()
    run(function()
      local p = H.closed_port()
      local c = assert(S.connect("127.0.0.1", p, "UDP"))
      assert.are.equal(5, c:write("hello"))
      H.outcome("ECONNREFUSED", c:read())
      -- news about one datagram, not the end of the socket: once someone
      -- listens there, the same socket talks to it
      local u = assert(S.open(p, "UDP"))
      assert.are.equal(5, c:write("again"))
      local data, from = S.read(u)
      assert.are.equal("again", data)
      assert.are.equal(c:address(), from)
      assert.are.equal(2, S.write(u, "ok"))
      assert.are.equal("ok", (c:read()))
    end)
  end)

  it("EAI_NONAME (or another EAI_ code) for a name that does not resolve", function()
    run(function()
      local ok, msg, code = S.connect("no-such-host.invalid", 80)
      assert.is_nil(ok)
      assert.truthy(code and code:find("^EAI_"), tostring(code))
      assert.truthy(msg:find("^" .. code .. ": ."), msg)
      -- UDP connects to addresses only
      H.outcome("EAI_NONAME", S.connect("no-such-host.invalid", 80, "UDP"))
    end)
  end)

  it("closed for a read waiting on a socket another task closes", function()
    run(function()
      local u, l = S.open(0, "UDP"), S.open(0, "TCP")
      -- the spawned task runs once this one is waiting in its read
      xcs.spawn(S.close, u)
      H.outcome("closed", S.read(u))
      xcs.spawn(S.close, l:port())
      H.outcome("closed", S.read(l))
      local c = assert(S.connect("127.0.0.1", S.open(0, "TCP"):port()))
      xcs.spawn(function() c:close() end)
      H.outcome("closed", c:read())
    end)
  end)

  it("closed for a write to a client that has gone", function()
    run(function()
      local p = S.open(0, "TCP"):port()
      local c = assert(S.connect("127.0.0.1", p))
      c:write("x")
      local _, conn = S.read(p)
      c:close()
      assert.are.equal("", (S.read(p)))
      assert.are.equal("", (function() -- wait until the host has closed conn
        local c2 = assert(S.connect("127.0.0.1", p)); c2:close(); return (S.read(p))
      end)())
      H.outcome("closed", S.write(p, "too late", conn))
      assert.are.equal(0, S.write(p, "anyone?", "*"))
    end)
  end)

  it("closed, saying the peer closed, for a write the kernel refuses with EPIPE", function()
    run(function()
      xcs.configure { linger_ms = 0 } -- the client's socket is gone at once
      local c, s = H.pair()
      c:close()
      assert.are.equal("", s:read())
      local ok, msg, code
      for _ = 1, 200 do -- the first write may still go out; the peer answers RST
        ok, msg, code = s:write("x")
        if ok then ok, msg, code = s:flush(1) end
        if not ok then break end
        xcs.sleep(0.01)
      end
      assert.are.equal("closed", code)
      assert.are.equal("closed: the peer closed the connection (EPIPE: it reads no more)", msg)
    end)
  end)

  it("closed for a write after shutdown", function()
    run(function()
      local p = S.open(0, "TCP"):port()
      local c = assert(S.connect("127.0.0.1", p))
      assert.is_true(c:shutdown())
      H.outcome("closed", c:write("x"))
      assert.are.equal("", (S.read(p)))
    end)
  end)
end)
