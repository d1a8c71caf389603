-- udp_echo_spec.lua: examples/udp_echo.lua, in-process and end to end.
local xcs = require "xcs"
local H = require "helpers"

-- A client socket whose writes go to the echo on port.
local function sender(port)
  return assert(xcs.socket.connect("127.0.0.1", port, "UDP"))
end

describe("examples/udp_echo.lua", function()
  it("binds the port it is given and says where", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      local port = m:port()
      assert.is_true(port > 0)
      assert.is_true(H.has_line(m:logs(), "bound to 127.0.0.1:" .. port .. " (UDP)"))
      assert.are.equal("running", m:status())
    end)
  end)

  it("sends each datagram back to its own sender", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      local echo = "127.0.0.1:" .. m:port()
      -- One connected sender, and one plain bound socket that names the echo.
      local a = sender(m:port())
      local b = assert(xcs.socket.open(0, "UDP"))
      assert.are.equal(6, a:write("from a"))
      assert.are.equal(6, b:write("from b", echo))
      local data, from = a:read()
      assert.are.equal("from a", data)
      assert.are.equal(echo, from)
      data, from = b:read()
      assert.are.equal("from b", data)
      assert.are.equal(echo, from)
    end)
  end)

  it("keeps datagram boundaries, empty datagrams included", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      local a = sender(m:port())
      local datagrams = { "one", "", "two words", " padded ", "\n", "\0binary\255\n",
        "socket_close 1" }
      for _, d in ipairs(datagrams) do
        assert.are.equal(#d, a:write(d))
        assert.are.equal(d, (a:read()))
      end
    end)
  end)

  it("echoes a 60000-byte datagram whole", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      local a = sender(m:port())
      local big = {}
      for i = 1, 6000 do big[i] = ("%09d\n"):format(i) end
      big = table.concat(big)
      assert.are.equal(60000, #big)
      assert.are.equal(60000, a:write(big))
      local data, from, truncated = a:read()
      assert.is_nil(truncated)
      assert.are.equal(60000, #data)
      assert.is_true(data == big)
    end)
  end)

  it("with count=N echoes N datagrams, closes its socket and concludes", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0, count = 2 }))
      local port = m:port()
      local a = sender(port)
      a:write("1")
      assert.are.equal("1", (a:read()))
      a:write("2")
      assert.are.equal("2", (a:read()))
      assert.are.equal("concluded", (m:wait()))
      assert.is_true(H.has_line(m:logs(), "closed 127.0.0.1:" .. port .. " (UDP)"))
    end)
  end)

  it("runs under xcshost: two senders, then stops cleanly on SIGTERM", function()
    xcs.run(function()
      local p, port = H.start_serving("udp_echo: bound to 127%.0%.0%.1:(%d+) %(UDP%)",
        "examples/udp_echo.lua", "port=0")
      local a, b = sender(port), sender(port)
      a:write("ping a")
      b:write("ping b")
      assert.are.equal("ping b", (b:read()))
      assert.are.equal("ping a", (a:read()))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      assert.truthy(p:output():find("udp_echo: closed 127.0.0.1:" .. port .. " (UDP)", 1, true))
    end)
  end)

  it("runs under xcshost with count=1: exits 0 by itself after one echo", function()
    xcs.run(function()
      local p, port = H.start_serving("bound to 127%.0%.0%.1:(%d+)",
        "examples/udp_echo.lua", "port=0", "count=1")
      local a = sender(port)
      a:write("only one")
      assert.are.equal("only one", (a:read()))
      assert.are.equal(0, p:wait(5))
    end)
  end)
end)
