-- faults_survived_spec.lua: faults at the socket layer the host must ride
-- out. Each ends with the host still serving, and no byte that a module
-- wrote to a live peer lost.
local xcs = require "xcs"
local S = xcs.socket
local HH = require "helpers"
local H = require "defence_helpers"

local function run(fn, secs) return xcs.run(fn, { timeout = secs or 9 }) end

local SERVER = "spec/fixtures/faults_server.lua"

local function chunk(i) return ("%08d"):format(i) .. ("x"):rep(65536 - 8) end

-- One command to the faults_server at port on a fresh connection; its
-- one-line answer.
local function ask(port, cmd)
  local c = assert(S.connect("127.0.0.1", port))
  assert(c:write(cmd .. "\n"))
  local answer, err = c:read("*l")
  c:close()
  return assert(answer, err)
end

-- Reads `n` chunks from c, checking each, then the orderly close.
local function read_stream(c, n)
  for i = 1, n do
    local got, err = c:read(65536)
    if got ~= chunk(i) then
      error(("chunk %d: got %q (%s)"):format(i, tostring(got):sub(1, 16), tostring(err)))
    end
  end
  assert.are.equal("", c:read())
end

-- The host process's memory from /proc: peak and current resident KiB.
local function memory(pid)
  local f = assert(io.open("/proc/" .. pid .. "/status"))
  local status = f:read("a")
  f:close()
  return tonumber(status:match("VmHWM:%s*(%d+)")), tonumber(status:match("VmRSS:%s*(%d+)"))
end

-- Starts xcshost with its fd limit raised as far as `want` (the shell's
-- ulimit; the hard limit caps it). Returns the process, or nil and why.
local function start_raised(want, ...)
  local p = assert(xcs.process { "/bin/sh", "-c",
    'ulimit -n ' .. want .. ' 2>/dev/null || ulimit -n "$(ulimit -Hn)"; '
      .. 'echo "fd limit $(ulimit -n)"; exec "$0" "$@"', HH.XCSHOST, ... })
  local limit = tonumber(HH.expect(p, "^fd limit (%d+)$"))
  if limit < want then
    p:kill("KILL")
    p:wait(5)
    return nil, ("the fd limit is %d, not %d"):format(limit, want)
  end
  return p
end

