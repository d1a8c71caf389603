-- reliable_udp_spec.lua: examples/reliable_udp.lua delivers every request,
-- in order and exactly once, through injected loss, duplicates and
-- reordering; and a fixed seed repeats the same faults.
local xcs = require "xcs"
local H = require "helpers"

local EXAMPLE = "examples/reliable_udp.lua"
local FAULTS = { udp_loss = 0.3, udp_dup = 0.1, udp_reorder = 0.1 }

local function with_seed(seed)
  local t = { seed = seed }
  for k, v in pairs(FAULTS) do t[k] = v end
  return t
end

-- The client's summary line: sends, resends, stale answers.
local function summary(m, count)
  for _, l in ipairs(m:logs()) do
    local sends, resends, stale = l:match(("^delivered %d of %d requests in order, exactly once: "
      .. "(%%d+) sends, (%%d+) resends, (%%d+) stale answers ignored$"):format(count, count))
    if sends then return tonumber(sends), tonumber(resends), tonumber(stale) end
  end
  error("no summary in the client's log:\n" .. table.concat(m:logs(), "\n"))
end

-- A server with server_faults, a client with client_faults (or none); runs
-- the client to its end and returns the server's fault counts and sends.
local function exchange(count, retry, server_faults, client_faults)
  local server = assert(xcs.load(EXAMPLE, { port = 0 }, server_faults))
  local client = assert(xcs.load(EXAMPLE,
    { server = "127.0.0.1:" .. server:port(), count = count, retry = retry }, client_faults))
  local status, err = client:wait()
  assert.are.equal("concluded", status, err)
  local sends = summary(client, count)
  -- the client may conclude while a resend of its last request is still on its way
  H.until_received(server, sends)
  local f = server:faults()
  server:unload()
  return f, sends, client
end

describe("examples/reliable_udp.lua", function()
  it("delivers 200 requests in order, exactly once, through 30% loss, duplicates and reordering", function()
    xcs.run(function()
      local f, sends = exchange(200, 0.02, with_seed(1))
      -- the server saw every datagram sent, and the faults were real
      assert.are.equal(sends, f.received)
      assert.is_true(f.dropped >= 0.2 * sends and f.dropped <= 0.4 * sends,
        ("%d of %d dropped"):format(f.dropped, sends))
      assert.is_true(f.duplicated > 0 and f.reordered > 0)
      assert.is_true(sends > 200)
    end, { timeout = 9 })
  end)

  it("does so with both sides receiving through the faults", function()
    xcs.run(function()
      local f, sends, client = exchange(40, 0.02, with_seed(2), with_seed(3))
      assert.are.equal(sends, f.received)
      assert.is_true(f.dropped > 0)
      assert.is_true(client:faults().dropped > 0) -- answers were lost too
    end, { timeout = 9 })
  end)

  it("drops the same datagrams again with the same seed", function()
    xcs.run(function()
      -- A retry must not fire before an answer that was not lost could come
      -- back, or the traffic (and so the draws) would differ: hence 80 ms,
      -- generous on loopback even on a loaded machine.
      local a = exchange(20, 0.08, with_seed(7))
      local b = exchange(20, 0.08, with_seed(7))
      assert.are.equal(a.received, b.received)
      assert.are.equal(a.dropped, b.dropped)
      assert.are.equal(a.duplicated, b.duplicated)
      assert.is_true(a.dropped > 0)
    end, { timeout = 9 })
  end)

  it("runs under xcshost: a lossy server and a client in another host", function()
    xcs.run(function()
      local server, port = H.start_serving("reliable_udp: bound to 127%.0%.0%.1:(%d+) %(UDP%)",
        "--udp-loss", "0.3", "--udp-dup", "0.1", "--udp-reorder", "0.1", "--seed", "42",
        EXAMPLE, "port=0")
      local client = H.start(EXAMPLE, "server=127.0.0.1:" .. port, "count=20", "retry=0.02")
      assert.are.equal(0, client:wait(5))
      assert.truthy(client:output():find("reliable_udp: delivered 20 of 20 requests in order, "
        .. "exactly once", 1, true), client:output())
      server:kill("TERM")
      assert.are.equal(0, server:wait(5))
      local out = server:output()
      assert.truthy(out:find("xcshost: injecting faults: udp loss 0.3, udp dup 0.1, "
        .. "udp reorder 0.1, seed 42\n", 1, true), out)
      assert.truthy(out:find("faults injected: %d+ of %d+ datagrams dropped"), out)
    end, { timeout = 9 })
  end)
end)
