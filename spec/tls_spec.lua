-- tls_spec.lua: TLS in-process (server and client in one host, over real
-- loopback sockets): the port-keyed four commands, socket.listen and
-- accept, socket.connect's verification (system CAs, a private CA, expired
-- and wrong-host certificates), SNI, ALPN, mutual TLS, starttls, tlsinfo,
-- peers that speak no TLS or stall, the handshake cap, big transfers, and
-- the misuse errors. tls_tools_spec.lua does the same against real tools.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local certs

local function run(fn) return xcs.run(fn, { timeout = 9 * H.SCALE }) end

local SERVER = { cert = "server.pem", key = "server.key" }

local function with(t, more)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  for k, v in pairs(more or {}) do r[k] = v end
  return r
end

-- A socket.listen TLS listener whose accepted connections each get serve(c).
local function serve(tls, fn, opts)
  local l = assert(S.listen(0, with(opts or {}, { tls = tls })))
  xcs.spawn(function()
    while true do
      local c = l:accept()
      if not c then return end
      xcs.spawn(fn, c)
    end
  end)
  return l
end

local function echo(c)
  while true do
    local d = c:read()
    if not d or d == "" then break end
    c:write(d)
  end
  c:close()
end

local function connect(port, opts)
  return S.connect("localhost", port, "TLS", with({ ca = "ca.pem" }, opts))
end

