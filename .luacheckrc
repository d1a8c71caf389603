-- luacheck for this repository (CI runs `luacheck examples spec`): module
-- code (examples and spec fixtures) is checked against the sandbox's
-- globals, share/xcshost/luacheckrc, the file module authors get; specs
-- and their helpers run in busted under plain Lua 5.4.
local function module_std()
  local env = {}
  local path = "share/xcshost/luacheckrc"
  local chunk -- luacheck runs under Lua 5.1 on Debian, under 5.4 elsewhere
  if setfenv then
    chunk = setfenv(assert(loadfile(path)), env)
  else
    chunk = assert(loadfile(path, "t", env))
  end
  chunk()
  return env.stds.xcshost
end
stds.xcshost = module_std()
std = "xcshost"
max_line_length = 120
-- A spec takes several results of a call to assert on some of them.
files["spec"] = { std = "lua54+busted", unused_secondaries = false }
files["examples/*_spec.lua"] = { std = "lua54+busted", unused_secondaries = false }
files["spec/fixtures"] = { std = "xcshost", unused_secondaries = false }
-- These fixtures try what the sandbox forbids, and set globals and library
-- fields to show they stay the module's own: the point is the warnings.
for _, f in ipairs { "spec/fixtures/escape_*.lua", "spec/fixtures/sandbox/*.lua",
                     "spec/fixtures/lua_path" } do
  files[f] = { std = "xcshost", ignore = { "11.", "122", "143", "2.." } }
end
-- the fixtures that exist to be broken
exclude_files = { "spec/fixtures/host_syntax.lua", "spec/fixtures/sandbox/sbx_broken.lua" }
