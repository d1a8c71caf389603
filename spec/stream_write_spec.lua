-- stream_write_spec.lua: writes on a TCP connection: backpressure with
-- bounded memory, the send timeout, flush, and a peer resetting mid-write.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

local function chunk(i) return string.format("%08d", i) .. ("x"):rep(65536 - 8) end

describe("backpressure", function()
  it("keeps a module writing 64 MiB to a slow reader within bounded memory, in order", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/stream_writer.lua", { port = 0, mib = 64 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      xcs.sleep(0.2) -- a slow reader: the module fills every buffer first
      for i = 1, 64 * 16 do
        local got = c:read(65536)
        if got ~= chunk(i) then
          error(string.format("chunk %d: got %q...", i, tostring(got):sub(1, 16)))
        end
        if i % 64 == 0 then xcs.sleep(0.005) end -- and stays slow
      end
      assert.are.equal("", c:read())
      assert.are.equal("concluded", (m:wait()))
      local peak = tonumber(H.match_line(m:logs(), "^peak (%d+) KiB$"))
      assert.is_number(peak)
      -- 1 MiB queued + the chunk being written + garbage not yet collected
      assert.is_true(peak < 12 * 1024, "peak " .. peak .. " KiB")
    end)
  end)

  it("waits at most the send timeout; nothing of a timed-out write was sent", function()
    run(function()
      local c, s = H.pair()
      assert.is_true(s:settimeouts(nil, 0.1, nil))
      local n, msg, code
      for i = 1, 2000 do -- until the socket buffers and the 1 MiB queue are full
        n, msg, code = s:write(chunk(i))
        if not n then
          n = i
          break
        end
      end
      assert.are.equal("ETIMEDOUT", code)
      assert.are.equal("ETIMEDOUT: send timed out", msg)
      -- a per-call timeout: still full, so it times out too, queueing nothing
      local t0 = xcs.now()
      local _, _, code2 = s:write(chunk(n), 0.3)
      assert.are.equal("ETIMEDOUT", code2)
      assert.is_true(xcs.now() - t0 >= 0.25) -- not the connection's 0.1 s
      local sent = {}
      xcs.spawn(function()
        -- the retry sends chunk n once: the reader sees every chunk in order
        sent[1] = s:write(chunk(n), 5)
        sent[2] = s:write(chunk(n + 1))
        sent[3] = s:write(chunk(n + 2))
        s:close()
      end)
      for i = 1, n + 2 do
        local got = c:read(65536)
        if got ~= chunk(i) then error("chunk " .. i .. " is wrong or missing") end
      end
      assert.are.equal("", c:read())
      assert.are.same({ 65536, 65536, 65536 }, sent)
    end)
  end)
end)

describe("conn:flush([timeout])", function()
  it("waits until everything written was sent", function()
    run(function()
      local c, s = H.pair()
      assert.is_true(s:flush()) -- nothing queued
      local data = ("f"):rep(8 * 1024 * 1024)
      assert.are.equal(#data, s:write(data))
      assert.are.equal("ETIMEDOUT: flush timed out",
        H.outcome("ETIMEDOUT", s:flush(0.05))) -- nobody reads yet
      local flushed
      xcs.spawn(function()
        flushed = { s:flush(5) }
        s:close()
      end)
      local got = c:read("*a")
      assert.are.same({ true }, flushed)
      assert.is_true(got == data)
    end)
  end)
end)

describe("a peer resetting mid-write", function()
  it("fails the writer's next write with ECONNRESET", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/stream_writer.lua", { port = 0, mib = 1024 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      assert.are.equal(chunk(1), c:read(65536))
      assert.is_true(c:close("reset"))
      assert.are.equal("concluded", (m:wait()))
      local code = H.match_line(m:logs(), "^failed: (%S+) after %d+ chunks$")
      -- the reset is seen as ECONNRESET (as here), or, should a write meet it
      -- before a read does, as the broken pipe after it
      assert.truthy(code == "ECONNRESET" or code == "closed", tostring(code))
    end)
  end)
end)

describe("write misuse raises", function()
  it("for a destination or a bad timeout", function()
    run(function()
      local _, s = H.pair()
      H.raises({ "a connection writes only to its peer" }, function() s:write("x", "127.0.0.1:9") end)
      H.raises({ "expected a timeout in seconds" }, function() s:write("x", -1) end)
      H.raises({ "bad argument #1 to 'flush'" }, function() s:flush("soon") end)
      H.raises({ "bad argument #1 to 'close' (expected \"reset\" or nothing)" },
        function() s:close("now") end)
    end)
  end)
end)

describe("conn:trywrite and conn:buffered", function()
  it("trywrite queues without waiting, or queues nothing and says EAGAIN", function()
    xcs.run(function()
      local c, s = H.pair()
      assert.are.equal(5, s:trywrite("hello"))
      assert.are.equal("hello", c:read())
      -- fill the queue past the high-water mark while the peer does not read
      local big, queued, msg, code = string.rep("x", 256 * 1024), 0, nil, nil
      for _ = 1, 400 do
        local n
        n, msg, code = s:trywrite(big)
        if not n then break end
        queued = queued + n
      end
      assert.are.equal("EAGAIN", code)
      assert.matches("^EAGAIN: %d+ bytes are queued to this connection; a write would wait", msg)
      assert.is_true(queued > 1 << 20)
      -- nothing of the refused one was queued: exactly `queued` bytes arrive
      xcs.spawn(function() s:flush(5) s:close() end)
      assert.are.equal(queued, #H.read_to_end(c, 100000))
    end)
  end)

  it("buffered tells the bytes received and not yet read", function()
    xcs.run(function()
      local c, s = H.pair()
      assert.are.equal(0, s:buffered())
      c:write("GET a\r\nGET b\r\nGET c\r\n")
      assert.are.equal("GET a", s:read("*l")) -- waits for the data, keeps the rest
      assert.are.equal(14, s:buffered())
      local batch = {}
      repeat batch[#batch + 1] = s:read("*l") until s:buffered() == 0
      assert.are.same({ "GET b", "GET c" }, batch)
      c:close()
      s:close()
    end)
  end)
end)
