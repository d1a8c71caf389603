-- http_hello_spec.lua: examples/http_hello.lua spoken to in raw HTTP over
-- xcs.socket (keep-alive, pipelining, chunked bodies, Connection: close, HTTP/1.0, bad and
-- oversized requests, timeouts), then run by the real xcshost for curl and
-- wrk (those two are optional: without them their specs are pending).
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

-- Runs fn(m) with the server loaded as m; it must still be running after.
local function with_server(args, fn)
  run(function()
    args.port = 0
    local m = assert(xcs.load("examples/http_hello.lua", args))
    fn(m)
    assert.are.equal("running", m:status(), m:error())
  end)
end

local function connect(m)
  return assert(S.connect("127.0.0.1", m:port()))
end

local function get(path, more)
  return "GET " .. path .. " HTTP/1.1\r\nHost: example\r\n" .. (more or "") .. "\r\n"
end

-- Reads one response: { status =, reason =, headers = {lower-case name = value}, body = }.
-- A HEAD response has no body, whatever its Content-Length says.
local function response(c, head)
  local line = assert(c:read("*l", 5))
  local status, reason = line:match("^HTTP/1%.1 (%d%d%d) (.*)$")
  assert(status, "not a status line: " .. line)
  local r = { status = tonumber(status), reason = reason, headers = {} }
  for _ = 1, 50 do
    line = assert(c:read("*l", 5))
    if line == "" then break end
    local name, value = line:match("^([^:]+): (.*)$")
    r.headers[name:lower()] = value
  end
  local n = tonumber(r.headers["content-length"])
  r.body = (head or n == 0) and "" or assert(c:read(n, 5))
  return r
end

-- Whether the server closed the connection (after everything it sent was read).
local function closed(c)
  return c:read(nil, 5) == ""
end

local have, tool = H.have, H.tool