describe("the host survives", function()
  after_each(function() H.configure() end)

  it("a peer that resets mid-transfer", function()
    run(function()
      local m = assert(xcs.load(SERVER, { port = 0 }))
      local a = assert(S.connect("127.0.0.1", m:port()))
      a:write("stream " .. 64 * 1024 * 1024 .. "\n")
      for i = 1, 16 do assert.are.equal(chunk(i), a:read(65536)) end
      a:close("reset") -- a mile into 64 MiB
      local b = assert(S.connect("127.0.0.1", m:port()))
      b:write("stream " .. 4 * 1024 * 1024 .. "\n")
      read_stream(b, 64) -- every byte, in order, then an orderly close
      b:close()
      local lines = H.lines(m:logs(), "stream:")
      assert.are.equal(2, #lines, table.concat(m:logs(), "\n"))
      assert.truthy(lines[1]:match("^stream: E[A-Z]+$"), lines[1]) -- ECONNRESET or EPIPE
      assert.are.equal("stream: done", lines[2])
      assert.are.equal("pong", ask(m:port(), "ping"))
      assert.are.equal("running", m:status())
    end)
  end)

  it("half closes: what a peer sends before its FIN is read, and the answer reaches it", function()
    run(function()
      local payload = ("0123456789abcdef"):rep(64 * 1024) -- 1 MiB
      -- socket.listen: read("*a") until the FIN, then answer
      local m = assert(xcs.load(SERVER, { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port()))
      c:write("echoall\n")
      c:write(payload)
      assert(c:shutdown())
      assert.are.equal(#payload .. "\n" .. payload, HH.read_to_end(c))
      c:close()
      -- socket.open: the echo answers what came before the FIN, then closes
      local e = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local d = assert(S.connect("127.0.0.1", e:port()))
      d:write(payload)
      assert(d:shutdown())
      assert.are.equal(payload, HH.read_to_end(d))
      d:close()
      assert.are.equal("pong", ask(m:port(), "ping"))
      local f = assert(S.connect("127.0.0.1", e:port()))
      f:write("still\n")
      assert.are.equal("still\n", f:read())
      f:close()
    end)
  end)

  it("5,000 connections opened and dropped at once", function()
    run(function()
      local server, why = start_raised(12000, "--max-per-address", "0", "--accept-rate", "0",
        "--max-clients", "0", "--max-connections", "10000", SERVER, "port=0")
      if not server then
        pending(why)
        return
      end
      local port = tonumber(HH.expect(server, "^faults_server: listening on 127%.0%.0%.1:(%d+) %(TCP%)$"))
      local client = assert(start_raised(12000, "--max-sockets", "10000",
        "spec/fixtures/faults_many.lua", "port=" .. port, "count=5000"))
      HH.expect(client, "^faults_many: opened 5000 %(0 failed%)$", 20)
      HH.expect(client, "^faults_many: dropped 5000$", 5)
      assert.are.equal(0, (client:wait(10)))
      assert.are.equal("pong", ask(port, "ping"))
      -- every dropped connection's task ends; only the asking one is left
      local count
      for _ = 1, 200 do
        count = ask(port, "count")
        if count == "1" then break end
        xcs.sleep(0.05)
      end
      assert.are.equal("1", count)
      local peak = memory(server:pid())
      assert.is_true(peak < 256 * 1024, "peak RSS " .. peak .. " KiB")
      server:kill("TERM")
      assert.are.equal(0, (server:wait(5)))
    end, 40)
  end)

  it("100,000 UDP datagrams in a burst", function()
    run(function()
      local server = HH.start("examples/udp_echo.lua", "port=0")
      local port = tonumber(HH.expect(server, "^udp_echo: bound to 127%.0%.0%.1:(%d+) %(UDP%)$"))
      local _, before = memory(server:pid())
      local flood = assert(S.connect("127.0.0.1", port, "UDP"))
      local payload = ("d"):rep(64)
      local sent = 0
      for _ = 1, 100000 do
        if flood:write(payload) then sent = sent + 1 end
      end
      assert.is_true(sent > 90000, "sent " .. sent)
      -- beyond its queue the kernel dropped them; it still answers
      local probe = assert(S.connect("127.0.0.1", port, "UDP"))
      local answer
      for i = 1, 100 do
        probe:write("probe " .. i)
        local got = probe:read(0.1)
        if got and got:match("^probe %d+$") then
          answer = got
          break
        end
      end
      assert.truthy(answer, "no answer to a probe")
      local peak, now = memory(server:pid())
      assert.is_true(peak - before < 64 * 1024, ("peak %d KiB, %d KiB before"):format(peak, before))
      assert.is_true(now < 128 * 1024, "RSS " .. now .. " KiB")
      flood:close()
      probe:close()
      server:kill("TERM")
      assert.are.equal(0, (server:wait(5)))
    end, 20)
  end)

  it("a peer that stops reading while the module writes, then reads every byte", function()
    run(function()
      local m = assert(xcs.load(SERVER, { port = 0 }))
      local slow = assert(S.connect("127.0.0.1", m:port(), "TCP", { rcvbuf = 65536 }))
      slow:write("stream " .. 16 * 1024 * 1024 .. "\n")
      -- while it reads nothing, the module keeps serving and its queue stays bounded
      local most = 0
      for _ = 1, 100 do
        assert.are.equal("pong", ask(m:port(), "ping"))
        local q = tonumber(ask(m:port(), "queued"))
        most = math.max(most, q)
        if most > 0 then break end -- the kernel's buffers are full: it waits
        xcs.sleep(0.01)
      end
      assert.is_true(most > 0, "the writer never had to wait")
      for _ = 1, 5 do
        local q = tonumber(ask(m:port(), "queued"))
        assert.is_true(q <= 1024 * 1024 + 65536, "queued " .. q)
      end
      read_stream(slow, 256) -- then it reads: all 16 MiB, in order
      slow:close()
      assert.are.same({ "stream: done" }, H.lines(m:logs(), "stream:"))
    end)
  end)

  it("a module that dies holding connections: its peers get all it wrote, then FIN", function()
    run(function()
      local doomed = assert(xcs.load("spec/fixtures/faults_doomed.lua", { port = 0, kib = 256 }))
      local neighbour = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local peers = {}
      for i = 1, 3 do peers[i] = assert(S.connect("127.0.0.1", doomed:port())) end
      for i = 1, 3 do -- each is held by a task of its own before the end comes
        peers[i]:write("hold\n")
      end
      local last = assert(S.connect("127.0.0.1", doomed:port()))
      last:write("die\n")
      local status, err = doomed:wait()
      assert.are.equal("failed", status)
      assert.truthy(err:find("doomed on purpose", 1, true), err)
      local tail = ("z"):rep(256 * 1024)
      for _, c in ipairs { peers[1], peers[2], peers[3], last } do
        assert.are.equal("bye\n" .. tail, HH.read_to_end(c)) -- FIN, not a reset
        c:close()
      end
      local c = assert(S.connect("127.0.0.1", neighbour:port()))
      c:write("next door\n")
      assert.are.equal("next door\n", c:read())
      c:close()
      assert.are.equal("running", neighbour:status())
    end)
  end)
end)
