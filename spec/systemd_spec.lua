-- systemd: Type=notify through $NOTIFY_SOCKET (READY, RELOADING, STOPPING,
-- STATUS), read here from a UNIX datagram socket the spec binds; socket
-- activation through systemd-socket-activate, which passes LISTEN_FDS and
-- LISTEN_FDNAMES: socket.open(port) takes the socket of that port.
-- contrib/xcshost.service and .socket are checked by systemd-analyze and
-- driven as systemd would run them.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 20 * H.SCALE }) end

local dir
H.fresh_unix_dir(function(d) dir = d end)

-- The notify socket: a UNIX datagram socket at dir/notify.sock.
local function notify_socket()
  return assert(S.open("notify.sock", "UNIX-DGRAM")), dir .. "/notify.sock"
end

-- The next notification, as a table of its assignments (raises after 5 s).
local function next_state(n, p)
  local data, err = n:read(5 * H.SCALE)
  assert(data, "no notification (" .. tostring(err) .. "); output:\n" .. (p and p:output() or ""))
  local state = {}
  for k, v in data:gmatch("([A-Z_]+)=([^\n]*)") do state[k] = v end
  return state, data
end

-- Reads notifications until one sets key (20 at most): that one.
local function until_state(n, p, key)
  for _ = 1, 20 do
    local state = next_state(n, p)
    if state[key] then return state end
  end
  error("no notification with " .. key)
end

-- SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1: that one.
local function hup_reload(n, p)
  p:kill("HUP")
  local state = next_state(n, p)
  assert.are.equal("1", state.RELOADING)
  assert.truthy(tonumber(state.MONOTONIC_USEC))
  state = next_state(n, p)
  assert.are.equal("1", state.READY)
  return state
end

local function start(...)
  return assert(xcs.process { ... })
end

-- The contrib unit files, with what a test needs in place of /usr.
local function unit(name) return H.read("contrib/" .. name) end

