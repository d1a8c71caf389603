-- ipv6_spec.lua: dual stack. With the host bound to "::", a module's TCP and
-- UDP sockets answer on 127.0.0.1 and on ::1 alike, IPv6 addresses are shown
-- as "[addr]:port", and modules connect to "::1" and "[::1]". Pending on a
-- machine without an IPv6 loopback.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

-- Whether this machine has ::1 (the bind address is restored whatever happens).
local have_ipv6 = (function()
  xcs.configure { bind = "::1" }
  local ok, l = pcall(run, function() return S.listen(0) ~= nil end)
  xcs.configure { bind = "127.0.0.1" }
  return ok and l
end)()

-- Runs fn with the host bound to "::", restoring 127.0.0.1 after.
local function dual_stack(fn)
  if not have_ipv6 then return pending("no IPv6 loopback (::1) on this machine") end
  xcs.configure { bind = "::" }
  finally(function() xcs.configure { bind = "127.0.0.1" } end)
  run(fn)
end

describe("dual stack (bind ::)", function()
  it("serves a module's socket.open listener on 127.0.0.1 and on ::1", function()
    dual_stack(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local port = m:port()
      assert.truthy(H.match_line(m:logs(), "^listening on %[::%]:" .. port .. " %(TCP%)$"))
      for host, peer in pairs { ["127.0.0.1"] = "127.0.0.1", ["::1"] = "[::1]",
                                ["[::1]"] = "[::1]", localhost = "127.0.0.1" } do
        local c = assert(S.connect(host, port))
        assert.are.equal(peer .. ":" .. port, c:peer())
        assert.truthy(c:address():find("^" .. peer:gsub("[%[%]%.]", "%%%0") .. ":%d+$"), c:address())
        c:write("via " .. host)
        assert.are.equal("via " .. host, c:read(#host + 4))
        c:close()
      end
    end)
  end)

  it("shows a module its IPv6 clients as [::1]:port, IPv4 ones as IPv4-mapped", function()
    dual_stack(function()
      local m = assert(xcs.load("examples/chat.lua", { port = 0 })) -- announces each client's peer()
      local v4 = assert(S.connect("127.0.0.1", m:port()))
      local v6 = assert(S.connect("::1", m:port()))
      local shown4, shown6 = "[::ffff:127.0.0.1]:" .. v4:port(), "[::1]:" .. v6:port()
      v4:write("hi\n")
      local said4 = "* " .. shown4 .. " joined\n" .. shown4 .. ": hi\n"
      assert.are.equal(said4, v4:read(#said4, 5))
      v6:write("hi\n")
      local said6 = "* " .. shown6 .. " joined\n" .. shown6 .. ": hi\n"
      assert.are.equal(said4 .. said6, v6:read(#said4 + #said6, 5)) -- everyone hears everyone
      assert.are.equal(said6, v4:read(#said6, 5))
    end)
  end)

  it("serves socket.listen's accepted connections on both (http_hello.lua)", function()
    dual_stack(function()
      local m = assert(xcs.load("examples/http_hello.lua", { port = 0 }))
      for _, host in ipairs { "127.0.0.1", "::1" } do
        local c = assert(S.connect(host, m:port()))
        c:write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        local all = assert(c:read("*a", 5))
        assert.truthy(all:find("^HTTP/1%.1 200 OK\r\n"), all)
        assert.truthy(all:find("\r\n\r\nHello, world!\n$"), all)
      end
    end)
  end)

  it("echoes UDP to senders on 127.0.0.1 and on ::1, naming them", function()
    dual_stack(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      assert.truthy(H.match_line(m:logs(), "^bound to %[::%]:" .. m:port() .. " %(UDP%)$"))
      for host, shown in pairs { ["127.0.0.1"] = "127.0.0.1", ["::1"] = "[::1]" } do
        local u = assert(S.connect(host, m:port(), "UDP"))
        assert.are.equal(shown .. ":" .. m:port(), u:peer())
        u:write("datagram via " .. host)
        local data, from = u:read(5)
        assert.are.equal("datagram via " .. host, data)
        assert.are.equal(shown .. ":" .. m:port(), from)
      end
      -- The spec's own socket on "::" too: it hears both, and answers both.
      local s = assert(S.open(0, "UDP"))
      assert.are.equal("[::]:" .. s:port(), s:address())
      local a, b = assert(S.connect("127.0.0.1", s:port(), "UDP")), assert(S.connect("::1", s:port(), "UDP"))
      a:write("four")
      b:write("six")
      local d1, from1 = s:read(5)
      local d2, from2 = s:read(5)
      assert.are.same({ "four", "[::ffff:127.0.0.1]:" .. a:port() }, { d1, from1 })
      assert.are.same({ "six", "[::1]:" .. b:port() }, { d2, from2 })
      assert.are.equal(3, s:write("one", from1))
      assert.are.equal(3, s:write("two", a:address())) -- plain IPv4 works too
      assert.are.equal(5, s:write("three", from2))
      assert.are.equal("one", (a:read(5)))
      assert.are.equal("two", (a:read(5)))
      assert.are.equal("three", (b:read(5)))
    end)
  end)

  it("UDP socket.connect takes a bracketed [::1] as TCP's does", function()
    dual_stack(function()
      local s = assert(S.open(0, "UDP"))
      local u = assert(S.connect("[::1]", s:port(), "UDP"))
      assert.are.equal("[::1]:" .. s:port(), u:peer())
    end)
  end)

  it("lets modules connect to ::1 and [::1] (client.lua, proxy.lua)", function()
    dual_stack(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      for _, host in ipairs { "::1", "[::1]" } do
        local m = assert(xcs.load("examples/client.lua", { host = host, port = echo:port(), lines = "six|over four" }))
        assert.are.equal("concluded", (m:wait()))
        assert.truthy(H.match_line(m:logs(), "^six$") and H.match_line(m:logs(), "^over four$"))
      end
      local proxy = assert(xcs.load("examples/proxy.lua", { port = 0, upstream_host = "::1",
        upstream_port = echo:port() }))
      assert.truthy(H.match_line(proxy:logs(), "^relaying %[::%]:%d+ to %[::1%]:" .. echo:port() .. "$"))
      local c = assert(S.connect("::1", proxy:port()))
      c:write("through the relay")
      assert.are.equal("through the relay", c:read(17, 5))
    end)
  end)

  it("runs under xcshost --bind ::", function()
    dual_stack(function()
      local p, port = H.start_serving("^echo: listening on %[::%]:(%d+) %(TCP%)$",
        "--bind", "::", "examples/echo.lua", "port=0")
      for _, host in ipairs { "127.0.0.1", "::1" } do
        local c = assert(S.connect(host, port))
        c:write(host)
        assert.are.equal(host, c:read(#host, 5))
        c:close()
      end
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("leaves the bind address as it was", function()
    run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      assert.truthy(H.match_line(m:logs(), "^listening on 127%.0%.0%.1:%d+ %(TCP%)$"))
    end)
  end)
end)
