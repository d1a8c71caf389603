-- lazy_libs_spec.lua: the module library (json, base64, hex, crypto, url,
-- http, wallclock) is built in a module's env only when first touched
-- (host/sandbox.c); a module sees no difference.
local H = require "helpers"

-- Runs a module made of body; returns its log lines.
local function run(body)
  local dir = H.tmpdir()
  H.write(dir .. "/lazy.lua", body)
  local lines, status, err = H.run_module(dir .. "/lazy.lua")
  H.rmdir(dir)
  assert.are.equal("concluded", status, err)
  return lines
end

local LIBS = { "base64", "crypto", "hex", "http", "json", "url", "wallclock" }

describe("the module library, built when first touched", function()
  it("is all there for pairs, next and rawget before any is touched", function()
    local lines = run [[
      local seen = {}
      for k, v in pairs(_G) do
        if k == "json" or k == "base64" or k == "hex" or k == "crypto" or k == "url" or
          k == "http" or k == "wallclock" then seen[#seen + 1] = k .. "=" .. type(v) end
      end
      table.sort(seen)
      log("pairs " .. table.concat(seen, " "))
      log("rawget " .. type(rawget(_G, "http")) .. " " .. type(rawget(_G, "url")))
      local n, k = 0, next(_G)
      while k ~= nil and n < 1000 do n, k = n + 1, next(_G, k) end
      log("next " .. tostring(k == nil))
    ]]
    local want = {}
    for _, n in ipairs(LIBS) do want[#want + 1] = n .. "=" .. (n == "wallclock" and "function" or "table") end
    assert.truthy(H.has_line(lines, "pairs " .. table.concat(want, " ")), table.concat(lines, "\n"))
    assert.truthy(H.has_line(lines, "rawget table table"), table.concat(lines, "\n"))
    assert.truthy(H.has_line(lines, "next true"), table.concat(lines, "\n"))
  end)

  it("reads the same table each time, and works", function()
    local lines = run [[
      log("same " .. tostring(json == json and hex == _G.hex))
      log("json " .. json.encode({ a = 1 }) .. " hex " .. hex.encode("A") .. " " .. base64.encode("A"))
      log("wallclock " .. math.type(wallclock()))
    ]]
    assert.truthy(H.has_line(lines, "same true"), table.concat(lines, "\n"))
    assert.truthy(H.has_line(lines, 'json {"a":1} hex 41 QQ=='), table.concat(lines, "\n"))
    assert.truthy(H.has_line(lines, "wallclock integer"), table.concat(lines, "\n"))
  end)

  it("gives way to a module's own global of the name, and to nil", function()
    local lines = run [[
      json = "mine"
      log("json " .. json)
      url = nil
      log("url " .. tostring(rawget(_G, "url")) .. " " .. select(2, pcall(function() return url end)))
      rawset(_G, "crypto", 5)
      log("crypto " .. crypto)
      for k, v in pairs(_G) do if k == "json" then log("pairs json " .. v) end end
    ]]
    assert.truthy(H.has_line(lines, "json mine"), table.concat(lines, "\n"))
    assert.truthy(H.find_line(lines, "url nil "), table.concat(lines, "\n"))
    assert.truthy(H.find_line(lines, "undefined global 'url'"), table.concat(lines, "\n"))
    assert.truthy(H.has_line(lines, "crypto 5"), table.concat(lines, "\n"))
    assert.truthy(H.has_line(lines, "pairs json mine"), table.concat(lines, "\n"))
  end)

  it("is there after the module replaces its globals' metatable", function()
    local lines = run [[
      setmetatable(_G, nil)
      log("http " .. type(http) .. " " .. type(rawget(_G, "json")))
    ]]
    assert.truthy(H.has_line(lines, "http table table"), table.concat(lines, "\n"))
  end)

  it("keeps the names of next, rawget and rawset in their messages", function()
    local lines = run [[
      log(select(2, pcall(next, nil)))
      log(select(2, pcall(rawget, 1, 2)))
      log(select(2, pcall(rawset, {}, "k")))
    ]]
    assert.truthy(H.find_line(lines, "bad argument #1 to 'next' (table expected, got nil)"), table.concat(lines, "\n"))
    assert.truthy(H.find_line(lines, "bad argument #1 to 'rawget' (table expected, got number)"),
      table.concat(lines, "\n"))
    assert.truthy(H.find_line(lines, "bad argument #3 to 'rawset' (value expected)"), table.concat(lines, "\n"))
  end)

  it("counts against the module's memory when built", function()
    local lines = run [[
      local before = collectgarbage("count")
      local _ = http.reason, url.escape, json.encode
      log("grew " .. tostring(collectgarbage("count") > before))
    ]]
    assert.truthy(H.has_line(lines, "grew true"), table.concat(lines, "\n"))
  end)
end)
