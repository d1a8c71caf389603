-- json_api_spec.lua: examples/json_api.lua spoken to in raw HTTP over xcs.socket (every
-- route and error, chunked and pipelined requests), then under the real xcshost with curl and wrk.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket
local json = xcs.json

local function with_api(fn)
  xcs.run(function()
    local m = assert(xcs.load("examples/json_api.lua", { port = 0 }))
    fn(assert(S.connect("127.0.0.1", m:port())))
    assert.are.equal("running", m:status(), m:error())
  end, { timeout = 9 })
end

local function request(method, path, body, headers)
  local head = { method .. " " .. path .. " HTTP/1.1", "Host: t" }
  if body then
    head[#head + 1] = "Content-Type: " .. (headers and headers.type or "application/json")
    head[#head + 1] = "Content-Length: " .. #body
  end
  return table.concat(head, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- Reads one response: status, decoded JSON body (or the raw body), headers.
local function response(c)
  local head = assert(c:readuntil("\r\n\r\n", 8192, 5))
  local res = assert(xcs.http.parse_response(head .. "\r\n\r\n"))
  local body = res.length > 0 and assert(c:read(res.length, 5)) or ""
  local value = json.decode(body)
  return res.status, value == nil and body or value, res.headers
end

local function ask(c, ...)
  c:write(request(...))
  return response(c)
end

describe("examples/json_api.lua", function()
  it("creates, reads, replaces, lists and deletes items", function()
    with_api(function(c)
      local status, item, headers = ask(c, "POST", "/items", '{"name":"tea","tags":["a"],"n":null}')
      assert.are.equal(201, status)
      assert.are.equal("application/json", headers["content-type"])
      assert.are.same({ id = 1, name = "tea", tags = { "a" }, n = json.null }, item)
      assert.are.equal(201, (ask(c, "POST", "/items", '{"name":"milk","id":99}')))
      status, item = ask(c, "GET", "/items/2")
      assert.are.same({ id = 2, name = "milk" }, item) -- a client's id is not taken
      status, item = ask(c, "PUT", "/items/2", '{"name":"oat milk"}')
      assert.are.same({ 200, { id = 2, name = "oat milk" } }, { status, item })
      local _, page = ask(c, "GET", "/items?limit=1")
      assert.are.same({ items = { { id = 1, name = "tea", tags = { "a" }, n = json.null } }, next = 1 }, page)
      _, page = ask(c, "GET", "/items?after=1")
      assert.are.same({ items = { { id = 2, name = "oat milk" } }, next = json.null }, page)
      assert.are.equal(204, (ask(c, "DELETE", "/items/1")))
      assert.are.equal(404, (ask(c, "GET", "/items/1")))
      local _, health = ask(c, "GET", "/health")
      assert.are.equal(1, health.items)
      assert.is_true(math.abs(health.time_ms // 1000 - os.time()) <= 1)
    end)
  end)

  it("says when an item was last written, and answers 304 when the client has it", function()
    with_api(function(c)
      local before = os.time()
      ask(c, "POST", "/items", '{"name":"tea"}')
      local status, _, headers = ask(c, "GET", "/items/1")
      assert.are.equal(200, status)
      local last = headers["last-modified"]
      local t = assert(xcs.http.parse_date(last))
      assert.is_true(t >= before and t <= os.time(), last)
      local function get_since(date)
        c:write("GET /items/1 HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " .. date .. "\r\n\r\n")
        return response(c)
      end
      local s304, body, h304 = get_since(last)
      assert.are.same({ 304, "", last }, { s304, body, h304["last-modified"] })
      assert.are.equal(304, (get_since(xcs.http.date(t + 3600))))          -- later: still not modified
      assert.are.equal(304, (get_since(os.date("!%A, %d-%b-%y %H:%M:%S GMT", t)))) -- RFC 850 form
      assert.are.equal(200, (get_since(xcs.http.date(t - 1))))             -- written since
      assert.are.equal(200, (get_since("yesterday")))                      -- not a date: ignored
    end)
  end)

  it("answers an empty list as [] and keeps the JSON's types", function()
    with_api(function(c)
      c:write(request("GET", "/items"))
      local head = assert(c:readuntil("\r\n\r\n", 8192, 5))
      local len = tonumber(head:match("Content%-Length: (%d+)"))
      assert.are.equal('{"items":[],"next":null}\n', c:read(len, 5))
    end)
  end)

  for _, case in ipairs {
    { "malformed JSON", { "POST", "/items", '{"a":' }, 400,
      "json.decode: unexpected end of text, expected a value at byte 6 (the end of the text)" },
    { "a body that is not an object", { "POST", "/items", "[1]" }, 400, "expected a JSON object" },
    { "another content type", { "POST", "/items", "a=1", { type = "text/plain" } }, 415,
      "expected a body of Content-Type application/json" },
    { "an unknown path", { "GET", "/nope" }, 404, "no such resource: /nope" },
    { "a missing item", { "PUT", "/items/7", "{}" }, 404, "no item 7" },
    { "a wrong method", { "PATCH", "/items" }, 405, "use GET or POST on /items" },
    { "a bad limit", { "GET", "/items?limit=0" }, 400, "limit must be an integer from 1 to 1000" },
    { "a bad query", { "GET", "/items?limit=%zz" }, 400,
      "url.parse_query: a '%' not followed by two hex digits at byte 7" },
  } do
    it("answers " .. case[1] .. " with " .. case[3] .. " and a JSON error", function()
      with_api(function(c)
        local status, err = ask(c, table.unpack(case[2]))
        assert.are.equal(case[3], status)
        assert.truthy(err.error:find(case[4], 1, true), err.error)
        assert.are.equal(200, (ask(c, "GET", "/items"))) -- and the connection goes on
      end)
    end)
  end

  it("takes a chunked body, and answers pipelined requests in order", function()
    with_api(function(c)
      c:write("POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" ..
        "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n" ..
        request("GET", "/items/1") .. request("GET", "/items/2"))
      local s1, v1 = response(c)
      local s2, v2 = response(c)
      local s3 = response(c)
      assert.are.same({ 201, { a = 1, id = 1 }, 200, { a = 1, id = 1 }, 404 }, { s1, v1, s2, v2, s3 })
    end)
  end)

  it("refuses a body over 64 KiB with 413 and closes", function()
    with_api(function(c)
      local status = ask(c, "POST", "/items", '{"a":"' .. ("x"):rep(70000) .. '"}')
      assert.are.equal(413, status)
      assert.are.equal("", c:read(nil, 5))
    end)
  end)

  describe("under xcshost", function()
    local function with_host(fn)
      xcs.run(function()
        local p, port = H.start_serving("^json_api: listening on 127%.0%.0%.1:(%d+) %(TCP%)",
          "examples/json_api.lua", "port=0")
        fn("http://127.0.0.1:" .. port)
        p:kill("TERM")
        assert.are.equal(0, p:wait(5))
      end, { timeout = 15 })
    end

    it("makes curl happy", function()
      if not H.have("curl") then return pending("curl is not installed (apt-get install curl)") end
      with_host(function(base)
        local curl = H.tool { "curl", "-sS", "-H", "Content-Type: application/json", "-d", '{"name":"tea"}',
          base .. "/items", "--next", "-sS", base .. "/items/1", "--next", "-sS", "-w", "%{http_code}\n",
          base .. "/items/9" }
        assert.are.equal(0, curl:wait(5))
        assert.are.equal('{"id":1,"name":"tea"}\n{"id":1,"name":"tea"}\n{"error":"no item 9"}\n404\n',
          curl:output())
        -- curl -z sends If-Modified-Since: the item is not newer than the date it was given.
        local lm = H.tool { "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-z",
          xcs.http.date(os.time() + 60), base .. "/items/1" }
        assert.are.equal(0, lm:wait(5))
        assert.are.equal("304", lm:output())
      end)
    end)

    it("makes wrk happy: no socket errors, no non-2xx answers, on a JSON route", function()
      if not H.have("wrk") or not H.have("curl") then
        return pending("wrk and curl are not installed (apt-get install wrk curl)")
      end
      with_host(function(base)
        local curl = H.tool { "curl", "-sS", "-H", "Content-Type: application/json", "-d", '{"name":"tea"}',
          base .. "/items" }
        assert.are.equal(0, curl:wait(5))
        H.wrk(base .. "/items/1")
      end)
    end)
  end)
end)
