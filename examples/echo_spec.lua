-- echo_spec.lua: examples/echo.lua, in-process and end to end.
local xcs = require "xcs"
local H = require "helpers"

local function connect(port)
  return assert(xcs.socket.connect("127.0.0.1", port, "TCP"))
end

describe("examples/echo.lua", function()
  it("opens the port it is given and says where it listens", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local port = m:port()
      assert.is_true(port > 0)
      assert.is_true(H.has_line(m:logs(), "listening on 127.0.0.1:" .. port .. " (TCP)"))
      assert.are.equal("running", m:status())
    end)
  end)

  it("echoes several chunks in order", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local c = connect(m:port())
      local sent = {}
      for i = 1, 20 do
        local chunk = ("chunk %d %s\n"):format(i, ("x"):rep(i * 37))
        c:write(chunk)
        sent[#sent + 1] = chunk
      end
      local all = table.concat(sent)
      assert.are.equal(all, H.read_n(c, #all))
    end)
  end)

  it("echoes a large burst whole (backpressure, no loss)", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local c = connect(m:port())
      local big = {}
      for i = 1, 40000 do big[i] = ("%07d\n"):format(i) end -- 320000 bytes
      big = table.concat(big)
      -- Write from another task while this one reads, as a real client would.
      local wrote
      xcs.spawn(function() wrote = c:write(big) end)
      local got = H.read_n(c, #big)
      assert.are.equal(#big, wrote)
      assert.are.equal(#big, #got)
      assert.is_true(got == big)
    end)
  end)

  it("serves several clients at once, each getting only its own bytes", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local clients = {}
      for i = 1, 5 do clients[i] = connect(m:port()) end
      -- Interleaved: every client writes before any reads.
      for round = 1, 3 do
        for i, c in ipairs(clients) do c:write(("client %d round %d\n"):format(i, round)) end
      end
      for i, c in ipairs(clients) do
        local want = ""
        for round = 1, 3 do want = want .. ("client %d round %d\n"):format(i, round) end
        assert.are.equal(want, H.read_n(c, #want))
      end
    end)
  end)

  it("keeps serving the others when a client closes", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local a, b = connect(m:port()), connect(m:port())
      a:write("a1")
      b:write("b1")
      assert.are.equal("a1", H.read_n(a, 2))
      assert.are.equal("b1", H.read_n(b, 2))
      a:close()
      b:write("b2")
      assert.are.equal("b2", H.read_n(b, 2))
      local c = connect(m:port())
      c:write("c1")
      assert.are.equal("c1", H.read_n(c, 2))
      assert.are.equal("running", m:status())
    end)
  end)

  it("answers a half-closed client, then closes its side too", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local c = connect(m:port())
      c:write("last words")
      assert.is_true(c:shutdown())
      assert.are.equal("last words", H.read_n(c, 10))
      assert.are.equal("", c:read()) -- the host closed the connection: FIN
      assert.are.equal("running", m:status())
    end)
  end)

  it("closes its clients in an orderly way (FIN) when unloaded", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local port = m:port()
      local c = connect(port)
      c:write("hi")
      assert.are.equal("hi", H.read_n(c, 2))
      m:unload()
      assert.are.equal("", c:read())
      c:close()
      assert.are.equal("unloaded", (m:wait()))
      assert.is_true(H.has_line(m:logs(), "closed 127.0.0.1:" .. port .. " (TCP)"))
    end)
  end)

  it("runs under xcshost: echoes, and stops cleanly on SIGTERM", function()
    xcs.run(function()
      local p, port = H.start_serving("echo: listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        "examples/echo.lua", "port=0")
      local a = connect(port)
      local b = connect(port)
      a:write("one ")
      b:write("two ")
      a:write("three")
      assert.are.equal("one three", H.read_n(a, 9))
      assert.are.equal("two ", H.read_n(b, 4))
      p:kill("TERM")
      assert.are.equal("", a:read()) -- an orderly close: FIN, not a reset
      assert.are.equal("", b:read())
      a:close()
      b:close()
      assert.are.equal(0, p:wait(5))
      assert.truthy(p:output():find("echo: closed 127.0.0.1:" .. port .. " (TCP)", 1, true))
    end)
  end)
end)
