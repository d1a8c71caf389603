-- proxy_spec.lua: examples/proxy.lua relaying to examples/echo.lua and to
-- upstreams written here: byte-exact both ways, half close, backpressure
-- with bounded memory, a refused or resetting upstream, many clients.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

-- n random bytes (n a multiple of 32), different on every call.
local function random_bytes(n)
  local parts, r = {}, math.random
  for i = 1, n // 32 do parts[i] = ("<i8i8i8i8"):pack(r(0), r(0), r(0), r(0)) end
  return table.concat(parts)
end

local function proxy_to(port, extra)
  local args = { port = 0, upstream_port = port }
  for k, v in pairs(extra or {}) do args[k] = v end
  return assert(xcs.load("examples/proxy.lua", args))
end

local function connect(port, opts)
  return assert(S.connect("127.0.0.1", port, "TCP", opts))
end

describe("examples/proxy.lua", function()
  it("says where it listens and where it relays to", function()
    run(function()
      local m = proxy_to(7000)
      assert.truthy(H.match_line(m:logs(), "^relaying 127%.0%.0%.1:" .. m:port() .. " to 127%.0%.0%.1:7000$"))
    end)
  end)

  it("relays several MB of random bytes to echo.lua and back, byte-exact", function()
    run(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local m = proxy_to(echo:port())
      local c = connect(m:port())
      local data = random_bytes(4 * 1024 * 1024)
      local wrote
      xcs.spawn(function() wrote = c:write(data) end) -- while this task reads
      local got = assert(c:read(#data))
      assert.are.equal(#data, wrote)
      assert.is_true(got == data, "the echo differs from what was sent")
      assert.are.equal("running", m:status())
    end)
  end)

  it("relays both directions at once, each byte-exact, with each side's FIN", function()
    run(function()
      local up, down = random_bytes(3 * 1024 * 1024), random_bytes(2 * 1024 * 1024 + 32)
      local l = assert(S.listen(0))
      local m = proxy_to(l:port())
      local c = connect(m:port())
      local u = assert(l:accept(5))
      xcs.spawn(function()
        u:write(down)
        u:shutdown()
      end)
      xcs.spawn(function()
        c:write(up)
        c:shutdown()
      end)
      assert.is_true(assert(u:read("*a")) == up, "upstream got other bytes")
      assert.is_true(assert(c:read("*a")) == down, "client got other bytes")
      assert.are.equal("running", m:status())
    end)
  end)

  it("passes a half close on, and the reply still arrives", function()
    run(function()
      local l = assert(S.listen(0))
      local m = proxy_to(l:port())
      local c = connect(m:port())
      local u = assert(l:accept(5))
      c:write("request")
      assert.is_true(c:shutdown())
      assert.are.equal("request", u:read(7))
      assert.are.equal("", u:read()) -- the client's FIN came through
      u:write("reply after your FIN")
      u:close()
      assert.are.equal("reply after your FIN", c:read("*a"))
      assert.are.equal("", c:read())
      c:close()
    end)
  end)

  for _, dir in ipairs { "upstream to client", "client to upstream" } do
    it("holds bounded memory when the reader is slow (" .. dir .. ")", function()
      run(function()
        local l = assert(S.listen(0))
        local m = proxy_to(l:port(), { stats = 0.02 })
        local c = connect(m:port())
        local u = assert(l:accept(5))
        local writer, reader = u, c
        if dir == "client to upstream" then writer, reader = c, u end
        -- Write as fast as the relay takes it, until a write waits 0.3 s:
        -- then every buffer on the way is full. A timed-out write queued nothing.
        local chunk, sent = random_bytes(256 * 1024), 0
        for _ = 1, 400 do -- 100 MiB at most
          if not writer:write(chunk, 0.3) then break end
          sent = sent + #chunk
        end
        assert.is_true(sent < 100 * 1024 * 1024, "the relay took everything: no backpressure")
        writer:shutdown()
        -- Now the reader catches up, and gets every byte.
        local got = 0
        for _ = 1, 100000 do
          local s = assert(reader:readany(1024 * 1024))
          if s == "" then break end
          got = got + #s
        end
        assert.are.equal(sent, got)
        local peak, lines = 0, 0
        for _, line in ipairs(m:logs()) do
          local kib = line:match("^pairs: %d+, memory: (%d+) KiB$")
          if kib then peak, lines = math.max(peak, tonumber(kib)), lines + 1 end
        end
        assert.is_true(lines > 0, "no stats line was logged")
        -- The proxy queues at most ~1 MiB per direction before a write waits.
        assert.is_true(peak < 6 * 1024, ("the proxy held %d KiB while %d KiB went through")
          :format(peak, sent // 1024))
      end)
    end)
  end

  it("closes the client in an orderly way when the upstream refuses", function()
    run(function()
      local port = H.closed_port()
      local m = proxy_to(port)
      local c = connect(m:port())
      assert.are.equal("", c:read()) -- FIN, not a reset
      c:close()
      assert.truthy(H.match_line(m:logs(), ": upstream 127%.0%.0%.1:" .. port .. ": ECONNREFUSED"))
      assert.are.equal("running", m:status())
    end)
  end)

  for _, dir in ipairs { "upstream to client", "client to upstream" } do
    local from, to = dir:match("^(%a+) to (%a+)$")
    it("resets the " .. to .. " when the " .. from .. " resets", function()
      run(function()
        local l = assert(S.listen(0))
        local m = proxy_to(l:port())
        local c = connect(m:port())
        local ends = { client = c, upstream = assert(l:accept(5)) }
        ends[to]:write("hello")
        assert.are.equal("hello", ends[from]:read(5))
        ends[from]:close("reset")
        H.outcome("ECONNRESET", ends[to]:read())
        assert.truthy(H.match_line(m:logs(), ": " .. dir .. ": ECONNRESET"))
        assert.are.equal("running", m:status())
      end)
    end)
  end

  it("relays many clients at once, each getting only its own bytes", function()
    -- 50 clients and the proxy's 50 upstream connections all come from
    -- 127.0.0.1: with the defaults nothing counts them against each other
    run(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local m = proxy_to(echo:port())
      local clients = {}
      for i = 1, 50 do clients[i] = connect(m:port()) end
      local function data(i) return ("client %d "):format(i):rep(1000) end
      -- Every client writes before any reads: 50 pairs relay at once.
      for i, c in ipairs(clients) do c:write(data(i)) end
      for i, c in ipairs(clients) do
        assert.are.equal(data(i), c:read(#data(i)))
        c:close()
      end
      assert.are.equal("running", m:status())
    end)
  end)

  it("runs under xcshost and stops cleanly on SIGTERM", function()
    run(function()
      local l = assert(S.listen(0))
      local p, port = H.start_serving("^proxy: relaying 127%.0%.0%.1:(%d+) to ",
        "examples/proxy.lua", "port=0", "upstream_port=" .. l:port())
      local c = connect(port)
      local u = assert(l:accept(5))
      c:write("ping")
      assert.are.equal("ping", u:read(4))
      u:write("pong")
      assert.are.equal("pong", c:read(4))
      p:kill("TERM")
      assert.are.equal("", c:read()) -- both ends see an orderly close
      assert.are.equal("", u:read())
      c:close()
      u:close()
      assert.are.equal(0, p:wait(5))
    end)
  end)
end)
