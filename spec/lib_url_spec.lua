-- lib_url_spec.lua: url.escape, unescape, parse_query, build_query, parse (bindings/lib_url.c).
local xcs = require "xcs"
local H = require "helpers"
local url = xcs.url

describe("url.escape and url.unescape", function()
  it("escape every byte but the unreserved ones, and back", function()
    assert.are.equal("AZaz09-._~", url.escape("AZaz09-._~"))
    assert.are.equal("a%20b%2Fc%3F%26%3D%2B%25%C3%A9%00", url.escape("a b/c?&=+%é\0"))
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    assert.are.equal(all, url.unescape(url.escape(all)))
  end)

  it("unescape either case, and '+' only when asked", function()
    assert.are.equal("a b/é", url.unescape("a%20b%2f%C3%a9"))
    assert.are.equal("a+b", url.unescape("a+b"))
    assert.are.equal("a b", url.unescape("a+b", true))
  end)

  for _, bad in ipairs { { "%", 1 }, { "ab%2", 3 }, { "%zz", 1 }, { "x%g0", 2 } } do
    it(("refuses %q with a message"):format(bad[1]), function()
      local v, err = url.unescape(bad[1])
      assert.is_nil(v)
      assert.are.equal("url.unescape: a '%' not followed by two hex digits at byte " .. bad[2], err)
    end)
  end
end)

describe("url.parse_query", function()
  it("decodes names and values, repeats into lists, bare names as true", function()
    local q = url.parse_query("?a=1&b=x+y%21&a=2&&c&a=3&e=&=v")
    assert.are.same({ "1", "2", "3" }, q.a)
    assert.are.equal("x y!", q.b)
    assert.is_true(q.c)
    assert.are.equal("", q.e)
    assert.are.equal("v", q[""])
    assert.are.same({}, url.parse_query(""))
  end)

  it("refuses a bad escape, and more arguments than max", function()
    local v, err = url.parse_query("a=1&b=%zz")
    assert.is_nil(v)
    assert.are.equal("url.parse_query: a '%' not followed by two hex digits at byte 7", err)
    v, err = url.parse_query(("x=1&"):rep(1001))
    assert.is_nil(v)
    assert.are.equal("url.parse_query: more than 1000 arguments (max)", err)
    assert.are.equal(1000, #url.parse_query(("x=1&"):rep(1000)).x)
    assert.is_table(url.parse_query(("x=1&"):rep(101), 101))
    v, err = url.parse_query("a&b&c", 2)
    assert.is_nil(v)
  end)
end)

describe("url.build_query", function()
  it("sorts names, escapes, repeats lists, leaves out false", function()
    assert.are.equal("a=1&a=x%20y&b&c=3&d%26=%3D", url.build_query { c = 3, a = { 1, "x y" }, b = true,
      ["d&"] = "=", e = false })
    assert.are.equal("", url.build_query {})
    local q = { k = { "1", "2" }, s = "a+b&c" }
    assert.are.same(q, url.parse_query(url.build_query(q)))
  end)

  it("raises for values it cannot write", function()
    H.raises({ "url.build_query: argument 'x' is a table (expected a string, a number, true, or a list of those)" },
      url.build_query, { x = { {} } })
    H.raises({ "url.build_query: a name is a number (expected strings)" }, url.build_query, { 1 })
    H.raises({ "url.build_query: bad argument #1 (args): expected a table, got string" }, url.build_query, "a=1")
  end)
end)

describe("url.parse", function()
  it("splits a URL into its parts", function()
    assert.are.same({ scheme = "https", user = "u", password = "p", host = "example.com", port = 8443,
      path = "/a/b%20c", query = "x=1&y", fragment = "top" },
      url.parse("HTTPS://u:p@example.com:8443/a/b%20c?x=1&y#top"))
    assert.are.same({ scheme = "http", host = "::1", port = 80, path = "/" }, url.parse("http://[::1]:80/"))
    assert.are.same({ scheme = "http", host = "h", path = "" }, url.parse("http://h:"))
    assert.are.same({ path = "/only/path", query = "q" }, url.parse("/only/path?q"))
    assert.are.same({ scheme = "mailto", path = "a@b.c" }, url.parse("mailto:a@b.c"))
    assert.are.same({ scheme = "ws", host = "h", path = "/", user = "" }, url.parse("ws://@h/"))
  end)

  for _, case in ipairs {
    { "http://h /", "a space or control character at byte 9" },
    { "http://[::1/", "an IPv6 host without its ']' at byte 8" },
    { "http://[::1]x/", "text after an IPv6 host's ']' at byte 13" },
    { "http://h:8x/", "a port that is not a number at byte 11" },
    { "http://h:65536/", "a port over 65535 at byte 10" },
    { "http://a[b/", "a character a host cannot hold at byte 9" },
  } do
    it(("refuses %q with a message"):format(case[1]), function()
      local v, err = url.parse(case[1])
      assert.is_nil(v)
      assert.are.equal("url.parse: " .. case[2], err)
    end)
  end

  it("raises for a URL that is not a string", function()
    H.raises({ "url.parse: bad argument #1 (url): expected a string, got nil" }, url.parse, nil)
    H.raises({ "url.escape: bad argument #1 (s): expected a string, got boolean" }, url.escape, true)
    H.raises({ "url.unescape: bad argument #1 (s)" }, url.unescape, {})
    H.raises({ "url.parse_query: bad argument #2 (max): expected a positive count, got 0" },
      url.parse_query, "", 0)
  end)
end)
