-- udp_socket_spec.lua: UDP datagrams as a module sees them: boundaries and
-- senders kept, any destination, read timeouts, oversized datagrams
-- refused, and a receive queue that stays bounded.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

-- How many datagrams the socket holds for read(), as tostring tells.
local function waiting(u)
  return tonumber(tostring(u):match("%((%d+) datagrams waiting"))
end

describe("a UDP socket", function()
  it("keeps each datagram whole and separate, and names its sender", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local a = assert(S.connect("127.0.0.1", u:port(), "UDP"))
      local b = assert(S.connect("127.0.0.1", u:port(), "UDP"))
      local big = ("0123456789abcdef"):rep(4096):sub(1, 65507)
      local sent = {
        { a, "" }, { b, "x" }, { a, "two\nlines\n" }, { b, ("\0\255"):rep(500) },
        { a, big }, { b, "after the big one" },
      }
      for _, s in ipairs(sent) do assert.are.equal(#s[2], s[1]:write(s[2])) end
      for i, s in ipairs(sent) do
        local data, from, truncated = u:read(5)
        assert.is_true(data == s[2], "datagram " .. i .. " differs")
        assert.are.equal(s[1]:address(), from)
        assert.is_nil(truncated)
      end
    end)
  end)

  it("sends each datagram to the address it names", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local r = { assert(S.open(0, "UDP")), assert(S.open(0, "UDP")), assert(S.open(0, "UDP")) }
      for i = 3, 1, -1 do assert.are.equal(#("to " .. i), u:write("to " .. i, r[i]:address())) end
      -- and the port-keyed form, with an address string
      assert.are.equal(5, S.write(u:port(), "again", "127.0.0.1:" .. r[2]:port()))
      for i = 1, 3 do
        local data, from = r[i]:read(5)
        assert.are.equal("to " .. i, data)
        assert.are.equal(u:address(), from)
      end
      assert.are.equal("again", (r[2]:read(5)))
    end)
  end)

  it("refuses a datagram too big for UDP with EMSGSIZE, and sends nothing of it", function()
    run(function()
      local r = assert(S.open(0, "UDP"))
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.connect("127.0.0.1", r:port(), "UDP"))
      local ok, msg, code = u:write(("x"):rep(65508), r:address())
      H.outcome("EMSGSIZE", ok, msg, code)
      assert.are.equal("EMSGSIZE: a UDP datagram over IPv4 carries at most 65507 bytes, not 65508", msg)
      H.outcome("EMSGSIZE", c:write(("x"):rep(1000000)))
      H.outcome("EMSGSIZE", S.write(u:port(), ("y"):rep(70000), r:address()))
      -- the socket is fine, and the largest datagram goes through whole
      assert.are.equal(65507, c:write(("z"):rep(65507)))
      local data, from = r:read(5)
      assert.are.equal(65507, #data)
      assert.are.equal(c:address(), from)
      H.outcome("ETIMEDOUT", r:read(0)) -- nothing of the refused ones came
    end)
  end)

  it("read(timeout) gives up with ETIMEDOUT and the socket stays usable", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.connect("127.0.0.1", u:port(), "UDP"))
      local ok, msg, code = u:read(0)
      H.outcome("ETIMEDOUT", ok, msg, code)
      assert.are.equal("ETIMEDOUT: no datagram within 0 s", msg)
      local t0 = xcs.now()
      H.outcome("ETIMEDOUT", u:read(0.05))
      assert.is_true(xcs.now() - t0 >= 0.045)
      -- a datagram already waiting is returned at once, even with timeout 0
      c:write("one")
      assert.are.equal("one", (u:read(5)))
      c:write("two")
      assert.are.equal("two", (u:read(5)))
      -- one that comes while a read waits ends the wait
      xcs.spawn(function() c:write("three") end)
      assert.are.equal("three", (u:read(5)))
      -- without a timeout a read waits as long as it takes
      xcs.spawn(function() c:write("four") end)
      assert.are.equal("four", (u:read()))
    end)
  end)

  it("read(timeout) raises on a timeout that is not a number of seconds", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      H.raises({ "expected a timeout in seconds from 0 to 1e9" }, function() return u:read(-1) end)
      H.raises({ "bad argument #1 to 'read' (number expected, got string)" },
        function() return u:read("soon") end)
      H.raises({ "expected a timeout in seconds" }, function() return u:read(0 / 0) end)
    end)
  end)

  it("holds at most 1024 unread datagrams, then takes more as they are read", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.connect("127.0.0.1", u:port(), "UDP"))
      local n = 1500
      for i = 1, n do
        c:write(tostring(i))
        if i % 20 == 0 then xcs.sleep(0) end -- let the loop take them in
      end
      for _ = 1, 500 do
        if waiting(u) >= 1024 then break end
        xcs.sleep(0)
      end
      assert.are.equal(1024, waiting(u))
      -- Reading them lets reception go on; those the kernel could not keep
      -- meanwhile are lost, as UDP may lose them, but the order holds.
      local got, last = 0, 0
      for _ = 1, n do
        local data = u:read(0.2)
        if not data then break end
        local i = assert(tonumber(data))
        assert.is_true(i > last)
        last, got = i, got + 1
      end
      assert.is_true(got >= 1024 and got <= n, got)
      assert.is_true(waiting(u) == 0)
      c:write("still here")
      assert.are.equal("still here", (u:read(5)))
    end)
  end)

  it("hands a waiting reader a whole batch at once, in order, and keeps what it leaves", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.connect("127.0.0.1", u:port(), "UDP"))
      local got, done = {}, false
      xcs.spawn(function()
        for i = 1, 40 do
          local data, from = assert(u:read(5))
          assert.are.equal(c:address(), from)
          got[i] = data
          -- waiting mid-batch: the rest of the batch is queued, not lost
          if i == 3 or i == 20 then xcs.sleep(0.01) end
        end
        done = true
      end)
      xcs.sleep(0) -- the reader waits first
      for i = 1, 40 do assert.are.equal(#("dgram " .. i), c:write("dgram " .. i)) end
      for _ = 1, 500 do
        if done then break end
        xcs.sleep(0.01)
      end
      assert.is_true(done, "the reader did not get all 40")
      for i = 1, 40 do assert.are.equal("dgram " .. i, got[i]) end
    end)
  end)

  it("names each of many senders rightly, and answers each (more than it keeps)", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local cs = {}
      for i = 1, 150 do cs[i] = assert(S.connect("127.0.0.1", u:port(), "UDP")) end
      for round = 1, 2 do
        for i, c in ipairs(cs) do
          assert.are.equal(#("from " .. i), c:write("from " .. i))
          local data, from = assert(S.read(u:port(), 5))
          assert.are.equal("from " .. i, data)
          assert.are.equal(c:address(), from)
          assert.are.equal(#data + 1, S.write(u:port(), data .. round, from))
          assert.are.equal("from " .. i .. round, (c:read(5)))
        end
      end
    end)
  end)

  it("a port-keyed read waits for each datagram, and returns nil, closed when the socket closes", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local port = u:port()
      local c = assert(S.connect("127.0.0.1", port, "UDP"))
      local got, last = {}, nil
      xcs.spawn(function()
        for i = 1, 3 do got[i] = { S.read(port) } end
        last = table.pack(S.read(port))
      end)
      for i = 1, 3 do
        xcs.sleep(0) -- the reader waits, in its own frame, for each
        c:write("d" .. i)
        for _ = 1, 200 do
          if got[i] then break end
          xcs.sleep(0.01)
        end
        assert.are.same({ "d" .. i, c:address() }, got[i])
      end
      xcs.sleep(0)
      assert.is_true(S.close(port))
      for _ = 1, 200 do
        if last then break end
        xcs.sleep(0.01)
      end
      assert.is_nil(last[1])
      assert.matches("closed", last[2])
    end)
  end)

  it("answers a batch of senders in order, each reply whole, as the reader writes them", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local port = u:port()
      local cs = {}
      for i = 1, 40 do cs[i] = assert(S.connect("127.0.0.1", port, "UDP")) end
      local n = 0
      xcs.spawn(function()
        while n < 80 do
          local data, from = S.read(port)
          -- two replies to each: both leave, in order, the small one and a large one
          assert.are.equal(#data + 1, S.write(port, data .. "!", from))
          assert.are.equal(3000, S.write(port, string.rep(data:sub(-1), 3000), from))
          n = n + 1
        end
      end)
      xcs.sleep(0) -- the reader waits: what comes in together is read together
      for round = 1, 2 do
        for i, c in ipairs(cs) do c:write(("r%d c%d"):format(round, i)) end
        for i, c in ipairs(cs) do
          local want = ("r%d c%d"):format(round, i)
          assert.are.equal(want .. "!", (c:read(5)))
          assert.are.equal(string.rep(want:sub(-1), 3000), (c:read(5)))
        end
      end
    end)
  end)

  it("reads with a timeout inside a module too", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/udp_timeout.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port(), "UDP"))
      c:write("hello")
      assert.are.equal("got hello", (c:read(5)))
      -- the module reads with a 50 ms timeout and says when it expired
      assert.are.equal("timed out: ETIMEDOUT", (c:read(5)))
      c:write("bye")
      assert.are.equal("concluded", (m:wait()))
    end)
  end)
