-- balancer_spec.lua: xcshost behind a real load balancer on loopback, with
-- the configurations README's "Behind a load balancer" gives: HAProxy with
-- send-proxy-v2 (TLS passed through it too) and nginx's stream module with
-- proxy_protocol on. Each runs
-- in the foreground from a temporary directory, on unprivileged ports, and
-- is stopped by the spec; the configurations are read from README.md. The
-- module sees the client's own address and port, not the balancer's.
local xcs = require "xcs"
local S = xcs.socket
local HH = require "helpers"

local WHOIS = "spec/fixtures/proxy_whois.lua"
local NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"

-- The configuration README gives after the line beginning with `intro`,
-- with its ports (7000 the balancer's, 7001 xcshost's) replaced.
local function readme_config(intro, front, port)
  local f = assert(io.open("README.md"))
  local text = f:read("a")
  f:close()
  local at = assert(text:find("\n" .. intro, 1, true), "README has no " .. intro)
  local block = assert(text:match("\n```\n(.-)\n```\n", at), "no configuration after " .. intro)
  block = block:gsub("127%.0%.0%.1:7000", "127.0.0.1:" .. front)
  return (block:gsub("127%.0%.0%.1:7001", "127.0.0.1:" .. port)) .. "\n"
end

local have = HH.have

-- Connects to port until it answers (the balancer is starting): at most 5 s.
local function connect_when_up(port, p)
  local deadline = xcs.now() + 5
  while true do
    local c = S.connect("127.0.0.1", port)
    if c then return c end
    if xcs.now() > deadline then error("the balancer never listened; it said:\n" .. p:output()) end
    xcs.sleep(0.05)
  end
end

-- Through the balancer on port front: each of a few clients sees itself.
local function check_through(front, balancer)
  for i = 1, 3 do
    local c = connect_when_up(front, balancer)
    local me = c:address() -- the client's own "127.0.0.1:port"
    c:write("client " .. i .. "\n")
    local line = c:read("*l", 5)
    assert.are.equal(("%s %s client %d"):format(me, me, i), line)
    c:close()
  end
end

local function start_xcshost()
  local p, port = HH.start_serving("^proxy_whois: listening on 127%.0%.0%.1:(%d+) %(TCP%)$",
    "--proxy-protocol-from", "127.0.0.1", WHOIS, "port=0")
  return p, port
end

local function stop(p)
  p:kill("TERM")
  p:wait(5)
end

-- xcshost said nothing of a bad header: the balancer's health checks, if
-- any, sent theirs too.
local function no_bad_headers(x)
  assert.falsy(x:output():find("PROXY protocol header", 1, true), x:output())
end

describe("xcshost behind a load balancer", function()
  local dir
  before_each(function() dir = HH.tmpdir() end)
  after_each(function() HH.rmdir(dir) end)

  it("gets each client's address from HAProxy (send-proxy-v2)", function()
    if not have("haproxy") then return pending("haproxy is not installed (apt-get install haproxy)") end
    xcs.run(function()
      local x, port = start_xcshost()
      local front = HH.closed_port()
      local cfg = dir .. "/haproxy.cfg"
      HH.write(cfg, readme_config("HAProxy (Debian's", front, port))
      local h = assert(xcs.process { "haproxy", "-db", "-f", cfg })
      local ok, err = pcall(check_through, front, h)
      stop(h)
      stop(x)
      assert(ok, err)
      no_bad_headers(x)
    end, { timeout = 30 })
  end)

  it("passes TLS through HAProxy: the PROXY header, then the handshake (curl --cacert)", function()
    if not have("haproxy") then return pending("haproxy is not installed (apt-get install haproxy)") end
    if not have("curl") then return pending("curl is not installed") end
    local certs = HH.tls_certs()
    xcs.run(function()
      local x, port = HH.start_serving("listening on 127%.0%.0%.1:(%d+) %(TLS%)",
        "--proxy-protocol-from", "127.0.0.1", "--tls-dir", certs, "examples/https_hello.lua",
        "port=0")
      local front = HH.closed_port()
      local cfg = dir .. "/haproxy.cfg"
      HH.write(cfg, readme_config("HAProxy (Debian's", front, port))
      local h = assert(xcs.process { "haproxy", "-db", "-f", cfg })
      local ok, err = pcall(function()
        local url = ("https://localhost:%d/"):format(front)
        local curl, code
        for _ = 1, 50 do -- until HAProxy listens: curl's 7 is "could not connect"
          curl = HH.tool { "curl", "-sS", "--cacert", certs .. "/ca.pem", url, url }
          code = curl:wait(10)
          if code ~= 7 then break end
          xcs.sleep(0.1)
        end
        assert.are.equal(0, code, curl:output())
        assert.are.equal("Hello, world!\nHello, world!\n", curl:output())
      end)
      stop(h)
      stop(x)
      HH.tls_cleanup()
      assert(ok, err)
      no_bad_headers(x)
    end, { timeout = 30 })
  end)

  it("gets each client's address from nginx's stream module (proxy_protocol on)", function()
    if not have("nginx") or not io.open(NGINX_STREAM) then
      return pending("nginx with its stream module is not installed (apt-get install nginx-light libnginx-mod-stream)")
    end
    xcs.run(function()
      local x, port = start_xcshost()
      local front = HH.closed_port()
      local cfg = dir .. "/nginx.conf"
      -- in the foreground, from the temporary directory: what a service
      -- manager would otherwise see to
      HH.write(cfg, ("daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log stderr;\n%s")
        :format(dir, readme_config("nginx (Debian's", front, port)))
      local n = assert(xcs.process { "nginx", "-p", dir, "-e", "stderr", "-c", cfg })
      local ok, err = pcall(check_through, front, n)
      stop(n)
      stop(x)
      assert(ok, err)
      no_bad_headers(x)
    end, { timeout = 30 })
  end)
end)
