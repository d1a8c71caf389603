-- --metrics ADDR:PORT: GET /metrics in the Prometheus text format, checked
-- by promtool during traffic; counters move exactly as the traffic does.
-- The control socket's `metrics` answers the same text.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 30 * H.SCALE }) end

local dir
before_each(function() dir = H.tmpdir() end)
after_each(function() H.rmdir(dir) end)

-- Starts xcshost with --metrics on port 0: process, metrics port, echo port.
local function start(...)
  local p = H.start("--metrics", "127.0.0.1:0", ...)
  local mport = tonumber(H.expect(p, "metrics on http://127%.0%.0%.1:(%d+)/metrics"))
  return p, mport
end

-- One HTTP request over a plain socket: status code, headers text, body.
local function http(port, request)
  local c = assert(S.connect("127.0.0.1", port))
  assert(c:write(request))
  local reply = H.read_to_end(c)
  c:close()
  local code, head, body = reply:match("^HTTP/1%.1 (%d+) [^\r]*\r\n(.-)\r\n\r\n(.*)$")
  return tonumber(code), head, body
end

local function scrape(port)
  local code, head, body = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
  assert.are.equal(200, code)
  assert.truthy(head:find("Content-Type: text/plain; version=0.0.4", 1, true), head)
  assert.are.equal(#body, tonumber(head:match("Content%-Length: (%d+)")))
  return body
end

-- The value of the sample `series` (exactly as written, labels and all).
local function value(text, series)
  for line in text:gmatch("[^\n]+") do
    local name, v = line:match("^(.-) (%S+)$")
    if name == series then return tonumber(v) end
  end
end

-- promtool check metrics on the text: it must find nothing to say.
local function promtool(text)
  local path = dir .. "/metrics.txt"
  H.write(path, text)
  local p = H.tool { "sh", "-c", "promtool check metrics < " .. path }
  local code = p:wait(20 * H.SCALE)
  assert.are.equal(0, code, "promtool: " .. p:output())
  assert.are.equal("", p:output())
end

describe("--metrics", function()
  it("serves metrics promtool accepts, and counters that follow the traffic", function()
    run(function()
      local p, mport = start("examples/echo.lua", "port=0", "examples/udp_echo.lua", "port=0")
      local eport = tonumber(H.expect(p, "echo: listening on [%d.]+:(%d+)"))
      local uport = tonumber(H.expect(p, "udp_echo: bound to [%d.]+:(%d+)"))
      local text = scrape(mport)
      promtool(text)
      assert.are.equal(1, value(text, 'xcshost_module_state{module="echo",state="running"}'))
      assert.are.equal(1, value(text, 'xcshost_module_sockets{module="echo",protocol="TCP"}'))
      assert.are.equal(1, value(text, 'xcshost_module_sockets{module="udp_echo",protocol="UDP"}'))
      assert.are.equal(0, value(text, 'xcshost_module_received_bytes_total{module="echo",protocol="TCP"}'))
      assert.truthy(value(text, 'xcshost_module_memory_bytes{module="echo"}') > 0)
      assert.truthy(value(text, "xcshost_open_fds") > 3)
      assert.truthy(value(text, "xcshost_max_fds") > 0)
      assert.truthy(value(text, "xcshost_uptime_seconds") >= 0)
      assert.truthy(value(text, "xcshost_loop_lag_seconds") >= 0)

      -- traffic: three clients, 10 bytes each way per client; one datagram
      local clients = {}
      for i = 1, 3 do
        clients[i] = assert(S.connect("127.0.0.1", eport))
        assert(clients[i]:write("123456789\n"))
        assert.are.equal("123456789\n", clients[i]:read())
      end
      local u = assert(S.connect("127.0.0.1", uport, "UDP"))
      assert(u:write("ping"))
      assert.are.equal("ping", (u:read(5 * H.SCALE)))
      text = scrape(mport)
      promtool(text)
      assert.are.equal(3, value(text, 'xcshost_module_connections{module="echo",protocol="TCP"}'))
      assert.are.equal(3, value(text, 'xcshost_module_accepted_connections_total{module="echo",protocol="TCP"}'))
      assert.are.equal(30, value(text, 'xcshost_module_received_bytes_total{module="echo",protocol="TCP"}'))
      assert.are.equal(30, value(text, 'xcshost_module_sent_bytes_total{module="echo",protocol="TCP"}'))
      assert.are.equal(4, value(text, 'xcshost_module_received_bytes_total{module="udp_echo",protocol="UDP"}'))
      assert.are.equal(4, value(text, 'xcshost_module_sent_bytes_total{module="udp_echo",protocol="UDP"}'))
      assert.truthy(value(text, 'xcshost_module_cpu_seconds_total{module="echo"}') > 0)
      for _, c in ipairs(clients) do c:close() end
      u:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("counts refusals by their reason, network errors by code, failures and reloads", function()
    run(function()
      H.write(dir .. "/refused.lua", [[
        local c, err, code = socket.connect("127.0.0.1", tonumber(arg.port))
        log("connect: %s %s", tostring(c), tostring(code))
        -- a stream's read timeout and a datagram socket's: ETIMEDOUT twice
        local l = assert(socket.listen(0))
        local peer = assert(socket.connect("127.0.0.1", l:port()))
        local _, _, rcode = peer:read(nil, 0.01)
        local _, _, ucode = assert(socket.open(0, "UDP")):read(0.01)
        log("timeouts: %s %s", tostring(rcode), tostring(ucode))
      ]])
      H.write(dir .. "/doomed.lua", "sleep(0.05) error('planned failure')\n")
      local ctl = dir .. "/ctl.sock"
      local p, mport = start("--max-clients", "1", "--control", ctl, "examples/echo.lua", "port=0",
        dir .. "/refused.lua", "port=" .. H.closed_port(), dir .. "/doomed.lua")
      local eport = tonumber(H.expect(p, "echo: listening on [%d.]+:(%d+)"))
      H.expect(p, "refused: connect: nil ECONNREFUSED")
      H.expect(p, "refused: timeouts: ETIMEDOUT ETIMEDOUT")
      -- doomed may fail before or after (under valgrind it can come first)
      if not p:output():find("doomed: failed: [^\n]*planned failure") then
        H.expect(p, "doomed: failed: .*planned failure")
      end
      local first = assert(S.connect("127.0.0.1", eport))
      assert(first:write("a\n"))
      assert.are.equal("a\n", first:read())
      local second = assert(S.connect("127.0.0.1", eport)) -- over --max-clients: closed at once
      assert.are.equal("", second:read())
      local text = scrape(mport)
      promtool(text)
      assert.are.equal(1, value(text, 'xcshost_module_refusals_total{module="echo",reason="max_clients"}'))
      assert.are.equal(1, value(text, 'xcshost_module_errors_total{module="refused",code="ECONNREFUSED"}'))
      assert.are.equal(2, value(text, 'xcshost_module_errors_total{module="refused",code="ETIMEDOUT"}'))
      assert.are.equal(1, value(text, 'xcshost_module_failures_total{module="doomed"}'))
      assert.is_nil(value(text, 'xcshost_module_memory_bytes{module="doomed"}')) -- gone: no gauges

      -- a reload: the counters of the old version stay counted
      local code, out = H.run("ctl", ctl, "reload", "echo")
      assert.are.equal(0, code, out)
      first:close()
      second:close()
      H.expect(p, "echo: closed 127%.0%.0%.1:" .. eport) -- the old version is gone
      text = scrape(mport)
      promtool(text)
      assert.are.equal(1, value(text, 'xcshost_module_reloads_total{module="echo"}'))
      assert.are.equal(2, value(text, 'xcshost_module_received_bytes_total{module="echo",protocol="TCP"}'))
      assert.are.equal(1, value(text, 'xcshost_module_refusals_total{module="echo",reason="max_clients"}'))

      -- the control socket answers the same text
      code, out = H.run("ctl", ctl, "metrics")
      assert.are.equal(0, code)
      promtool(out)
      assert.are.equal(1, value(out, 'xcshost_module_reloads_total{module="echo"}'))
      p:kill("TERM")
      assert.are.equal(1, p:wait(5 * H.SCALE)) -- a module failed
    end)
  end)

  it("counts the clients over a module's --max-connections", function()
    run(function()
      local p, mport = start("--max-connections", "1", "--max-clients", "0", "examples/echo.lua", "port=0")
      local eport = tonumber(H.expect(p, "echo: listening on [%d.]+:(%d+)"))
      local first = assert(S.connect("127.0.0.1", eport))
      assert(first:write("a\n"))
      assert.are.equal("a\n", first:read())
      local second = assert(S.connect("127.0.0.1", eport))
      assert.are.equal("", second:read()) -- closed at once
      H.expect(p, "cannot accept a client .*%-%-max%-connections")
      local text = scrape(mport)
      assert.are.equal(1, value(text, 'xcshost_module_refusals_total{module="echo",reason="max_connections"}'))
      first:close()
      second:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("counts a module's sockets refused by --max-sockets and --ports, by reason", function()
    run(function()
      local p, mport = start("--max-sockets", "1", "spec/fixtures/metrics_refused.lua")
      H.expect(p, "second socket: EMFILE")
      H.expect(p, "port 80: EACCES")
      H.expect(p, "refused both")
      local text = scrape(mport)
      promtool(text)
      local series = 'xcshost_module_refusals_total{module="metrics_refused",reason="%s"}'
      assert.are.equal(1, value(text, series:format("max_sockets")))
      assert.are.equal(1, value(text, series:format("ports")))
      assert.are.equal(0, value(text, series:format("max_connections")))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("counts TLS listeners, connections and their decrypted bytes under protocol TLS", function()
    local certs = H.tls_certs()
    xcs.configure { tls_dir = certs } -- for the spec's own client: ca.pem
    run(function()
      local p, mport = start("--tls-dir", certs, "examples/tls_echo.lua", "port=0")
      local port = tonumber(H.expect(p, "listening on 127%.0%.0%.1:(%d+) %(TLS%)"))
      local c = assert(S.connect("localhost", port, "TLS", { ca = "ca.pem" }))
      assert(c:write("hello\n"))
      assert.are.equal("hello", c:read("*l"))
      local text = scrape(mport)
      promtool(text)
      local function tls(name) return value(text, name .. '{module="tls_echo",protocol="TLS"}') end
      assert.are.equal(1, tls("xcshost_module_sockets"))
      assert.are.equal(1, tls("xcshost_module_connections"))
      assert.are.equal(1, tls("xcshost_module_accepted_connections_total"))
      assert.are.equal(6, tls("xcshost_module_received_bytes_total"))
      assert.are.equal(6, tls("xcshost_module_sent_bytes_total"))
      assert.are.equal(0, value(text, 'xcshost_module_received_bytes_total{module="tls_echo",protocol="TCP"}'))
      c:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
    xcs.configure { tls_dir = false }
    H.tls_cleanup()
  end)

  it("answers other paths, methods and garbage with 404, 405 and 400; HEAD with no body", function()
    run(function()
      local p, mport = start("examples/echo.lua", "port=0")
      assert.are.equal(404, (http(mport, "GET / HTTP/1.1\r\n\r\n")))
      local code, head = http(mport, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
      assert.are.equal(405, code)
      assert.truthy(head:find("Allow: GET, HEAD", 1, true))
      assert.are.equal(400, (http(mport, "hello\r\n\r\n")))
      local body
      code, head, body = http(mport, "HEAD /metrics?x=1 HTTP/1.0\n\n")
      assert.are.equal(200, code)
      assert.are.equal("", body)
      assert.truthy(tonumber(head:match("Content%-Length: (%d+)")) > 0)
      -- curl, the client people use
      local c = H.tool { "curl", "-sf", "http://127.0.0.1:" .. mport .. "/metrics" }
      assert.are.equal(0, c:wait(10 * H.SCALE))
      assert.truthy(c:output():find("# TYPE xcshost_module_state gauge", 1, true))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("--workers: worker N serves its own modules' metrics on PORT + N - 1", function()
    run(function()
      local base
      for _ = 1, 50 do -- two free ports in a row, below the ephemeral range other tests churn through
        local p = math.random(20000, 29998)
        local a, b = S.open(p, "TCP"), S.open(p + 1, "TCP")
        if a then S.close(a) end
        if b then S.close(b) end
        if a and b then
          base = p
          break
        end
      end
      assert(base, "no two free ports in a row")
      local p = H.start("--workers", "2", "--metrics", "127.0.0.1:" .. base, "examples/echo.lua", "port=0")
      for _ = 1, 2 do H.expect(p, "worker %d %(pid %d+%) is serving", 10) end -- in either order
      for n, port in ipairs { base, base + 1 } do
        local line = ("[w%d] xcshost: metrics on http://127.0.0.1:%d/metrics"):format(n, port)
        assert.truthy(p:output():find(line, 1, true), p:output())
      end
      for _, port in ipairs { base, base + 1 } do
        local text = scrape(port)
        promtool(text)
        assert.are.equal(1, value(text, 'xcshost_module_state{module="echo",state="running"}'))
      end
      p:kill("TERM")
      assert.are.equal(0, p:wait(10 * H.SCALE))
    end)
  end)

  it("refuses an address it cannot use, naming it", function()
    run(function()
      local code, out = H.run("--metrics", "localhost", "examples/echo.lua")
      assert.are.equal(2, code)
      assert.truthy(out:find("bad value 'localhost' for option --metrics", 1, true), out)
    end)
  end)
end)
