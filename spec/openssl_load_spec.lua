-- openssl_load_spec.lua: OpenSSL is loaded when first needed
-- (bindings/openssl.h), not at every start: a host that serves plain TCP
-- never maps libssl or libcrypto; the first TLS listener or crypto call
-- loads them; and without them, TLS and crypto fail saying which library,
-- while the host goes on. Read from the real xcshost's /proc/PID/maps.
local xcs = require "xcs"
local H = require "helpers"

-- Which of OpenSSL's libraries process p has mapped: "", "libcrypto", "libcrypto libssl".
local function openssl_of(p)
  local f = assert(io.open("/proc/" .. p:pid() .. "/maps"))
  local maps = f:read("a")
  f:close()
  local found = {}
  if maps:find("/libcrypto%.so%.3") then found[#found + 1] = "libcrypto" end
  if maps:find("/libssl%.so%.3") then found[#found + 1] = "libssl" end
  return table.concat(found, " ")
end

local function stop(p)
  p:kill("TERM")
  p:wait(10 * H.SCALE)
end

-- A module that answers one client's line with its SHA-256 in hex.
local HASHER = [[
local l = assert(socket.listen(tonumber(arg.port) or 0))
local c = assert(l:accept())
c:write(hex.encode(crypto.sha256(assert(c:read("*l")))) .. "\n")
c:read("*a")
]]
local SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

describe("OpenSSL, loaded when first needed", function()
  local dir
  setup(function() dir = H.tmpdir() H.write(dir .. "/hasher.lua", HASHER) end)
  teardown(function() H.rmdir(dir) H.tls_cleanup() end)

  it("is not loaded by a host that serves plain TCP, with no options at all", function()
    xcs.run(function()
      local p, port = H.start_serving("listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        "examples/echo.lua", "port=0")
      local c = assert(xcs.socket.connect("127.0.0.1", port))
      c:write("hi\n")
      assert.are.equal("hi\n", c:read(3))
      assert.are.equal("", openssl_of(p))
      c:close()
      stop(p)
    end, { timeout = 15 * H.SCALE })
  end)

  it("is loaded by the first crypto call, which then works", function()
    xcs.run(function()
      local p, port = H.start_serving("listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        dir .. "/hasher.lua")
      assert.are.equal("", openssl_of(p))
      local c = assert(xcs.socket.connect("127.0.0.1", port))
      c:write("abc\n")
      assert.are.equal(SHA256_ABC, c:read("*l"))
      assert.are.equal("libcrypto libssl", openssl_of(p))
      c:close()
      stop(p)
    end, { timeout = 15 * H.SCALE })
  end)

  it("is loaded by the first TLS listener", function()
    local certs = H.tls_certs()
    xcs.run(function()
      local p = H.start_serving("listening on 127%.0%.0%.1:(%d+) %(TLS%)",
        "--tls-dir", certs, "examples/tls_echo.lua", "port=0")
      assert.are.equal("libcrypto libssl", openssl_of(p))
      stop(p)
    end, { timeout = 15 * H.SCALE })
  end)

  -- A library that is there but does not load (an empty file first on
  -- LD_LIBRARY_PATH) stands for one that is missing: xcshost with the
  -- words given, run to its end, or fn(p, libs) run while it serves.
  local function without(lib, fn, ...)
    local libs = H.tmpdir()
    finally(function() H.rmdir(libs) end)
    H.write(libs .. "/" .. lib, "")
    local argv = { H.XCSHOST, ... }
    argv.env = { LD_LIBRARY_PATH = libs }
    return xcs.run(function()
      local p = assert(xcs.process(argv))
      if fn then fn(p, libs) end
      local code, signal = p:wait(10 * H.SCALE)
      return code, signal, p:output(), libs
    end, { timeout = 25 * H.SCALE })
  end

  it("without libssl.so.3: a TLS listener raises, naming it, and the host exits", function()
    local code, signal, out, libs = without("libssl.so.3", nil, "--tls-dir", H.tls_certs(),
      "examples/tls_echo.lua", "port=0")
    assert.are.equal(0, signal, out)
    assert.are.equal(1, code, out)
    assert.truthy(out:find("socket.open: TLS needs OpenSSL 3: " .. libs .. "/libssl.so.3: ",
      1, true), out)
  end)

  it("without libcrypto.so.3: a crypto call raises, naming it, and plain TCP still serves", function()
    H.write(dir .. "/now.lua", 'log("said: " .. select(2, pcall(crypto.sha256, "abc")))\n')
    local _, signal, out = without("libcrypto.so.3", function(p, libs)
      -- the two modules' lines come in either order
      local said = "said: crypto.sha256: needs OpenSSL 3: " .. libs .. "/libcrypto.so.3: "
      local port = tonumber(H.expect(p, "listening on 127%.0%.0%.1:(%d+) %(TCP%)"))
      if not p:output():find(said, 1, true) then H.expect(p, H.plain(said)) end
      local c = assert(xcs.socket.connect("127.0.0.1", port))
      c:write("hi\n")
      assert.are.equal("hi\n", c:read(3))
      c:close()
      p:kill("TERM")
    end, dir .. "/now.lua", "examples/echo.lua", "port=0")
    assert.are.equal(0, signal, out)
  end)
end)
