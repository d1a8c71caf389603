-- tcp_connect_spec.lua: socket.connect(host, port, "TCP" [, opts]): names,
-- IPv4 and IPv6, the connect timeout, socket options, and how connecting
-- fails (refused, timed out, a name that does not resolve).
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("socket.connect", function()
  it("connects to an IPv4 literal and to a name", function()
    run(function()
      local l = assert(S.listen(0))
      for _, host in ipairs { "127.0.0.1", "localhost" } do
        local c = assert(S.connect(host, l:port(), "TCP", { timeout = 5 }))
        local s = assert(l:accept(5))
        assert.are.equal(s:address(), c:peer())
        assert.are.equal(c:address(), s:peer())
        c:write("hi from " .. host .. "\n")
        assert.are.equal("hi from " .. host, s:read("*l"))
      end
    end)
  end)

  it("connects to an IPv6 literal, with addresses shown as [addr]:port", function()
    run(function()
      xcs.configure { bind = "::1" }
      local ok, l = pcall(S.listen, 0)
      xcs.configure { bind = "127.0.0.1" }
      assert(ok, l)
      if not l then return pending("no IPv6 loopback here") end
      assert.are.equal("[::1]:" .. l:port(), l:address())
      local c = assert(S.connect("::1", l:port()))
      local s = assert(l:accept(5))
      assert(S.connect("[::1]", l:port())) -- the form addresses are shown in
      assert.are.equal("[::1]:" .. l:port(), c:peer())
      assert.truthy(c:address():find("^%[::1%]:%d+$"), c:address())
      c:write("six")
      assert.are.equal("six", s:read(3))
    end)
  end)

  it("returns nil, ECONNREFUSED when nobody listens", function()
    run(function()
      local p = H.closed_port()
      H.outcome("ECONNREFUSED", S.connect("127.0.0.1", p))
      H.outcome("ECONNREFUSED", S.connect("localhost", p, "TCP", { timeout = 1 }))
      H.outcome("ECONNREFUSED", S.connect("::1", p))
    end)
  end)

  it("returns nil, EAI_NONAME for a name that does not resolve", function()
    run(function()
      H.outcome("EAI_NONAME", S.connect("no-such-host.invalid", 80, "TCP", { timeout = 5 }))
    end)
  end)

  -- A listener that never accepts, with a backlog of 1, takes a few clients
  -- (one waiting in libuv, the kernel's queue) and then drops SYNs: the next
  -- connect can only time out.
  it("returns nil, ETIMEDOUT once its timeout passes", function()
    run(function()
      local l = assert(S.listen(0, { backlog = 1 }))
      local held, msg = {}, nil
      for _ = 1, 10 do
        local t0 = xcs.now()
        local c, m, code = S.connect("127.0.0.1", l:port(), "TCP", { timeout = 0.2 })
        if not c then
          msg = H.outcome("ETIMEDOUT", c, m, code)
          local waited = xcs.now() - t0
          assert.is_true(waited >= 0.19 and waited < 3, tostring(waited))
          break
        end
        held[#held + 1] = c
      end
      assert.are.equal("ETIMEDOUT: connecting to 127.0.0.1:" .. l:port() .. " timed out", msg)
      assert.is_true(#held >= 1)
      -- a timeout of 0 gives up on the next turn of the loop
      H.outcome("ETIMEDOUT", S.connect("127.0.0.1", l:port(), "TCP", { timeout = 0 }))
      -- the clients it did take are still there to accept
      assert.is_userdata(l:accept(1))
    end)
  end)
end)

describe("socket options", function()
  it("are taken by socket.connect and set by conn:setoption", function()
    run(function()
      local l = assert(S.listen(0))
      local c = assert(S.connect("127.0.0.1", l:port(), "TCP", {
        nodelay = false, keepalive = 30, sndbuf = 65536, rcvbuf = 65536,
        maxline = 100, maxall = 1000, read_timeout = 5, send_timeout = 5 }))
      local s = assert(l:accept(1))
      assert.is_true(c:setoption("nodelay", true))
      assert.is_true(c:setoption("keepalive", 10))
      assert.is_true(c:setoption("keepalive", false))
      assert.is_true(c:setoption("sndbuf", 32768))
      assert.is_true(c:setoption("rcvbuf", 32768))
      assert.is_true(c:settimeouts(1, 2, 3))
      assert.is_true(c:settimeouts(nil, math.huge, nil))
      c:write("still fine\n")
      assert.are.equal("still fine", s:read("*l"))
    end)
  end)

  it("raise for an unknown name or a bad value", function()
    run(function()
      local p = H.closed_port()
      H.raises({ "socket.connect: unknown option 'nodely' (expected nodelay, keepalive, " ..
        "sndbuf, rcvbuf, maxline, maxall, read_timeout, send_timeout or timeout)" },
        function() S.connect("127.0.0.1", p, "TCP", { nodely = true }) end)
      H.raises({ "socket.connect: bad option 'timeout': expected seconds", "got -1" },
        function() S.connect("127.0.0.1", p, "TCP", { timeout = -1 }) end)
      H.raises({ "socket.connect: bad option 'keepalive'", "got true" },
        function() S.connect("127.0.0.1", p, "TCP", { keepalive = true }) end)
      H.raises({ "socket.connect: bad option 'sndbuf': expected bytes (an integer > 0), got 0" },
        function() S.connect("127.0.0.1", p, "TCP", { sndbuf = 0 }) end)
      H.raises({ "socket.connect: bad argument #4 (opts): expected a table of options, got 5" },
        function() S.connect("127.0.0.1", p, "TCP", 5) end)
      H.raises({ "socket.connect: bad option: names are strings, got number" },
        function() S.connect("127.0.0.1", p, "TCP", { 1 }) end)
      -- the position is the caller's line, not the prelude's
      local ok, err = pcall(function() S.connect("127.0.0.1", p, "TCP", { nodely = 1 }) end)
      assert.is_false(ok)
      assert.truthy(err:find("tcp_connect_spec.lua:%d+: socket.connect: "), err)

      local l = assert(S.listen(0))
      local c = assert(S.connect("127.0.0.1", l:port()))
      H.raises({ "bad argument #1 to 'setoption'", 'unknown option "linger"' },
        function() c:setoption("linger", 0) end)
      H.raises({ "setoption: bad option 'nodelay': expected true or false, got 1" },
        function() c:setoption("nodelay", 1) end)
      H.raises({ "setoption: bad option 'maxline': expected bytes (an integer > 0), got 0" },
        function() c:setoption("maxline", 0) end)
    end)
  end)
end)
