-- reload_spec.lua: replacing a module with a new version while it serves:
-- m:reload() in-process, SIGHUP and the control socket end to end.
local xcs = require "xcs"
local H = require "helpers"

-- A module file in a temporary directory, rewritten for each version.
local function module_file()
  local path = os.tmpname()
  os.remove(path)
  path = path .. "_reload.lua"
  local f = {}
  function f.write(version, extra)
    H.write(path, ([[
local port = tonumber(arg.port)
%s
socket.open(port, "TCP")
while true do
  local data, from = socket.read(port)
  if data ~= "" then socket.write(port, %q .. ":" .. data, from) end
end
]]):format(extra or "", version))
  end
  f.path = path
  f.name = path:match("([^/]+)%.lua$")
  function f.remove() os.remove(path) end
  return f
end

-- The modules here open a port by number (H.closed_port), to be taken
-- over: port 0 would give each version a new one.

describe("reloading a module", function()
  local f
  before_each(function() f = module_file() end)
  after_each(function() f.remove() end)

  it("swaps in the new version on the same port", function()
    xcs.run(function()
      local port = H.closed_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      assert.are.equal("v1:x", H.ask("x", "127.0.0.1", port))
      f.write("v2")
      local m2 = assert(m:reload())
      assert.are.equal("running", m2:status())
      assert.are.equal("v2:x", H.ask("x", "127.0.0.1", port))
      m:wait()
      assert.are.equal("unloaded", m:status())
      assert.are.equal("v2:x", H.ask("x", "127.0.0.1", port))
      assert.is_true(H.has_line(m2:logs(), "took over port " .. port .. " from the running version"))
    end)
  end)

  it("lets the old version serve its clients to their end, then unloads it", function()
    xcs.run(function()
      local port = H.closed_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      local held = assert(xcs.socket.connect("127.0.0.1", port))
      held:write("a")
      assert.are.equal("v1:a", held:read())
      f.write("v2")
      local m2 = assert(m:reload())
      assert.are.equal("v2:x", H.ask("x", "127.0.0.1", port)) -- new clients: v2
      held:write("b") -- a request in flight on the old version is answered
      assert.are.equal("v1:b", held:read())
      assert.is_true(H.has_line(m:logs(), "stopping: serving its 1 connection to their end (up to 5 s)"),
        table.concat(m:logs(), "\n"))
      held:close()
      m:wait() -- its last client gone, it goes
      assert.are.equal("unloaded", m:status())
      assert.are.equal("running", m2:status())
    end)
  end)

  it("refuses no connection attempt made during reloads", function()
    xcs.run(function()
      local port = H.closed_port()
      f.write("v0")
      local m = assert(xcs.load(f.path, { port = port }))
      local refused, answered, tries, done = 0, 0, 0, false
      xcs.spawn(function()
        while not done and tries < 2000 do
          tries = tries + 1
          local reply, _, code = H.ask("x", "127.0.0.1", port)
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
      assert.are.equal("v10:x", H.ask("x", "127.0.0.1", port))
    end, { timeout = 20 })
  end)

  it("keeps the running version when the new one does not compile", function()
    xcs.run(function()
      local port = H.closed_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      f.write("v2", "x = = 1")
      local m2, err = m:reload()
      assert.is_nil(m2)
      assert.matches(f.name .. "%.lua:2: unexpected symbol", err)
      assert.are.equal("running", m:status())
      assert.are.equal("v1:x", H.ask("x", "127.0.0.1", port))
      assert.truthy(H.find_line(m:logs(), "reload failed, the running version stays"))
    end)
  end)

  it("keeps the running version when the new one fails before opening its ports", function()
    xcs.run(function()
      local port = H.closed_port()
      f.write("v1")
      local m = assert(xcs.load(f.path, { port = port }))
      f.write("v2", "error('not today')")
      local m2 = assert(m:reload())
      assert.are.equal("failed", m2:status())
      assert.matches("not today", m2:error())
      assert.are.equal("running", m:status())
      assert.are.equal("v1:x", H.ask("x", "127.0.0.1", port))
    end)
  end)
end)

describe("the running host", function()
  local f
  before_each(function() f = module_file() end)
  after_each(function() f.remove() end)

  it("reloads every module on SIGHUP", function()
    xcs.run(function()
      local port = H.closed_port()
      f.write("v1")
      local p = H.start(f.path, "port=" .. port)
      H.expect(p, "listening on")
      assert.are.equal("v1:x", H.ask("x", "127.0.0.1", port))
      f.write("v2")
      p:kill("HUP")
      H.expect(p, "took over port " .. port)
      assert.are.equal("v2:x", H.ask("x", "127.0.0.1", port))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end)
  end)

  it("answers status, reload and stop on its control socket", function()
    xcs.run(function()
      local port = H.closed_port()
      local ctl = f.path .. ".ctl"
      f.write("v1")
      local p = H.start("--control", ctl, f.path, "port=" .. port)
      H.expect(p, "listening on")
      local code, out = H.run("ctl", ctl, "status")
      assert.are.equal(0, code)
      assert.matches(f.name .. " running", out)
      assert.matches("xcs.listener 127.0.0.1:" .. port .. " %(listening, 0 clients%)", out)
      f.write("v2")
      code, out = H.run("ctl", ctl, "reload", f.name)
      assert.are.equal(0, code)
      assert.are.equal("reloading " .. f.name .. "\n", out)
      H.expect(p, "took over port " .. port)
      assert.are.equal("v2:x", H.ask("x", "127.0.0.1", port))
      code, out = H.run("ctl", ctl, "reload", "nosuchmodule")
      assert.are.equal(1, code)
      assert.matches("no running module named 'nosuchmodule'", out)
      code = H.run("ctl", ctl, "stop")
      assert.are.equal(0, code)
      assert.are.equal(0, p:wait(5))
      assert.is_nil(io.open(ctl)) -- the socket file is gone
      code, out = H.run("ctl", ctl, "status")
      assert.are.equal(2, code)
    end)
  end)
end)
