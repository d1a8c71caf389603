-- udp_connect_spec.lua: socket.connect(host, port, "UDP"): names looked up
-- without blocking the loop, names that do not resolve, unloading during a
-- look-up, and UDP over IPv6 on ::1.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

describe("socket.connect(host, port, \"UDP\")", function()
  it("looks a name up without blocking the loop, then talks to what it found", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.connect("localhost", u:port(), "UDP"))
      assert.are.equal("127.0.0.1:" .. u:port(), c:peer())
      assert.truthy(c:address():find("^127%.0%.0%.1:%d+$"))
      assert.truthy(H.find_line(xcs.logs("spec"),
        "sending from " .. c:address() .. " to 127.0.0.1:" .. u:port() .. " (UDP)"))
      assert.are.equal(4, c:write("ping"))
      local data, from = u:read(5)
      assert.are.equal("ping", data)
      assert.are.equal(c:address(), from)
      u:write("pong", from)
      assert.are.equal("pong", (c:read(5)))
    end)
  end)

  it("looks up names in parallel, while other tasks go on", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local done = 0
      for i = 1, 4 do
        xcs.spawn(function()
          local c = assert(S.connect("localhost", u:port(), "UDP"))
          c:write("from task " .. i)
          done = done + 1
        end)
      end
      local seen = {}
      for _ = 1, 4 do seen[assert(u:read(5))] = true end
      for i = 1, 4 do assert.is_true(seen["from task " .. i]) end
      assert.are.equal(4, done)
    end)
  end)

  it("returns nil, msg, \"EAI_NONAME\" for a name that does not resolve", function()
    run(function()
      local ok, msg, code = S.connect("no-such-host.invalid", 9, "UDP")
      H.outcome("EAI_NONAME", ok, msg, code)
      assert.are.equal("EAI_NONAME: unknown node or service", msg)
      -- and inside a module
      local m = assert(xcs.load("spec/fixtures/udp_resolve.lua",
        { host = "no-such-host.invalid", port = 9 }))
      assert.are.equal("concluded", (m:wait()))
      assert.truthy(H.find_line(m:logs(),
        "connect failed: EAI_NONAME: unknown node or service [EAI_NONAME]"))
    end)
  end)

  it("works from a module, which gets its reply", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local m = assert(xcs.load("spec/fixtures/udp_resolve.lua", { host = "localhost", port = u:port() }))
      local data, from = u:read(5)
      assert.are.equal("hello from a module", data)
      u:write("hi module", from)
      assert.are.equal("concluded", (m:wait()))
      assert.truthy(H.find_line(m:logs(), "connected to 127.0.0.1:" .. u:port()))
      assert.truthy(H.find_line(m:logs(), "reply: hi module"))
    end)
  end)

  it("lets a module be unloaded in the middle of a look-up", function()
    run(function()
      for _ = 1, 5 do
        local m = assert(xcs.load("spec/fixtures/udp_resolve.lua", { host = "localhost", port = 9 }))
        m:unload()
        assert.are.equal("unloaded", (m:wait()))
      end
    end)
  end)

  it("checks its arguments", function()
    run(function()
      local ok, err = pcall(S.connect, "", 9, "UDP")
      assert.is_false(ok)
      assert.truthy(err:find("bad argument #1 (host)", 1, true), err)
      ok, err = pcall(S.connect, "localhost", 0, "UDP")
      assert.is_false(ok)
      assert.truthy(err:find("bad argument #2 (port)", 1, true), err)
    end)
  end)
end)

describe("UDP over IPv6", function()
  it("binds ::1, names senders as [::1]:port, and knows IPv6's largest datagram", function()
    finally(function() xcs.configure { bind = "127.0.0.1" } end)
    run(function()
      xcs.configure { bind = "::1" }
      local u, msg = S.open(0, "UDP")
      if not u then
        pending("no IPv6 loopback here: " .. tostring(msg))
        return
      end
      assert.are.equal("[::1]:" .. u:port(), u:address())
      local c = assert(S.connect("::1", u:port(), "UDP"))
      assert.truthy(c:address():find("^%[::1%]:%d+$"), c:address())
      assert.are.equal("[::1]:" .. u:port(), c:peer())
      assert.are.equal(5, c:write("hello"))
      local data, from = S.read(u:port())
      assert.are.equal("hello", data)
      assert.are.equal(c:address(), from)
      assert.are.equal(5, S.write(u:port(), "world")) -- a reply without `to`
      local back, sender = c:read(5)
      assert.are.equal("world", back)
      assert.are.equal(u:address(), sender)
      -- 65535 less the UDP header: no IPv4 header to pay for
      local big = ("v6"):rep(40000):sub(1, 65527)
      assert.are.equal(65527, c:write(big))
      assert.is_true(big == (u:read(5)))
      H.outcome("EMSGSIZE", c:write(big .. "!"))
      H.outcome("EMSGSIZE", u:write(big .. "!", c:address()))
    end)
  end)
end)
