-- pattern_spec.lua: string.find, match, gmatch and gsub in a module are the
-- host's bounded ones (bindings/pattern.c). They must answer exactly as Lua's
-- own do, and stop with an error where Lua's would block the host.
--
-- The cases (spec/fixtures/pattern_cases.lua: hand-written ones for every
-- feature and error, plus random ones from a fixed seed) run here with Lua's
-- string library and in a module with the host's; results are compared
-- line by line, error messages without their "file:line:" positions.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local P = dofile("spec/fixtures/pattern_cases.lua")

local function unpos(s) return (s:gsub("[%w_/%.%-]*%.lua:%d+: ", "")) end

local function split_tabs(s)
  local t = {}
  for field in (s .. "\t"):gmatch("(.-)\t") do t[#t + 1] = field end
  return t
end

local DIR = "spec/fixtures/"
local SLOW = { timeout = 60 } -- a run of thousands of cases

local TOO_COMPLEX = "pattern too complex for this subject %(over %d+ steps%); " ..
  "the host bounds pattern matching %(see README%)"

describe("pattern matching in a module", function()
  it("gives what Lua's string library gives, case for case", function()
    local cases = P.cases()
    local want = P.run(cases)
    local lines, status, err = H.run_module(DIR .. "pattern_run.lua", nil, SLOW)
    assert.are.equal("concluded", status, err)
    local got, done = {}, nil
    for _, line in ipairs(lines) do
      local fields = split_tabs(line)
      local from = tonumber(fields[1]:match("^results (%d+)$"))
      if from then
        for i = 2, #fields do got[from + i - 2] = fields[i] end
      end
      done = done or line:match("^done %d+$")
    end
    assert.are.equal("done " .. #cases, done)
    assert.are.equal(#cases, #got)
    local diffs = {}
    for i = 1, #cases do
      if unpos(got[i]) ~= unpos(want[i]) then
        diffs[#diffs + 1] = ("case %d: %s\n  Lua:  %s\n  host: %s"):format(i, P.show(cases[i]),
          want[i], got[i])
        if #diffs == 10 then break end
      end
    end
    assert(#diffs == 0, #diffs .. " difference(s):\n" .. table.concat(diffs, "\n"))
    assert.is_true(P.HAND > 1000 and P.RANDOM >= 6000)
  end)

  it("stops a pathological pattern quickly, with an error pcall can catch", function()
    local lines, status, err = H.run_module(DIR .. "pattern_budget.lua", { mode = "report" }, SLOW)
    assert.are.equal("concluded", status, err)
    local seen = {}
    for _, line in ipairs(lines) do
      local name, ok, msg, secs = line:match("^(%w+): (%w+) (.*) in ([%d.]+)$")
      if name then
        seen[name] = true
        if name == "linear" or name == "plain" or name == "anchored" or name == "function" then
          assert.are.equal("true", ok, line)
        else
          assert.are.equal("false", ok, line)
          local fname = ({ method = "find", balance = "find", set = "find",
            replacement = "gsub" })[name] or name
          -- (a position when called from Lua code, none through pcall)
          assert.matches("^[%w/_.]*:?%d*:? ?string%." .. fname .. ": " ..
            TOO_COMPLEX .. "$", msg)
        end
        assert(tonumber(secs) < 2, line) -- about 30 ms each in a release build
      end
    end
    for _, name in ipairs { "find", "method", "match", "gmatch", "gsub", "balance", "set",
      "replacement", "function", "linear", "plain", "anchored" } do
      assert(seen[name], "no report for " .. name .. " in:\n" .. table.concat(lines, "\n"))
    end
    assert.are.equal("still here", lines[#lines - 1])
  end)

  it("fails a module that does not catch the error", function()
    local lines, status, err = H.run_module(DIR .. "pattern_budget.lua", { mode = "raw" }, SLOW)
    assert.are.equal("failed", status)
    assert.matches("string%.find: " .. TOO_COMPLEX, err)
    for _, line in ipairs(lines) do assert.are_not.equal("not reached", line) end
  end)

  it("keeps the host serving a neighbour meanwhile", function()
    xcs.run(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", echo:port()))
      local busy = assert(xcs.load("spec/fixtures/pattern_budget.lua", { mode = "loop", secs = 60 }))
      local slowest = 0
      for i = 1, 5 do
        local t0 = xcs.now()
        c:write("ping " .. i)
        assert.are.equal("ping " .. i, c:read())
        slowest = math.max(slowest, xcs.now() - t0)
        assert.are.equal("running", busy:status()) -- answered while it matches
      end
      -- One bounded call at a time stands between two answers (about 30 ms
      -- each in a release build); without the budget the first would hang.
      assert(slowest < 3, ("a ping took %.3f s"):format(slowest))
      busy:unload()
      assert.are.equal("unloaded", (busy:wait()))
    end, { timeout = 20 })
  end)
end)
