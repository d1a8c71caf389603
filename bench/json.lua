-- bench/json.lua: the host's json (bindings/lib_json.c) against Debian's lua-cjson and
-- dkjson, encoding and decoding the same documents in one run.
--
--   lua5.4 bench/json.lua [BUILD_DIR]       (default build; use a Release or RelWithDebInfo build)
--
-- The host's json is reached through the test module `xcs` (xcs.json is the same C code a
-- module's json is). Prints MB/s for each library and each direction, and the ratios of
-- the host's to cjson's and to dkjson's.
local build = arg[1] or "build"
package.cpath = build .. "/?.so;" .. package.cpath
local xcs = require "xcs"
local ok_cjson, cjson = pcall(require, "cjson")
local ok_dk, dkjson = pcall(require, "dkjson")

-- Documents: many small objects (an API's list), one with long strings and escapes, numbers.
local function documents()
  local items = {}
  for i = 1, 2000 do
    items[i] = { id = i, name = "item " .. i, price = i * 1.25, tags = { "a", "b", "c" },
      active = i % 2 == 0, owner = { id = i % 17, email = "user" .. i .. "@example.com" } }
  end
  local text = {}
  for i = 1, 200 do text[i] = ("line %d: \"quoted\" \\ back\tslash é ü 😀\n"):format(i):rep(10) end
  local numbers = {}
  for i = 1, 20000 do numbers[i] = i % 3 == 0 and i / 7 or i * 1000003 end
  return { { "objects", { items = items } }, { "strings", text }, { "numbers", numbers } }
end

local function time(f, arg, seconds)
  local n, t0 = 0, os.clock()
  repeat
    f(arg)
    n = n + 1
  until os.clock() - t0 >= seconds
  return n / (os.clock() - t0)
end

local libs = { { "xcshost", xcs.json.encode, xcs.json.decode } }
if ok_cjson then libs[#libs + 1] = { "cjson", cjson.encode, cjson.decode } end
if ok_dk then libs[#libs + 1] = { "dkjson", dkjson.encode, dkjson.decode } end
if not ok_cjson then print("(lua-cjson is not installed: apt-get install lua-cjson)") end
if not ok_dk then print("(dkjson is not installed: apt-get install lua-dkjson)") end

local SECONDS = tonumber(os.getenv("BENCH_SECONDS")) or 0.5
print(("%-8s %-7s %-8s %10s %10s"):format("document", "op", "library", "MB/s", "host/lib"))
for _, doc in ipairs(documents()) do
  local name, value = doc[1], doc[2]
  local text = xcs.json.encode(value)
  for _, op in ipairs { "encode", "decode" } do
    local host
    for _, lib in ipairs(libs) do
      local f = op == "encode" and lib[2] or lib[3]
      local input = op == "encode" and value or text
      local rate = time(f, input, SECONDS) * #text / 1e6
      host = host or rate
      print(("%-8s %-7s %-8s %10.1f %9.2fx"):format(name, op, lib[1], rate, host / rate))
    end
  end
end
