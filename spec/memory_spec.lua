-- memory_spec.lua: limits() tells a module its limits and usage;
-- on_memory(fraction, fn) tells it before its memory runs out, so a cache
-- sheds instead of failing; collectgarbage may switch the collector's mode.
local xcs = require "xcs"
local H = require "helpers"

describe("memory", function()
  before_each(function() xcs.configure { memory_limit = 16 } end)

  it("a cache told by on_memory sheds and keeps running under its limit", function()
    local logs, status, err = H.run_module("spec/fixtures/tasks_memory_pressure.lua")
    assert.are.equal("concluded", status, err)
    local text = table.concat(logs, "\n")
    assert.truthy(H.find_line(logs, "limit\t16777216\tcpu\t10.0"), text)
    -- What a call reads may be under the mark (the collector can run
    -- between the crossing and the call), but they come while it grows.
    local highest = 0
    for _, line in ipairs(logs) do
      highest = math.max(highest, tonumber(line:match("^told at (%d+) of 16777216 bytes$")) or 0)
    end
    assert.is_true(highest >= 8 << 20, text) -- past half of it
    local told = tonumber(H.match_line(logs, "^told\t(%d+)\tsurvived\ttrue$"))
    assert.is_true(told >= 2, text) -- once per crossing, after it fell back
    assert.truthy(H.find_line(logs, "incremental\tgenerational"), text)
  end)

  it("without on_memory the same cache fails the module on its limit", function()
    local logs, status, err = H.run_module("spec/fixtures/tasks_memory_pressure.lua",
      { deaf = true }, nil)
    assert.are.equal("failed", status)
    assert.matches("not enough memory", err)
    assert.is_nil(H.find_line(logs, "told at"))
  end)

  it("a class made on first use counts against the limit and fails cleanly at it", function()
    xcs.configure { memory_limit = 1 }
    local logs, status, err = H.run_module("spec/fixtures/memory_lazy_class.lua")
    local text = table.concat(logs, "\n")
    assert.are.equal("concluded", status, tostring(err) .. "\n" .. text)
    for _, what in ipairs { "udp", "queue", "task" } do
      local failed = tonumber(H.match_line(logs, "^" .. what .. "\tfailed\t(%d+)\tthen opened$"))
      assert.is_true(failed and failed > 0, text)
    end
    assert.truthy(H.find_line(logs, "udp port\tinteger\tsetoption\ttrue"), text)
    assert.truthy(text:find("named\tbad argument #2 to 'udp.join'", 1, true), text)
    assert.truthy(H.find_line(logs, "queue len\t1\t1"), text)
    assert.truthy(H.find_line(logs, "task\ttrue\tdone"), text)
  end)

  it("limits() gives the limits and usage; misuse of on_memory raises", function()
    xcs.run(function()
      local l = xcs.limits()
      assert.are.equal(0, l.memory_limit) -- the spec's own state has none
      assert.are.equal("number", math.type(l.memory) and "number")
      for _, k in ipairs { "memory_peak", "sockets", "max_sockets", "connections",
        "max_connections", "cpu_limit" } do
        assert.is_not_nil(l[k], k)
      end
      H.raises({ "on_memory: this module has no memory limit to pass (--memory-limit 0)" },
        xcs.on_memory, 0.5, print)
      H.raises({ "on_memory: bad argument #1 (fraction): expected a number above 0 and at " ..
        "most 1, got 2" }, xcs.on_memory, 2, print)
      H.raises({ "on_memory: bad argument #2 (fn): expected a function, got no value" },
        xcs.on_memory, 0.5)
    end)
  end)
end)
