-- lib_json_spec.lua: json.encode, json.decode, json.null, json.array, json.is_array
-- (bindings/lib_json.c), through the test API's copy and inside a module's sandbox.
local xcs = require "xcs"
local H = require "helpers"
local json = xcs.json

describe("json.decode", function()
  it("decodes every JSON type", function()
    local v = json.decode(' {"s":"x","i":12,"f":1.5,"e":1e2,"neg":-3,"t":true,"f2":false,' ..
      '"n":null,"a":[1,"2",[3]],"o":{"k":{}}} ')
    assert.are.equal("x", v.s)
    assert.are.equal(12, v.i)
    assert.are.equal("integer", math.type(v.i))
    assert.are.equal(1.5, v.f)
    assert.are.equal("float", math.type(v.e))
    assert.are.equal(100.0, v.e)
    assert.are.equal(-3, v.neg)
    assert.is_true(v.t)
    assert.is_false(v.f2)
    assert.are.equal(json.null, v.n)
    assert.are.same({ 1, "2", { 3 } }, v.a)
    assert.are.same({ k = {} }, v.o)
  end)

  it("tells [] from {} and keeps nulls inside arrays", function()
    local v = json.decode('{"a":[],"o":{},"l":[null,null,3]}')
    assert.is_true(json.is_array(v.a))
    assert.is_false(json.is_array(v.o))
    assert.are.equal(3, #v.l)
    assert.are.equal(json.null, v.l[1])
    assert.are.equal('{"a":[],"l":[null,null,3],"o":{}}', json.encode(v, { sort_keys = true }))
  end)

  it("decodes escapes, surrogate pairs and UTF-8", function()
    assert.are.equal('"\\/\b\f\n\r\t', json.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'))
    assert.are.equal("é😀", json.decode('"\\u00e9\\ud83d\\ude00"'))
    assert.are.equal("é😀", json.decode('"é😀"'))
  end)

  it("takes big integers as floats and a repeated key's last value", function()
    assert.are.equal("float", math.type(json.decode("12345678901234567890")))
    assert.are.equal(math.maxinteger, json.decode(tostring(math.maxinteger)))
    assert.are.equal(2, json.decode('{"k":1,"k":2}').k)
  end)

  for _, case in ipairs {
    { "", "unexpected end of text, expected a value at byte 1 (the end of the text)" },
    { "[1,2", "unexpected end of text in an array at byte 5" },
    { "[1 2]", "expected ',' or ']' in an array at byte 4 ('2')" },
    { '{"a" 1}', "expected ':' after a key at byte 6 ('1')" },
    { '{a:1}', "expected a string key in an object at byte 2 ('a')" },
    { '{"a":1 "b":2}', "expected ',' or '}' in an object at byte 8" },
    { '{"a":1,}', "expected a string key in an object at byte 8 ('}')" },
    { '{"a":1, ', "unexpected end of text in an object at byte 9 (the end of the text)" },
    { '"abc', "unterminated string at byte 5" },
    { '"a\1"', "control character in a string (escape it) at byte 3 (byte 0x01)" },
    { '"\\x"', "invalid escape in a string at byte 2" },
    { '"\\u12"', "invalid \\u escape at byte 2" },
    { '"\\udc00"', "lone low surrogate in a \\u escape at byte 2" },
    { '"\\ud800x"', "high surrogate not followed by a low one in a \\u escape at byte 2" },
    { '"\255"', "invalid UTF-8 in a string at byte 2 (byte 0xff)" },
    { '"\237\160\128"', "invalid UTF-8 in a string at byte 2" }, -- an encoded surrogate
    { "01", "unexpected text after the value at byte 2 ('1')" },
    { "1.", "expected a digit after '.' at byte 3" },
    { "1e", "expected a digit in the exponent at byte 3" },
    { "-", "expected a value at byte 1 ('-')" },
    { "nul", "expected a value at byte 1 ('n')" },
    { "truex", "unexpected text after the value at byte 5 ('x')" },
    { "NaN", "expected a value at byte 1 ('N')" },
    { "[1] [2]", "unexpected text after the value at byte 5 ('[')" },
  } do
    it("returns nil and a message for " .. ("%q"):format(case[1]), function()
      local v, err = json.decode(case[1])
      assert.is_nil(v)
      assert.are.equal("string", type(err))
      assert.truthy(err:find("json.decode: " .. case[2], 1, true), err)
    end)
  end

  it("bounds nesting with max_depth", function()
    local deep = ("["):rep(1001) .. ("]"):rep(1001)
    local v, err = json.decode(deep)
    assert.is_nil(v)
    assert.truthy(err:find("nested too deep (max_depth) at byte 1001", 1, true), err)
    assert.is_table(json.decode(deep, { max_depth = 1001 }))
    assert.is_nil(json.decode("[[1]]", { max_depth = 1 }))
  end)

  it("bounds the text with max_size, before decoding any of it", function()
    assert.are.same({ 1, 2 }, json.decode("[1,2]", { max_size = 5 }))
    assert.are.same({ nil, "json.decode: the text is 6 bytes, over max_size (5)" },
      { json.decode("[1,2] ", { max_size = 5 }) })
    assert.are.same({ nil, "json.decode: the text is 1 bytes, over max_size (0)" },
      { json.decode("[", { max_size = 0 }) })
  end)

  it("raises on misuse", function()
    H.raises({ "json.decode: bad argument #1 (text): expected a string, got table" }, json.decode, {})
    H.raises({ "json.decode: bad option max_size: expected an integer of 0 or more bytes" },
      json.decode, "1", { max_size = -1 })
    H.raises({ "json.decode: bad option max_size: expected an integer of 0 or more bytes" },
      json.decode, "1", { max_size = "big" })
    H.raises({ "json.decode: bad argument #2 (options): unknown option sort (it takes: max_depth, max_size)" },
      json.decode, "1", { sort = true })
    H.raises({ "json.decode: bad option max_depth: expected an integer from 1 to 100000" },
      json.decode, "1", { max_depth = 0 })
  end)
end)

describe("json.encode", function()
  it("encodes every Lua type JSON has", function()
    assert.are.equal("null", json.encode(nil))
    assert.are.equal("null", json.encode(json.null))
    assert.are.equal("true", json.encode(true))
    assert.are.equal("-12", json.encode(-12))
    assert.are.equal("[0,7,-1,10,-9223372036854775808,9223372036854775807]",
      json.encode { 0, 7, -1, 10, math.mininteger, math.maxinteger })
    assert.are.equal("1.0", json.encode(1.0)) -- a float stays a float
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("1e+300", json.encode(1e300))
    assert.are.equal('"a\\"b\\\\c\\n\\u0001é"', json.encode('a"b\\c\n\1é'))
    assert.are.equal("[1,2,3]", json.encode { 1, 2, 3 })
    assert.are.equal('{"a":{}}', json.encode { a = {} })
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal('[[],{}]', json.encode { json.array {}, {} })
  end)

  it("round-trips what it encodes", function()
    local v = { s = "é\0x", n = { 1, 2.5, -0.125, math.maxinteger, math.mininteger }, t = true,
      e = json.array(), o = {}, z = json.null, deep = { { { "x" } } } }
    assert.are.same(v, json.decode(json.encode(v)))
    for _, f in ipairs { 0.1, 1 / 3, 1e-300, 2 ^ 60 + 0.0, -1.5e-7 } do
      assert.are.equal(f, json.decode(json.encode(f)))
    end
  end)

  it("sorts keys when asked, and indents", function()
    local t = { b = 1, a = { d = 1, c = 2 }, ["A"] = 0 }
    assert.are.equal('{"A":0,"a":{"c":2,"d":1},"b":1}', json.encode(t, { sort_keys = true }))
    assert.are.equal('{\n  "a": [\n    1\n  ],\n  "b": {}\n}',
      json.encode({ a = { 1 }, b = {} }, { sort_keys = true, indent = true }))
    assert.are.equal('[\n\t1\n]', json.encode({ 1 }, { indent = "\t" }))
  end)

  for _, case in ipairs {
    { "a function", function() end, "cannot encode a function value" },
    { "NaN", 0 / 0, "cannot encode NaN (JSON has no NaN or infinity)" },
    { "infinity", math.huge, "cannot encode inf" },
    { "a sparse array", { 1, nil, 3 }, "a table with integer keys that are not 1..n (2 keys, the largest 3)" },
    { "mixed keys", { 1, x = 2 }, "a table mixes keys JSON cannot hold together" },
    { "a float key", { [1.5] = 1 }, "a table mixes keys" },
    { "invalid UTF-8", "a\255", "a string is not valid UTF-8 (byte 2 of 2)" },
  } do
    it("raises for " .. case[1], function()
      H.raises({ "json.encode: " .. case[3] }, json.encode, case[2])
    end)
  end

  it("raises for a cycle and for nesting past max_depth", function()
    local t = {}
    t[1] = t
    H.raises({ "json.encode: tables nested deeper than 1000 levels (a cycle?)" }, json.encode, t)
    H.raises({ "nested deeper than 2 levels" }, json.encode, { { { 1 } } }, { max_depth = 2 })
  end)

  it("raises on bad options", function()
    H.raises({ "json.encode: bad argument #2 (options): unknown option pretty (it takes: " ..
      "sort_keys, indent, max_depth)" }, json.encode, 1, { pretty = true })
    H.raises({ "json.encode: bad option indent: expected spaces or tabs" }, json.encode, 1,
      { indent = "x" })
    H.raises({ "json.encode: bad argument #1 (value): expected a value" }, json.encode)
  end)

  it("reads tables raw: no metamethod runs", function()
    local t = setmetatable({ a = 1 }, { __index = function() error("ran") end,
      __pairs = function() error("ran") end })
    assert.are.equal('{"a":1}', json.encode(t))
  end)
end)

describe("json.array and json.is_array", function()
  it("marks a table, and refuses one with a metatable of its own", function()
    local t = { 1 }
    assert.are.equal(t, json.array(t))
    assert.is_true(json.is_array(t))
    assert.are.equal(t, json.array(t)) -- again: fine
    assert.is_false(json.is_array({}))
    assert.is_false(json.is_array("x"))
    H.raises({ "json.array: bad argument #1 (t): the table has a metatable of its own" }, json.array,
      setmetatable({}, {}))
    H.raises({ "json.array: bad argument #1 (t): expected a table, got number" }, json.array, 1)
  end)

  it("keeps the array metatable protected", function()
    local a = json.decode("[]")
    assert.are.equal("json.array", getmetatable(a))
    H.raises({ "cannot change a protected metatable" }, setmetatable, a, nil)
  end)
end)

describe("json in a module", function()
  it("and the other libraries run under the CPU limit: a loop of calls that never waits is ended", function()
    xcs.run(function()
      local code, out = H.run("--cpu-limit", "0.3", "spec/fixtures/lib/busy_module.lua")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("busy_module: failed: ", 1, true), out)
      assert.truthy(out:find("CPU limit", 1, true), out)
    end, { timeout = 30 })
  end)

  it("is there with no options at all, and counts against the memory limit", function()
    xcs.run(function()
      local code, out = H.run("spec/fixtures/lib/json_module.lua")
      assert.are.equal(0, code, out)
      assert.truthy(out:find('json_module: {"a":[1,2],"b":null}', 1, true), out)
      code, out = H.run("--memory-limit", "8", "spec/fixtures/lib/json_module.lua", "big=1")
      assert.are.equal(0, code, out)
      assert.truthy(out:find("json_module: big decode:\tfalse\tnot enough memory", 1, true), out)
      assert.truthy(out:find("json_module: big encode:\tfalse\tnot enough memory", 1, true), out)
    end, { timeout = 30 }) -- two hosts and 16 MB of tables: slow under valgrind
  end)
end)
