-- tls_echo_spec.lua: examples/tls_echo.lua in-process (clients over real
-- TLS), then run by the real xcshost for openssl s_client, and with no
-- options at all (no --tls-dir: it fails, saying so).
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

describe("examples/tls_echo.lua", function()
  local certs
  setup(function() certs = H.tls_certs() end)
  teardown(function() H.tls_cleanup() end)

  it("echoes each client's bytes back to it, over TLS", function()
    xcs.configure { tls_dir = certs }
    xcs.run(function()
      local m = assert(xcs.load("examples/tls_echo.lua", { port = 0 }))
      local a = assert(S.connect("localhost", m:port(), "TLS", { ca = "ca.pem" }))
      local b = assert(S.connect("127.0.0.1", m:port(), "TLS", { ca = "ca.pem" }))
      a:write("from a\n")
      b:write("from b\n")
      assert.are.equal("from b", b:read("*l"))
      assert.are.equal("from a", a:read("*l"))
      a:close()
      b:close()
      assert.are.equal("running", m:status())
      m:unload()
    end, { timeout = 9 * H.SCALE })
    xcs.configure { tls_dir = false }
  end)

  it("answers openssl s_client, run by the real xcshost", function()
    if not H.have("openssl") then return pending("openssl is not installed") end
    xcs.run(function()
      local p, port = H.start_serving("listening on 127%.0%.0%.1:(%d+) %(TLS%)",
        "--tls-dir", certs, "examples/tls_echo.lua", "port=0")
      local client = H.tool { "sh", "-c", ("printf 'hello over TLS\\n' | openssl s_client " ..
        "-quiet -verify_return_error -CAfile %s/ca.pem -connect 127.0.0.1:%d"):format(certs, port) }
      assert(client:expect("^hello over TLS$", 5), client:output())
      client:kill("TERM")
      client:wait(5 * H.SCALE)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end, { timeout = 9 * H.SCALE })
  end)

  it("takes a rotated certificate on SIGHUP; the old version serves its client to the end", function()
    local function copy(from, to)
      local f = assert(io.open(certs .. "/" .. from, "rb"))
      H.write(certs .. "/" .. to, f:read("a"))
      f:close()
    end
    local function subject(c) return c:tlsinfo().subject end
    copy("a.pem", "rotating.pem")
    copy("a.key", "rotating.key")
    xcs.run(function()
      local port = H.closed_port()
      local p = H.start("--tls-dir", certs, "examples/tls_echo.lua", "port=" .. port,
        "cert=rotating.pem", "key=rotating.key")
      H.expect(p, "listening on")
      local old = assert(S.connect("127.0.0.1", port, "TLS", { verify = false }))
      assert.are.equal("CN=a.example,O=xcshost test", subject(old))
      copy("b.pem", "rotating.pem")
      copy("b.key", "rotating.key")
      p:kill("HUP")
      H.expect(p, "took over port " .. port)
      local new = assert(S.connect("127.0.0.1", port, "TLS", { verify = false }))
      assert.are.equal("CN=b.example,O=xcshost test", subject(new))
      new:write("new\n")
      assert.are.equal("new", new:read("*l"))
      -- the version replaced goes on serving the session it holds, as it started
      H.expect(p, "serving its 1 connection")
      old:write("old\n")
      assert.are.equal("old", old:read("*l"))
      assert.are.equal("CN=a.example,O=xcshost test", subject(old))
      old:close()
      H.expect(p, "tls_echo: unloading") -- once its last connection closed
      new:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end, { timeout = 9 * H.SCALE })
  end)

  it("with no options at all, says it needs --tls-dir", function()
    local code, out = xcs.run(function() return H.run("examples/tls_echo.lua") end)
    assert.are.equal(1, code)
    assert.truthy(out:find("start it with --tls-dir DIR", 1, true), out)
  end)
end)
