-- tls_tools_spec.lua: TLS of xcshost against real tools. openssl s_client
-- as the client of a TLS listener (SNI, ALPN, a client certificate,
-- close_notify, a client killed mid-session: truncation, renegotiation refused), and openssl
-- s_server as the server of socket.connect (a client certificate asked
-- for and checked). Each server or client on xcshost's side runs in-process.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local certs

local function run(fn) return xcs.run(fn, { timeout = 9 * H.SCALE }) end

-- openssl s_client to port with extra words; its input is `input`, after which it waits
-- (-ign_eof). It is the process itself (exec'd), so kill() reaches it.
local function s_client(port, input, ...)
  local file = certs .. "/input"
  H.write(file, input)
  local words = table.concat({ ... }, " ")
  return H.tool { "sh", "-c", ("exec openssl s_client -connect 127.0.0.1:%d -CAfile %s/ca.pem " ..
    "-verify_return_error -ign_eof %s < %s"):format(port, certs, words, file) }
end

-- A socket.listen TLS listener whose first connection is handed to fn (then closed).
local function first(tls, fn)
  local l = assert(S.listen(0, { tls = tls }))
  local done = {}
  xcs.spawn(function()
    local c = l:accept(5 * H.SCALE)
    done.value = table.pack(fn(c))
    c:close()
    l:close()
  end)
  return l:port(), done
end

local function wait(done)
  for _ = 1, 500 * H.SCALE do
    if done.value then return table.unpack(done.value, 1, done.value.n) end
    xcs.sleep(0.01)
  end
  error("the server side never finished")
end

describe("TLS with openssl", function()
  setup(function() certs = H.tls_certs() end)
  teardown(function() H.tls_cleanup() end)
  before_each(function()
    if not H.have("openssl") then pending("openssl is not installed") end
    xcs.configure { tls_dir = certs }
  end)
  after_each(function() xcs.configure { tls_dir = false } end)

  it("s_client: SNI picks the certificate, ALPN the protocol", function()
    run(function()
      local port, done = first({ cert = "server.pem", key = "server.key", alpn = { "h2", "x-echo" },
        certs = { ["a.example"] = { cert = "a.pem", key = "a.key" } } }, function(c)
        local line = c:read("*l")
        local info = c:tlsinfo()
        c:write(line .. "\n")
        return info
      end)
      local client = s_client(port, "hi\n", "-servername a.example -alpn x-echo -verify_hostname a.example")
      H.expect(client, "hi$")
      local info = wait(done)
      assert.are.equal("a.example", info.servername)
      assert.are.equal("x-echo", info.alpn)
      assert.truthy(client:output():find("CN = a.example", 1, true), client:output())
      assert.truthy(client:output():find("ALPN protocol: x-echo", 1, true), client:output())
      client:kill("TERM")
      client:wait(5 * H.SCALE)
    end)
  end)

  it("s_client resumes its session with a ticket", function()
    run(function()
      local infos = {}
      local l = assert(S.listen(0, { tls = { cert = "server.pem", key = "server.key" } }))
      xcs.spawn(function()
        for i = 1, 2 do
          local c = l:accept(5 * H.SCALE)
          c:read("*l")
          infos[i] = c:tlsinfo()
          c:write("ok\n")
          c:close()
        end
      end)
      local sess = certs .. "/session"
      local once = s_client(l:port(), "hi\n", "-sess_out", sess)
      H.expect(once, "ok$")
      once:kill("TERM")
      once:wait(5 * H.SCALE)
      local again = s_client(l:port(), "hi\n", "-sess_in", sess)
      H.expect(again, "ok$")
      assert.truthy(again:output():find("Reused, TLSv1.3", 1, true), again:output())
      again:kill("TERM")
      again:wait(5 * H.SCALE)
      assert.is_false(infos[1].resumed)
      assert.is_true(infos[2].resumed)
      l:close()
    end)
  end)

  it("s_client with a client certificate, checked by verify_client", function()
    run(function()
      local port, done = first({ cert = "server.pem", key = "server.key", ca = "ca.pem",
        verify_client = true }, function(c)
        local line = c:read("*l")
        c:write("ok\n")
        return line, c:tlsinfo()
      end)
      local client = s_client(port, "hi\n", "-cert", certs .. "/client.pem", "-key",
        certs .. "/client.key")
      H.expect(client, "ok$")
      local line, info = wait(done)
      assert.are.equal("hi", line)
      assert.is_true(info.verified)
      assert.are.equal("CN=xcshost test client,O=xcshost test", info.subject)
      client:kill("TERM")
      client:wait(5 * H.SCALE)
    end)
  end)

  it("s_client's close_notify is an orderly end; a client killed mid-session is ETLSTRUNCATED", function()
    run(function()
      local port, done = first({ cert = "server.pem", key = "server.key" }, function(c)
        return c:read("*a")
      end)
      -- no -ign_eof: at the end of its input s_client sends close_notify
      local client = H.tool { "sh", "-c", ("printf 'all of it' | openssl s_client -quiet -no_ign_eof " ..
        "-connect 127.0.0.1:%d -CAfile %s/ca.pem"):format(port, certs) }
      assert.are.equal("all of it", wait(done))
      client:wait(5 * H.SCALE)

      -- tickets = false: no ticket at all (TLS 1.3 sends none after the handshake), so
      -- nothing waits unread at the client when it dies and its kernel sends FIN, not RST
      port, done = first({ cert = "server.pem", key = "server.key", tickets = false }, function(c)
        return c:read("*a")
      end)
      client = s_client(port, "cut short")
      local got = 0
      for _ = 1, 500 * H.SCALE do -- until the server side has the bytes
        for _, h in ipairs(S.list()) do
          if h.protocol == "TLS" and h.kind == "connection" then got = h.bytes_in end
        end
        if got >= 9 then break end
        xcs.sleep(0.01)
      end
      client:kill("KILL") -- the kernel sends FIN; there was no close_notify
      local ok, msg, code, partial = wait(done)
      H.failed_read("ETLSTRUNCATED", "cut short", ok, msg, code, partial)
      client:wait(5 * H.SCALE)
      assert.falsy(client:output():find("New Session Ticket", 1, true), client:output())
    end)
  end)

  -- Renegotiation is refused: the server never renegotiates (it would be a
  -- handshake's cost on demand, and a change of identity mid-session); it answers a
  -- TLS 1.2 client's request with the no_renegotiation alert, which OpenSSL's client
  -- takes as the end. A TLS 1.3 KeyUpdate is no renegotiation: the session goes on.
  it("s_client's renegotiation (TLS 1.2) is refused; its KeyUpdate (TLS 1.3) goes on", function()
    run(function()
      local l = assert(S.listen(0, { tls = { cert = "server.pem", key = "server.key" } }))
      local seen = {}
      xcs.spawn(function()
        for i = 1, 2 do
          local c = l:accept(5 * H.SCALE)
          local lines = {}
          for _ = 1, 3 do
            local line, msg, code = c:read("*l", 5 * H.SCALE)
            lines[#lines + 1] = line or code or msg
            if not line then break end
            c:write(line .. "\n")
          end
          seen[i] = lines
          c:close()
        end
        l:close()
      end)
      -- "R" and "K" on a line of their own are s_client's commands (not sent as data)
      local reneg = H.s_client_session(certs, l:port(), "-tls1_2")
      reneg.say("hello")
      reneg.send("R")
      H.expect(reneg.p, "^RENEGOTIATING$")
      H.expect(reneg.p, "no renegotiation")
      reneg.p:wait(5 * H.SCALE)
      reneg.close()
      local keyupdate = H.s_client_session(certs, l:port(), "-tls1_3")
      keyupdate.say("hello")
      keyupdate.send("K")
      H.expect(keyupdate.p, "^KEYUPDATE$")
      keyupdate.say("after")
      keyupdate.close()
      for _ = 1, 500 * H.SCALE do
        if seen[2] then break end
        xcs.sleep(0.01)
      end
      -- the refused client got no further than its first line, and ended with an alert
      assert.are.equal("hello", seen[1][1])
      assert.are.equal(2, #seen[1], table.concat(seen[1], ", "))
      assert.truthy(seen[1][2] == "ETLSPROTO" or seen[1][2] == "ETLSTRUNCATED", seen[1][2])
      assert.are.same({ "hello", "after" }, { seen[2][1], seen[2][2] })
    end)
  end)

  it("s_server's renegotiation (TLS 1.2) is refused by socket.connect's side", function()
    run(function()
      local server = H.fed(("openssl s_server -accept 127.0.0.1:0 -tls1_2 -cert %s/server.pem " ..
        "-key %s/server.key"):format(certs, certs))
      local port = tonumber(H.expect(server.p, "^ACCEPT 127%.0%.0%.1:(%d+)"))
      local c = assert(S.connect("localhost", port, "TLS", { ca = "ca.pem" }))
      c:write("hi\n")
      H.expect(server.p, "^hi$")
      server.send("r") -- s_server asks the client to renegotiate
      H.expect(server.p, "no renegotiation") -- the client's answer, which ends it
      local ok, msg, code = c:read("*l", 5 * H.SCALE)
      H.outcome("ETLSPROTO", ok, msg, code)
      c:close()
      server.close()
    end)
  end)

  it("s_server: socket.connect with a client certificate the server asks for", function()
    run(function()
      local server = H.tool { "openssl", "s_server", "-accept", "127.0.0.1:0", "-www",
        "-cert", certs .. "/server.pem", "-key", certs .. "/server.key",
        "-Verify", "1", "-CAfile", certs .. "/ca.pem", "-verify_return_error" }
      local port = tonumber(H.expect(server, "^ACCEPT 127%.0%.0%.1:(%d+)"))
      local c = assert(S.connect("localhost", port, "TLS",
        { ca = "ca.pem", cert = "client.pem", key = "client.key" }))
      c:write("GET / HTTP/1.0\r\n\r\n")
      assert.are.equal("HTTP/1.0 200 ok", c:read("*l"))
      c:close()
      -- without a certificate the server ends the session: the first read says so
      c = S.connect("localhost", port, "TLS", { ca = "ca.pem" })
      if c then
        c:write("GET / HTTP/1.0\r\n\r\n")
        local ok, msg, code = c:read()
        assert.is_nil(ok)
        assert.truthy(code == "ETLSPROTO" or code == "ETLSHANDSHAKE", msg)
        c:close()
      end
      server:kill("TERM")
      server:wait(5 * H.SCALE)
    end)
  end)
end)
