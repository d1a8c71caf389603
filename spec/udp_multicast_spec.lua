-- udp_multicast_spec.lua: broadcast and multicast on loopback, and the
-- options that go with them. Where this network namespace does not deliver
-- broadcasts or multicast on lo, the specs that need it say so as pending.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

local GROUP = "239.255.77.1"

-- A sender whose group datagrams leave through loopback and come back to
-- this host; or nil and why not.
local function group_sender()
  local s = assert(S.open(0, "UDP"))
  local ok, msg = s:setoption("multicast_interface", "127.0.0.1")
  if not ok then return nil, msg end
  assert(s:setoption("multicast_loop", true))
  assert(s:setoption("multicast_ttl", 1))
  return s
end

-- Sends data to the group on port and waits for member to get it. Returns
-- the datagram and its sender, or nil and a reason for pending().
local function through_group(sender, member, data)
  local n, msg = sender:write(data, GROUP .. ":" .. member:port())
  if not n then return nil, "sending to " .. GROUP .. " fails: " .. msg end
  local got, from = member:read(1)
  if not got then return nil, "a datagram sent to " .. GROUP .. " on lo never came" end
  return got, from
end

local NO_MULTICAST = "no multicast on loopback in this network namespace (%s)"

describe("broadcast", function()
  it("needs setoption(\"broadcast\", true) to send, then reaches a socket bound to it", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      local b1, msg = S.open(0, "UDP", { address = "127.255.255.255" })
      if not b1 then
        pending("cannot bind the loopback broadcast address here: " .. tostring(msg))
        return
      end
      assert.are.equal("127.255.255.255:" .. b1:port(), b1:address())
      local to = "127.255.255.255:" .. b1:port()
      local ok, err, code = u:write("hello all", to)
      H.outcome("EACCES", ok, err, code)
      assert.truthy(err:find('udp:setoption("broadcast", true)', 1, true), err)
      assert.is_true(u:setoption("broadcast", true))
      assert.are.equal(9, u:write("hello all", to))
      local data, from = b1:read(1)
      if not data then
        pending("broadcasts are not delivered on loopback in this network namespace")
        return
      end
      assert.are.equal("hello all", data)
      assert.are.equal(u:address(), from)
      -- and it can be turned off again
      assert.is_true(u:setoption("broadcast", false))
      H.outcome("EACCES", u:write("again", to))
    end)
  end)
end)

describe("multicast", function()
  it("a member gets what is sent to its group; after leave it does not; join again and it does", function()
    run(function()
      local m = assert(S.open(0, "UDP", { address = GROUP }))
      assert.are.equal(GROUP .. ":" .. m:port(), m:address())
      local ok, msg = m:join(GROUP) -- on the bind address, 127.0.0.1
      if not ok then return pending(NO_MULTICAST:format(msg)) end
      local s, why = group_sender()
      if not s then return pending(NO_MULTICAST:format(why)) end
      local data, from = through_group(s, m, "to the group")
      if not data then return pending(NO_MULTICAST:format(from)) end
      assert.are.equal("to the group", data)
      assert.are.equal(s:address(), from)
      -- a second member on the same group and port, a module, gets its own
      -- copy (and answers the sender)
      local mod = assert(xcs.load("spec/fixtures/udp_group.lua", { group = GROUP, port = m:port() }))
      assert.are.equal("running", mod:status())
      s:write("to both", GROUP .. ":" .. m:port())
      assert.are.equal("to both", (m:read(1)))
      assert.are.equal("member got to both", (s:read(1)))
      mod:unload()
      -- leave: nothing more arrives
      assert.is_true(m:leave(GROUP))
      s:write("after leave", GROUP .. ":" .. m:port())
      H.outcome("ETIMEDOUT", m:read(0.2))
      -- join again: it does
      assert.is_true(m:join(GROUP))
      s:write("joined again", GROUP .. ":" .. m:port())
      assert.are.equal("joined again", (m:read(1)))
    end)
  end)

  it("works inside a module, which answers the sender", function()
    run(function()
      local mod = assert(xcs.load("spec/fixtures/udp_group.lua", { group = GROUP, port = 0 }))
      if mod:status() ~= "running" then
        return pending(NO_MULTICAST:format(tostring(mod:error())))
      end
      local s, why = group_sender()
      if not s then return pending(NO_MULTICAST:format(why)) end
      s:write("hello members", GROUP .. ":" .. mod:port())
      local reply, from = s:read(1)
      if not reply then return pending(NO_MULTICAST:format("the module got nothing")) end
      assert.are.equal("member got hello members", reply)
      -- a group address sends nothing: the reply leaves from loopback's own
      assert.are.equal("127.0.0.1:" .. mod:port(), from)
      assert.truthy(H.find_line(mod:logs(), "bound to " .. GROUP .. ":" .. mod:port() .. " (UDP)"))
    end)
  end)
end)

