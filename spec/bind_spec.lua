-- bind_spec.lua: --bind takes a list; socket.open and socket.listen take
-- address = to choose one of its addresses, so a public listener and a
-- loopback-only admin listener live in one host.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function ip(h) return (h:address():match("^%[?(.-)%]?:%d+$")) end

describe("--bind with several addresses", function()
  before_each(function() xcs.configure { bind = { "127.0.0.1", "127.0.0.2" } } end)

  it("binds the first unless address = chooses another of them", function()
    xcs.run(function()
      local a <close> = assert(S.listen(0))
      local b <close> = assert(S.listen(0, { address = "127.0.0.2" }))
      local c <close> = assert(S.open(0, "TCP", { address = "127.0.0.2" }))
      local d <close> = assert(S.open(0, "UDP", { address = "127.0.0.2" }))
      local e <close> = assert(S.open(0, "UDP"))
      assert.are.same({ "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.1" },
        { ip(a), ip(b), ip(c), ip(d), ip(e) })
      -- and each serves there
      local conn = assert(S.connect("127.0.0.2", b:port()))
      assert(b:accept(5))
      conn:close()
      assert.are.equal(2, e:write("hi", d:address()))
      assert.are.equal("hi", d:read(5))
    end)
  end)

  it("refuses an address that is not one of them, listing them", function()
    xcs.run(function()
      H.raises({ "socket.listen: bad option 'address': \"127.0.0.3\" is not one of the host's " ..
        "--bind addresses (127.0.0.1 and 127.0.0.2)" }, S.listen, 0, { address = "127.0.0.3" })
      H.raises({ "socket.open: bad option 'address'", "(127.0.0.1 and 127.0.0.2)" },
        S.open, 0, "TCP", { address = "10.0.0.1" })
      H.raises({ "socket.open: bad argument #3 (options): address must be one of the host's " ..
        "--bind addresses (127.0.0.1 and 127.0.0.2), a multicast group or a broadcast address, " ..
        'got "127.0.0.3"' }, S.open, 0, "UDP", { address = "127.0.0.3" })
      H.raises({ "socket.listen: bad option 'address': expected one of the host's --bind " ..
        "addresses (a string), got number" }, S.listen, 0, { address = 1 })
    end)
  end)

  it("a wildcard among them allows every address of its family", function()
    xcs.configure { bind = { "127.0.0.1", "0.0.0.0" } }
    xcs.run(function()
      local l <close> = assert(S.listen(0, { address = "127.0.0.5" }))
      assert.are.equal("127.0.0.5", ip(l))
      local w <close> = assert(S.listen(0, { address = "0.0.0.0" }))
      assert.are.equal("0.0.0.0", ip(w))
    end)
  end)
end)

describe("xcshost --bind LIST", function()
  it("serves a public and an admin listener from one host", function()
    xcs.run(function()
      local p = H.start("--bind", "127.0.0.1,127.0.0.2", "spec/fixtures/bind_two.lua",
        "admin=127.0.0.2")
      local public = tonumber(H.expect(p, "listening on 127%.0%.0%.1:(%d+) %(TCP%)"))
      local admin = tonumber(H.expect(p, "listening on 127%.0%.0%.2:(%d+) %(TCP%)"))
      local c = assert(S.connect("127.0.0.1", public))
      assert.are.equal("public", c:read("*l"))
      c = assert(S.connect("127.0.0.2", admin))
      assert.are.equal("admin", c:read("*l"))
      H.outcome("ECONNREFUSED", S.connect("127.0.0.1", admin)) -- loopback .2 only
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("without --bind, an address other than 127.0.0.1 fails the module, naming --bind", function()
    local code, out = xcs.run(H.run, "spec/fixtures/bind_two.lua", "admin=127.0.0.2")
    assert.are.equal(1, code)
    assert.truthy(out:find("bind_two: failed: spec/fixtures/bind_two.lua:4: socket.listen: " ..
      "bad option 'address': \"127.0.0.2\" is not one of the host's --bind addresses " ..
      "(127.0.0.1)", 1, true), out)
  end)

  it("repeats, and refuses an address that is not an IP one", function()
    local code, out = xcs.run(H.run, "--bind", "127.0.0.1", "--bind=127.0.0.2,nowhere",
      "spec/fixtures/bind_two.lua")
    assert.are.equal(2, code)
    assert.truthy(out:find("xcshost: --bind needs IP addresses such as 127.0.0.1, 0.0.0.0 " ..
      "or ::, not 'nowhere'", 1, true), out)
  end)
end)
