-- defence_timeouts_spec.lua: clients that connect and dawdle (slowloris).
-- A client of a socket.open listener is ended when no byte passed either
-- way within --first-data-timeout of connecting or --idle-timeout of the
-- last one; socket.listen connections keep their own read timeouts.
local xcs = require "xcs"
local S = xcs.socket
local H = require "defence_helpers"

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

local ECHO = "spec/fixtures/defence_echo.lua"
local ACCEPT = "spec/fixtures/defence_accept.lua"

-- Reads until the server's close; returns what came and the seconds it took.
local function until_closed(c)
  local t0, got = xcs.now(), ""
  for _ = 1, 100 do
    local data, err = c:read()
    assert(data, err) -- an orderly close, not a reset
    if data == "" then break end
    got = got .. data
  end
  return got, xcs.now() - t0
end

describe("a socket.open client", function()
  after_each(function() H.configure() end)

  it("that sends nothing is closed after --first-data-timeout, and the module reads its end",
    function()
      H.configure { first_data_timeout = 0.3, idle_timeout = 5 }
      run(function()
        local m = assert(xcs.load(ECHO, { port = 0 }))
        local t0 = xcs.now()
        local c = assert(S.connect("127.0.0.1", m:port()))
        local me = c:address()
        local got = until_closed(c)
        local secs = xcs.now() - t0
        assert.are.equal("", got)
        assert.is_true(secs >= 0.29 and secs < 3, "closed after " .. secs .. " s")
        assert.are.same({ ("closed a client from 127.0.0.1 of 127.0.0.1:%d that sent nothing "
          .. "within 0.3 s of connecting"):format(m:port()) }, H.lines(m:logs(), "closed a"))
        assert.are.same({ "gone " .. me }, H.lines(m:logs(), "gone"))
        c:close()
      end)
    end)

  it("that goes quiet is closed --idle-timeout after its last byte", function()
    H.configure { first_data_timeout = 0.2, idle_timeout = 0.5 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("GET / HTTP/1.1\r\n") -- half a request, then nothing
      assert.are.equal("GET / HTTP/1.1\r\n", c:read())
      local got, secs = until_closed(c)
      assert.are.equal("", got)
      assert.is_true(secs >= 0.45 and secs < 3, "closed after " .. secs .. " s")
      assert.are.equal(1, #H.lines(m:logs(), "idle for 0.5 s"))
      assert.are.same({}, H.lines(m:logs(), "sent nothing"))
      c:close()
    end)
  end)

  it("that keeps trickling stays, however long", function()
    H.configure { first_data_timeout = 0.2, idle_timeout = 0.3 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      local t0 = xcs.now()
      local n = 0
      while xcs.now() - t0 < 1.2 and n < 100 do -- four idle timeouts' worth
        n = n + 1
        c:write("x")
        assert.are.equal("x", c:read())
        xcs.sleep(0.1) -- pacing the trickle, not waiting for anything
      end
      assert.are.same({}, H.lines(m:logs(), "closed a"))
      assert.are.equal("", (until_closed(c))) -- and once it stops, it goes
      c:close()
    end)
  end)

  it("is not idle while the module has not read what it sent", function()
    H.configure { first_data_timeout = 0.2, idle_timeout = 0.3 }
    run(function()
      -- the module naps 1 s after echoing the first chunk
      local m = assert(xcs.load(ECHO, { port = 0, nap = 1 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("a")
      assert.are.equal("a", c:read())
      c:write("b") -- waits unread in the host for most of a second
      assert.are.equal("b", c:read())
      assert.are.same({}, H.lines(m:logs(), "closed a"))
      c:close()
    end)
  end)

  it("is closed on time even while the module is busy elsewhere", function()
    H.configure { first_data_timeout = 0.2, idle_timeout = 0.3 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0, nap = 3 })) -- naps after the first echo
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("a")
      assert.are.equal("a", c:read())
      local got, secs = until_closed(c)
      assert.are.equal("", got)
      assert.is_true(secs < 2, "closed after " .. secs .. " s") -- not when the nap ends
      assert.are.same({}, H.lines(m:logs(), "gone")) -- the module has not read it yet
      c:close()
    end)
  end)

  it("is watched no more at 0", function()
    H.configure { first_data_timeout = 0, idle_timeout = 0 }
    run(function()
      local m = assert(xcs.load(ECHO, { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      local data, _, code = c:read(nil, 0.5)
      assert.is_nil(data)
      assert.are.equal("ETIMEDOUT", code) -- the client's own read gave up; the host did not
      c:write("still\n")
      assert.are.equal("still\n", c:read())
      c:close()
    end)
  end)

  it("a module writing to a client it was told is gone gets ETIMEDOUT", function()
    H.configure { first_data_timeout = 0.2, idle_timeout = 0.2 }
    run(function()
      local l = assert(S.open(0, "TCP")) -- the spec is the module here
      local c = assert(S.connect("127.0.0.1", l:port()))
      c:write("hi")
      local data, client = S.read(l)
      assert.are.equal("hi", data)
      local again, same = S.read(l) -- the host ends it after 0.2 s of quiet
      assert.are.equal("", again)
      assert.are.equal(client, same)
      local n, msg, code = S.write(l, "late", client)
      assert.is_nil(n)
      assert.are.equal("ETIMEDOUT", code, msg)
      S.close(l)
      c:close()
    end)
  end)
end)

describe("a socket.listen connection", function()
  after_each(function() H.configure() end)

  it("is left to the module's read timeouts", function()
    H.configure { first_data_timeout = 0.1, idle_timeout = 0.1 }
    run(function()
      local m = assert(xcs.load(ACCEPT, { port = 0, read_timeout = 0.8 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("partial line without its end")
      local got, secs = until_closed(c)
      assert.are.equal("", got)
      assert.is_true(secs >= 0.75, "closed after " .. secs .. " s")
      assert.are.same({ "read: ETIMEDOUT: read timed out" }, H.lines(m:logs(), "read:"))
      assert.are.same({}, H.lines(m:logs(), "closed a"))
      c:close()
    end)
  end)
end)
