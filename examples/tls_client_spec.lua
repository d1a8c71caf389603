-- tls_client_spec.lua: examples/tls_client.lua, run by the real xcshost,
-- fetching from openssl s_server -www (verified against the test CA), and
-- refusing an expired certificate, one for another host, and (without ca=)
-- a CA the system does not trust.
local xcs = require "xcs"
local H = require "helpers"

describe("examples/tls_client.lua", function()
  local certs
  setup(function() certs = H.tls_certs() end)
  teardown(function() H.tls_cleanup() end)

  -- Runs the client against s_server with the certificate `name`: exit code, output.
  local function fetch(name, with_ca)
    return xcs.run(function()
      local server = H.tool { "openssl", "s_server", "-accept", "127.0.0.1:0", "-www",
        "-cert", certs .. "/" .. name .. ".pem", "-key", certs .. "/" .. name .. ".key" }
      local port = tonumber(H.expect(server, "^ACCEPT 127%.0%.0%.1:(%d+)"))
      local code, out = H.run("--tls-dir", certs, "examples/tls_client.lua",
        ("url=https://localhost:%d/"):format(port), with_ca and "ca=ca.pem" or nil)
      server:kill("TERM")
      server:wait(5 * H.SCALE)
      return code, out
    end, { timeout = 15 * H.SCALE })
  end

  before_each(function()
    if not H.have("openssl") then pending("openssl is not installed") end
  end)

  it("fetches a page over HTTPS from a local server, verifying it", function()
    local code, out = fetch("server", true)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("certificate of CN=localhost,O=xcshost test, verified", 1, true), out)
    assert.truthy(out:find("HTTP/1.0 200 ok", 1, true), out)
  end)

  it("fails on an expired certificate, a wrong host and an unknown CA", function()
    local code, out = fetch("expired", true)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("ETLSVERIFY: certificate has expired", 1, true), out)
    code, out = fetch("wronghost", true)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("ETLSVERIFY: hostname mismatch", 1, true), out)
    code, out = fetch("server", false)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("ETLSVERIFY: unable to get local issuer certificate", 1, true), out)
  end)
end)