describe("Type=notify", function()
  it("says READY=1 with a STATUS once the modules started, RELOADING=1 and READY=1 around a reload, " ..
    "STOPPING=1", function()
    run(function()
      local n, path = notify_socket()
      local p = start("env", "NOTIFY_SOCKET=" .. path, H.XCSHOST, "examples/echo.lua", "port=0")
      local state = next_state(n, p)
      assert.are.equal("1", state.READY)
      assert.are.equal("1 module running, 1 socket, 0 connections", state.STATUS)
      local port = tonumber(H.expect(p, "listening on [%d.]+:(%d+)"))
      local c = assert(S.connect("127.0.0.1", port))
      assert.are.equal("1 module running, 1 socket, 1 connection", next_state(n, p).STATUS)
      c:close()
      assert.are.equal("1 module running, 1 socket, 0 connections", next_state(n, p).STATUS)

      hup_reload(n, p)

      p:kill("TERM")
      state = until_state(n, p, "STOPPING")
      assert.are.equal("1", state.STOPPING)
      assert.are.equal("stopping", state.STATUS)
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("says WATCHDOG=1 every half of WATCHDOG_USEC", function()
    run(function()
      local n, path = notify_socket()
      local p = start("env", "NOTIFY_SOCKET=" .. path, "WATCHDOG_USEC=100000", H.XCSHOST,
        "examples/echo.lua", "port=0")
      for _ = 1, 3 do assert.are.equal("1", until_state(n, p, "WATCHDOG").WATCHDOG) end
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("--workers: the supervisor says READY=1 once every worker serves, RELOADING=1 and READY=1 " ..
    "around a rolling reload, and STOPPING=1", function()
    run(function()
      local n, path = notify_socket()
      local p = start("env", "NOTIFY_SOCKET=" .. path, H.XCSHOST, "--workers", "2",
        "examples/echo.lua", "port=0")
      local state = next_state(n, p)
      assert.are.equal("1", state.READY)
      assert.are.equal("2 workers serving", state.STATUS)
      assert.are.equal("2 workers serving", hup_reload(n, p).STATUS)
      H.expect(p, "reload done")
      p:kill("TERM")
      assert.are.equal("1", until_state(n, p, "STOPPING").STOPPING)
      assert.are.equal(0, p:wait(10 * H.SCALE))
      assert.is_nil((n:read(0.2))) -- a worker says nothing
    end)
  end)

  it("says STOPPING=1 when the modules end on their own", function()
    run(function()
      local n, path = notify_socket()
      local p = start("env", "NOTIFY_SOCKET=" .. path, H.XCSHOST, "tests/loopback.lua")
      assert.are.equal(0, p:wait(10 * H.SCALE), p:output())
      local seen = {}
      for _ = 1, 20 do
        local data = n:read(1)
        if not data then break end
        seen[#seen + 1] = data
      end
      assert.truthy(table.concat(seen, "\n"):find("STOPPING=1", 1, true), table.concat(seen, " | "))
    end)
  end)

  it("runs without NOTIFY_SOCKET as before, and warns about one it cannot use", function()
    run(function()
      local code, out = H.run("tests/loopback.lua")
      assert.are.equal(0, code, out)
      local p = start("env", "NOTIFY_SOCKET=relative/path", H.XCSHOST, "tests/loopback.lua")
      assert.are.equal(0, p:wait(10 * H.SCALE))
      assert.truthy(p:output():find("NOTIFY_SOCKET is neither a path nor @name", 1, true), p:output())
    end)
  end)
end)

describe("socket activation", function()
  it("hands a module the TCP socket systemd holds for its port, named by LISTEN_FDNAMES", function()
    run(function()
      local port = H.closed_port()
      local n, path = notify_socket()
      local p = start("systemd-socket-activate", "-l", "127.0.0.1:" .. port, "--fdname=web",
        "-E", "NOTIFY_SOCKET=" .. path, H.XCSHOST, "examples/echo.lua", "port=" .. port)
      H.expect(p, "Listening on")
      -- systemd-socket-activate starts the service on the first connection
      local c = assert(S.connect("127.0.0.1", port))
      assert.are.equal(3, c:write("hi\n"))
      assert.are.equal("hi\n", c:read())
      assert.are.equal("1", next_state(n, p).READY)
      H.expect(p, "xcshost: systemd passed descriptor 3 %(web%)")
      H.expect(p, "echo: port " .. port .. " %(TCP%): the socket systemd passed %(web%)")
      c:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)

  it("--workers: every worker is handed the TCP socket systemd holds; the supervisor notifies", function()
    run(function()
      local port = H.closed_port()
      local n, path = notify_socket()
      local p = start("systemd-socket-activate", "-l", "127.0.0.1:" .. port, "--fdname=web",
        "-E", "NOTIFY_SOCKET=" .. path, H.XCSHOST, "--workers", "2", "examples/echo.lua",
        "port=" .. port)
      H.expect(p, "Listening on")
      local c = assert(S.connect("127.0.0.1", port))
      assert(c:write("hi\n"))
      assert.are.equal("hi\n", c:read())
      local state = next_state(n, p)
      assert.are.equal("1", state.READY)
      assert.are.equal("2 workers serving", state.STATUS)
      H.expect(p, "port " .. port .. " %(TCP%): the socket systemd passed %(web%), for every worker")
      assert.is_nil(p:output():find("no module opened", 1, true), p:output())
      -- the one accept queue serves every client, whichever worker takes it
      for i = 1, 6 do
        local ci = assert(S.connect("127.0.0.1", port))
        assert(ci:write(i .. "\n"))
        assert.are.equal(i .. "\n", ci:read())
        ci:close()
      end
      c:close()
      p:kill("TERM")
      assert.are.equal("1", until_state(n, p, "STOPPING").STOPPING)
      assert.are.equal(0, p:wait(10 * H.SCALE))
    end)
  end)

  for _, workers in ipairs { {}, { "--workers", "2" } } do
    it("hands " .. (workers[1] and "every worker" or "a module") .. " the UDP socket of its port", function()
      run(function()
        local port = H.closed_port()
        local words = { "systemd-socket-activate", "-d", "-l", "127.0.0.1:" .. port, H.XCSHOST }
        table.move(workers, 1, #workers, #words + 1, words)
        words[#words + 1], words[#words + 2] = "examples/udp_echo.lua", "port=" .. port
        local p = start(table.unpack(words))
        H.expect(p, "Listening on")
        local u = assert(S.connect("127.0.0.1", port, "UDP"))
        assert(u:write("ping"))
        assert.are.equal("ping", (u:read(5 * H.SCALE)))
        H.expect(p, "port " .. port .. " %(UDP%): the socket systemd passed %(unnamed%)" ..
          (workers[1] and ", for every worker" or ""))
        p:kill("TERM")
        assert.are.equal(0, p:wait(10 * H.SCALE))
      end)
    end)
  end

  it("warns about a socket no module opened, and the module binds its own port as usual", function()
    run(function()
      local port, other = H.closed_port(), H.closed_port()
      while other == port do other = H.closed_port() end
      local p = start("systemd-socket-activate", "-l", "127.0.0.1:" .. other, "--fdname=spare",
        "-E", "NOTIFY_SOCKET=@xcshost-spec-unused", H.XCSHOST, "examples/echo.lua", "port=" .. port)
      H.expect(p, "Listening on")
      local c = assert(S.connect("127.0.0.1", other)) -- starts it; nobody accepts on this one
      H.expect(p, "systemd passed a socket for port " .. other .. " %(TCP, spare%) that no module opened")
      local c2 = assert(S.connect("127.0.0.1", port))
      assert(c2:write("x\n"))
      assert.are.equal("x\n", c2:read())
      c:close()
      c2:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)
end)

describe("contrib/xcshost.service and xcshost.socket", function()
  -- The units as installed, pointed at this build and a free port.
  local function staged(port)
    local service = unit("xcshost.service"):gsub("/usr/bin/xcshost", H.XCSHOST)
      :gsub("/usr/share/xcshost/", os.getenv("PWD") .. "/"):gsub("port=7000", "port=" .. port)
    local socket = unit("xcshost.socket"):gsub("127%.0%.0%.1:7000", "127.0.0.1:" .. port)
    H.write(dir .. "/xcshost.service", service)
    H.write(dir .. "/xcshost.socket", socket)
    return service, socket
  end

  it("pass systemd-analyze verify", function()
    staged(7000)
    run(function()
      local p = H.tool { "systemd-analyze", "verify", "--man=no", dir .. "/xcshost.service",
        dir .. "/xcshost.socket" }
      assert.are.equal(0, p:wait(20 * H.SCALE), p:output())
    end)
  end)

  it("run as systemd would: the socket's port and name, the service's command, Type=notify", function()
    run(function()
      local port = H.closed_port()
      local service, socket = staged(port)
      assert.truthy(service:find("\nType=notify\n", 1, true))
      local exec = assert(service:match("\nExecStart=([^\n]+)"))
      local listen = assert(socket:match("\nListenStream=([^\n]+)"))
      local name = assert(socket:match("\nFileDescriptorName=([^\n]+)"))
      local n, path = notify_socket()
      local words = { "systemd-socket-activate", "-l", listen, "--fdname=" .. name,
        "-E", "NOTIFY_SOCKET=" .. path }
      for w in exec:gmatch("%S+") do words[#words + 1] = w end
      local p = start(table.unpack(words))
      H.expect(p, "Listening on")
      local c = assert(S.connect("127.0.0.1", port))
      assert(c:write("unit\n"))
      assert.are.equal("unit\n", c:read())
      assert.are.equal("1", next_state(n, p).READY)
      H.expect(p, "the socket systemd passed %(" .. name .. "%)")
      c:close()
      p:kill("TERM")
      assert.are.equal("1", until_state(n, p, "STOPPING").STOPPING)
      assert.are.equal(0, p:wait(5 * H.SCALE))
    end)
  end)
end)
