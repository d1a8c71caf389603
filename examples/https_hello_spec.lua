-- https_hello_spec.lua: examples/https_hello.lua (http_hello.lua with a
-- certificate) in-process, then run by the real xcshost for curl --cacert,
-- openssl s_client (the server's close_notify ends it) and wrk https://.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

describe("examples/https_hello.lua", function()
  local certs
  setup(function() certs = H.tls_certs() end)
  teardown(function() H.tls_cleanup() end)

  local function serving(fn)
    xcs.run(function()
      local p, port = H.start_serving("listening on 127%.0%.0%.1:(%d+) %(TLS%)",
        "--tls-dir", certs, "examples/https_hello.lua", "port=0")
      fn(port)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end, { timeout = 9 * H.SCALE })
  end

  it("answers GET / over TLS, keeping the connection open", function()
    xcs.configure { tls_dir = certs }
    xcs.run(function()
      local m = assert(xcs.load("examples/https_hello.lua", { port = 0 }))
      local c = assert(S.connect("localhost", m:port(), "TLS", { ca = "ca.pem" }))
      for _ = 1, 2 do
        c:write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert.are.equal("HTTP/1.1 200 OK", c:read("*l"))
        local line
        repeat line = assert(c:read("*l")) until line == ""
        assert.are.equal("Hello, world!\n", c:read(14))
      end
      c:close()
      m:unload()
    end, { timeout = 9 * H.SCALE })
    xcs.configure { tls_dir = false }
  end)

  it("makes curl --cacert happy, on one connection for several requests", function()
    if not H.have("curl") then return pending("curl is not installed (apt-get install curl)") end
    serving(function(port)
      local url = ("https://localhost:%d/"):format(port)
      local curl = H.tool { "curl", "-sS", "--cacert", certs .. "/ca.pem",
        "-w", "[%{http_code} connects=%{num_connects}]\n", url, url }
      assert.are.equal(0, curl:wait(5 * H.SCALE), curl:output())
      assert.are.equal("Hello, world!\n[200 connects=1]\nHello, world!\n[200 connects=0]\n",
        curl:output())
      -- and curl without the CA refuses the server
      curl = H.tool { "curl", "-sS", url }
      assert.are.equal(60, curl:wait(5 * H.SCALE), curl:output()) -- CURLE_PEER_FAILED_VERIFICATION
    end)
  end)

  it("answers openssl s_client, whose session ends with the server's close_notify", function()
    if not H.have("openssl") then return pending("openssl is not installed") end
    serving(function(port)
      local client = H.tool { "sh", "-c", ("printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n" ..
        "Connection: close\\r\\n\\r\\n' | openssl s_client -quiet -verify_return_error " ..
        "-CAfile %s/ca.pem -connect localhost:%d"):format(certs, port) }
      assert.are.equal(0, client:wait(5 * H.SCALE), client:output())
      assert.truthy(client:output():find("Hello, world!", 1, true), client:output())
    end)
  end)

  it("serves wrk https://", function()
    if not H.have("wrk") then return pending("wrk is not installed (apt-get install wrk)") end
    serving(function(port)
      local wrk = H.tool { "wrk", "-t1", "-c4", "-d1s", ("https://127.0.0.1:%d/"):format(port) }
      assert.are.equal(0, wrk:wait(8 * H.SCALE), wrk:output())
      local out = wrk:output()
      assert.truthy(out:find("requests in"), out)
      assert.is_nil(out:find("Non%-2xx"), out)
    end)
  end)
end)
