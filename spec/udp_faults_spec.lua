-- udp_faults_spec.lua: faults injected into what a module receives: UDP
-- loss, duplicates, reordering, delay (UDP and TCP), the seed that repeats
-- them, and how they are set: xcs.load's options, xcs.configure, xcshost's
-- command line.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 9 }) end

-- Sends "1".."n" to examples/udp_echo.lua loaded with fault options opts,
-- and collects the echoes: times[i] is how often i came back, order the
-- order they came in. The echoes to expect are known from the module's
-- fault counts once it has received all n, so no wait is a guess.
local function trial(opts, n)
  local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }, opts))
  local c = assert(S.connect("127.0.0.1", m:port(), "UDP"))
  for i = 1, n do
    c:write(tostring(i))
    if i % 25 == 0 then xcs.sleep(0) end -- a pace the kernel's buffers keep up with
  end
  local f = { dropped = 0, duplicated = 0 }
  if opts then
    H.until_received(m, n)
    f = m:faults()
  end
  local times, order = {}, {}
  for _ = 1, n - f.dropped + f.duplicated do
    local i = tonumber((assert(c:read(5))))
    times[i] = (times[i] or 0) + 1
    order[#order + 1] = i
  end
  local extra = c:read(0) -- nothing beyond that
  assert.is_nil(extra)
  m:unload()
  return times, order, m:faults(), m
end

describe("fault injection", function()
  it("injects nothing unless asked", function()
    run(function()
      local times, _, f, m = trial(nil, 50)
      assert.is_nil(f)
      for i = 1, 50 do assert.are.equal(1, times[i]) end
      assert.is_nil(H.find_line(m:logs(), "fault"))
    end)
  end)

  it("udp_loss drops about that share of datagrams, and says so", function()
    run(function()
      local times, _, f, m = trial({ udp_loss = 0.3, seed = 7 }, 300)
      local lost = 0
      for i = 1, 300 do
        assert.is_true(times[i] == nil or times[i] == 1)
        if not times[i] then lost = lost + 1 end
      end
      assert.are.equal(lost, f.dropped)
      assert.are.equal(300, f.received)
      assert.are.equal(0, f.duplicated)
      assert.is_true(lost >= 60 and lost <= 120, "lost " .. lost .. " of 300")
      assert.are.equal(7, f.seed)
      assert.truthy(H.find_line(m:logs(), "injecting faults into what it receives: udp loss 0.3, seed 7"))
      assert.truthy(H.find_line(m:logs(),
        ("(UDP); faults injected: %d of 300 datagrams dropped, 0 duplicated, 0 reordered, 0 delayed")
          :format(lost)))
    end)
  end)

  it("the same seed drops, duplicates and holds back the same datagrams; another seed others", function()
    run(function()
      local opts = { udp_loss = 0.3, udp_dup = 0.1, udp_reorder = 0.1, seed = 42 }
      local a, _, fa = trial(opts, 200)
      local b, _, fb = trial(opts, 200)
      assert.are.same(a, b)
      assert.are.same(fa, fb)
      assert.is_true(fa.dropped > 0 and fa.duplicated > 0 and fa.reordered > 0)
      opts.seed = 43
      local c = trial(opts, 200)
      assert.are_not.same(a, c)
    end)
  end)

  it("turning on duplicates does not change which datagrams are lost", function()
    run(function()
      local lossy = trial({ udp_loss = 0.3, seed = 5 }, 100)
      local both = trial({ udp_loss = 0.3, udp_dup = 0.5, seed = 5 }, 100)
      for i = 1, 100 do assert.are.equal(lossy[i] == nil, both[i] == nil) end
    end)
  end)

  it("udp_dup delivers datagrams twice", function()
    run(function()
      local times, _, f = trial({ udp_dup = 1, seed = 1 }, 20)
      for i = 1, 20 do assert.are.equal(2, times[i]) end
      assert.are.equal(20, f.duplicated)
    end)
  end)

  it("udp_reorder holds a datagram back and delivers it after the next one", function()
    run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }, { udp_reorder = 1, seed = 1 }))
      local c = assert(S.connect("127.0.0.1", m:port(), "UDP"))
      for i = 1, 4 do c:write(tostring(i)) end
      local got = {}
      for i = 1, 4 do got[i] = assert(c:read(5)) end
      assert.are.same({ "2", "1", "4", "3" }, got)
      -- one with no next datagram is late, not lost
      local t0 = xcs.now()
      c:write("alone")
      assert.are.equal("alone", (c:read(5)))
      assert.is_true(xcs.now() - t0 >= 0.09)
      assert.are.equal(2, m:faults().reordered)
    end)
  end)

  it("delay_ms delivers datagrams that much later, in order", function()
    run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }, { delay_ms = 100 }))
      local c = assert(S.connect("127.0.0.1", m:port(), "UDP"))
      local t0 = xcs.now()
      for i = 1, 20 do c:write(tostring(i)) end
      for i = 1, 20 do assert.are.equal(tostring(i), (c:read(5))) end
      assert.is_true(xcs.now() - t0 >= 0.095)
      assert.are.equal(20, m:faults().delayed)
      assert.truthy(H.find_line(m:logs(), "injecting faults into what it receives: delay 100 ms, seed "))
    end)
  end)

  it("delay_ms delays TCP data too, with the peer's close behind it", function()
    run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }, { delay_ms = 100 }))
      local c = assert(S.connect("127.0.0.1", m:port(), "TCP"))
      local t0 = xcs.now()
      c:write("first ")
      c:write("second")
      local got = ""
      for _ = 1, 10 do
        got = got .. assert(c:read())
        if #got >= 12 then break end
      end
      assert.are.equal("first second", got)
      assert.is_true(xcs.now() - t0 >= 0.095)
      -- the FIN waits its turn: the data before it is echoed first
      c:write("last")
      c:shutdown()
      assert.are.equal("last", c:read())
      assert.are.equal("", c:read())
    end)
  end)

  it("a module unloaded with data still held back lets it go cleanly", function()
    run(function()
      for _ = 1, 3 do
        local opts = { delay_ms = 200, udp_reorder = 0.5, udp_dup = 0.5, seed = 9 }
        local u = assert(xcs.load("examples/udp_echo.lua", { port = 0 }, opts))
        local t = assert(xcs.load("examples/echo.lua", { port = 0 }, opts))
        local uc = assert(S.connect("127.0.0.1", u:port(), "UDP"))
        local tc = assert(S.connect("127.0.0.1", t:port(), "TCP"))
        for i = 1, 50 do uc:write(tostring(i)) end
        tc:write(("held back\n"):rep(1000))
        H.until_received(u, 50)
        u:unload()
        t:unload()
        assert.are.equal("unloaded", (u:wait()))
        assert.are.equal("unloaded", (t:wait()))
        assert.are.equal("", tc:read()) -- an orderly close, nothing echoed
        assert.is_nil((uc:read(0)))
      end
    end)
  end)

  it("delay and reordering together keep every datagram, the held one after the next", function()
    run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 },
        { delay_ms = 30, udp_reorder = 1, seed = 1 }))
      local c = assert(S.connect("127.0.0.1", m:port(), "UDP"))
      for i = 1, 6 do c:write(tostring(i)) end
      local got = {}
      for i = 1, 6 do got[i] = (assert(c:read(5))) end
      assert.are.same({ "2", "1", "4", "3", "6", "5" }, got)
    end)
  end)

  it("what faults hold back counts against the 1024 datagrams a socket may hold", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/udp_hold.lua", {}, { delay_ms = 50 }))
      local port = tonumber(H.find_line(m:logs(), "udp port"):match("(%d+)$"))
      local u = assert(S.connect("127.0.0.1", port, "UDP"))
      for i = 1, 1500 do
        u:write(tostring(i))
        if i % 20 == 0 then xcs.sleep(0) end
      end
      local ctl = assert(S.connect("127.0.0.1", m:port(), "TCP"))
      ctl:write("go")
      local waiting, read = assert(ctl:read()):match("^waiting (%d+) read (%d+)$")
      assert.is_true(tonumber(waiting) <= 1024, waiting)
      assert.is_true(tonumber(read) >= tonumber(waiting) and tonumber(read) <= 1500, read)
    end)
  end)

  it("xcs.configure sets faults for the modules loaded afterwards, and logs them", function()
    finally(function()
      xcs.configure { udp_loss = 0, udp_dup = 0, udp_reorder = 0, delay_ms = 0 }
    end)
    run(function()
      xcs.configure { udp_loss = 1, seed = 3 }
      assert.truthy(H.find_line(xcs.logs("xcshost"), "injecting faults: udp loss 1, seed 3"))
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      local c = assert(S.connect("127.0.0.1", m:port(), "UDP"))
      for i = 1, 5 do c:write(tostring(i)) end
      H.until_received(m, 5)
      assert.are.equal(5, m:faults().dropped)
      assert.is_nil((c:read(0)))
      -- a module's own options are over the host's
      local own = assert(xcs.load("examples/udp_echo.lua", { port = 0 }, { udp_loss = 0, udp_dup = 1 }))
      local c2 = assert(S.connect("127.0.0.1", own:port(), "UDP"))
      c2:write("x")
      assert.are.equal("x", (c2:read(5)))
      assert.are.equal("x", (c2:read(5)))
      assert.are.equal(3, own:faults().seed) -- the host's seed, when it gives none
      -- and back to none
      xcs.configure { udp_loss = 0 }
      local clean = assert(xcs.load("examples/udp_echo.lua", { port = 0 }))
      assert.is_nil(clean:faults())
    end)
  end)

  it("picks a seed when none is given, and tells it", function()
    run(function()
      local m = assert(xcs.load("examples/udp_echo.lua", { port = 0 }, { udp_loss = 0.5 }))
      local seed = m:faults().seed
      assert.is_true(math.type(seed) == "integer" and seed > 0)
      assert.truthy(H.find_line(m:logs(),
        "injecting faults into what it receives: udp loss 0.5, seed " .. seed))
    end)
  end)

  it("misuse of the options raises, naming the option", function()
    run(function()
      local echo = "examples/udp_echo.lua"
      H.raises({ "xcs.load: udp_loss must be a probability from 0 to 1, got 2" },
        function() return xcs.load(echo, {}, { udp_loss = 2 }) end)
      H.raises({ "xcs.load: udp_dup must be a probability from 0 to 1, got half" },
        function() return xcs.load(echo, {}, { udp_dup = "half" }) end)
      H.raises({ "xcs.load: delay_ms must be an integer from 0 to 60000, got 1.5" },
        function() return xcs.load(echo, {}, { delay_ms = 1.5 }) end)
      H.raises({ "xcs.load: seed must be an integer from 0 to" },
        function() return xcs.load(echo, {}, { seed = -1 }) end)
      H.raises({ "xcs.load: unknown option delay " ..
        "(expected udp_loss, udp_dup, udp_reorder, delay_ms, seed or may_fail)" },
        function() return xcs.load(echo, {}, { delay = 5 }) end)
      H.raises({ "bad argument #3 to 'load' (table expected, got number)" },
        function() return xcs.load(echo, {}, 5) end)
      H.raises({ "xcs.configure: udp_reorder must be a probability from 0 to 1, got -0.5" },
        function() return xcs.configure { udp_reorder = -0.5 } end)
    end)
  end)
