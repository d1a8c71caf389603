-- lib_codec_spec.lua: base64 and hex (bindings/lib_codec.c), and wallclock (bindings/lib.c).
local xcs = require "xcs"
local H = require "helpers"
local base64, hex = xcs.base64, xcs.hex

describe("base64", function()
  it("encodes and decodes RFC 4648's test vectors", function()
    for plain, coded in pairs { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" } do
      assert.are.equal(coded, base64.encode(plain))
      assert.are.equal(plain, base64.decode(coded))
    end
  end)

  it("round-trips every byte, in both alphabets", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    for n = 0, 5 do
      local s = all:sub(1, 250 + n)
      assert.are.equal(s, base64.decode(base64.encode(s)))
      assert.are.equal(s, base64.urldecode(base64.urlencode(s)))
    end
    assert.are.equal("-_8", base64.urlencode("\251\255"))
    assert.are.equal("+/8=", base64.encode("\251\255"))
    assert.are.equal("\251\255", base64.urldecode("-_8="))  -- padding is taken too
  end)

  for _, case in ipairs {
    { base64.decode, "Zm9", "base64.decode: the text ends without its padding ('=') at byte 4" },
    { base64.decode, "Zm9v=", "base64.decode: padding ('=') where the text has no 4-character end" },
    { base64.urldecode, "Zm9vZ", "base64.urldecode: a lone character where a group needs at least two at byte 5" },
    { base64.decode, "Z===", "base64.decode: '=' at byte 2 is not in the base64 alphabet" },
    { base64.decode, "Zm9$", "base64.decode: '$' at byte 4 is not in the base64 alphabet" },
    { base64.decode, "Zm 9", "base64.decode: byte 0x20 at byte 3 is not in the base64 alphabet" },
    { base64.decode, "Zh==", "base64.decode: non-zero bits after the last byte at byte 2" },
    { base64.decode, "-_8=", "'-' at byte 1 is not in the base64 alphabet" },
    { base64.urldecode, "+/8", "base64.urldecode: '+' at byte 1 is not in the URL-safe base64 alphabet" },
  } do
    it(("refuses %q with a message"):format(case[2]), function()
      local v, err = case[1](case[2])
      assert.is_nil(v)
      assert.truthy(err:find(case[3], 1, true), err)
    end)
  end
end)

describe("hex", function()
  it("encodes lower case and decodes either case", function()
    assert.are.equal("00ff7f41", hex.encode("\0\255\127A"))
    assert.are.equal("\0\255\127A", hex.decode("00FF7f41"))
    assert.are.equal("", hex.decode(""))
  end)

  it("refuses odd lengths and non-digits with a message", function()
    local v, err = hex.decode("abc")
    assert.is_nil(v)
    assert.are.equal("hex.decode: an odd number of digits: a lone digit at byte 3", err)
    v, err = hex.decode("0x41")
    assert.is_nil(v)
    assert.are.equal("hex.decode: not a hex digit at byte 2", err)
  end)
end)

describe("codec misuse", function()
  it("raises naming the function and argument", function()
    for name, f in pairs { ["base64.encode"] = base64.encode, ["base64.decode"] = base64.decode,
      ["base64.urlencode"] = base64.urlencode, ["base64.urldecode"] = base64.urldecode,
      ["hex.encode"] = hex.encode, ["hex.decode"] = hex.decode } do
      H.raises({ name .. ": bad argument #1 (", "): expected a string, got table" }, f, {})
      H.raises({ name .. ": bad argument #1 (", "): expected a string, got no value" }, f)
    end
  end)
end)

describe("wallclock", function()
  it("gives milliseconds since 1970 as an integer, in step with os.time", function()
    local ms = xcs.wallclock()
    assert.are.equal("integer", math.type(ms))
    assert.is_true(math.abs(ms // 1000 - os.time()) <= 1)
  end)

  it("is in a module's sandbox with base64, hex and the rest, with no options at all", function()
    xcs.run(function()
      local code, out = H.run("spec/fixtures/lib/codec_module.lua")
      assert.are.equal(0, code, out)
      assert.truthy(out:find("codec_module: Zm9v\t666f6f\tinteger\ttrue", 1, true), out)
    end, { timeout = 30 }) -- xcshost under valgrind on a loaded machine is slow to start
  end)
end)
