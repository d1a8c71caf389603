-- contrib_spec.lua: the deployment files in contrib/ (README "Deployment"):
-- the Kubernetes manifest is valid YAML of the kinds it claims, its probes
-- and ports agree, and the command line it runs works with the real
-- xcshost, liveness probe included.
local xcs = require "xcs"
local lyaml = require "lyaml"
local H = require "helpers"

local MANIFEST = "contrib/kubernetes/xcshost.yaml"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

local docs = lyaml.load(read(MANIFEST), { all = true })
local by_kind = {}
for _, doc in ipairs(docs) do by_kind[doc.kind] = doc end

describe(MANIFEST, function()
  it("is a Deployment and a Service that select the same pods", function()
    assert.are.equal(2, #docs)
    local deploy, service = by_kind.Deployment, by_kind.Service
    assert.are.equal("apps/v1", deploy.apiVersion)
    assert.are.equal("v1", service.apiVersion)
    local labels = deploy.spec.template.metadata.labels
    assert.are.same(deploy.spec.selector.matchLabels, labels)
    for k, v in pairs(service.spec.selector) do assert.are.equal(v, labels[k]) end
  end)

  it("probes the port the Service targets, and gives SIGTERM time to drain", function()
    local pod = by_kind.Deployment.spec.template.spec
    local c = pod.containers[1]
    local port = c.ports[1]
    assert.are.equal(port.name, by_kind.Service.spec.ports[1].targetPort)
    assert.are.equal(port.name, c.readinessProbe.tcpSocket.port)
    assert.are.same({ "xcshost", "ctl", "/run/xcshost/ctl", "status" }, c.livenessProbe.exec.command)
    -- ctl waits 5 s for an answer: the probe must wait longer.
    assert.is_true(c.livenessProbe.timeoutSeconds > 5)
    local pause = tonumber(c.lifecycle.preStop.exec.command[2])
    -- --stop-timeout (5 s default) + --linger-ms (2 s) + the preStop pause.
    assert.is_true(pod.terminationGracePeriodSeconds > 5 + 2 + pause)
  end)

  it("runs a command line xcshost takes, answering its liveness probe", function()
    xcs.run(function()
      local args = by_kind.Deployment.spec.template.spec.containers[1].args
      local dir = H.tmpdir()
      local words = {}
      for _, a in ipairs(args) do
        -- Here: loopback, a control socket of our own, the module from the repository.
        a = a:gsub("^0%.0%.0%.0$", "127.0.0.1"):gsub("^/run/xcshost/ctl$", dir .. "/ctl")
          :gsub("^/etc/xcshost/echo%.lua$", "examples/echo.lua"):gsub("^port=%d+$", "port=0")
        words[#words + 1] = a
      end
      assert.are.same({ "--workers", "auto" }, { args[1], args[2] })
      local p = H.start(table.unpack(words))
      H.expect(p, "xcshost: worker %d+ %(pid %d+%) is serving", 10)
      local code, out = H.run("ctl", dir .. "/ctl", "status")
      assert.are.equal(0, code, out)
      assert.matches("worker 1: pid %d+", out)
      p:kill("TERM")
      assert.are.equal(0, p:wait(10))
      H.rmdir(dir)
    end)
  end)
end)

describe("contrib balancer configurations", function()
  it("send each balancer's port to hosts on the port the README runs them on", function()
    for _, path in ipairs { "contrib/haproxy.cfg", "contrib/nginx-stream.conf" } do
      local text = read(path)
      assert.matches("xcshost %-%-workers auto %-%-bind 0%.0%.0%.0 %-%-proxy%-protocol%-from 10%.0%.0%.10 ", text)
      assert.truthy(text:find("send-proxy-v2", 1, true) or text:find("proxy_protocol on;", 1, true), path)
      local n = 0
      for _ in text:gmatch("server%s+[%w.]*%s*10%.0%.0%.1%d:7000") do n = n + 1 end
      assert.are.equal(2, n, path)
    end
  end)
end)
