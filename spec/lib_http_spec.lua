-- lib_http_spec.lua: http.parse_request, parse_response, parse_chunked, date, parse_date, reason
-- (bindings/lib_http.c).
local xcs = require "xcs"
local H = require "helpers"
local http = xcs.http

-- Asserts nil, "fname: why", status.
local function refused(status, why, v, msg, code)
  assert.is_nil(v)
  assert.are.equal(status, code)
  assert.truthy(msg:find(why, 1, true), msg)
end

describe("http.parse_request", function()
  it("parses a request head and says where the body begins", function()
    local buf = "POST /a/b?x=1&y HTTP/1.1\r\nHost: example\r\nX-A: 1\r\nx-a:  2 \r\n" ..
      "Content-Length: 5\r\n\r\nhelloGET"
    local req, at = http.parse_request(buf)
    assert.are.equal(#buf - 7, at)
    assert.are.equal("hello", buf:sub(at, at + 4))
    assert.are.same({ method = "POST", target = "/a/b?x=1&y", path = "/a/b", query = "x=1&y",
      version = "1.1", keep_alive = true, chunked = false, length = 5,
      headers = { host = "example", ["x-a"] = "1, 2", ["content-length"] = "5" } }, req)
  end)

  it("walks a pipelined buffer with init, skipping empty lines between requests", function()
    local buf = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /2 HTTP/1.0\nConnection: keep-alive\n\nGET /3"
    local r1, at = http.parse_request(buf)
    assert.are.equal("/1", r1.path)
    local r2, at2 = http.parse_request(buf, at)
    assert.are.equal("/2", r2.path)
    assert.are.equal("1.0", r2.version)
    assert.is_true(r2.keep_alive)
    assert.is_false(http.parse_request(buf, at2)) -- incomplete: read more
    assert.is_false(http.parse_request(""))
    assert.is_false(http.parse_request("\r\n\r\n"))
  end)

  it("works out keep-alive and framing", function()
    local function parse(s) return (assert(http.parse_request(s))) end
    assert.is_false(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Close\r\n\r\n").keep_alive)
    assert.is_false(parse("GET / HTTP/1.0\r\n\r\n").keep_alive)
    local r = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert.is_true(r.chunked)
    assert.is_nil(r.length)
    assert.are.equal(7, parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\n\r\n").length)
    assert.is_nil(parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n").query)
  end)

  for _, case in ipairs {
    { "HELLO\r\n\r\n", 400, "a malformed request line" },
    { "GET  / HTTP/1.1\r\n\r\n", 400, "a malformed request line" },
    { "G(T / HTTP/1.1\r\n\r\n", 400, "a malformed method" },
    { "GET /\1 HTTP/1.1\r\n\r\n", 400, "a malformed request target" },
    { "GET / HTTP/1.x\r\n\r\n", 400, "a malformed HTTP version" },
    { "GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 is not supported" },
    { "GET / HTTP/1.1\r\n\r\n", 400, "no Host header (HTTP/1.1 needs one)" },
    { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header" },
    { "GET / HTTP/1.1\rX\r\nHost: h\r\n\r\n", 400, "a bare CR in the request line" },
    { "GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", 400, "a bare CR in a header line" },
    { "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400, "obsolete line folding in a header" },
    { "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "a space before a header's colon" },
    { "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400, "a malformed header line" },
    { "GET / HTTP/1.1\r\nHost: h\1\r\n\r\n", 400, "a control character in a header value" },
    { "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "a Content-Length that is not a number" },
    { "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
      "conflicting Content-Length values" },
    { "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
      "a Content-Length that is not a number" },
    { "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
      "a transfer coding other than chunked" },
    { "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501,
      "a transfer coding other than chunked" },
    { "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request" },
    { "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding" },
  } do
    it(("answers %q with %d"):format(case[1], case[2]), function()
      refused(case[2], "http.parse_request: " .. case[3], http.parse_request(case[1]))
    end)
  end

  it("bounds the head with max_head and max_headers", function()
    refused(431, "http.parse_request: the head is over 16384 bytes (max_head)",
      http.parse_request("GET /" .. ("a"):rep(20000)))
    refused(431, "the head is over 100 bytes (max_head)",
      http.parse_request("GET / HTTP/1.1\r\nHost: h\r\nX: " .. ("b"):rep(100) .. "\r\n\r\n", 1, { max_head = 100 }))
    assert.is_false(http.parse_request("GET / HTTP/1.1\r\n", 1, { max_head = 100 }))
    local many = { "GET / HTTP/1.1\r\nHost: h\r\n" }
    for i = 1, 100 do many[#many + 1] = "X" .. i .. ": v\r\n" end
    refused(431, "too many header lines (max_headers)", http.parse_request(table.concat(many) .. "\r\n"))
    assert.is_table(http.parse_request(table.concat(many) .. "\r\n", 1, { max_headers = 101 }))
  end)

  it("raises on misuse", function()
    H.raises({ "http.parse_request: bad argument #1 (buffer): expected a string, got no value" }, http.parse_request)
    H.raises({ "http.parse_request: bad argument #2 (init): expected a position from 1 to 4 (one past " ..
      "the buffer's end), got 5" }, http.parse_request, "abc", 5)
    H.raises({ "http.parse_request: bad argument #3 (options): unknown option max (it takes: max_head, " ..
      "max_headers, max_body)" }, http.parse_request, "", 1, { max = 1 })
    H.raises({ "http.parse_request: bad option max_head: expected a positive integer" },
      http.parse_request, "", 1, { max_head = 0 })
    H.raises({ "http.parse_request: bad argument #3 (options): expected a table, got string" },
      http.parse_request, "", 1, "x")
  end)
end)

describe("http.parse_response", function()
  it("parses a status line and headers", function()
    local buf = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    local res, at = http.parse_response(buf)
    assert.are.equal("abc", buf:sub(at))
    assert.are.same({ version = "1.1", status = 404, reason = "Not Found", keep_alive = false,
      chunked = false, length = 3, headers = { ["content-length"] = "3", connection = "close" } }, res)
    res = assert(http.parse_response("HTTP/1.0 200\r\n\r\n"))
    assert.are.equal("", res.reason)
    assert.is_nil(res.length) -- the body runs until the server closes
    res = assert(http.parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n"))
    assert.is_true(res.chunked) -- chunked wins (RFC 9112 6.3)
    assert.is_nil(res.length)
    assert.is_false(http.parse_response("HTTP/1.1 200 OK\r\n"))
  end)

  for _, case in ipairs {
    { "HTTP/1.1 20 OK\r\n\r\n", 400, "a malformed status code" },
    { "HTTP/1.1 200OK\r\n\r\n", 400, "a malformed status code" },
    { "HTTX/1.1 200 OK\r\n\r\n", 400, "a malformed status line" },
    { "HTTP/3.0 200 OK\r\n\r\n", 505, "HTTP/3.0 is not supported" },
    { "HTTP/1.1 200 O\1K\r\n\r\n", 400, "a control character in the reason phrase" },
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\n", 501, "a transfer coding other than chunked" },
    { "HTTP/1.1 200 OK\rx\r\n\r\n", 400, "a bare CR in the status line" },
  } do
    it(("refuses %q"):format(case[1]), function()
      refused(case[2], "http.parse_response: " .. case[3], http.parse_response(case[1]))
    end)
  end
end)

describe("http.parse_chunked", function()
  it("decodes a chunked body with extensions and trailers", function()
    local buf = "5;name=v\r\nhello\r\n6\r\n world\r\nA\n0123456789\n0\r\nX-Sum: 1\r\nX-Sum: 2\r\n\r\nNEXT"
    local body, at, trailers = http.parse_chunked(buf)
    assert.are.equal("hello world0123456789", body)
    assert.are.equal("NEXT", buf:sub(at))
    assert.are.same({ ["x-sum"] = "1, 2" }, trailers)
    body, at, trailers = http.parse_chunked("XX0\r\n\r\n", 3)
    assert.are.equal("", body)
    assert.are.equal(8, at)
    assert.are.same({}, trailers)
  end)

  it("is false until the whole body is there", function()
    local full = "5\r\nhello\r\n0\r\nT: 1\r\n\r\n"
    for n = 0, #full - 1 do
      assert.is_false(http.parse_chunked(full:sub(1, n)), full:sub(1, n))
    end
    assert.are.equal("hello", (http.parse_chunked(full)))
  end)

  for _, case in ipairs {
    { "x\r\n", 400, "a malformed chunk size" },
    { "5x\r\n", 400, "a malformed chunk size" },
    { "5\r\nhelloX", 400, "a chunk not followed by CRLF" },
    { "5\rx\r\n", 400, "a bare CR in a chunk-size line" },
    { "5;\1\r\n", 400, "a control character in a chunk extension" },
    { "1000001\r\n", 413, "the body is over 16777216 bytes (max_body)" },
    { "ffffffffffffffffffff\r\n", 413, "the body is over 16777216 bytes (max_body)" },
    { ("1"):rep(1100), 400, "a chunk-size line over 1024 bytes" },
    { "0\r\nT : x\r\n\r\n", 400, "a space before a header's colon in the trailers" },
    { "0\r\nX: " .. ("t"):rep(16400), 431, "the trailers are over 16384 bytes (max_head)" },
  } do
    it(("refuses %q"):format(case[1]:sub(1, 30)), function()
      refused(case[2], "http.parse_chunked: " .. case[3], http.parse_chunked(case[1]))
    end)
  end

  it("bounds the body with max_body, across chunks", function()
    refused(413, "the body is over 8 bytes (max_body)",
      http.parse_chunked("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 1, { max_body = 8 }))
    assert.are.equal("helloworld", (http.parse_chunked("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 1, { max_body = 10 })))
  end)
end)

describe("http.date and http.reason", function()
  it("format HTTP dates and give reason phrases", function()
    assert.are.equal("Sun, 06 Nov 1994 08:49:37 GMT", http.date(784111777))
    assert.truthy(http.date():find("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"))
    assert.are.equal("Not Found", http.reason(404))
    assert.are.equal("Request Header Fields Too Large", http.reason(431))
    assert.is_nil(http.reason(299))
    H.raises({ "http.date: bad argument #1 (time): outside the years 0 to 9999" }, http.date, 1e15 // 1)
    H.raises({ "http.reason: bad argument #1 (status): expected an integer, got string" }, http.reason, "x")
  end)

  it("read HTTP dates in each of the three forms a recipient must accept", function()
    for _, text in ipairs {
      "Sun, 06 Nov 1994 08:49:37 GMT",  -- IMF-fixdate
      "Sunday, 06-Nov-94 08:49:37 GMT", -- RFC 850
      "Sun Nov  6 08:49:37 1994",       -- asctime
      "Sun Nov 06 08:49:37 1994",       -- asctime with a 2-digit day, as some write it
    } do
      assert.are.equal(784111777, http.parse_date(text), text)
    end
    assert.are.equal(0, http.parse_date("Thu, 01 Jan 1970 00:00:00 GMT"))
    assert.are.equal(-86400, http.parse_date("Wed, 31 Dec 1969 00:00:00 GMT"))
    assert.are.equal(951782400, http.parse_date("Tue, 29 Feb 2000 00:00:00 GMT")) -- a leap year
    assert.are.equal(253402300799, http.parse_date("Fri, 31 Dec 9999 23:59:59 GMT"))
    assert.are.equal(1483228799, http.parse_date("Sat, 31 Dec 2016 23:59:60 GMT")) -- a leap second
    for _, t in ipairs { 0, 784111777, os.time(), 253402300799, -62167219200 } do
      assert.are.equal(t, http.parse_date(http.date(t)))
    end
    for _ = 1, 2000 do -- any second of the years 0 to 9999 reads back as written
      local t = math.random(-62167219200, 253402300799)
      assert.are.equal(t, http.parse_date(http.date(t)), http.date(t))
    end
  end)

  it("put a two-digit year not more than 50 years ahead", function()
    local year = os.date("!*t").year
    local function year_of(yy)
      local t = assert(http.parse_date(("Monday, 01-Jan-%02d 00:00:00 GMT"):format(yy)))
      return os.date("!*t", t).year
    end
    assert.are.equal(year, year_of(year % 100))
    assert.are.equal(year + 50, year_of((year + 50) % 100))
    assert.are.equal(year - 49, year_of((year + 51) % 100))
  end)

  for _, case in ipairs {
    { "", "expected a day name such as 'Sun' or 'Sunday' at byte 1" },
    { "Sun, 6 Nov 1994 08:49:37 GMT", "expected a day (2 digits) at byte 6" },
    { "Sun, 06 nov 1994 08:49:37 GMT", "expected a month name such as 'Nov' at byte 9" },
    { "Sun, 06 Nov 94 08:49:37 GMT", "expected a year (4 digits) at byte 13" },
    { "Sun, 06 Nov 1994 8:49:37 GMT", "expected an hour (2 digits) at byte 18" },
    { "Sun, 06 Nov 1994 08-49:37 GMT", "expected ':' after the hour at byte 20" },
    { "Sun, 06 Nov 1994 08:4:37 GMT", "expected minutes (2 digits) at byte 21" },
    { "Sun, 06 Nov 1994 08:49.37 GMT", "expected ':' after the minutes at byte 23" },
    { "Sun, 06 Nov 1994 08:49:3 GMT", "expected seconds (2 digits) at byte 24" },
    { "Sun, 06 Nov 1994 08:49:37 UTC", "expected ' GMT' after the time at byte 26" },
    { "Sun, 06 Nov 1994 08:49:37 GMT ", "expected the end of the date at byte 30" },
    { "Sun,06 Nov 1994 08:49:37 GMT", "expected ', ' or a space after the day name at byte 4" },
    { "Sunday, 06 Nov 94 08:49:37 GMT", "expected '-' after the day at byte 11" },
    { "Sunday, 06-Nov-1994 08:49:37 GMT", "expected a space after the year at byte 18" },
    { "Sunday 06-Nov-94 08:49:37 GMT", "expected ', ' after the day name at byte 7" },
    { "Sun Nov 6 08:49:37 1994", "expected a day (a space and 1 digit, or 2 digits) at byte 9" },
    { "Sun Nov  6 08:49:37 94", "expected a year (4 digits) at byte 21" },
    { "Sun Nov  6 08:49:37 GMT 1994", "expected a year (4 digits) at byte 21" },
    { "Fri, 31 Feb 2023 00:00:00 GMT", "no such day in that month (2023-02-31 00:00:00)" },
    { "Sat, 29 Feb 1900 00:00:00 GMT", "no such day in that month (1900-02-29 00:00:00)" },
    { "Sun, 00 Nov 1994 08:49:37 GMT", "no such day in that month" },
    { "Sun, 06 Nov 1994 24:00:00 GMT", "an hour past 23" },
    { "Sun, 06 Nov 1994 08:60:00 GMT", "minutes past 59" },
    { "Sun, 06 Nov 1994 08:49:61 GMT", "seconds past 60" },
  } do
    it("refuses " .. ("%q"):format(case[1]) .. ": " .. case[2], function()
      local t, err = http.parse_date(case[1])
      assert.is_nil(t)
      assert.are.equal("string", type(err))
      assert.truthy(err:find("http.parse_date: " .. case[2], 1, true), err)
    end)
  end

  it("raises for a date that is not a string", function()
    H.raises({ "http.parse_date: bad argument #1 (text): expected a string, got no value" }, http.parse_date)
    H.raises({ "http.parse_date: bad argument #1 (text): expected a string, got table" }, http.parse_date, {})
  end)

  it("are in a module with no options at all", function()
    xcs.run(function()
      local code, out = H.run("spec/fixtures/lib/http_module.lua")
      assert.are.equal(0, code, out)
      assert.truthy(out:find("http_module: GET /x 1.1 Thu, 01 Jan 1970 00:00:00 GMT OK 100", 1, true), out)
    end, { timeout = 30 }) -- xcshost under valgrind on a loaded machine is slow to start
  end)
end)