describe("examples/http_hello.lua", function()
  it("answers GET / with Hello, world! and keeps the connection open", function()
    with_server({}, function(m)
      local c = connect(m)
      for _ = 1, 3 do
        c:write(get("/"))
        local r = response(c)
        assert.are.equal(200, r.status)
        assert.are.equal("OK", r.reason)
        assert.are.equal("Hello, world!\n", r.body)
        assert.are.equal("14", r.headers["content-length"])
        assert.are.equal("text/plain", r.headers["content-type"])
        assert.truthy(r.headers.date:find("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"))
        assert.is_nil(r.headers.connection)
      end
    end)
  end)

  it("answers pipelined requests in order", function()
    with_server({}, function(m)
      local c = connect(m)
      c:write(get("/") .. get("/nope") .. "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" ..
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" .. get("/?q=1"))
      local r = response(c)
      assert.are.equal(200, r.status)
      assert.are.equal("Hello, world!\n", r.body)
      r = response(c)
      assert.are.equal(404, r.status)
      assert.are.equal("Not Found\n", r.body)
      r = response(c, "HEAD")
      assert.are.equal(200, r.status)
      assert.are.equal("14", r.headers["content-length"])
      r = response(c)
      assert.are.equal(405, r.status)
      assert.are.equal("GET, HEAD", r.headers.allow)
      r = response(c) -- the POST's body was skipped, not taken for a request
      assert.are.equal(200, r.status)
      c:write("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" ..
        "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n" .. get("/"))
      assert.are.equal(405, response(c).status)
      assert.are.equal(200, response(c).status) -- the chunked body was skipped too
      c:write(get("/"))
      assert.are.equal(200, response(c).status)
    end)
  end)

  it("closes after answering when the client says Connection: close", function()
    with_server({}, function(m)
      local c = connect(m)
      c:write(get("/", "Connection: close\r\n") .. get("/")) -- the second one is never answered
      local r = response(c)
      assert.are.equal(200, r.status)
      assert.are.equal("close", r.headers.connection)
      assert.is_true(closed(c))
    end)
  end)

  it("closes after an HTTP/1.0 request unless it asks for keep-alive", function()
    with_server({}, function(m)
      local c = connect(m)
      c:write("GET / HTTP/1.0\r\n\r\n")
      local r = response(c)
      assert.are.equal("Hello, world!\n", r.body)
      assert.are.equal("close", r.headers.connection)
      assert.is_true(closed(c))

      c = connect(m)
      for _ = 1, 2 do
        c:write("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        r = response(c)
        assert.are.equal("Hello, world!\n", r.body)
        assert.are.equal("keep-alive", r.headers.connection)
      end
    end)
  end)

  for _, case in ipairs {
    { what = "a malformed request line", request = "HELLO\r\n\r\n", status = 400 },
    { what = "a lower-case method", request = "get / HTTP/1.1\r\nHost: x\r\n\r\n", status = 400 },
    { what = "a malformed header line", request = "GET / HTTP/1.1\r\nHost x\r\n\r\n", status = 400 },
    { what = "no Host in HTTP/1.1", request = "GET / HTTP/1.1\r\n\r\n", status = 400 },
    { what = "a bad Content-Length", request = get("/", "Content-Length: -1\r\n"), status = 400 },
    { what = "an unknown HTTP version", request = "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status = 505 },
    { what = "a transfer coding other than chunked", request = get("/", "Transfer-Encoding: gzip\r\n"),
      status = 501 },
    { what = "a malformed chunked body", request = "POST / HTTP/1.1\r\nHost: x\r\n" ..
      "Transfer-Encoding: chunked\r\n\r\nzz\r\n", status = 400 },
    { what = "a body over 1 MiB", request = get("/", "Content-Length: 2000000\r\n"), status = 413 },
    { what = "an oversized header line", request = get("/", "X-Big: " .. ("b"):rep(9000) .. "\r\n"),
      status = 431 },
    { what = "an oversized request line", request = "GET /" .. ("a"):rep(9000) .. " HTTP/1.1\r\n",
      status = 431 },
  } do
    it("answers " .. case.what .. " with " .. case.status .. " and closes", function()
      with_server({}, function(m)
        local c = connect(m)
        c:write(case.request)
        local r = response(c)
        assert.are.equal(case.status, r.status)
        assert.are.equal("close", r.headers.connection)
        assert.is_true(closed(c))
      end)
    end)
  end

  it("closes an idle keep-alive connection quietly, and answers 408 to a stalled request", function()
    with_server({ idle = 0.2 }, function(m)
      local c = connect(m)
      c:write(get("/"))
      assert.are.equal(200, response(c).status)
      local t0 = xcs.now()
      assert.are.equal("", c:read(nil, 5)) -- no bytes at all: just the close
      assert.is_true(xcs.now() - t0 >= 0.15)

      c = connect(m)
      c:write("GET / HTT") -- and nothing more
      local r = response(c)
      assert.are.equal(408, r.status)
      assert.are.equal("close", r.headers.connection)
      assert.is_true(closed(c))
    end)
  end)

  it("serves many connections at once", function()
    with_server({}, function(m)
      local conns = {}
      for i = 1, 40 do
        conns[i] = connect(m)
        conns[i]:write(get("/" .. (i % 2 == 0 and "" or "odd")))
      end
      for i, c in ipairs(conns) do
        assert.are.equal(i % 2 == 0 and 200 or 404, response(c).status)
      end
    end)
  end)

  describe("under xcshost", function()
    local function start()
      return H.start_serving("^http_hello: listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        "examples/http_hello.lua", "port=0")
    end

    local function stop(p)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end

    it("makes curl happy, on one connection for several requests", function()
      if not have("curl") then return pending("curl is not installed (apt-get install curl)") end
      run(function()
        local p, port = start()
        local url = "http://127.0.0.1:" .. port .. "/"
        local curl = tool{ "curl", "-sS", "-w", "[%{http_code} connects=%{num_connects}]\n",
          url, url, url .. "missing" }
        assert.are.equal(0, curl:wait(5))
        assert.are.equal("Hello, world!\n[200 connects=1]\nHello, world!\n[200 connects=0]\n" ..
          "Not Found\n[404 connects=0]\n", curl:output())
        stop(p)
      end)
    end)

    it("makes wrk happy: no socket errors, no non-2xx answers", function()
      if not have("wrk") then return pending("wrk is not installed (apt-get install wrk)") end
      run(function()
        local p, port = start()
        H.wrk("http://127.0.0.1:" .. port .. "/")
        stop(p)
      end)
    end)
  end)
end)