end)

describe("UDP buffers and names", function()
  -- What the kernel holds now: it doubles what it is given (SO_RCVBUF, SO_SNDBUF).
  local function sizes(u)
    local p = assert(io.popen("ss -uanmH 'sport = :" .. u:port() .. "' 2>/dev/null"))
    local out = p:read("a")
    p:close()
    return tonumber(out:match("rb(%d+)")), tonumber(out:match("tb(%d+)"))
  end

  it("rcvbuf and sndbuf, as options of socket.open and socket.connect and by setoption", function()
    run(function()
      local u = assert(S.open(0, "UDP", { rcvbuf = 1 << 20, sndbuf = 65536 }))
      local rb, tb = sizes(u)
      if rb then -- ss (iproute2) is there to look
        assert.is_true(rb >= 1 << 20, "rcvbuf " .. rb)
        assert.is_true(tb >= 65536, "sndbuf " .. tb)
      end
      assert.is_true(u:setoption("rcvbuf", 4096))
      if rb then assert.is_true(sizes(u) < 1 << 20) end
      local c = assert(S.connect("127.0.0.1", u:port(), "UDP", { sndbuf = 8192 }))
      assert.are.equal(2, c:write("hi"))
      assert.are.equal("hi", u:read(5))
      H.raises({ "socket.open: bad argument #3 (options): expected rcvbuf to be bytes " ..
        "(an integer > 0), got -1" }, S.open, 0, "UDP", { rcvbuf = -1 })
      H.raises({ "udp:setoption: sndbuf must be bytes (an integer > 0), got big" },
        u.setoption, u, "sndbuf", "big")
      H.raises({ "socket.connect: bad argument #4 (options): unknown option \"address\" (UDP " ..
        "takes rcvbuf or sndbuf)" }, S.connect, "127.0.0.1", u:port(), "UDP", { address = "x" })
    end)
  end)

  it("writes to a host name, looked up without blocking and kept", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.open(0, "UDP"))
      local to = "localhost:" .. u:port()
      assert.are.equal(5, c:write("first", to))
      assert.are.same({ "first", c:address() }, { u:read(5) })
      -- kept: the second write does not wait, even where a task cannot
      local n = 0
      table.sort({ 2, 1 }, function(a, b)
        n = n + 1
        if n == 1 then assert.are.equal(6, c:write("second", to)) end
        return a < b
      end)
      assert.are.equal("second", u:read(5))
      assert.are.equal(4, S.write(c, "port", to)) -- the port-keyed form too
      assert.are.equal("port", u:read(5))
      H.outcome("EAI_NONAME", c:write("x", "no-such-host.invalid:9"))
      H.raises({ "udp:write: bad argument #2 (to): expected an address such as " ..
        "\"127.0.0.1:7000\" or \"localhost:7000\", got \"bad host:9\"" }, c.write, c, "x",
        "bad host:9")
    end)
  end)
end)
