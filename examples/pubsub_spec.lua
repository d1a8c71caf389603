-- pubsub_spec.lua: examples/pubsub.lua spoken to over xcs.socket (subscribe, publish in
-- order to every subscriber, unsubscribe, errors, a slow subscriber dropped without
-- holding anyone up), then under the real xcshost with nc as the publisher.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function with_server(args, fn)
  xcs.run(function()
    args.port = 0
    local m = assert(xcs.load("examples/pubsub.lua", args))
    local function client(opts)
      return assert(S.connect("127.0.0.1", m:port(), "TCP", opts))
    end
    local function say(c, line)
      c:write(line .. "\n")
      return c:read("*l", 5)
    end
    fn(client, say, m)
    assert.are.equal("running", m:status(), m:error())
  end, { timeout = 15 })
end

describe("examples/pubsub.lua", function()
  it("delivers each message to every subscriber of its topic, in order", function()
    with_server({}, function(client, say)
      local a, b, other, pub = client(), client(), client(), client()
      assert.are.equal("+OK subscribed to news", say(a, "SUB news"))
      assert.are.equal("+OK subscribed to news", say(b, "sub news")) -- any case
      assert.are.equal("+OK subscribed to sport", say(other, "SUB sport"))
      assert.are.equal("+OK 2", say(pub, "PUB news hello there"))
      assert.are.equal("+OK 2", say(pub, "PUB news second"))
      assert.are.equal("+OK 0", say(pub, "PUB weather rain"))
      for _, c in ipairs { a, b } do
        assert.are.equal("MSG news hello there", c:read("*l", 5))
        assert.are.equal("MSG news second", c:read("*l", 5))
      end
      assert.are.equal("+OK 1", say(pub, "PUB sport goal"))
      assert.are.equal("MSG sport goal", other:read("*l", 5)) -- and nothing of news before it
    end)
  end)

  it("stops delivering after UNSUB, and when a subscriber leaves", function()
    with_server({}, function(client, say)
      local a, b, pub = client(), client(), client()
      say(a, "SUB t")
      say(b, "SUB t")
      assert.are.equal("+OK unsubscribed from t", say(a, "UNSUB t"))
      assert.are.equal("+OK bye", say(b, "QUIT"))
      assert.are.equal("", b:read("*a", 5))
      assert.are.equal("+OK 0", say(pub, "PUB t x"))
      assert.are.equal("+OK subscribed to u", say(a, "SUB u")) -- a heard nothing of t meanwhile
    end)
  end)

  for _, case in ipairs {
    { "FOO", "-ERR unknown command 'FOO' (SUB, UNSUB, PUB, QUIT)" },
    { "", "-ERR unknown command '' (SUB, UNSUB, PUB, QUIT)" },
    { "SUB", "-ERR usage: SUB topic" },
    { "PUB t", "-ERR usage: PUB topic message" },
    { "UNSUB t", "-ERR not subscribed to t" },
  } do
    it(("answers %q with an error, and goes on"):format(case[1]), function()
      with_server({}, function(client, say)
        local c = client()
        assert.are.equal(case[2], say(c, case[1]))
        assert.are.equal("+OK 0", say(c, "PUB t x"))
      end)
    end)
  end

  it("drops a subscriber too slow to keep up, and nobody else waits for it", function()
    with_server({ max_queued = 5 }, function(client, say)
      local slow, quick, pub = client(), client(), client()
      say(slow, "SUB t")
      say(quick, "SUB t")
      local big = ("x"):rep(16 * 1024)
      local first, last
      for i = 1, 800 do -- 12.5 MiB: past what the sockets and the host hold for slow
        last = say(pub, "PUB t " .. i .. " " .. big)
        first = first or last
        local line = quick:read("*l", 5)
        assert.is_true(line == ("MSG t %d %s"):format(i, big), "quick's message " .. i)
      end
      assert.are.equal("+OK 2", first)
      assert.are.equal("+OK 1", last) -- slow was dropped on the way
      local got = 0
      while true do
        local line = slow:read("*l", 5)
        if not line or line:find("^%-ERR") then
          assert.are.equal("-ERR too slow: 5 messages waiting", line)
          break
        end
        got = got + 1
        assert.is_true(line == ("MSG t %d %s"):format(got, big), "slow's message " .. got)
      end
      assert.is_true(got > 0 and got < 800, got)
      assert.are.equal("", slow:read("*a", 5))
    end)
  end)

  it("takes nc's publishing under xcshost", function()
    if not H.have("nc") then return pending("nc is not installed (apt-get install netcat-openbsd)") end
    xcs.run(function()
      local p, port = H.start_serving("^pubsub: listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        "examples/pubsub.lua", "port=0")
      local sub = assert(S.connect("127.0.0.1", port))
      sub:write("SUB news\n")
      assert.are.equal("+OK subscribed to news", sub:read("*l", 5))
      local nc = H.tool { "sh", "-c", "printf 'PUB news hello\\nQUIT\\n' | nc 127.0.0.1 " .. port }
      assert.are.equal(0, nc:wait(5), nc:output())
      assert.are.equal("+OK 1\n+OK bye\n", nc:output())
      assert.are.equal("MSG news hello", sub:read("*l", 5))
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end, { timeout = 15 })
  end)
end)