end)

describe("xcshost's fault options", function()
  -- Runs xcshost with udp_echo and the given options; sends "1".."n" in one
  -- burst and returns the set of echoes that came back, and its output.
  local function echo_run(n, ...)
    local p, port = H.start_serving("udp_echo: bound to 127%.0%.0%.1:(%d+) %(UDP%)", ...)
    local c = assert(S.connect("127.0.0.1", port, "UDP"))
    for i = 1, n do c:write(tostring(i)) end
    local got = {}
    for _ = 1, 2 * n do
      local d = c:read(0.5)
      if not d then break end
      got[tonumber(d)] = true
    end
    p:kill("TERM")
    assert.are.equal(0, p:wait(5))
    return got, p:output()
  end

  it("--udp-loss with --seed: logs what it injects, and the same seed drops the same datagrams", function()
    run(function()
      local args = { "--udp-loss", "0.5", "--seed", "42", "examples/udp_echo.lua", "port=0" }
      local a, out = echo_run(30, table.unpack(args))
      assert.truthy(out:find("xcshost: injecting faults: udp loss 0.5, seed 42\n", 1, true), out)
      local lost = 0
      for i = 1, 30 do if not a[i] then lost = lost + 1 end end
      assert.truthy(out:find(("faults injected: %d of 30 datagrams dropped"):format(lost), 1, true), out)
      assert.is_true(lost > 0 and lost < 30)
      local b = echo_run(30, table.unpack(args))
      assert.are.same(a, b)
    end)
  end)

  it("--delay and the others: a seed is picked and logged when none is given", function()
    run(function()
      local _, out = echo_run(3, "--delay", "20", "--udp-dup", "0.1", "--udp-reorder", "0.2",
        "examples/udp_echo.lua", "port=0")
      assert.truthy(out:find("xcshost: injecting faults: udp dup 0.1, udp reorder 0.2, delay 20 ms, "
        .. "seed %d+ %(picked for this run%)\n"), out)
    end)
  end)

  it("--help shows them; a bad value is a usage error", function()
    run(function()
      local code, out = H.run("--help")
      assert.are.equal(0, code)
      for _, opt in ipairs { "--udp-loss P", "--udp-dup P", "--udp-reorder P", "--delay MS", "--seed N" } do
        assert.truthy(out:find(opt, 1, true), opt)
      end
      code, out = H.run("--udp-loss", "1.5", "examples/udp_echo.lua")
      assert.are.equal(2, code)
      assert.truthy(out:find("xcshost: bad value '1.5' for option --udp-loss", 1, true))
    end)
  end)
end)
