-- The xcs test module itself: what a spec author relies on.
local xcs = require "xcs"

describe("the xcs test module", function()
  it("m:logs() holds the lines of this load only", function()
    xcs.run(function() assert(xcs.load("examples/echo.lua", { port = 0 })) end)
    local logs, port = xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      return m:logs(), m:port()
    end)
    assert.are.same({ "listening on 127.0.0.1:" .. port .. " (TCP)" }, logs)
  end)

  it("passes an assertion failure inside xcs.run on to busted, message and all", function()
    local ok, err = pcall(xcs.run, function() assert.are.equal(1, 2) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Expected objects to be equal", 1, true))
  end)
end)
