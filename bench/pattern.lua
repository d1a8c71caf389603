-- bench/pattern.lua: the host's bounded pattern matching (bindings/pattern.c)
-- against Lua's own string library, on typical patterns.
--
--   lua5.4 -e 'package.cpath="build-rel/?.so;"..package.cpath' bench/pattern.lua
--
-- Run by lua5.4, this file times each workload with Lua's string library,
-- then loads itself as a module through the `xcs` test module, where the same
-- workloads run with the host's functions, and prints both and the ratio.
-- Use a Release build: Debug is -O0.

-- The same text for every run: log-like lines, key=value pairs, words.
local function corpus()
  local lines = {}
  for i = 1, 2000 do
    lines[i] = ("2024-06-%02d 12:%02d:%02d host%d GET /api/v1/items/%d?user=u%d&page=%d " ..
      "status=%d bytes=%d  agent=\"Mozilla/5.0 (X11; Linux x86_64)\" <b>&amp;</b>")
      :format(i % 28 + 1, i % 60, (i * 7) % 60, i % 9, i * 31, i % 97, i % 5, 200 + i % 3, i * 17)
  end
  return lines
end

local ESCAPES = { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;" }

-- name, function(lines) -> checksum; each runs over every line.
local WORKLOADS = {
  { "find %d+", function(L)
    local n = 0
    for _, l in ipairs(L) do n = n + (string.find(l, "%d+", 20) or 0) end
    return n
  end },
  { "find literal-led", function(L)
    local n = 0
    for _, l in ipairs(L) do n = n + (string.find(l, "status=%d+") or 0) end
    return n
  end },
  { "match key=value", function(L)
    local n = 0
    for _, l in ipairs(L) do
      local k, v = string.match(l, "(%w+)=(%d+)")
      n = n + #k + #v
    end
    return n
  end },
  { "match anchored parse", function(L)
    local n = 0
    for _, l in ipairs(L) do
      local d, t, h, m, p = string.match(l, "^(%S+) (%S+) (%S+) (%u+) ([^%s?]+)")
      n = n + #d + #t + #h + #m + #p
    end
    return n
  end },
  { "match .- backtracking", function(L)
    local n = 0
    for _, l in ipairs(L) do
      local a, b = string.match(l, "^(.-)/(.*)$")
      n = n + #a + #b
    end
    return n
  end },
  { "gmatch words", function(L)
    local n = 0
    for _, l in ipairs(L) do
      for w in string.gmatch(l, "%a+") do n = n + #w end
    end
    return n
  end },
  { "gmatch pairs", function(L)
    local n = 0
    for _, l in ipairs(L) do
      for k, v in string.gmatch(l, "([%w_]+)=([^%s&]+)") do n = n + #k + #v end
    end
    return n
  end },
  { "gsub %s+", function(L)
    local n = 0
    for _, l in ipairs(L) do n = n + #(string.gsub(l, "%s+", " ")) end
    return n
  end },
  { "gsub table", function(L)
    local n = 0
    for _, l in ipairs(L) do n = n + #(string.gsub(l, "[<>&]", ESCAPES)) end
    return n
  end },
  { "gsub function", function(L)
    local n = 0
    for _, l in ipairs(L) do
      n = n + #(string.gsub(l, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
    end
    return n
  end },
  { "gsub %b() %f[%w]", function(L)
    local n = 0
    for _, l in ipairs(L) do n = n + #(string.gsub(l, "%b()", "()")) + #(string.gsub(l, "%f[%w]%w+", "w")) end
    return n
  end },
}

-- Runs every workload `reps` times; returns { {name, seconds, checksum}... }.
local function run(reps)
  local lines = corpus()
  local out = {}
  for i, w in ipairs(WORKLOADS) do
    local best, sum = math.huge, nil
    for _ = 1, 5 do -- best of 5 runs of `reps` passes
      local t0 = os.clock()
      for _ = 1, reps do sum = w[2](lines) end
      best = math.min(best, os.clock() - t0)
    end
    out[i] = { w[1], best, sum }
  end
  return out
end

local REPS = 10

if rawget(_G, "socket") then -- loaded as a module by the driver below
  for _, r in ipairs(run(REPS)) do print(("%s\t%.6f\t%d"):format(r[1], r[2], r[3])) end
  return
end

local xcs = require "xcs"
local lua = run(REPS)
local host = {}
local here = arg and arg[0] or "bench/pattern.lua"
xcs.run(function()
  xcs.configure { cpu_limit = 0 }
  local m = assert(xcs.load(here))
  local status, err = m:wait()
  assert(status == "concluded", err)
  for _, line in ipairs(m:logs()) do
    local name, secs, sum = line:match("^(.-)\t([%d.]+)\t(%d+)$")
    if name then host[name] = { tonumber(secs), tonumber(sum) } end
  end
end, { timeout = 120 })

print(("%-24s %10s %10s %7s"):format("workload", "Lua ms", "host ms", "ratio"))
local tl, th = 0, 0
for _, r in ipairs(lua) do
  local h = assert(host[r[1]], "no result for " .. r[1])
  assert(h[2] == r[3], r[1] .. ": checksums differ")
  tl, th = tl + r[2], th + h[1]
  print(("%-24s %10.2f %10.2f %7.2f"):format(r[1], r[2] * 1e3, h[1] * 1e3, h[1] / r[2]))
end
print(("%-24s %10.2f %10.2f %7.2f"):format("total", tl * 1e3, th * 1e3, th / tl))
