-- defence_queue_spec.lua: the cap on bytes queued toward one connection
-- (--max-queued). A write that can wait waits; one that cannot fails with
-- ENOBUFS; a "*" broadcast drops the client that stopped reading. Every
-- byte queued to a live peer still arrives.
local xcs = require "xcs"
local S = xcs.socket
local H = require "defence_helpers"

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

local CAP = 256 * 1024

local function chunk(i) return ("%08d"):format(i) .. ("x"):rep(65536 - 8) end

-- A connected pair with small kernel buffers, so queues build up quickly.
local function pair()
  local l = assert(S.listen(0, { sndbuf = 65536 }))
  local c = assert(S.connect("127.0.0.1", l:port(), "TCP", { rcvbuf = 65536 }))
  local s = assert(l:accept(5))
  l:close()
  return c, s
end

-- The bytes queued to connection s, as socket.list() tells.
local function queued_of(s)
  for _, t in ipairs(S.list()) do
    if t.handle == s then return t.queued end
  end
end

-- Reads chunks first..last from c, checking each.
local function read_chunks(c, first, last)
  for i = first, last do
    local got, err = c:read(65536)
    if got ~= chunk(i) then
      error(("chunk %d: got %q (%s)"):format(i, tostring(got):sub(1, 16), tostring(err)))
    end
  end
end

describe("--max-queued", function()
  after_each(function() H.configure() end)

  it("fails a write that cannot wait with ENOBUFS, and loses nothing queued", function()
    H.configure { max_queued = CAP }
    run(function()
      local c, s = pair()
      local written = 0
      xcs.spawn(function() -- writes until it has to wait for the cap
        for i = 1, 32 do
          assert.are.equal(65536, s:write(chunk(i)))
          written = i
        end
        assert(s:flush())
      end)
      xcs.sleep(0) -- the writer runs until it waits
      assert.is_true(written < 32)
      local n, msg, code = s:write(chunk(999))
      assert.is_nil(n)
      assert.are.equal("ENOBUFS", code)
      assert.truthy(msg:match("^ENOBUFS: %d+ bytes are queued to this connection and 65536 more "
        .. "would pass the limit %(%-%-max%-queued 262144%)$"), msg)
      assert.is_true(queued_of(s) <= CAP, "queued " .. queued_of(s))
      read_chunks(c, 1, 32) -- the waiting writer went on; nothing was lost
      s:close()
      assert.are.equal("", c:read())
      c:close()
    end)
  end)

  it("lets a write bigger than the cap wait for an empty queue", function()
    H.configure { max_queued = CAP }
    run(function()
      local c, s = pair()
      local n = 0
      repeat -- until the kernel's buffers are full and the host queues
        n = n + 1
        assert.are.equal(65536, s:write(chunk(n)))
      until queued_of(s) > 0 or n == 64
      assert.is_true(queued_of(s) > 0)
      local big = ("b"):rep(1024 * 1024)
      local wrote
      xcs.spawn(function()
        wrote = s:write(big)
        assert(s:flush())
        s:close()
      end)
      xcs.sleep(0) -- the writer runs, and waits: the queue is not empty
      assert.is_nil(wrote)
      read_chunks(c, 1, n)
      local got = c:read(#big)
      assert.are.equal(#big, wrote) -- it waited until nothing was queued
      assert.are.equal(#big, #got)
      assert.are.equal(big, got)
      assert.are.equal("", c:read())
      c:close()
    end)
  end)

  it("drops a broadcast client that stopped reading, and the others get every byte", function()
    H.configure { max_queued = CAP }
    run(function()
      local m = assert(xcs.load("spec/fixtures/defence_broadcast.lua"))
      local reader = assert(S.connect("127.0.0.1", m:port()))
      local stalled = assert(S.connect("127.0.0.1", m:port(), "TCP", { rcvbuf = 65536 }))
      reader:write("go")
      local i, dropped_at = 0, nil
      while i < 2000 do
        i = i + 1
        read_chunks(reader, i, i)
        if H.lines(m:logs(), "reached 1")[1] then
          dropped_at = dropped_at or i
          if i >= dropped_at + 10 then break end -- and the reader goes on
        end
        reader:write("ack")
      end
      assert.truthy(dropped_at, "the stalled client was never dropped")
      assert.are.same({ ("dropped a client from 127.0.0.1 of 127.0.0.1:%d that stopped reading "
        .. "(over the queue limit, 262144 bytes)"):format(m:port()) },
        H.lines(m:logs(), "dropped"))
      -- what reached the stalled client before it was dropped is whole chunks, in order
      local got, k = "", 0
      for _ = 1, 10000 do
        local data = stalled:read()
        if not data or data == "" then break end
        got = got .. data
        while #got >= 65536 do
          k = k + 1
          assert.are.equal(chunk(k), got:sub(1, 65536))
          got = got:sub(65537)
        end
      end
      assert.is_true(k < dropped_at)
      reader:close()
      stalled:close()
    end)
  end)
end)
