-- methods_spec.lua: every method of every handle type, called with a wrong
-- self, raises "<type> expected" (the checked accessor of Lua's liolib);
-- and the two memory-safety bugs of issue 14 stay fixed: close with a wrong
-- self (SIGSEGV), and a write that cannot wait parking its task anyway.
--
-- The metatables are found in the registry (busted's Lua has debug), so a
-- new handle type or method is covered without touching this spec.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

-- name -> metatable, for every "xcs.*" metatable the xcs module made.
local function metatables()
  local found = {}
  for k, v in pairs(debug.getregistry()) do
    if type(k) == "string" and k:match("^xcs%.") and type(v) == "table" and v.__name == k
        and type(v.__index) == "table" then
      found[k] = v
    end
  end
  return found
end

H.fresh_unix_dir(function() end) -- the UNIX handles need a directory; which one does not matter

describe("a handle method", function()
  it("exists for each handle type a module can hold", function()
    local metas = metatables()
    for _, name in ipairs { "xcs.tcp", "xcs.listener", "xcs.udp", "xcs.unixdgram", "xcs.timer",
                            "xcs.process", "xcs.module" } do
      assert.is_table(metas[name], name)
      assert.is_function(metas[name].__index.close or metas[name].__index.unload, name)
    end
  end)

  it("called with a wrong self raises, naming the type it expected", function()
    xcs.run(function()
      local l = assert(S.listen(0))
      local handles = {
        ["xcs.listener"] = l,
        ["xcs.tcp"] = assert(S.connect("127.0.0.1", l:port())),
        ["xcs.udp"] = assert(S.open(0, "UDP")),
        ["xcs.unixdgram"] = assert(S.open("m.sock", "UNIX-DGRAM")),
      }
      local wrong = { 42, "x", {}, false, print, io.stdout, coroutine.create(print) }
      for _, h in pairs(handles) do wrong[#wrong + 1] = h end
      local n = 0
      for name, mt in pairs(metatables()) do
        for method, f in pairs(mt.__index) do
          for _, bad in ipairs(wrong) do
            if handles[name] ~= bad then
              local ok, err = pcall(f, bad, 1, 2)
              assert.is_false(ok, name .. ":" .. method .. " took " .. tostring(bad))
              assert.truthy(tostring(err):find(name .. " expected", 1, true),
                name .. ":" .. method .. "(" .. tostring(bad) .. "): " .. tostring(err))
              n = n + 1
            end
          end
        end
      end
      assert.is_true(n > 300, n)
      for _, h in pairs(handles) do h:close() end
    end)
  end)

  it("close on a closed handle returns true again", function()
    xcs.run(function()
      local u = assert(S.open(0, "UDP"))
      assert.is_true(u:close())
      assert.is_true(u:close())
      H.raises({ "closed" }, u.port, u)
    end)
  end)
end)

describe("a wait", function()
  it("on what another task already waits on raises busy (found by fuzz_methods)", function()
    xcs.run(function()
      local p = assert(xcs.process { "/bin/sh", "-c", "sleep 0.2" })
      local first
      xcs.spawn(function() first = table.pack(p:wait(5)) end)
      xcs.sleep(0)
      H.raises({ "wait: busy: another task is waiting on this handle" },
        function() return p:wait(5) end)
      p:kill("KILL")
      for _ = 1, 500 do
        if first then break end
        xcs.sleep(0.01)
      end
      assert.are.equal(9, first[2]) -- the first waiter still got its answer
    end)
  end)

  it("with a timeout too large for the clock waits as if it had none", function()
    xcs.run(function()
      local l = assert(S.listen(0))
      local c = assert(S.connect("127.0.0.1", l:port()))
      local s = assert(l:accept())
      local got
      xcs.spawn(function() got = table.pack(s:read(nil, 1e300)) end)
      xcs.sleep(0.01)
      assert.is_nil(got)
      assert.are.equal(2, c:write("hi"))
      for _ = 1, 500 do
        if got then break end
        xcs.sleep(0.001)
      end
      assert.are.equal("hi", got[1])
    end)
  end)
end)

describe("issue 14 regression", function()
  it("close with a wrong self raises in the module; xcshost keeps running", function()
    local code, out = xcs.run(function() return H.run("spec/fixtures/methods_wrong_self.lua") end)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("bad argument #1 to 'udp.close' (xcs.udp expected, got number)", 1, true), out)
    assert.truthy(out:find("xcs.tcp expected, got xcs.udp", 1, true), out)
    assert.truthy(out:find("methods_wrong_self: alive", 1, true), out)
  end)

  it("a TCP write that cannot wait does not park its task", function()
    local code, out = xcs.run(function() return H.run("spec/fixtures/methods_write_nowait.lua") end)
    assert.are.equal(0, code, out)
    local slept = tonumber(out:match("slept ([%d.]+)"))
    assert(slept and slept >= 0.2, out) -- the bug woke it at once; the loop's clock may lag a little
  end)

  it("a UNIX datagram write that cannot wait fails with EAGAIN and parks nothing", function()
    local lines, status, err = H.run_module("spec/fixtures/methods_write_nowait.lua",
      { proto = "UNIX-DGRAM", path = "r.sock" })
    assert.are.equal("concluded", status, err)
    local all = table.concat(lines, "\n")
    assert.truthy(all:find("write:\ttrue\tnil\tEAGAIN: the receiving socket's queue is full", 1, true), all)
    local slept = tonumber(all:match("slept ([%d.]+)"))
    assert(slept and slept >= 0.2, all)
  end)
end)
