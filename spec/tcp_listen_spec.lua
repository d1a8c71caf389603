-- tcp_listen_spec.lua: socket.listen(port [, opts]) and listener:accept():
-- one task per connection, accept timeouts, listener options, and how the
-- accept-mode listener differs from socket.open's.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("socket.listen", function()
  it("serves each client from its own task", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/stream_lines.lua", { port = 0 }))
      assert.truthy(H.has_line(m:logs(), "listening on 127.0.0.1:" .. m:port() .. " (TCP)"))
      local cs = {}
      for i = 1, 3 do cs[i] = assert(S.connect("127.0.0.1", m:port())) end
      -- interleaved: each client's lines are counted on their own
      for round = 1, 3 do
        for i = 3, 1, -1 do cs[i]:write("c" .. i .. " r" .. round .. "\n") end
        for i = 1, 3 do
          assert.are.equal(round .. " c" .. i .. " r" .. round, cs[i]:read("*l"))
        end
      end
      cs[2]:write("quit\n")
      assert.are.equal("", cs[2]:read()) -- its task closed it; the others go on
      cs[1]:write("more\n")
      assert.are.equal("4 more", cs[1]:read("*l"))
      local peer = cs[3]:address()
      cs[3]:write("quit\n")
      assert.are.equal("", cs[3]:read()) -- it logged before it closed
      cs[1]:close()
      m:unload()
      assert.truthy(H.has_line(m:logs(), "bye " .. peer .. " after 3"))
    end)
  end)

  it("hands out connections with their addresses, which outlive the listener", function()
    run(function()
      local l = assert(S.listen(0))
      assert.truthy(tostring(l):find("^xcs%.listener 127%.0%.0%.1:%d+ %(listening, accept%)"),
        tostring(l))
      local c = assert(S.connect("127.0.0.1", l:port()))
      local s = assert(l:accept())
      assert.truthy(tostring(s):find("^xcs%.tcp"))
      assert.are.equal("127.0.0.1:" .. l:port(), s:address())
      assert.are.equal(c:address(), s:peer())
      assert.are.equal(l:port(), s:port())
      l:close()
      c:write("after")
      assert.are.equal("after", s:read(5))
    end)
  end)

  it("accept waits for a client, at most its timeout", function()
    run(function()
      local l = assert(S.listen(0))
      local t0 = xcs.now()
      assert.are.equal("ETIMEDOUT: accept timed out", H.outcome("ETIMEDOUT", l:accept(0.05)))
      assert.is_true(xcs.now() - t0 < 2)
      xcs.spawn(function() S.connect("127.0.0.1", l:port()) end)
      assert.is_userdata(l:accept(5))
    end)
  end)

  it("accept returns nil, closed when another task closes the listener", function()
    run(function()
      local l = assert(S.listen(0))
      xcs.spawn(function() l:close() end)
      H.outcome("closed", l:accept())
    end)
  end)

  it("gives accepted connections the listener's options", function()
    run(function()
      local l = assert(S.listen(0, { backlog = 16, reuseaddr = true, nodelay = true,
        keepalive = 60, maxline = 4, read_timeout = 0.05 }))
      local c = assert(S.connect("127.0.0.1", l:port()))
      local s = assert(l:accept())
      c:write("12345\n")
      H.failed_read("EMSGSIZE", "12345\n", s:read("*l"))
      assert.are.equal("12345\n", s:read(6))
      local _, _, code2 = s:read(1)
      assert.are.equal("ETIMEDOUT", code2)
    end)
  end)

  it("returns nil, EADDRINUSE for a port in use", function()
    run(function()
      local l = assert(S.listen(0))
      H.outcome("EADDRINUSE", S.listen(l:port()))
    end)
  end)

  it("closes what the module accepted when it is unloaded", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/stream_lines.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("one\n")
      assert.are.equal("1 one", c:read("*l"))
      m:unload()
      assert.are.equal("", c:read())
      assert.are.equal("unloaded", (m:wait()))
    end)
  end)
end)

describe("listener misuse raises", function()
  it("for accept on socket.open's listener, read on socket.listen's", function()
    run(function()
      local auto, manual = assert(S.open(0, "TCP")), assert(S.listen(0))
      H.raises({ "accept: this listener (socket.open) accepts clients by itself" },
        function() auto:accept() end)
      H.raises({ "read: this listener (socket.listen) hands out connections: use accept()" },
        function() manual:read() end)
      -- through socket.read too, positioned at the caller's line
      H.raises({ "tcp_listen_spec.lua:", "use accept()" }, function() S.read(manual) end)
    end)
  end)

  it("for a second task accepting on the same listener", function()
    run(function()
      local l = assert(S.listen(0))
      local err
      xcs.spawn(function()
        local _, e = pcall(l.accept, l)
        err = e
        S.connect("127.0.0.1", l:port())
      end)
      assert.is_userdata(l:accept(5))
      assert.truthy(tostring(err):find("accept: socket busy", 1, true), tostring(err))
    end)
  end)

  it("for bad arguments and options", function()
    run(function()
      H.raises({ "socket.listen: bad argument #1 (port): expected an integer from 0 to 65535, got 70000" },
        function() S.listen(70000) end)
      H.raises({ "socket.listen: bad argument #2 (opts): expected a table of options, got \"x\"" },
        function() S.listen(0, "x") end)
      H.raises({ "socket.listen: unknown option 'timeout' (expected nodelay, keepalive, sndbuf, " ..
        "rcvbuf, maxline, maxall, read_timeout, send_timeout, backlog, reuseaddr, address or " ..
        "proxy_protocol)" },
        function() S.listen(0, { timeout = 1 }) end)
      H.raises({ "socket.listen: bad option 'backlog': expected an integer > 0, got 0" },
        function() S.listen(0, { backlog = 0 }) end)
      H.raises({ "socket.listen: bad option 'reuseaddr': expected true (listeners always reuse addresses), got false" },
        function() S.listen(0, { reuseaddr = false }) end)
      local l = assert(S.listen(0))
      H.raises({ "bad argument #1 to 'accept'", "expected a timeout in seconds" },
        function() l:accept("soon") end)
    end)
  end)
end)
