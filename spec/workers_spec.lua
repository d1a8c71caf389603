-- workers_spec.lua: `xcshost --workers N`, end to end: a supervisor and its
-- worker processes sharing one port, restarts, a rolling reload under
-- traffic, a graceful stop of all, the control socket, and no process left
-- behind (looked up in /proc) after any of these.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local FIXTURE = "spec/fixtures/workers_serve.lua"

-- Whether process pid exists and is not a zombie.
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  local state = stat:match("%) (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

-- Every worker pid p's log names so far ("worker N started (pid P)").
local function worker_pids(p)
  local pids = {}
  for n, pid in p:output():gmatch("worker (%d+) started %(pid (%d+)%)") do
    pids[#pids + 1] = { n = tonumber(n), pid = tonumber(pid) }
  end
  return pids
end

-- Asserts that none of p's workers is left, waiting up to 10 s for them to go.
local function assert_no_orphans(p)
  local pids = worker_pids(p)
  assert.is_true(#pids > 0, "no worker was ever started")
  for _ = 1, 200 do
    local left = 0
    for _, w in ipairs(pids) do if alive(w.pid) then left = left + 1 end end
    if left == 0 then return end
    xcs.sleep(0.05)
  end
  error("workers still running:\n" .. p:output())
end

-- Kills p's first worker with SIGKILL and waits until the supervisor saw it:
-- { n =, pid = } of that worker.
local function kill_first(p)
  local first = worker_pids(p)[1]
  assert(os.execute("kill -KILL " .. first.pid))
  H.expect(p, "worker " .. first.n .. " %(pid " .. first.pid .. "%) was killed by signal 9")
  return first
end

-- Stops p with SIGTERM: it must exit 0 and leave no worker behind.
local function stop_all(p)
  p:kill("TERM")
  assert.are.equal(0, p:wait(10))
  assert_no_orphans(p)
end

-- Starts `xcshost --workers N WORDS...` (options, the fixture and its
-- arguments) and waits until all N serve: the process and the port.
local function start(n, ...)
  local p = H.start("--workers", tostring(n), ...)
  for _ = 1, n do H.expect(p, "xcshost: worker %d+ %(pid %d+%) is serving", 10) end
  local port = tonumber(p:output():match("serves v%d on port (%d+)"))
  assert(port, p:output())
  return p, port
end

-- One request on a new connection to a TCP port or a UNIX path: version,
-- worker number, count (or nil, why).
local function ask(port, line)
  local c, err
  if type(port) == "string" then
    c, err = S.connect(port, "UNIX")
  else
    c, err = S.connect("127.0.0.1", port)
  end
  if not c then return nil, err end
  c:write((line or "who") .. "\n")
  local reply, rerr = c:read("*l")
  c:close()
  if not reply then return nil, rerr end
  local version, n, count = reply:match("^(v%d) (%d+) (%d+)$")
  return version, tonumber(n), tonumber(count)
end

-- Asks until every worker of count answered (with version, if given; bounded):
-- which version each gave last.
local function reach_all(port, count, version)
  local seen, got = {}, 0
  for _ = 1, 400 do
    local v, n = assert(ask(port))
    if not seen[n] and (version == nil or v == version) then got = got + 1 end
    if version == nil or v == version then seen[n] = v end
    if got == count then return seen end
  end
  error("only " .. got .. " of " .. count .. " workers answered")
end

describe("xcshost --workers", function()
  it("spreads connections over every worker, which knows its number", function()
    xcs.run(function()
      local p, port = start(2, FIXTURE)
      -- Each worker says "serving" once its modules' first steps ran.
      assert.matches("\n%[w1%] workers_serve: worker 1 of 2 serves v1", p:output())
      assert.matches("\n%[w2%] workers_serve: worker 2 of 2 serves v1", p:output())
      local seen = reach_all(port, 2)
      assert.are.same({ "v1", "v1" }, seen)
      local _, _, count = ask(port)
      assert.are.equal(2, count)
      stop_all(p)
    end)
  end)

  it("replaces a worker killed with SIGKILL while the others serve", function()
    xcs.run(function()
      local p, port = start(2, FIXTURE)
      local first = kill_first(p)
      H.expect(p, "worker " .. first.n .. ": restarting it in 0%.1 s %(restart 1%)")
      -- The other worker serves meanwhile, from the same accept queue.
      assert.are.equal("v1", (ask(port)))
      H.expect(p, "worker " .. first.n .. " started %(pid %d+%)")
      H.expect(p, "worker " .. first.n .. " %(pid %d+%) is serving", 10)
      reach_all(port, 2)
      assert.is_false(alive(first.pid))
      stop_all(p)
    end)
  end)

  it("reloads the workers one at a time under traffic, refusing nothing", function()
    xcs.run(function()
      local dir = H.tmpdir()
      local path = dir .. "/workers_serve.lua"
      local source = assert(io.open(FIXTURE)):read("a")
      H.write(path, source)
      local p, port = start(2, path)
      local stop, made, failed = false, 0, {}
      local done = false
      xcs.spawn(function()
        for _ = 1, 100000 do
          if stop then break end
          local version, err = ask(port)
          made = made + 1
          if not version then failed[#failed + 1] = tostring(err) end
        end
        done = true
      end)
      xcs.sleep(0.1)
      H.write(path, (source:gsub('"v1"', '"v2"')))
      p:kill("HUP")
      H.expect(p, "reload done: every serving worker runs the new version", 10)
      xcs.sleep(0.1)
      stop = true
      for _ = 1, 200 do
        if done then break end
        xcs.sleep(0.02)
      end
      assert.is_true(made > 0)
      assert.are.same({}, failed)
      assert.are.same({ "v2", "v2" }, reach_all(port, 2, "v2"))

      -- A version that does not compile leaves every worker on the running one.
      H.write(path, "this is not Lua(\n")
      p:kill("HUP")
      H.expect(p, "reload failed in worker 1, which stays on the running version, as do the others")
      assert.are.same({ "v2", "v2" }, reach_all(port, 2))
      stop_all(p)
      H.rmdir(dir)
    end)
  end)

  it("frees a port once every worker closed it", function()
    xcs.run(function()
      local p, port = start(2, FIXTURE, "close_after=0.3")
      for _ = 1, 2 do H.expect(p, "^%[w%d%] workers_serve: closed 127%.0%.0%.1:" .. port) end
      local code
      for _ = 1, 100 do -- each worker looks at what it holds once a second
        local c, _, err = S.connect("127.0.0.1", port)
        code = err
        if c then c:close() end -- queued, with nobody to accept it yet
        if code == "ECONNREFUSED" then break end
        xcs.sleep(0.05)
      end
      assert.are.equal("ECONNREFUSED", code)
      stop_all(p)
    end)
  end)

  it("gives each UDP peer one worker, and keeps a killed worker's datagrams for its successor", function()
    xcs.run(function()
      local p = H.start("--workers", "2", "spec/fixtures/workers_udp.lua")
      for _ = 1, 2 do H.expect(p, "xcshost: worker %d+ %(pid %d+%) is serving", 10) end
      local port = tonumber(p:output():match("answers UDP on port (%d+)"))
      -- Peers (client sockets) until both workers answered; each keeps its worker.
      local peers, by = {}, {}
      for _ = 1, 64 do
        local c = assert(S.connect("127.0.0.1", port, "UDP"))
        c:write("who")
        local n = tonumber((assert(c:read(5))))
        peers[#peers + 1] = { c = c, n = n }
        by[n] = by[n] or c
        if by[1] and by[2] and #peers >= 8 then break end
      end
      assert(by[1] and by[2], "one worker got every peer")
      for _, peer in ipairs(peers) do
        for _ = 1, 3 do
          peer.c:write("again")
          assert.are.equal(tostring(peer.n), (peer.c:read(5)))
        end
      end
      -- Worker 1 dies; what its peers send meanwhile waits in its socket.
      local first = kill_first(p)
      by[first.n]:write("while down")
      assert.are.equal(tostring(first.n), (by[first.n]:read(10)))
      assert.matches("worker " .. first.n .. " %(pid %d+%) is serving", p:output())
      for _, peer in ipairs(peers) do peer.c:close() end
      stop_all(p)
    end)
  end)

  it("shares a UNIX socket, whose file goes once no worker holds it", function()
    xcs.run(function()
      local dir = H.tmpdir()
      local path = dir .. "/app.sock"
      xcs.configure { unix_dir = dir }
      local p = H.start("--workers", "2", "--unix-dir", dir, FIXTURE, "path=app.sock")
      for _ = 1, 2 do H.expect(p, "xcshost: worker %d+ %(pid %d+%) is serving", 10) end
      assert.are.same({ "v1", "v1" }, reach_all(path, 2))
      -- The worker that made the file dies: the file and the socket stay.
      local first = kill_first(p)
      H.expect(p, "worker " .. first.n .. " %(pid %d+%) is serving", 10)
      assert.is_true(H.is_socket(path))
      reach_all(path, 2)
      stop_all(p)
      assert.is_false(H.exists(path))
      xcs.configure { unix_dir = false }
      H.rmdir(dir)
    end)
  end)

  it("refuses a port this worker holds already, as one process does", function()
    xcs.run(function()
      local port = H.closed_port()
      local dir = H.tmpdir()
      local twice = dir .. "/twice.lua"
      H.write(twice, ("local a = assert(socket.listen(%d))\n"):format(port) ..
        ("log(\"second: %%s\", select(3, socket.listen(%d)))\n"):format(port))
      local q = H.start("--workers", "2", twice)
      for _ = 1, 2 do H.expect(q, "second: EADDRINUSE", 10) end
      stop_all(q)
      H.rmdir(dir)
    end)
  end)

  it("drains every worker on SIGTERM and exits with one status", function()
    xcs.run(function()
      local p, port = start(2, FIXTURE)
      -- One connection held open to each worker.
      local conns = {}
      for _ = 1, 400 do
        local c = assert(S.connect("127.0.0.1", port))
        c:write("who\n")
        local n = tonumber(assert(c:read("*l")):match("^v1 (%d+)"))
        if conns[n] then c:close() else conns[n] = c end
        if conns[1] and conns[2] then break end
      end
      assert(conns[1] and conns[2], "did not reach both workers")
      for _, c in pairs(conns) do c:write("slow\n") end
      p:kill("TERM")
      for n, c in pairs(conns) do
        assert.are.equal("v1 " .. n .. " 2", c:read("*l")) -- in flight: finished
        c:close()
      end
      assert.are.equal(0, p:wait(10))
      assert.matches("stopping on SIGTERM: stopping every worker", p:output())
      assert.matches("every worker has ended: exit status 0", p:output())
      assert_no_orphans(p)
    end)
  end)

  it("leaves no worker behind when the supervisor is killed with SIGKILL", function()
    xcs.run(function()
      local p = start(2, FIXTURE)
      p:kill("KILL")
      local _, signal = p:wait(10)
      assert.are.equal(9, signal)
      assert_no_orphans(p)
    end)
  end)

  it("answers ctl status, reload and stop for every worker", function()
    xcs.run(function()
      local dir = H.tmpdir()
      local ctl = dir .. "/ctl"
      local p, port = start(2, "--control", ctl, FIXTURE)
      local c = assert(S.connect("127.0.0.1", port)) -- one connection, counted
      c:write("who\n")
      assert(c:read("*l"))
      local code, out = H.run("ctl", ctl, "status")
      assert.are.equal(0, code, out)
      assert.matches("supervisor pid %d+, 2 workers %(2 serving%)", out)
      for n = 1, 2 do
        assert.matches("worker " .. n .. ": pid %d+, up %d+ s, restarts 0, connections %d+, " ..
          "memory %d+ KiB", out)
      end
      local _, modules = out:gsub("\n  workers_serve running", "")
      assert.are.equal(2, modules, out)
      local total = 0
      for k in out:gmatch("connections (%d+)") do total = total + tonumber(k) end
      assert.are.equal(1, total, out)
      c:close()

      code, out = H.run("ctl", ctl, "reload")
      assert.are.equal(0, code, out)
      assert.are.equal("worker 1: reloaded\nworker 2: reloaded\n", out)
      code, out = H.run("ctl", ctl, "reload", "nosuch")
      assert.are.equal(1, code, out)
      assert.matches("^error: reload failed in worker 1.*no running module named 'nosuch'", out)

      code, out = H.run("ctl", ctl, "stop")
      assert.are.equal(0, code, out)
      assert.are.equal("stopping 2 workers\n", out)
      assert.are.equal(0, p:wait(10))
      assert_no_orphans(p)
      H.rmdir(dir)
    end)
  end)

  it("exits 2 when the modules cannot be loaded, leaving no worker", function()
    xcs.run(function()
      local code, out = H.run("--workers", "2", "spec/fixtures/no_such_module.lua")
      assert.are.equal(2, code, out)
      assert.matches("could not start its modules: stopping", out)
      for _, w in ipairs(worker_pids({ output = function() return out end })) do
        assert.is_false(alive(w.pid))
      end
    end)
  end)

  it("takes auto as one worker per usable CPU, and rejects a bad count", function()
    xcs.run(function()
      local cpus = tonumber(io.popen("nproc"):read("l"))
      local p = H.start("--workers", "auto", FIXTURE)
      H.expect(p, "starting " .. cpus .. " worker")
      stop_all(p)
      for _, bad in ipairs { "0", "-1", "two", "1.5", "100000" } do
        local code, out = H.run("--workers", bad, FIXTURE)
        assert.are.equal(2, code)
        assert.matches("bad value '" .. H.plain(bad) .. "' for option %-%-workers", out)
      end
    end)
  end)
end)

describe("worker()", function()
  it("is 1, 1 in a host started with no options", function()
    xcs.run(function()
      local p = H.start(FIXTURE)
      H.expect(p, "^workers_serve: worker 1 of 1 serves v1")
      p:kill("TERM")
      assert.are.equal(0, p:wait(10))
    end)
  end)

  it("is 1, 1 in the test host", function()
    assert.are.same({ 1, 1 }, { xcs.worker() })
  end)
end)
