-- list_spec.lua: socket.list() tells what a module holds.
local xcs = require "xcs"
local S = xcs.socket

local function by_kind(list)
  local t = {}
  for _, s in ipairs(list) do t[s.kind] = s end
  return t
end

describe("socket.list", function()
  it("shows each socket with protocol, addresses, bytes and age", function()
    xcs.run(function()
      local l = assert(S.open(0, "TCP"))
      local u = assert(S.open(0, "UDP"))
      local c = assert(S.connect("127.0.0.1", l:port()))
      c:write("hello")
      local data, client = S.read(l)
      assert.are.equal("hello", data)
      S.write(l, "hi!", client)
      assert.are.equal("hi!", c:read())
      local got = by_kind(S.list())
      assert.are.same({ "TCP", "127.0.0.1:" .. l:port(), 1 },
        { got.listener.protocol, got.listener["local"], got.listener.clients })
      assert.are.equal("UDP", got.socket.protocol)
      assert.are.equal(u:address(), got.socket["local"])
      assert.are.equal(c:address(), got.connection["local"])
      assert.are.equal(c:peer(), got.connection.remote)
      assert.are.same({ 3, 5 }, { got.connection.bytes_in, got.connection.bytes_out })
      assert.are.same({ 5, 3 }, { got.client.bytes_in, got.client.bytes_out })
      assert.are.equal(client, got.client.handle)
      for _, s in ipairs(S.list()) do
        assert.is_true(s.age >= 0 and s.age < 10)
      end
      c:close()
      u:close()
      for _, s in ipairs(S.list()) do
        assert.are_not.equal(c, s.handle)
        assert.are_not.equal("socket", s.kind)
      end
    end)
  end)

  it("is what a module sees of its own sockets", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("x")
      assert.are.equal("x", c:read())
      -- the spec's own list holds only the spec's connection
      local mine = S.list()
      assert.are.equal(1, #mine)
      assert.are.equal("connection", mine[1].kind)
    end)
  end)
end)
