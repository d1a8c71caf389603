-- unload_spec.lua: however a module ends — it concluded, failed, called
-- exit(), or was unloaded — its ports are free again at once, its TCP peers
-- see an orderly close ("" from read, not an error), and what it wrote is
-- delivered before that close.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local SERVER = "spec/fixtures/unload_server.lua"

local function exchange(c, text)
  assert.are.equal(#text, c:write(text))
  assert.are.equal(text, c:read())
end

-- Both ports can be bound again, from here and from another module.
local function assert_ports_free(tcp, udp)
  local t, err = S.open(tcp, "TCP")
  assert(t, "TCP port " .. tcp .. " not free: " .. tostring(err))
  S.close(t)
  local u, uerr = S.open(udp, "UDP")
  assert(u, "UDP port " .. udp .. " not free: " .. tostring(uerr))
  S.close(u)
  local again = assert(xcs.load(SERVER, { port = tcp, udp = udp }))
  assert.are.equal("running", again:status(), again:error())
  assert.are.equal(tcp, again:port())
  assert.are.equal(tostring(udp), H.match_line(again:logs(), "^udp port (%d+)$"))
  again:unload()
end

local ENDINGS = {
  { how = "conclude", status = "concluded" },
  { how = "fail", status = "failed", err = "failing on purpose" },
  { how = "exit", status = "concluded" },
  { how = "exit_false", status = "failed", err = "^exiting as failed$" },
  { how = "unload", status = "unloaded" },
}

describe("unloading", function()
  for _, ending in ipairs(ENDINGS) do
    describe("when a module ends by " .. ending.how, function()
      it("closes its clients, its own connections and its ports in order", function()
        xcs.run(function()
          -- where the module connects to
          local srv = assert(S.open(0, "TCP"))
          local m = assert(xcs.load(SERVER, {
            how = ending.how == "unload" and "stay" or ending.how, connect = srv:port() }))
          local tcp = m:port()
          local udp = tonumber(H.match_line(m:logs(), "^udp port (%d+)$"))
          assert.truthy(udp)
          local hello, out = S.read(srv)
          assert.are.equal("hello from module", hello)

          local c1 = assert(S.connect("127.0.0.1", tcp))
          local c2 = assert(S.connect("127.0.0.1", tcp))
          exchange(c1, "ping") -- both are the module's clients now
          exchange(c2, "pong")

          if ending.how == "unload" then
            m:unload()
            -- its ports are free when unload returns
            local t = assert(S.open(tcp, "TCP"))
            S.close(t)
            local u = assert(S.open(udp, "UDP"))
            S.close(u)
          else
            c1:write("end")
          end

          -- orderly close everywhere: "" and not an error
          assert.are.equal("", H.read_to_end(c1))
          assert.are.equal("", H.read_to_end(c2))
          local data, from = S.read(srv)
          assert.are.equal("", data)
          assert.are.equal(out, from)
          -- and the ports are free at once
          assert_ports_free(tcp, udp)

          c1:close()
          c2:close()
          local status, err = m:wait()
          assert.are.equal(ending.status, status)
          if ending.err then assert.matches(ending.err, err) else assert.is_nil(err) end
        end)
      end)

      it("flushes what it wrote (2 MB) before the close", function()
        xcs.run(function()
          local size = 2 * 1024 * 1024
          local m = assert(xcs.load(SERVER, {
            how = ending.how == "unload" and "stay" or ending.how, big = size }))
          local c = assert(S.connect("127.0.0.1", m:port()))
          exchange(c, "ping")
          c:write("end")
          local first = assert(c:read())
          assert.is_true(#first > 0)
          if ending.how == "unload" then m:unload() end
          local got = first .. H.read_to_end(c)
          assert.are.equal(size, #got)
          assert.are.equal(("0123456789abcdef"):rep(size // 16), got)
          c:close()
          assert.are.equal(ending.status, (m:wait()))
          assert.are.equal("writing " .. size, H.match_line(m:logs(), "^(writing %d+)$"))
        end)
      end)

      it("flushes 8 MB still queued when it is gone, to a client that reads only then", function()
        xcs.run(function()
          local size = 8 * 1024 * 1024
          local srv = assert(S.open(0, "TCP"))
          local m = assert(xcs.load(SERVER, { how = ending.how == "unload" and "stay" or ending.how,
            big = size, broadcast = true, connect = srv:port() }))
          local hello, out = S.read(srv)
          assert.are.equal("hello from module", hello)
          local c = assert(S.connect("127.0.0.1", m:port()))
          exchange(c, "ping")
          c:write("end")
          assert.are.equal("broadcast done", (S.read(srv)))
          if ending.how == "unload" then m:unload() end
          -- the module's own connection closing tells that it has been unloaded
          local data, from = S.read(srv)
          assert.are.equal("", data)
          assert.are.equal(out, from)
          assert.are_not.equal("running", m:status())
          local got = H.read_to_end(c)
          assert.are.equal(size, #got)
          assert.are.equal(("0123456789abcdef"):rep(size // 16), got)
          c:close()
          assert.are.equal(ending.status, (m:wait()))
          assert.truthy(H.match_line(m:logs(), "^(wrote to 1 clients)$"))
        end)
      end)
    end)
  end

  it("closes in order a client whose data it never read", function()
    xcs.run(function()
      local m = assert(xcs.load("spec/fixtures/unload_unread.lua"))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("hello")
      assert.are.equal("ack", c:read()) -- accepted, and it will read no more
      assert.are.equal(1024 * 1024, c:write(("u"):rep(1024 * 1024)))
      m:unload()
      assert.are.equal("", H.read_to_end(c))
      c:close()
      assert.are.equal("unloaded", (m:wait()))
    end)
  end)

  -- A finalizer could open a socket while the module's state is closed, for a
  -- module that is gone: the sandbox refuses __gc metamethods altogether.
  it("refuses a finalizer, so nothing can open a socket while the state is closed", function()
    xcs.run(function()
      local m = assert(xcs.load("spec/fixtures/unload_gc_socket.lua"))
      local status, err = m:wait()
      assert.are.equal("failed", status)
      assert.matches("__gc metamethods are not allowed in a module", err)
    end)
  end)

  it("frees the ports of a module that failed on its first step", function()
    xcs.run(function()
      local port = H.closed_port()
      local m = assert(xcs.load("spec/fixtures/unload_first_step.lua", { port = port }))
      assert.are.equal("failed", (m:wait()))
      assert.matches("fails right after opening", m:error())
      local t = assert(S.open(port, "TCP"))
      S.close(t)
      local u = assert(S.open(port, "UDP"))
      S.close(u)
    end)
  end)

  it("frees a port closed with socket.close for the module itself at once", function()
    xcs.run(function()
      local m = assert(xcs.load("spec/fixtures/unload_reopen.lua"))
      local status, err = m:wait()
      assert.are.equal("concluded", status, err)
      assert.truthy(H.match_line(m:logs(), "^(reopened) %d+$"))
    end)
  end)
end)
