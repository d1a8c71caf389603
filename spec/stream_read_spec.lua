-- stream_read_spec.lua: framed reads on a TCP connection (exactly n bytes,
-- a line, everything, whatever arrived up to n, up to a delimiter), their
-- limits and timeouts, and how each fails: what arrived stays buffered.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("conn:read(n)", function()
  it("returns exactly n bytes, waiting for the rest", function()
    run(function()
      local c, s = H.pair()
      c:write("abc")
      xcs.spawn(function() c:write("defgh") end) -- runs once the read waits
      assert.are.equal("abcd", s:read(4))
      assert.are.equal("ef", s:read(2))
      assert.are.equal("", s:read(0))
      assert.are.equal("gh", s:read())
    end)
  end)

  it("reads more than the 256 KiB at which reading otherwise pauses", function()
    run(function()
      local c, s = H.pair()
      local size = 3 * 1024 * 1024 + 7
      local data = ("0123456789abcdef"):rep(size // 16 + 1):sub(1, size)
      xcs.spawn(function() c:write(data) end)
      assert.are.equal(data, s:read(size))
    end)
  end)

  it("returns nil, closed, partial when the peer closes part-way; the bytes stay", function()
    run(function()
      local c, s = H.pair()
      c:write("abc")
      c:close()
      H.failed_read("closed", "abc", s:read(10))
      H.failed_read("closed", "abc", s:read(10)) -- again: nothing was lost
      assert.are.equal("ab", s:read(2))
      H.failed_read("closed", "c", s:read("*l"))
      assert.are.equal("c", s:read())
      assert.are.equal("", s:read())
    end)
  end)
end)

describe("conn:read(n) of a few bytes", function()
  -- conn:read keeps the last short strings it made (bindings/stream.c,
  -- push_short): every later one must still be the bytes that arrived.
  it("returns the bytes that arrived, for more distinct strings than it keeps", function()
    run(function()
      local c, s = H.pair()
      local want = {}
      for round = 1, 2 do
        for i = 0, 40 do
          local n = i % 4 + 1
          local b = {}
          for k = 1, n do b[k] = (i * 37 + k * 11 + round) % 256 end
          want[#want + 1] = string.char(table.unpack(b))
        end
      end
      for i = 1, 20 do want[#want + 1] = ({ "\r\n", "*", "$", "SET", "GET", "\0\0\0\0" })[i % 6 + 1] end
      xcs.spawn(function() c:write(table.concat(want)) end)
      for i = 1, #want do assert.are.equal(want[i], s:read(#want[i])) end
    end)
  end)
end)

describe('conn:read("*l")', function()
  it("returns a line without its LF, and drops a CR before the LF only", function()
    run(function()
      local c, s = H.pair()
      c:write("one\r\ntwo\n\na\rb\nlast")
      assert.are.equal("one", s:read("*l"))
      assert.are.equal("two", s:read("*l"))
      assert.are.equal("", s:read("*l"))
      assert.are.equal("a\rb", s:read("l")) -- "l" works too
      xcs.spawn(function() c:write(" line\r") c:write("\n") end)
      assert.are.equal("last line", s:read("*l"))
    end)
  end)

  it("fails a line longer than maxline (64 KiB by default) instead of growing", function()
    run(function()
      local c, s = H.pair()
      local long = ("x"):rep(64 * 1024 + 2)
      c:write(long)
      assert.are.equal("EMSGSIZE: line longer than 65536 bytes (maxline)",
        H.failed_read("EMSGSIZE", long, s:read("*l")))
      -- a line of exactly maxline bytes (with CRLF) is fine
      local c2, s2 = H.pair()
      c2:write(("y"):rep(64 * 1024) .. "\r\n")
      assert.are.equal(64 * 1024, #s2:read("*l"))
    end)
  end)

  it("takes maxline from setoption; the connection stays usable", function()
    run(function()
      local c, s = H.pair()
      assert.is_true(s:setoption("maxline", 8))
      c:write("12345678\n123456789\nok\n")
      assert.are.equal("12345678", s:read("*l"))
      H.failed_read("EMSGSIZE", "123456789\nok\n", s:read("*l"))
      assert.are.equal("123456789\n", s:readuntil("\n", 100, 1) .. "\n")
      assert.are.equal("ok", s:read("*l"))
      -- without a newline it fails as soon as more than maxline arrived
      c:write("abcdefghijk")
      H.failed_read("EMSGSIZE", "abcdefghijk", s:read("*l"))
    end)
  end)
end)

describe('conn:read("*n")', function()
  it("returns a line that is a decimal integer as that integer, waiting for its end", function()
    run(function()
      local c, s = H.pair()
      c:write("42\r\n-1\n+7\n0\n9223372036854775807\n-9223372036854775808\n1")
      assert.are.equal(42, s:read("*n"))
      assert.are.equal(-1, s:read("*n"))
      assert.are.equal(7, s:read("n")) -- "n" works too
      assert.are.equal(0, s:read("*n"))
      assert.are.equal(math.maxinteger, s:read("*n"))
      assert.are.equal(math.mininteger, s:read("*n"))
      xcs.spawn(function() c:write("2") c:write("3\r\n$") end) -- runs once the read waits
      local n = s:read("*n")
      assert.are.equal(123, n)
      assert.are.equal("integer", math.type(n))
      assert.are.equal("$", s:read(1))
    end)
  end)

  it("fails a line that is not an integer with EPROTO; the line stays buffered", function()
    run(function()
      local c, s = H.pair()
      for _, bad in ipairs({ "", "-", "1.5", " 1", "1 ", "0x10", "1e3", "$5",
                             "9223372036854775808", "-9223372036854775809" }) do
        c:write(bad .. "\r\n")
        assert.are.equal("EPROTO: the line is not an integer",
          H.failed_read("EPROTO", bad .. "\r\n", s:read("*n")))
        assert.are.equal(bad, s:read("*l")) -- nothing was lost
      end
      -- waiting for the line's end first, then failing the same way
      xcs.spawn(function() c:write("x") c:write("y\n5\n") end)
      H.failed_read("EPROTO", "xy\n5\n", s:read("*n"))
      assert.are.equal("xy", s:read("*l"))
      assert.are.equal(5, s:read("*n"))
    end)
  end)

  it("fails as a line does: past maxline, a close part-way, a timeout", function()
    run(function()
      local c, s = H.pair()
      assert.is_true(s:setoption("maxline", 4))
      c:write("123456\n")
      H.failed_read("EMSGSIZE", "123456\n", s:read("*n"))
      assert.are.equal("123456", s:readuntil("\n", 10))
      c:write("12")
      H.failed_read("ETIMEDOUT", "12", s:read("*n", 0.05))
      c:close()
      H.failed_read("closed", "12", s:read("*n"))
      assert.are.equal("12", s:read())
    end)
  end)
end)

describe('conn:read("*a")', function()
  it("returns everything until the peer closes, then \"\"", function()
    run(function()
      local c, s = H.pair()
      xcs.spawn(function()
        for i = 1, 5 do c:write(i .. ",") end
        c:close()
      end)
      assert.are.equal("1,2,3,4,5,", s:read("*a"))
      assert.are.equal("", s:read("*a"))
      assert.are.equal("", s:read())
    end)
  end)

  it("keeps what arrived when it times out, and a retry gets all of it", function()
    run(function()
      local c, s = H.pair()
      c:write("early ")
      H.failed_read("ETIMEDOUT", "early ", s:read("*a", 0.05))
      c:write("late")
      c:close()
      assert.are.equal("early late", s:read("*a"))
    end)
  end)

  it("fails past maxall without waiting for the close", function()
    run(function()
      local c, s = H.pair { maxall = 100 }
      local data = ("z"):rep(150)
      c:write(data)
      assert.are.equal("EMSGSIZE: data longer than 100 bytes (maxall)",
        H.failed_read("EMSGSIZE", data, s:read("*a")))
      -- maxall bounds read(n) too: n is at most maxall
      H.failed_read("EMSGSIZE", data, s:read(101))
      assert.are.equal(("z"):rep(100), s:read(100))
      H.failed_read("ETIMEDOUT", ("z"):rep(50), s:readuntil("!", 1000, 0.01))
      assert.are.equal(("z"):rep(50), s:readany(1000))
    end)
  end)
end)

describe("conn:readany(max)", function()
  it("returns whatever arrived, at most max bytes, and \"\" at the end", function()
    run(function()
      local c, s = H.pair()
      xcs.spawn(function() c:write("hello world") end)
      assert.are.equal("hello", s:readany(5))
      assert.are.equal(" world", s:readany(100))
      c:close()
      assert.are.equal("", s:readany(1))
    end)
  end)
end)

describe("conn:readuntil(delimiter [, max])", function()
  it("returns what comes before the delimiter and consumes the delimiter", function()
    run(function()
      local c, s = H.pair()
      c:write("head--bou")
      xcs.spawn(function() c:write("ndary--body---boundary----boundary--") end)
      assert.are.equal("head", s:readuntil("--boundary--"))
      assert.are.equal("body-", s:readuntil("--boundary--"))
      assert.are.equal("", s:readuntil("--boundary--"))
    end)
  end)

  it("fails when more than max bytes come before the delimiter", function()
    run(function()
      local c, s = H.pair()
      c:write("0123456789;")
      H.failed_read("EMSGSIZE", "0123456789;", s:readuntil(";", 9))
      assert.are.equal("0123456789", s:readuntil(";", 10))
      c:write("abcdefghijklmnop") -- no delimiter yet, but already too long
      H.failed_read("EMSGSIZE", "abcdefghijklmnop", s:readuntil("::", 4))
    end)
  end)

  it("returns nil, closed, partial when the peer closes first", function()
    run(function()
      local c, s = H.pair()
      c:write("no end")
      c:shutdown()
      H.failed_read("closed", "no end", s:readuntil("\r\n"))
      assert.are.equal("no end", s:read("*a"))
    end)
  end)
end)

describe("read timeouts", function()
  it("fire per call; the connection stays usable and nothing is lost", function()
    run(function()
      local c, s = H.pair()
      c:write("12345")
      local t0 = xcs.now()
      H.failed_read("ETIMEDOUT", "12345", s:read(10, 0.1))
      local waited = xcs.now() - t0
      assert.is_true(waited >= 0.09 and waited < 2, tostring(waited))
      H.failed_read("ETIMEDOUT", "12345", s:read("*l", 0))
      c:write("67890\n")
      assert.are.equal("1234567890", s:read(10, math.huge))
      assert.are.equal("", s:read("*l"))
    end)
  end)

  it("come from settimeouts(connect, send, read) per connection", function()
    run(function()
      local c, s = H.pair()
      assert.is_true(s:settimeouts(nil, nil, 0.05))
      local t0 = xcs.now()
      H.failed_read("ETIMEDOUT", nil, s:read())
      H.failed_read("ETIMEDOUT", nil, s:readany(10))
      assert.is_true(xcs.now() - t0 < 2)
      c:write("x")
      assert.are.equal("x", s:read())
      -- a per-call timeout wins over the connection's
      xcs.spawn(function() c:write("late") end)
      assert.are.equal("late", s:read(4, 5))
    end)
  end)

  it("come from socket.listen's and socket.connect's options", function()
    run(function()
      local c, s = H.pair { read_timeout = 0.05 }
      H.failed_read("ETIMEDOUT", "", s:read(1))
      local l = assert(S.listen(0))
      local c2 = assert(S.connect("127.0.0.1", l:port(), "TCP", { read_timeout = 0.05 }))
      H.failed_read("ETIMEDOUT", "", c2:read("*l"))
      c:close()
    end)
  end)
end)

describe("a connection reset by its peer", function()
  it("fails the read with ECONNRESET and what had arrived, then is closed", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/stream_reset.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      assert.are.equal("half", c:read(4)) -- the rest is buffered here now
      c:write("reset\n")
      H.failed_read("ECONNRESET", " a line", c:read("*l"))
      -- the socket is gone; the handle keeps answering with the error
      H.failed_read("ECONNRESET", nil, c:read())
      H.failed_read("ECONNRESET", nil, c:write("x"))
      assert.truthy(tostring(c):find("ECONNRESET", 1, true))
      assert.is_string(c:peer())
      assert.is_true(c:close())
      assert.are.equal("concluded", (m:wait()))
      assert.truthy(H.find_line(m:logs(), "reset sent"))
    end)
  end)

  it("can be closed later, or left to the end of the run", function()
    run(function()
      local conns = {}
      for i = 1, 2 do
        local m = assert(xcs.load("spec/fixtures/stream_reset.lua", { port = 0 }))
        conns[i] = assert(S.connect("127.0.0.1", m:port()))
        conns[i]:write("reset\n")
        H.failed_read("ECONNRESET", "half a line", conns[i]:read("*a"))
      end
      xcs.sleep(0) -- a turn of the loop: the released sockets are closed by now
      H.failed_read("ECONNRESET", nil, conns[1]:readany(1))
      assert.is_true(conns[1]:close())
      assert.is_true(conns[1]:close())
      H.failed_read("ECONNRESET", nil, conns[2]:flush()) -- and conns[2] stays open
    end)
  end)
end)

describe("half close", function()
  it("lets the peer read to the end and still answer", function()
    run(function()
      local c, s = H.pair()
      c:write("request body")
      assert.is_true(c:shutdown())
      assert.are.equal("request body", s:read("*a"))
      assert.are.equal(8, s:write("response"))
      s:close()
      assert.are.equal("response", c:read("*a"))
    end)
  end)
end)

describe("read misuse raises", function()
  it("for a bad pattern, count, delimiter or timeout", function()
    run(function()
      local _, s = H.pair()
      local pattern = 'expected a byte count, "*l", "*n" or "*a"'
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read("*x") end)
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read(-1) end)
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read(1.5) end)
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read({}) end)
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read("**l") end)
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read("l\0") end)
      H.raises({ "bad argument #1 to 'read'", pattern }, function() s:read("5") end)
      H.raises({ "bad argument #2 to 'read'", "expected a timeout in seconds", "got -1" },
        function() s:read(1, -1) end)
      H.raises({ "bad argument #1 to 'readany'", "an integer > 0" }, function() s:readany(0) end)
      H.raises({ "bad argument #1 to 'readany'" }, function() s:readany() end)
      H.raises({ "bad argument #1 to 'readuntil'", "a non-empty string" },
        function() s:readuntil("") end)
      H.raises({ "bad argument #2 to 'readuntil'", "an integer >= 0" },
        function() s:readuntil("x", -1) end)
      H.raises({ "bad argument #3 to 'settimeouts'", 'got "soon"' },
        function() s:settimeouts(1, 2, "soon") end)
    end)
  end)

  it("for a second task reading the same connection", function()
    run(function()
      local c, s = H.pair()
      local err
      xcs.spawn(function()
        local ok, e = pcall(s.read, s, "*l")
        err = e
        c:write("done\n")
      end)
      assert.are.equal("done", s:read("*l"))
      assert.truthy(tostring(err):find("read: socket busy reading", 1, true), tostring(err))
    end)
  end)
end)