describe("UDP options and membership", function()
  it("setoption takes the options users reach for, and returns true", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      assert.is_true(u:setoption("broadcast", true))
      assert.is_true(u:setoption("ttl", 64))
      assert.is_true(u:setoption("multicast_loop", false))
      assert.is_true(u:setoption("multicast_ttl", 0))
      assert.is_true(u:setoption("multicast_interface", "127.0.0.1"))
      -- the socket still works
      local r = assert(S.open(0, "UDP"))
      assert.are.equal(2, u:write("ok", r:address()))
      assert.are.equal("ok", (r:read(5)))
    end)
  end)

  it("misuse raises, naming what was wrong", function()
    run(function()
      local u = assert(S.open(0, "UDP"))
      H.raises({ "udp:setoption: unknown option 'nodelay' (expected broadcast, ttl, " ..
        "multicast_loop, multicast_ttl, multicast_interface, rcvbuf or sndbuf)" },
        function() return u:setoption("nodelay", true) end)
      H.raises({ "boolean expected, got number" }, function() return u:setoption("broadcast", 1) end)
      H.raises({ "expected an integer from 1 to 255, got 0" }, function() return u:setoption("ttl", 0) end)
      H.raises({ "expected an integer from 0 to 255, got 300" },
        function() return u:setoption("multicast_ttl", 300) end)
      H.raises({ 'expected the IP address of an interface, such as "127.0.0.1", got "lo"' },
        function() return u:setoption("multicast_interface", "lo") end)
      H.raises({ 'expected a multicast group address such as "239.1.2.3", got "10.0.0.1"' },
        function() return u:join("10.0.0.1") end)
      H.raises({ 'expected a multicast group address such as "239.1.2.3", got "lo"' },
        function() return u:leave("lo") end)
      -- a socket bound to 127.0.0.1 would never see a group's datagrams
      H.raises({ 'join: this socket is bound to ' .. u:address() .. ' and never sees a group\'s datagrams; '
        .. 'open it with socket.open(port, "UDP", { address = "' .. GROUP .. '" })' },
        function() return u:join(GROUP) end)
      H.raises({ "socket.open: bad argument #3 (options): address must be one of the host's " ..
        "--bind addresses (127.0.0.1), a multicast group or a broadcast address, " ..
        'got "127.0.0.2"' },
        function() return S.open(0, "UDP", { address = "127.0.0.2" }) end)
      H.raises({ 'socket.open: bad argument #3 (options): unknown option "adress" (UDP takes address, ' ..
        'rcvbuf or sndbuf)' },
        function() return S.open(0, "UDP", { adress = GROUP }) end)
      H.raises({ 'socket.open: bad argument #3 (options): expected a table, got "' .. GROUP .. '"' },
        function() return S.open(0, "UDP", GROUP) end)
      H.raises({ "address to be an IP address string, got 5" },
        function() return S.open(0, "UDP", { address = 5 }) end)
      H.raises({ "attempt to use a closed socket" }, function()
        u:close()
        return u:setoption("ttl", 5)
      end)
    end)
  end)
end)
