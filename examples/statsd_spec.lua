-- statsd_spec.lua: examples/statsd.lua fed datagrams over xcs.socket and read over
-- HTTP (every metric kind, sample rates, several lines a datagram, bad lines, the
-- entry bound, flush), then under the real xcshost with nc and curl.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket
local json = xcs.json

-- Runs fn(send, metrics, post) against the collector loaded with args.
local function with_collector(args, fn)
  xcs.run(function()
    args.port, args.http_port = 0, 0
    local m = assert(xcs.load("examples/statsd.lua", args))
    local udp_port = tonumber(H.match_line(m:logs(), "bound to 127%.0%.0%.1:(%d+) %(UDP%)"))
    local http_port = tonumber(H.match_line(m:logs(), "listening on 127%.0%.0%.1:(%d+) %(TCP%)"))
    local out = assert(S.open(0, "UDP"))
    local sent = 0

    local function ask(method, path)
      local c = assert(S.connect("127.0.0.1", http_port))
      c:write(method .. " " .. path .. " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
      local head = assert(c:readuntil("\r\n\r\n", 8192, 5))
      local res = assert(xcs.http.parse_response(head .. "\r\n\r\n"))
      local body = assert(c:read(res.length, 5))
      c:close()
      return res.status, res.status == 200 and assert(json.decode(body)) or body, res.headers
    end

    -- Sends one datagram and waits until the collector has counted it.
    local function send(data)
      assert.are.equal(#data, out:write(data, "127.0.0.1:" .. udp_port))
      sent = sent + 1
      local deadline = xcs.now() + 5
      repeat
        local _, metrics = ask("GET", "/metrics")
        if metrics.packets >= sent then return end
      until xcs.now() > deadline
      error("the collector did not count datagram " .. sent .. " within 5 s")
    end

    -- Sends n copies of data at once, waiting for nothing.
    local function burst(data, n)
      for _ = 1, n do assert.are.equal(#data, out:write(data, "127.0.0.1:" .. udp_port)) end
      sent = sent + n
    end

    fn(send, function() return select(2, ask("GET", "/metrics")) end, ask, burst)
    assert.are.equal("running", m:status(), m:error())
  end, { timeout = 15 })
end

describe("examples/statsd.lua", function()
  it("sums counters (scaled by their sample rate), sets and moves gauges", function()
    with_collector({}, function(send, metrics)
      send("hits:1|c")
      send("hits:2|c\nhits:1|c|@0.5")
      send("temp:20|g")
      send("temp:+3|g\r\ntemp:-1.5|g")
      local m = metrics()
      assert.are.same({ hits = 5.0 }, m.counters)
      assert.are.same({ temp = 21.5 }, m.gauges)
      assert.are.equal(4, m.packets)
      assert.are.equal(0, m.bad_lines)
    end)
  end)

  it("keeps count, sum, min, max and mean of timers, and distinct members of sets", function()
    with_collector({}, function(send, metrics)
      send("lat:10|ms\nlat:30|ms\nlat:20|ms")
      send("users:alice|s\nusers:bob|s\nusers:alice|s")
      local m = metrics()
      assert.are.same({ lat = { count = 3.0, sum = 60.0, min = 10, max = 30, mean = 20.0 } }, m.timers)
      assert.are.same({ users = 2 }, m.sets)
    end)
  end)

  it("counts bad lines and keeps the good lines beside them", function()
    with_collector({}, function(send, metrics)
      send("nocolon|c\nx:1|zz\nx:abc|c\nx:1|c|@2\nx:1|c|rate\nx:nan|g\n:1|c\nok:1|c")
      local m = metrics()
      assert.are.equal(7, m.bad_lines)
      assert.are.same({ ok = 1 }, m.counters)
    end)
  end)

  it("drops what would pass max_entries, counting it", function()
    with_collector({ max_entries = 3 }, function(send, metrics)
      send("a:1|c\nb:1|g\ns:x|s")           -- three entries: a, b, and the set s (its member x too)
      send("a:2|c\nc:1|c\ns:y|s\nb:5|g")     -- a and b exist; c and y would be new
      local m = metrics()
      assert.are.same({ a = 3 }, m.counters)
      assert.are.same({ b = 5 }, m.gauges)
      assert.are.equal(3, m.dropped) -- x (the 4th entry), c and y
      assert.are.same({ s = 0 }, m.sets)
    end)
  end)

  it("flushes: answers the totals, then starts counters, timers and sets again", function()
    with_collector({}, function(send, metrics, ask)
      send("hits:4|c\nlat:5|ms\nu:a|s\ng:7|g")
      local status, flushed, headers = ask("POST", "/flush")
      assert.are.equal(200, status)
      assert.are.equal("application/json", headers["content-type"])
      assert.are.same({ hits = 4 }, flushed.counters)
      local m = metrics()
      assert.are.same({ {}, {}, {}, { g = 7 }, 0 }, { m.counters, m.timers, m.sets, m.gauges, m.packets })
      assert.is_true(m.since_ms >= flushed.since_ms)
    end)
  end)

  it("holds a burst sent while it cannot read, in its deep receive buffer", function()
    -- 250 datagrams sent before the collector's task runs again: more than a
    -- default receive buffer holds (about 200 KiB of kernel memory), fewer than
    -- rcvbuf's 4 MiB does, even halved by a default net.core.rmem_max.
    with_collector({}, function(send, metrics, _, burst)
      burst("burst:1|c", 250)
      send("after:1|c")
      local m = metrics()
      assert.are.same({ burst = 250, after = 1 }, m.counters)
    end)
  end)

  it("answers 404 and 405 for other requests", function()
    with_collector({}, function(_, _, ask)
      local status, body = ask("GET", "/nope")
      assert.are.same({ 404, "no such resource\n" }, { status, body })
      status, body = ask("DELETE", "/metrics")
      assert.are.same({ 405, "use GET /metrics or POST /flush\n" }, { status, body })
    end)
  end)

  it("takes nc's datagrams and answers curl under xcshost", function()
    if not (H.have("nc") and H.have("curl")) then
      return pending("nc and curl are not installed (apt-get install netcat-openbsd curl)")
    end
    xcs.run(function()
      local p = H.start("examples/statsd.lua", "port=0", "http_port=0")
      local udp_port = H.expect(p, "^statsd: bound to 127%.0%.0%.1:(%d+) %(UDP%)")
      local http_port = H.expect(p, "^statsd: listening on 127%.0%.0%.1:(%d+) %(TCP%)")
      local url = "http://127.0.0.1:" .. http_port .. "/metrics"
      for _, line in ipairs { "hits:1|c", "hits:2|c", "lat:12|ms" } do
        local nc = H.tool { "sh", "-c", "printf '%s' '" .. line .. "' | nc -u -q0 127.0.0.1 " .. udp_port }
        assert.are.equal(0, nc:wait(5), nc:output())
      end
      local m
      local deadline = xcs.now() + 5
      repeat
        local curl = H.tool { "curl", "-sS", url }
        assert.are.equal(0, curl:wait(5), curl:output())
        m = json.decode(curl:output())
      until (m and m.packets == 3) or xcs.now() > deadline
      assert.are.same({ hits = 3 }, m.counters, p:output())
      assert.are.equal(1, m.timers.lat.count)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end, { timeout = 20 })
  end)
end)