describe("TLS", function()
  setup(function()
    certs = H.tls_certs()
  end)
  teardown(function() H.tls_cleanup() end)
  before_each(function() xcs.configure { tls_dir = certs } end)
  after_each(function() xcs.configure { tls_dir = false } end)

  describe("port-keyed", function()
    it("a port open as TLS and UDP makes a port-keyed call say it cannot tell which", function()
      run(function()
        local t, u, p
        for _ = 1, 20 do
          t = assert(S.open(0, "TLS", SERVER))
          u = S.open(t:port(), "UDP")
          if u then p = t:port() break end
          S.close(t)
        end
        assert(u, "no port number free for both TLS and UDP")
        for _, call in ipairs {
          { "socket.read", function() return S.read(p) end },
          { "socket.write", function() return S.write(p, "x", "127.0.0.1:9") end },
        } do
          H.raises({ call[1] .. ": port " .. p .. " is open as both TCP and UDP; " ..
            "pass the handle socket.open returned" }, call[2])
        end
        S.close(t)
        S.close(u)
      end)
    end)

    it("socket.open(port, 'TLS', opts) reads, writes, broadcasts and sees clients close", function()
      run(function()
        local h = assert(S.open(0, "TLS", SERVER))
        local port = h:port()
        xcs.spawn(function()
          while true do
            local data, from = S.read(port)
            if not data then return end
            if data == "all\n" then S.write(port, "to all\n", "*")
            elseif data ~= "" then S.write(port, data) end
          end
        end)
        local a = assert(connect(port))
        local b = assert(connect(port))
        a:write("hello\n")
        assert.are.equal("hello\n", a:read("*l") .. "\n")
        b:write("all\n")
        assert.are.equal("to all", a:read("*l"))
        assert.are.equal("to all", b:read("*l"))
        local kinds = {}
        for _, s in ipairs(S.list()) do kinds[#kinds + 1] = s.protocol .. "/" .. s.kind end
        assert.truthy(table.concat(kinds, " "):find("TLS/listener", 1, true))
        assert.truthy(table.concat(kinds, " "):find("TLS/connection", 1, true))
        a:close()
        b:close()
        S.close(port)
      end)
    end)

    it("takes the request form", function()
      run(function()
        local h = assert(xcs.request("socket_open", 0, "TLS", SERVER))
        assert.truthy(tostring(h):find("listening"))
        xcs.request("socket_close", h:port())
      end)
    end)

    it("closes a client that speaks no TLS without showing it to the module, and logs it", function()
      run(function()
        local m = assert(xcs.load("examples/tls_echo.lua", { port = 0 }))
        local port = m:port()
        local c = assert(S.connect("127.0.0.1", port))
        c:write("GET / HTTP/1.0\r\n\r\n")
        assert.are.equal("", H.read_to_end(c))
        local t = assert(connect(port))
        t:write("still serving\n")
        assert.are.equal("still serving", t:read("*l"))
        t:close()
        assert.truthy(H.find_line(m:logs(), "whose TLS handshake failed"), table.concat(m:logs(), "\n"))
        assert.is_nil(H.find_line(m:logs(), "got "), table.concat(m:logs(), "\n"))
        m:unload()
      end)
    end)
  end)

  describe("socket.listen", function()
    it("hands out connections with every read pattern, shutdown and close", function()
      run(function()
        local l = serve(SERVER, function(c)
          local line = c:read("*l")
          local four = c:read(4)
          c:write(line .. "|" .. four .. "\n")
          c:shutdown() -- close_notify, then FIN; reading goes on
          local rest = c:read("*a")
          S.list() -- still listed
          c:close()
          assert.are.equal("tail", rest)
        end)
        local c = assert(connect(l:port()))
        c:write("first line\nabcdtail")
        assert.are.equal("first line|abcd", c:read("*l"))
        assert.are.equal("", c:read()) -- the server's close_notify: an orderly end
        c:shutdown()
        c:close()
        l:close()
      end)
    end)

    it("moves megabytes both ways under backpressure", function()
      run(function()
        local l = serve(SERVER, echo)
        local c = assert(connect(l:port()))
        local block = ("0123456789abcdef"):rep(64 * 1024) -- 1 MiB
        xcs.spawn(function()
          for _ = 1, 4 do assert(c:write(block)) end
        end)
        local got = assert(c:read(4 * #block, 8 * H.SCALE))
        assert.are.equal(block:rep(4), got)
        c:close()
        l:close()
      end)
    end)

    it("counts what OpenSSL holds per connection (socket.list's memory), given back when idle", function()
      run(function()
        local l = serve(SERVER, echo)
        local c = assert(connect(l:port()))
        local function memory()
          local m = {}
          for _, h in ipairs(S.list()) do
            if h.protocol == "TLS" and h.kind == "connection" then m[#m + 1] = h.memory end
          end
          return m
        end
        c:write("hi")
        assert.are.equal("hi", c:read(2))
        local idle = memory()
        assert.are.equal(2, #idle) -- the accepted one and the client
        for _, m in ipairs(idle) do assert.truthy(m > 1024 and m < 64 * 1024, m) end
        -- a bulk transfer grows the buffers; idle again, the connection holds no more
        -- than it did (record buffers released, the wire's buffers replaced)
        local block = ("x"):rep(1024 * 1024)
        xcs.spawn(function() assert(c:write(block)) end)
        assert.are.equal(#block, #assert(c:read(#block, 8 * H.SCALE)))
        c:write("!")
        assert.are.equal("!", c:read(1))
        for i, m in ipairs(memory()) do
          assert.truthy(m < idle[i] + 8 * 1024, ("%d after, %d before"):format(m, idle[i]))
        end
        c:close()
        l:close()
      end)
    end)

    it("works under --delay (ciphertext held back, then decrypted in order)", function()
      run(function()
        local m = assert(xcs.load("examples/tls_echo.lua", { port = 0 }, { delay_ms = 50 }))
        local c = assert(connect(m:port()))
        local t0 = xcs.now()
        for i = 1, 3 do
          c:write("line " .. i .. "\n")
          assert.are.equal("line " .. i, c:read("*l"))
        end
        assert.is_true(xcs.now() - t0 >= 0.15, "the data was not delayed")
        assert.truthy(m:faults().delayed > 0)
        c:close()
        m:unload()
      end)
    end)

    it("socket.listen's proxy_protocol = true: the header first, then the handshake", function()
      run(function()
        local peer
        local l = serve(SERVER, function(c)
          peer = c:peer()
          echo(c)
        end, { proxy_protocol = true })
        local c = assert(S.connect("127.0.0.1", l:port()))
        c:write("PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n")
        assert(c:starttls { servername = "localhost", ca = "ca.pem" })
        c:write("y")
        assert.are.equal("y", c:read())
        assert.are.equal("[2001:db8::7]:40000", peer)
        c:close()
        -- a client that starts the handshake without the header is not served
        local bare = S.connect("localhost", l:port(), "TLS", { ca = "ca.pem", timeout = 2 * H.SCALE })
        if bare then
          local ok = bare:read(nil, 2 * H.SCALE)
          assert.is_nil(ok)
          bare:close()
        end
        l:close()
      end)
    end)

    it("behind a load balancer: the PROXY header first, then the handshake", function()
      xcs.configure { proxy_protocol_from = "127.0.0.1" }
      local ok, err = pcall(run, function()
        local peer
        local l = serve(SERVER, function(c)
          peer = c:peer()
          echo(c)
        end)
        local c = assert(S.connect("127.0.0.1", l:port()))
        c:write("PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n")
        assert(c:starttls { servername = "localhost", ca = "ca.pem" })
        c:write("x")
        assert.are.equal("x", c:read())
        assert.are.equal("192.0.2.1:56324", peer)
        c:close()
        l:close()
      end)
      xcs.configure { proxy_protocol_from = false }
      assert(ok, err)
    end)

    it("a peer that speaks no TLS: the read fails with ETLSNOTTLS", function()
      run(function()
        local result = {}
        local l = serve(SERVER, function(c) result = table.pack(c:read()) end)
        local c = assert(S.connect("127.0.0.1", l:port()))
        c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ = 1, 200 * H.SCALE do if result.n then break end xcs.sleep(0.01) end
        H.outcome("ETLSNOTTLS", table.unpack(result, 1, 3))
        c:close()
        l:close()
      end)
    end)

    it("a client that stalls mid-handshake times out (handshake_timeout)", function()
      run(function()
        local result = {}
        local l = serve(with(SERVER, { handshake_timeout = 0.2 }), function(c)
          result = table.pack(c:read())
        end)
        local c = assert(S.connect("127.0.0.1", l:port()))
        c:write("\22\3\1") -- the start of a record, and then nothing
        for _ = 1, 300 * H.SCALE do if result.n then break end xcs.sleep(0.01) end
        local msg = H.outcome("ETIMEDOUT", table.unpack(result, 1, 3))
        assert.truthy(msg:find("handshake"), msg)
        assert.are.equal("", c:read(nil, 5 * H.SCALE)) -- and the server let go of it
        l:close()
      end)
    end)

    it("refuses clients past max_handshakes in progress, and logs it", function()
      run(function()
        local l = serve(with(SERVER, { max_handshakes = 1, handshake_timeout = 5 }), function(c)
          c:read()
        end)
        local a = assert(S.connect("127.0.0.1", l:port())) -- stalls: holds the only slot
        local b = assert(S.connect("127.0.0.1", l:port()))
        assert.are.equal("", b:read(nil, 5 * H.SCALE)) -- closed at once
        assert.truthy(H.find_line(xcs.logs(), "over the limit of TLS handshakes"))
        a:close()
        b:close()
        l:close()
      end)
    end)
  end)

  describe("conn:buffered and conn:trywrite", function()
    it("count and queue plaintext, as over TCP", function()
      run(function()
        local q = xcs.queue()
        local l = serve(SERVER, function(c)
          q:push(c:read("*l"))
          q:push(c:buffered()) -- "two\n" came in the same record
          q:push(c:trywrite("ok\n"))
          c:close()
        end)
        local c = assert(connect(l:port()))
        assert(c:write("one\ntwo\n"))
        assert.are.equal("one", q:pop(5))
        assert.are.equal(4, q:pop(5))
        assert.are.equal(3, q:pop(5))
        assert.are.equal("ok", c:read("*l"))
        c:close()
        l:close()
      end)
    end)
  end)

  describe("socket.connect", function()
    it("verifies against the system's CAs by default: a private CA's server is refused", function()
      run(function()
        local l = serve(SERVER, echo)
        local msg = H.outcome("ETLSVERIFY", S.connect("localhost", l:port(), "TLS"))
        assert.truthy(msg:find("local issuer"), msg)
        l:close()
      end)
    end)

    it("refuses an expired certificate and a wrong host, with OpenSSL's reason", function()
      run(function()
        local old = serve({ cert = "expired.pem", key = "expired.key" }, echo)
        local msg = H.outcome("ETLSVERIFY", connect(old:port()))
        assert.truthy(msg:find("certificate has expired"), msg)
        local wrong = serve({ cert = "wronghost.pem", key = "wronghost.key" }, echo)
        msg = H.outcome("ETLSVERIFY", connect(wrong:port()))
        assert.truthy(msg:find("hostname mismatch"), msg)
        -- ...and verify = false takes either, when asked for
        local c = assert(connect(wrong:port(), { verify = false }))
        assert.is_false(c:tlsinfo().verified)
        c:close()
        old:close()
        wrong:close()
      end)
    end)

    it("checks an IP address against the certificate's IP names", function()
      run(function()
        local l = serve(SERVER, echo)
        local c = assert(S.connect("127.0.0.1", l:port(), "TLS", { ca = "ca.pem" }))
        c:write("x")
        assert.are.equal("x", c:read())
        c:close()
        l:close()
      end)
    end)

    it("tlsinfo tells version, cipher, SNI, ALPN and the peer's certificate", function()
      run(function()
        local server_info
        local l = serve(with(SERVER, { alpn = { "h2", "http/1.1" } }), function(c)
          server_info = c:tlsinfo()
          echo(c)
        end)
        local c = assert(connect(l:port(), { alpn = { "http/1.1" }, timeout = 5 }))
        local info = c:tlsinfo()
        assert.truthy(info.version == "TLSv1.3" or info.version == "TLSv1.2")
        assert.is_string(info.cipher)
        assert.are.equal("http/1.1", info.alpn)
        assert.is_true(info.verified)
        assert.are.equal("CN=localhost,O=xcshost test", info.subject)
        assert.are.equal("CN=xcshost test CA,O=xcshost test", info.issuer)
        c:write("x")
        c:read()
        assert.are.equal("localhost", server_info.servername)
        assert.are.equal("http/1.1", server_info.alpn)
        assert.is_nil(server_info.subject) -- no client certificate
        assert.is_nil(S.connect("127.0.0.1", l:port()):tlsinfo()) -- plain TCP: nil
        c:close()
        l:close()
      end)
    end)

    it("min_version = 'TLS1.3' on both sides", function()
      run(function()
        local l = serve(with(SERVER, { min_version = "TLS1.3" }), echo)
        local c = assert(connect(l:port(), { min_version = "TLS1.3" }))
        assert.are.equal("TLSv1.3", c:tlsinfo().version)
        c:close()
        l:close()
      end)
    end)
  end)

  describe("SNI", function()
    it("picks the certificate by server name, with a default and a wildcard", function()
      run(function()
        local l = serve(with(SERVER, { certs = {
          ["a.example"] = { cert = "a.pem", key = "a.key" },
          ["*.b.example"] = { cert = "b.pem", key = "b.key" },
        } }), echo)
        local function subject(name)
          local c = assert(S.connect("127.0.0.1", l:port(), "TLS",
            { ca = "ca.pem", servername = name }))
          local s = c:tlsinfo().subject
          c:close()
          return s
        end
        assert.are.equal("CN=a.example,O=xcshost test", subject("a.example"))
        assert.are.equal("CN=b.example,O=xcshost test", subject("x.b.example"))
        assert.are.equal("CN=localhost,O=xcshost test", subject("localhost"))
        l:close()
      end)
    end)
  end)

  describe("mutual TLS", function()
    local function mtls(verify_client, client_opts)
      local result
      local l = serve(with(SERVER, { ca = "ca.pem", verify_client = verify_client }), function(c)
        local d, err, code = c:read()
        result = { d = d, err = err, code = code, info = d and c:tlsinfo() }
        if d then c:write(d) end
        c:close()
      end)
      local c = connect(l:port(), client_opts)
      local reply = table.pack(c and c:write("hi") and c:read())
      for _ = 1, 300 * H.SCALE do if result then break end xcs.sleep(0.01) end
      if c then c:close() end
      l:close()
      return result, reply
    end

    it("verify_client = true takes a client certificate the CA signed", function()
      run(function()
        local r = mtls(true, { cert = "client.pem", key = "client.key" })
        assert.are.equal("hi", r.d)
        assert.is_true(r.info.verified)
        assert.are.equal("CN=xcshost test client,O=xcshost test", r.info.subject)
      end)
    end)

    it("verify_client = true refuses a client without one, or with a stranger's", function()
      run(function()
        local r, reply = mtls(true, {})
        H.outcome("ETLSHANDSHAKE", r.d, r.err, r.code)
        assert.is_nil(reply[1])
        r = mtls(true, { cert = "stranger.pem", key = "stranger.key" })
        H.outcome("ETLSVERIFY", r.d, r.err, r.code)
      end)
    end)

    it("verify_client = 'optional' takes a client without a certificate", function()
      run(function()
        local r = mtls("optional", {})
        assert.are.equal("hi", r.d)
        assert.is_false(r.info.verified)
        assert.is_nil(r.info.subject)
      end)
    end)
  end)

  describe("conn:starttls", function()
    it("upgrades a plain connection, client and server side", function()
      run(function()
        local l = assert(S.listen(0))
        xcs.spawn(function()
          local c = l:accept()
          assert.are.equal("STARTTLS", c:read("*l"))
          c:write("GO\n")
          assert(c:starttls(with(SERVER, { server = true })))
          c:write("secret:" .. c:read("*l") .. "\n")
          c:close()
        end)
        local c = assert(S.connect("127.0.0.1", l:port()))
        c:write("STARTTLS\n")
        assert.are.equal("GO", c:read("*l"))
        assert.is_true(c:starttls { servername = "localhost", ca = "ca.pem" })
        assert.are.equal("TLS", S.list()[1].protocol == "TLS" and "TLS" or
          (function() for _, s in ipairs(S.list()) do if s.protocol == "TLS" then return "TLS" end end end)())
        c:write("x\n")
        assert.are.equal("secret:x", c:read("*l"))
        H.raises({ "starttls: the connection speaks TLS already" }, c.starttls, c, {})
        c:close()
        l:close()
      end)
    end)

    it("a client starttls needs a servername to check (or verify = false)", function()
      run(function()
        local l = assert(S.listen(0))
        local c = assert(S.connect("127.0.0.1", l:port()))
        H.raises({ "starttls: bad option 'servername'" }, c.starttls, c, { ca = "ca.pem" })
        c:close()
        l:close()
      end)
    end)
  end)

  describe("misuse raises, naming the option", function()
    it("a server without cert, or a key that is not its certificate's", function()
      run(function()
        H.raises({ "socket.open: bad argument #3 (opts)" }, S.open, 0, "TLS")
        H.raises({ "socket.open: bad option 'cert'" }, S.open, 0, "TLS", {})
        H.raises({ "socket.open: bad option 'key'", "does not match its certificate" },
          S.open, 0, "TLS", { cert = "server.pem", key = "a.key" })
        H.raises({ "socket.listen: bad option 'key': cert and key go together" },
          S.listen, 0, { tls = { cert = "server.pem" } })
        H.raises({ "socket.open: unknown TLS option 'verify' for a server" },
          S.open, 0, "TLS", with(SERVER, { verify = true }))
        H.raises({ "socket.connect: unknown option 'bogus'" },
          S.connect, "localhost", 1, "TLS", { bogus = 1 })
        H.raises({ "socket.open: bad option 'ca': verify_client needs" },
          S.open, 0, "TLS", with(SERVER, { verify_client = true }))
        H.raises({ "socket.open: bad option 'min_version'" },
          S.open, 0, "TLS", with(SERVER, { min_version = "SSL3" }))
        H.raises({ "socket.open: bad option 'ciphers'" },
          S.open, 0, "TLS", with(SERVER, { ciphers = "NO-SUCH-CIPHER" }))
      end)
    end)

    it("files outside --tls-dir, missing ones, and no --tls-dir at all", function()
      run(function()
        H.raises({ "bad option 'cert'", "outside the --tls-dir directory" },
          S.open, 0, "TLS", { cert = "../../etc/passwd", key = "server.key" })
        H.raises({ "bad option 'cert'", "outside the --tls-dir directory" },
          S.open, 0, "TLS", { cert = "/etc/ssl/certs/ca-certificates.crt", key = "server.key" })
        H.raises({ "bad option 'key'", "No such file" },
          S.open, 0, "TLS", { cert = "server.pem", key = "nope.key" })
        xcs.configure { tls_dir = false }
        H.raises({ "socket.open: bad option '", "this host reads no certificate files; start it " ..
          "with --tls-dir DIR" }, S.open, 0, "TLS", SERVER)
      end)
    end)
  end)
end)
