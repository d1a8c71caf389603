-- proxy_protocol_spec.lua: connections that begin with a PROXY protocol
-- header (HAProxy's, v1 and v2), from a source in --proxy-protocol-from or
-- to a listener with { proxy_protocol = true }: the client's address it
-- gives is the one everything sees — peer(), socket.list(), the log, the
-- per-address limit. Bad, truncated, oversized or late headers close the
-- connection with one log line; a header from a source not listed is data.
local xcs = require "xcs"
local S = xcs.socket
local HH = require "helpers"
local H = require "defence_helpers"

local WHOIS = "spec/fixtures/proxy_whois.lua"
local SIG = "\r\n\r\n\0\r\nQUIT\n"

local function be16(n) return string.char(n >> 8 & 0xFF, n & 0xFF) end

local function v2(ver_cmd, fam, body)
  return SIG .. string.char(ver_cmd, fam) .. be16(#body) .. body
end

local function v2_tcp4(src, sport, dst, dport)
  local function ip(s)
    local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    return string.char(tonumber(a), tonumber(b), tonumber(c), tonumber(d))
  end
  return v2(0x21, 0x11, ip(src) .. ip(dst) .. be16(sport) .. be16(dport))
end

-- 2001:db8::N as 16 bytes
local function v6(n) return "\x20\x01\x0d\xb8" .. ("\0"):rep(11) .. string.char(n) end

local function run(f) return xcs.run(f, { timeout = 20 }) end

-- Sends what, in pieces of `step` bytes (each its own write) if given, then
-- a line; returns the answer line or nil, err, code.
local function ask(port, what, step)
  local c = assert(S.connect("127.0.0.1", port))
  if step then
    for i = 1, #what, step do
      c:write(what:sub(i, i + step - 1))
      c:flush()
      xcs.sleep(0.002)
    end
  else
    c:write(what)
  end
  c:write("hi\n")
  local line, err, code = c:read("*l", 3)
  c:close()
  return line, err, code
end

describe("the PROXY protocol", function()
  after_each(function() H.configure {} end)

  for _, mode in ipairs { "socket.open", "accept()" } do
    describe("for a " .. mode .. " listener, from a source in --proxy-protocol-from", function()
      local args = { port = 0, accept = mode == "accept()" and "1" or nil }
      before_each(function() H.configure { proxy_protocol_from = "127.0.0.0/8,::1" } end)

      it("takes the client's address from a v1 header, TCP4 and TCP6", function()
        run(function()
          local m = assert(xcs.load(WHOIS, args))
          assert.are.equal("192.0.2.1:56324 192.0.2.1:56324 hi",
            ask(m:port(), "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n"))
          assert.are.equal("[2001:db8::1]:80 [2001:db8::1]:80 hi",
            ask(m:port(), "PROXY TCP6 2001:db8::1 2001:db8::2 80 443\r\n"))
        end)
      end)

      it("takes it from a v2 header, TCP4 and TCP6, TLVs skipped", function()
        run(function()
          local m = assert(xcs.load(WHOIS, args))
          assert.are.equal("198.51.100.7:4000 198.51.100.7:4000 hi",
            ask(m:port(), v2_tcp4("198.51.100.7", 4000, "10.0.0.1", 80)))
          local body = v6(7) .. v6(1) .. be16(4660) .. be16(443) .. "\x04\0\3xyz"
          assert.are.equal("[2001:db8::7]:4660 [2001:db8::7]:4660 hi",
            ask(m:port(), v2(0x21, 0x21, body)))
        end)
      end)

      it("keeps the connection's own address for LOCAL and UNKNOWN (health checks)", function()
        run(function()
          local m = assert(xcs.load(WHOIS, args))
          for _, hdr in ipairs { v2(0x20, 0x00, ""), "PROXY UNKNOWN\r\n",
            "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", v2(0x21, 0x00, "") } do
            local line = ask(m:port(), hdr)
            assert.truthy(line and line:match("^127%.0%.0%.1:%d+ 127%.0%.0%.1:%d+ hi$"), line)
          end
        end)
      end)

      it("reads a header split across many small writes", function()
        run(function()
          local m = assert(xcs.load(WHOIS, args))
          assert.are.equal("192.0.2.9:1 192.0.2.9:1 hi",
            ask(m:port(), "PROXY TCP4 192.0.2.9 192.0.2.2 1 2\r\n", 1))
          assert.are.equal("198.51.100.7:4000 198.51.100.7:4000 hi",
            ask(m:port(), v2_tcp4("198.51.100.7", 4000, "10.0.0.1", 80), 3))
        end)
      end)

      it("closes a connection whose header is bad, with one line saying why", function()
        run(function()
          H.configure { proxy_protocol_from = "127.0.0.1", report_interval = 0 }
          local m = assert(xcs.load(WHOIS, args))
          local cases = {
            { "GET / HTTP/1.1\r\n", "not a PROXY protocol header" },
            { "PROXY TCP4 192.0.2.1 192.0.2.2 99999 1\r\n", "a v1 header with a bad source port" },
            { "PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
              "a v1 header with a protocol other than TCP4, TCP6 or UNKNOWN" },
            { "PROXY UNKNOWN " .. ("x"):rep(100) .. "\r\n", "a v1 header without its CRLF in 107 bytes" },
            { SIG .. "\x21\x11" .. be16(5000), "a v2 header longer than 4096 bytes" },
            { v2(0x21, 0x11, "\1\2\3"), "a v2 header too short for its IPv4 addresses" },
            { v2(0x11, 0x11, ""), "a v2 header of another version" },
            { ("\0"):rep(20), "not a PROXY protocol header" },
          }
          for _, case in ipairs(cases) do
            local pattern = "closed a client from 127.0.0.1 of 127.0.0.1:" .. m:port()
              .. " that sent no valid PROXY protocol header (" .. case[2] .. ")"
            local before = #H.lines(m:logs(), pattern)
            local line, _, code = ask(m:port(), case[1])
            assert.is_nil(line, case[2])
            assert.truthy(code == "closed" or code == "ECONNRESET", code)
            local deadline = xcs.now() + 3
            while #H.lines(m:logs(), pattern) == before and xcs.now() < deadline do
              xcs.sleep(0.01)
            end
            assert.are.equal(before + 1, #H.lines(m:logs(), pattern), pattern)
          end
        end)
      end)

      it("closes a connection that ends before its header did, or sends none in time", function()
        run(function()
          H.configure { proxy_protocol_from = "127.0.0.1", first_data_timeout = 0.3,
            report_interval = 0 }
          local m = assert(xcs.load(WHOIS, args))
          local c = assert(S.connect("127.0.0.1", m:port()))
          c:write("PROXY TCP4 192.0.2.1")
          c:shutdown()
          local got, _, code = c:read()
          assert.truthy(got == "" or code == "ECONNRESET", code)
          c:close()
          local late = assert(S.connect("127.0.0.1", m:port()))
          late:write("PROXY TCP4 192.0.2.1 ") -- and nothing more
          local t0 = xcs.now()
          got, _, code = late:read()
          assert.truthy(got == "" or code == "ECONNRESET", code)
          assert.is_true(xcs.now() - t0 >= 0.25)
          late:close()
          assert.truthy(H.await_log(m, "that sent no valid PROXY protocol header %(the "
            .. "connection ended before its PROXY header did%)$"))
          assert.truthy(H.await_log(m, "that sent no valid PROXY protocol header %(none "
            .. "complete within 0%.3 s%)$"))
        end)
      end)
    end)
  end

  it("is ordinary data from a source not listed: never trusted", function()
    run(function()
      H.configure { proxy_protocol_from = "10.0.0.0/8" }
      local m = assert(xcs.load(WHOIS, { port = 0 }))
      local line = ask(m:port(), "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
      assert.truthy(line:match("^127%.0%.0%.1:%d+ 127%.0%.0%.1:%d+ PROXY TCP4 192%.0%.2%.1 "), line)
    end)
  end)

  it("is required of every client of a listener with proxy_protocol = true", function()
    run(function()
      local m = assert(xcs.load(WHOIS, { port = 0, accept = "1", proxy = "1" }))
      assert.are.equal("192.0.2.1:5 192.0.2.1:5 hi",
        ask(m:port(), "PROXY TCP4 192.0.2.1 192.0.2.2 5 443\r\n"))
      assert.is_nil((ask(m:port(), "hello\r\n")))
      HH.raises({ "socket.listen", "proxy_protocol" }, function()
        S.listen(0, { proxy_protocol = "yes" })
      end)
    end)
  end)

  it("counts the client's address against the per-address limit, not the balancer's", function()
    run(function()
      H.configure { proxy_protocol_from = "127.0.0.1", max_per_address = 1 }
      local m = assert(xcs.load(WHOIS, { port = 0, accept = "1" }))
      local function hold(src)
        local c = assert(S.connect("127.0.0.1", m:port()))
        c:write("PROXY TCP4 " .. src .. " 192.0.2.2 1000 443\r\nhi\n")
        return c, c:read("*l", 3)
      end
      local a, la = hold("192.0.2.1")
      local b, lb = hold("192.0.2.2") -- another client through the same balancer
      assert.are.equal("192.0.2.1:1000 192.0.2.1:1000 hi", la)
      assert.are.equal("192.0.2.2:1000 192.0.2.2:1000 hi", lb)
      local c, lc = hold("192.0.2.1") -- the first client again: over its limit of 1
      assert.is_nil(lc)
      assert.truthy(H.await_log(m, "refused a connection from 192%.0%.2%.1 to .* over the "
        .. "per%-address limit %(1%)"))
      a:close(); b:close(); c:close()
    end)
  end)

  it("is set with --proxy-protocol-from on the real xcshost, and bad lists are refused", function()
    run(function()
      local p, port = HH.start_serving("^proxy_whois: listening on 127%.0%.0%.1:(%d+) %(TCP%)$",
        "--proxy-protocol-from", "127.0.0.1,::1", WHOIS, "port=0")
      assert.are.equal("192.0.2.1:7 192.0.2.1:7 hi",
        ask(port, "PROXY TCP4 192.0.2.1 192.0.2.2 7 443\r\n"))
      p:kill("TERM")
      assert.are.equal(0, (p:wait(5)))
      for _, bad in ipairs { "127.0.0.1/33", "localhost", "10.0.0.0/8,,::1" } do
        local code, out = HH.run("--proxy-protocol-from", bad, WHOIS)
        assert.are.equal(2, code, bad)
        assert.truthy(out:find("bad value '" .. bad .. "' for option --proxy-protocol-from", 1,
          true), out)
      end
      HH.raises({ "xcs.configure: proxy_protocol_from must be a list of addresses and CIDRs" },
        function() xcs.configure { proxy_protocol_from = "10.0.0.0/99" } end)
    end)
  end)
end)
