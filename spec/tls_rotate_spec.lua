-- tls_rotate_spec.lua: certificates rotated in place (`xcshost ctl PATH certs`,
-- SIGHUP with --sighup certs), end to end with the real xcshost serving
-- examples/tls_echo.lua and openssl s_client as its clients: a session open
-- across the rotation goes on echoing, a new one gets the new certificate, a
-- ticket from before still resumes, files that no longer load leave the old
-- certificate serving; the same across --workers 2.
local xcs = require "xcs"
local H = require "helpers"

local certs

local function run(fn) return xcs.run(fn, { timeout = 20 * H.SCALE }) end

local function copy(from, to)
  local f = assert(io.open(certs .. "/" .. from, "rb"))
  local data = f:read("a")
  f:close()
  -- written beside it and renamed over it, as certbot and most tools do
  H.write(certs .. "/" .. to .. ".new", data)
  assert(os.rename(certs .. "/" .. to .. ".new", certs .. "/" .. to))
end

-- The live certificate the echo serves (live.pem, live.key) becomes `name`.
local function install(name)
  copy(name .. ".pem", "live.pem")
  copy(name .. ".key", "live.key")
end

-- xcshost serving examples/tls_echo.lua with live.pem: process, port.
local function serve(...)
  local p = H.start("--tls-dir", certs, "--control", certs .. "/ctl", ...)
  return p, tonumber(H.expect(p, "listening on 127%.0%.0%.1:(%d+) %(TLS%)"))
end

local ECHO = { "examples/tls_echo.lua", "port=0", "cert=live.pem", "key=live.key" }

local function session(port, ...) return H.s_client_session(certs, port, ...) end

-- The subject of the certificate a new s_client is shown, after it echoed a line.
local function new_subject(port, ...)
  local s = session(port, ...)
  s.say("hello")
  local subject = s.p:output():match("subject=([^\n]*)")
  local out = s.p:output()
  s.close()
  return subject, out
end

local function stop(p)
  p:kill("TERM")
  assert.are.equal(0, p:wait(10 * H.SCALE))
end

describe("TLS certificates rotated in place", function()
  setup(function() certs = H.tls_certs() end)
  teardown(function() H.tls_cleanup() end)
  before_each(function()
    if not H.have("openssl") then pending("openssl is not installed") end
    install("server")
  end)

  it("ctl certs: an open s_client session still echoes, a new one gets the new certificate", function()
    run(function()
      local p, port = serve(table.unpack(ECHO))
      local old = session(port, "-sess_out", certs .. "/ticket")
      H.expect(old.p, "subject=.*CN = localhost")
      old.say("before the rotation")
      install("renewed")
      local code, out = H.run("ctl", certs .. "/ctl", "certs")
      assert.are.equal(0, code, out)
      assert.truthy(out:find("tls_echo: 127.0.0.1:" .. port .. ": certificates re-read", 1, true), out)
      H.expect(p, "certificates re%-read")
      old.say("after the rotation") -- the same session, untouched
      assert.are.equal("O = xcshost test, CN = renewed.localhost", new_subject(port))
      old.say("and still")
      -- a ticket issued before the rotation resumes after it
      local _, again = new_subject(port, "-sess_in", certs .. "/ticket")
      assert.truthy(again:find("Reused, TLSv1.3", 1, true), again)
      old.close()
      stop(p)
    end)
  end)

  it("--sighup certs: SIGHUP re-reads the certificates and reloads nothing", function()
    run(function()
      local p, port = serve("--sighup", "certs", table.unpack(ECHO))
      local old = session(port)
      old.say("before")
      install("renewed")
      p:kill("HUP")
      H.expect(p, "SIGHUP: re%-reading the TLS listeners' certificates")
      H.expect(p, "certificates re%-read")
      old.say("after")
      assert.are.equal("O = xcshost test, CN = renewed.localhost", new_subject(port))
      assert.falsy(p:output():find("reloading", 1, true), p:output())
      old.close()
      stop(p)
    end)
  end)

  it("files that no longer load leave the certificate loaded serving, and ctl says why", function()
    run(function()
      local p, port = serve(table.unpack(ECHO))
      local old = session(port)
      old.say("before")
      copy("renewed.pem", "live.pem") -- its key not yet
      local code, out = H.run("ctl", certs .. "/ctl", "certs")
      assert.are.equal(1, code, out)
      assert.truthy(out:find("^error: 1 of 1 TLS listeners kept their certificates\n"), out)
      assert.truthy(out:find("does not match its certificate", 1, true), out)
      H.expect(p, "certificates not re%-read, the ones loaded stay")
      old.say("after")
      assert.are.equal("O = xcshost test, CN = localhost", new_subject(port))
      old.close()
      stop(p)
    end)
  end)

  it("with --workers 2: SIGHUP (--sighup certs) rotates every worker's; sessions stay", function()
    run(function()
      local p, port = serve("--workers", "2", "--sighup", "certs", table.unpack(ECHO))
      H.expect(p, "listening on") -- the other worker
      local old = session(port)
      old.say("before")
      install("renewed")
      p:kill("HUP")
      -- the supervisor's line and the workers' two, in any order
      for _ = 1, 3 do H.expect(p, "re%-read") end
      assert.truthy(p:output():find("[w1] tls_echo: 127.0.0.1:" .. port .. ": certificates re-read", 1, true))
      assert.truthy(p:output():find("[w2] tls_echo: 127.0.0.1:" .. port .. ": certificates re-read", 1, true))
      assert.truthy(p:output():find("asked 2 workers to re-read their certificates", 1, true))
      old.say("after")
      for _ = 1, 3 do -- whichever worker takes it
        assert.are.equal("O = xcshost test, CN = renewed.localhost", new_subject(port))
      end
      old.close()
      stop(p)
    end)
  end)

  it("ctl certs with no TLS listener says so", function()
    run(function()
      local p = H.start("--control", certs .. "/ctl", "examples/echo.lua", "port=0")
      H.expect(p, "listening on")
      local code, out = H.run("ctl", certs .. "/ctl", "certs")
      assert.are.equal(0, code, out)
      assert.are.equal("no TLS listener is open\n", out)
      stop(p)
    end)
  end)
end)
