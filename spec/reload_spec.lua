-- reload_spec.lua: replacing a module with a new version while it serves:
-- m:reload() in-process, SIGHUP and the control socket end to end.
local xcs = require "xcs"
local S = xcs.socket

local XCSHOST = os.getenv("XCSHOST") or "build/xcshost"

-- A module file in a temporary directory, rewritten for each version.
local function module_file()
  local path = os.tmpname()
  os.remove(path)
  path = path .. "_reload.lua"
  local f = {}
  function f.write(version, extra)
    local out = assert(io.open(path, "w"))
    out:write(([[
local port = tonumber(arg.port)
%s
socket.open(port, "TCP")
while true do
  local data, from = socket.read(port)
  if data ~= "" then socket.write(port, %q .. ":" .. data, from) end
end
]]):format(extra or "", version))
    out:close()
  end
  f.path = path
  f.name = path:match("([^/]+)%.lua$")
  function f.remove() os.remove(path) end
  return f
end

-- A port number that was free a moment ago (modules open ports by number
-- to be taken over; port 0 would give each version a new one).
local function free_port()
  local l = assert(S.open(0, "TCP"))
  local p = l:port()
  S.close(l)
  return p
end

-- Connects, sends "x", returns the reply ("" if the peer closed first).
local function ask(port)
  local c, err, code = S.connect("127.0.0.1", port)
  if not c then return nil, err, code end
  c:write("x")
  local reply = c:read()
  c:close()
  return reply
end

describe("reloading a module", function()
  local f
  before_each(function() f = module_file() end)
  after_each(function() f.remove() end)

  it("swaps in the new version on the same port", function()
    xcs.run(function()
      local port = free_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      assert.are.equal("v1:x", ask(port))
      f.write("v2")
      local m2 = assert(m:reload())
      assert.are.equal("running", m2:status())
      assert.are.equal("v2:x", ask(port))
      m:wait()
      assert.are.equal("unloaded", m:status())
      assert.are.equal("v2:x", ask(port))
      local took = false
      for _, line in ipairs(m2:logs()) do
        took = took or line == "took over port " .. port .. " from the running version"
      end
      assert.is_true(took)
    end)
  end)

  it("refuses no connection attempt made during reloads", function()
    xcs.run(function()
      local port = free_port()
      f.write("v0")
      local m = assert(xcs.load(f.path, { port = port }))
      local refused, answered, tries, done = 0, 0, 0, false
      xcs.spawn(function()
        while not done and tries < 2000 do
          tries = tries + 1
          local reply, _, code = ask(port)
          if code == "ECONNREFUSED" then refused = refused + 1 end
          if reply and reply ~= "" then answered = answered + 1 end
        end
        done = true
      end)
      for v = 1, 10 do
        xcs.sleep(0.01)
        f.write("v" .. v)
        m = assert(m:reload())
      end
      done = true
      assert.are.equal(0, refused)
      assert.is_true(tries >= 10 and answered > 0, tries .. " tries, " .. answered .. " answered")
      assert.are.equal("v10:x", ask(port))
    end, { timeout = 20 })
  end)

  it("keeps the running version when the new one does not compile", function()
    xcs.run(function()
      local port = free_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      f.write("v2", "x = = 1")
      local m2, err = m:reload()
      assert.is_nil(m2)
      assert.matches(f.name .. "%.lua:2: unexpected symbol", err)
      assert.are.equal("running", m:status())
      assert.are.equal("v1:x", ask(port))
      local said = false
      for _, line in ipairs(m:logs()) do
        said = said or line:find("reload failed, the running version stays", 1, true) ~= nil
      end
      assert.is_true(said)
    end)
  end)

  it("keeps the running version when the new one fails before opening its ports", function()
    xcs.run(function()
      local port = free_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      f.write("v2", "error('not today')")
      local m2 = assert(m:reload())
      assert.are.equal("failed", m2:status())
      assert.matches("not today", m2:error())
      assert.are.equal("running", m:status())
      assert.are.equal("v1:x", ask(port))
    end)
  end)
end)

describe("the running host", function()
  local f
  before_each(function() f = module_file() end)
  after_each(function() f.remove() end)

  it("reloads every module on SIGHUP", function()
    xcs.run(function()
      local port = free_port()
      f.write("v1")
      local p = assert(xcs.process { XCSHOST, f.path, "port=" .. port })
      assert(p:expect("listening on", 5))
      assert.are.equal("v1:x", ask(port))
      f.write("v2")
      p:kill("HUP")
      assert(p:expect("took over port " .. port, 5))
      assert.are.equal("v2:x", ask(port))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("answers status, reload and stop on its control socket", function()
    xcs.run(function()
      local port = free_port()
      local ctl = f.path .. ".ctl"
      f.write("v1")
      local p = assert(xcs.process { XCSHOST, "--control", ctl, f.path, "port=" .. port })
      assert(p:expect("listening on", 5))
      local function ctl_run(...)
        local c = assert(xcs.process { XCSHOST, "ctl", ctl, ... })
        local code = c:wait(5)
        return code, c:output()
      end
      local code, out = ctl_run("status")
      assert.are.equal(0, code)
      assert.matches(f.name .. " running", out)
      assert.matches("xcs.listener 127.0.0.1:" .. port .. " %(listening, 0 clients%)", out)
      f.write("v2")
      code, out = ctl_run("reload", f.name)
      assert.are.equal(0, code)
      assert.are.equal("reloading " .. f.name .. "\n", out)
      assert(p:expect("took over port " .. port, 5))
      assert.are.equal("v2:x", ask(port))
      code, out = ctl_run("reload", "nosuchmodule")
      assert.are.equal(1, code)
      assert.matches("no running module named 'nosuchmodule'", out)
      code = ctl_run("stop")
      assert.are.equal(0, code)
      assert.are.equal(0, p:wait(5))
      assert.is_nil(io.open(ctl)) -- the socket file is gone
      code, out = ctl_run("status")
      assert.are.equal(2, code)
    end)
  end)
end)
