-- lib_crypto_spec.lua: crypto (bindings/lib_crypto.c) against published test vectors.
local xcs = require "xcs"
local H = require "helpers"
local crypto, hex = xcs.crypto, xcs.hex

describe("crypto digests", function()
  it("match FIPS 180's test vectors", function()
    assert.are.equal("a9993e364706816aba3e25717850c26c9cd0d89d", hex.encode(crypto.sha1("abc")))
    assert.are.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", hex.encode(crypto.sha1("")))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      hex.encode(crypto.sha256("abc")))
    assert.are.equal("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" ..
      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
      hex.encode(crypto.sha512("abc")))
    assert.are.equal(20, #crypto.sha1(("x"):rep(1e6)))
  end)
end)

describe("crypto.hmac", function()
  it("matches RFC 4231 and RFC 2202's test vectors", function()
    local key, data = ("\11"):rep(20), "Hi There"
    assert.are.equal("b617318655057264e28bc0b6fb378c8ef146be00", hex.encode(crypto.hmac("sha1", key, data)))
    assert.are.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      hex.encode(crypto.hmac("sha256", key, data)))
    assert.are.equal("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" ..
      "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
      hex.encode(crypto.hmac("sha512", key, data)))
    assert.are.equal("fbdb1d1b18aa6c08324b7d64b71fb76370690e1d", hex.encode(crypto.hmac("sha1", "", "")))
  end)

  it("raises for an unknown algorithm or a missing argument", function()
    H.raises({ 'crypto.hmac: bad argument #1 (algorithm): expected "sha1", "sha256" or "sha512", got "md5"' },
      crypto.hmac, "md5", "k", "d")
    H.raises({ "crypto.hmac: bad argument #3 (data): expected a string, got no value" }, crypto.hmac, "sha1", "k")
  end)
end)

describe("crypto.equal", function()
  it("compares whole strings", function()
    assert.is_true(crypto.equal("", ""))
    assert.is_true(crypto.equal("secret", "secret"))
    assert.is_false(crypto.equal("secret", "secreT"))
    assert.is_false(crypto.equal("secret", "secret2"))
    H.raises({ "crypto.equal: bad argument #2 (b): expected a string, got nil" }, crypto.equal, "a", nil)
  end)
end)

describe("crypto.random", function()
  it("gives n bytes, different each time", function()
    assert.are.equal("", crypto.random(0))
    local a, b = crypto.random(32), crypto.random(32)
    assert.are.equal(32, #a)
    assert.are_not.equal(a, b)
    assert.are.equal(1048576, #crypto.random(1048576))
  end)

  it("raises for a count out of range", function()
    H.raises({ "crypto.random: bad argument #1 (n): expected a count of bytes from 0 to 1048576, got 1048577" },
      crypto.random, 1048577)
    H.raises({ "got -1" }, crypto.random, -1)
    H.raises({ "crypto.random: bad argument #1 (n): expected an integer, got string" }, crypto.random, "x")
  end)

  it("raises for data that is not a string", function()
    for _, name in ipairs { "sha1", "sha256", "sha512" } do
      H.raises({ "crypto." .. name .. ": bad argument #1 (data): expected a string, got table" },
        crypto[name], {})
    end
  end)
end)
