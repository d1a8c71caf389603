-- kv_spec.lua: examples/kv.lua spoken to in raw RESP over xcs.socket (every command and
-- error, pipelining, inline commands, big values, expiry, protocol errors), then under the
-- real xcshost with redis-cli and redis-benchmark (pending when redis-tools is missing).
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function cmd(...)
  local out = { "*" .. select("#", ...) .. "\r\n" }
  for _, a in ipairs { ... } do out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n" end
  return table.concat(out)
end

-- Reads one RESP reply, as a Lua value: simple strings and integers as strings
-- with their type mark ("+OK", ":1", "-ERR ..."), bulk strings bare, nil, arrays as tables.
local function reply(c)
  local line = assert(c:read("*l", 5))
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "$" then
    local n = tonumber(rest)
    if n < 0 then return nil end
    local s = assert(c:read(n + 2, 5))
    return s:sub(1, n)
  elseif kind == "*" then
    local t = {}
    for i = 1, tonumber(rest) do t[i] = reply(c) end
    return t
  end
  return line
end

local function with_kv(fn, args)
  xcs.run(function()
    args = args or {}
    args.port = 0
    local m = assert(xcs.load("examples/kv.lua", args))
    if not m:port() then H.until_logged(m, "listening on") end -- it reads its snapshot first
    fn(assert(S.connect("127.0.0.1", m:port())), m)
    assert.are.equal("running", m:status(), m:error())
  end, { timeout = 9 })
end

local function ask(c, ...)
  c:write(cmd(...))
  return reply(c)
end

describe("examples/kv.lua", function()
  it("runs every command", function()
    with_kv(function(c)
      assert.are.equal("+PONG", ask(c, "PING"))
      assert.are.equal("hi", ask(c, "PING", "hi"))
      assert.are.equal("x y", ask(c, "ECHO", "x y"))
      assert.are.equal("+OK", ask(c, "SET", "k", "v\r\n\0"))
      assert.are.equal("v\r\n\0", ask(c, "GET", "k"))
      assert.is_nil(ask(c, "GET", "missing"))
      assert.is_nil(ask(c, "SET", "k", "w", "NX"))
      assert.are.equal("+OK", ask(c, "set", "k", "w", "xx"))
      assert.is_nil(ask(c, "SET", "new", "w", "XX"))
      assert.are.equal("+OK", ask(c, "MSET", "a", "1", "b", "2"))
      local got = ask(c, "MGET", "a", "missing", "b")
      assert.are.equal("1", got[1])
      assert.is_nil(got[2])
      assert.are.equal("2", got[3])
      assert.are.equal(":2", ask(c, "INCR", "a"))
      assert.are.equal(":1", ask(c, "DECR", "a"))
      assert.are.equal(":-9", ask(c, "INCRBY", "a", "-10"))
      assert.are.equal(":1", ask(c, "INCR", "counter"))
      assert.are.equal(":2", ask(c, "EXISTS", "a", "b", "nope"))
      assert.are.equal(":4", ask(c, "DBSIZE"))
      assert.are.equal(":2", ask(c, "DEL", "a", "b", "nope"))
      assert.are.equal("+OK", ask(c, "SELECT", "0"))
      assert.are.equal("+OK", ask(c, "FLUSHALL"))
      assert.are.equal(":0", ask(c, "DBSIZE"))
      assert.are.same({}, ask(c, "COMMAND", "DOCS"))
      assert.are.same({}, ask(c, "CONFIG", "GET", "save"))
      assert.are.equal("+OK", ask(c, "QUIT"))
      assert.are.equal("", c:read(nil, 5))
    end)
  end)

  it("answers errors as Redis does, and goes on", function()
    with_kv(function(c)
      assert.are.equal("-ERR unknown command 'NOPE'", ask(c, "NOPE", "x"))
      assert.are.equal("-ERR wrong number of arguments for 'get' command", ask(c, "GET"))
      assert.are.equal("-ERR syntax error", ask(c, "SET", "k", "v", "BOGUS"))
      assert.are.equal("-ERR invalid expire time in 'set' command", ask(c, "SET", "k", "v", "EX", "0"))
      ask(c, "SET", "s", "text")
      assert.are.equal("-ERR value is not an integer or out of range", ask(c, "INCR", "s"))
      assert.are.equal("-ERR value is not an integer or out of range", ask(c, "INCRBY", "n", "1.5"))
      assert.are.equal("-ERR DB index is out of range", ask(c, "SELECT", "1"))
      assert.are.equal("+PONG", ask(c, "PING"))
    end)
  end)

  it("answers a pipelined batch in order, and inline commands", function()
    with_kv(function(c)
      local batch = {}
      for i = 1, 200 do batch[#batch + 1] = cmd("SET", "k" .. i, "v" .. i) .. cmd("GET", "k" .. i) end
      c:write(table.concat(batch) .. "PING\r\nECHO inline\n")
      for i = 1, 200 do
        assert.are.equal("+OK", reply(c))
        assert.are.equal("v" .. i, reply(c))
      end
      assert.are.equal("+PONG", reply(c))
      assert.are.equal("inline", reply(c))
    end)
  end)

  it("takes a value of several MiB, split across many reads", function()
    with_kv(function(c)
      local big = ("0123456789abcdef"):rep(256 * 1024) -- 4 MiB
      assert.are.equal("+OK", ask(c, "SET", "big", big))
      assert.are.equal(big, ask(c, "GET", "big"))
    end)
  end)

  it("expires keys set with PX and EX", function()
    with_kv(function(c)
      assert.are.equal("+OK", ask(c, "SET", "soon", "x", "PX", "20"))
      assert.are.equal("+OK", ask(c, "SET", "later", "x", "EX", "100"))
      local gone = false
      for _ = 1, 200 do
        if ask(c, "GET", "soon") == nil then gone = true break end
        xcs.sleep(0.005)
      end
      assert.is_true(gone)
      assert.are.equal("x", ask(c, "GET", "later"))
      assert.are.equal(":1", ask(c, "DBSIZE"))
    end)
  end)

  describe("with a data directory", function()
    local dir
    before_each(function()
      dir = H.tmpdir()
      xcs.configure { data_dir = dir }
    end)
    after_each(function() H.rmdir(dir) end)

    it("SAVE writes every key, and the next start replays them, expiry included", function()
      with_kv(function(c)
        assert.are.equal("+OK", ask(c, "SET", "a", "1"))
        assert.are.equal("+OK", ask(c, "SET", "bin", "\0\r\n\255"))
        assert.are.equal("+OK", ask(c, "SET", "soon", "x", "PX", "1"))
        assert.are.equal("+OK", ask(c, "SET", "later", "y", "EX", "100"))
        assert.are.equal("+OK", ask(c, "SAVE"))
      end)
      with_kv(function(c, m)
        assert.truthy(H.find_line(m:logs(), "loaded "), table.concat(m:logs(), "\n"))
        assert.are.same({ "1", "\0\r\n\255", "y" },
          { ask(c, "GET", "a"), ask(c, "GET", "bin"), ask(c, "GET", "later") })
        assert.is_nil(ask(c, "GET", "soon"))
        assert.are.equal(":3", ask(c, "DBSIZE"))
      end)
    end)

    it("takes PXAT and EXAT, and a time already past sets nothing that lasts", function()
      with_kv(function(c)
        local at = xcs.wallclock() + 100000
        assert.are.equal("+OK", ask(c, "SET", "k", "v", "PXAT", tostring(at)))
        assert.are.equal("+OK", ask(c, "SET", "e", "v", "EXAT", tostring(at // 1000)))
        assert.are.equal("+OK", ask(c, "SET", "gone", "v", "PXAT", "1"))
        assert.are.same({ "v", "v" }, { ask(c, "GET", "k"), ask(c, "GET", "e") })
        assert.is_nil(ask(c, "GET", "gone"))
      end)
    end)
  end)

  it("answers SAVE without a data directory with an error naming the option", function()
    with_kv(function(c)
      local answer = ask(c, "SAVE")
      assert.truthy(answer:find("^%-ERR SAVE failed: .*%-%-data%-dir"), answer)
    end)
  end)

  describe("under a 16 MB memory limit", function()
    before_each(function() xcs.configure { memory_limit = 16 } end)

    -- Sets 64 KiB values until the store evicted some: how many were set.
    local function fill(c)
      local value = ("v"):rep(64 * 1024)
      for i = 1, 1000 do
        assert.are.equal("+OK", ask(c, "SET", "k" .. i, value))
        if ask(c, "INFO"):find("evicted_keys:[1-9]") then return i end
      end
      error("no key was evicted after 1000 values of 64 KiB")
    end

    it("evicts about half the keys near the limit and keeps serving", function()
      with_kv(function(c, m)
        local set = fill(c)
        local info = ask(c, "INFO")
        local keys = tonumber(info:match("\nkeys:(%d+)"))
        local evicted = tonumber(info:match("evicted_keys:(%d+)"))
        assert.is_true(set > 50 and evicted >= set // 3 and keys + evicted == set, info)
        assert.truthy(H.find_line(m:logs(), "memory past 80% of the limit: evicted " .. evicted .. " keys"))
        assert.are.equal("+OK", ask(c, "SET", "after", "x")) -- and it goes on
        assert.are.equal("x", ask(c, "GET", "after"))
        assert.are.equal(":" .. (keys + 1), ask(c, "DBSIZE"))
      end)
    end)

    it("with evict_at=0 the connection that passes the limit is reset, as its task fails", function()
      with_kv(function(c, m)
        local value = ("v"):rep(64 * 1024)
        local ended
        for i = 1, 1000 do
          c:write(cmd("SET", "k" .. i, value))
          local line, _, code = c:read("*l", 5)
          if not line then ended = code break end
        end
        assert.are.equal("ECONNRESET", ended)
        H.until_logged(m, "not enough memory")
      end, { evict_at = 0 })
    end)
  end)

  for _, case in ipairs {
    { "a bad multibulk length", "*x\r\n", "invalid multibulk length" },
    { "a bulk without '$'", "*1\r\n+x\r\n", "expected '$', got '+'" },
    { "a bad bulk length", "*1\r\n$-5\r\n", "invalid bulk length" },
    { "a bulk over 16 MiB", "*1\r\n$16777217\r\n", "invalid bulk length" },
    { "a bulk not ended by CRLF", "*1\r\n$1\r\nxyz\r\n", "a bulk not ended by CRLF" },
    { "a multibulk count line with no end", "*" .. ("1"):rep(70000), "too big multibulk count string" },
    { "a bulk length line with no end", "*1\r\n$" .. ("1"):rep(70000), "too big bulk count string" },
  } do
    it("answers " .. case[1] .. " with a protocol error and closes", function()
      with_kv(function(c)
        c:write(cmd("PING") .. case[2])
        assert.are.equal("+PONG", reply(c))
        assert.are.equal("-ERR Protocol error: " .. case[3], reply(c))
        assert.are.equal("", c:read(nil, 5))
      end)
    end)
  end

  describe("under xcshost", function()
    local have = H.have

    -- Runs a client to its end: what it printed.
    local function tool(argv)
      local p = H.tool(argv)
      assert.are.equal(0, p:wait(8), p:output())
      return p:output()
    end

    local function with_host(fn)
      xcs.run(function()
        local p, port = H.start_serving("^kv: listening on 127%.0%.0%.1:(%d+) %(TCP%)", "examples/kv.lua", "port=0")
        fn(tostring(port))
        p:kill("TERM")
        assert.are.equal(0, p:wait(5))
      end, { timeout = 20 })
    end

    it("makes redis-cli happy", function()
      if not have("redis-cli") then return pending("redis-cli is not installed (apt-get install redis-tools)") end
      with_host(function(port)
        assert.are.equal("OK\n", tool { "redis-cli", "-p", port, "SET", "greeting", "hello world" })
        assert.are.equal("hello world\n", tool { "redis-cli", "-p", port, "GET", "greeting" })
        assert.are.equal("(integer) 1\n", tool { "redis-cli", "--no-raw", "-p", port, "INCR", "n" })
        assert.are.equal("(nil)\n", tool { "redis-cli", "--no-raw", "-p", port, "GET", "nothing" })
        assert.are.equal("(error) ERR unknown command 'FOO'\n", tool { "redis-cli", "--no-raw", "-p", port, "FOO" })
      end)
    end)

    it("keeps redis-cli's keys across a restart with --data-dir", function()
      if not have("redis-cli") then return pending("redis-cli is not installed (apt-get install redis-tools)") end
      local dir = H.tmpdir()
      for round = 1, 2 do
        xcs.run(function()
          local p, port = H.start_serving("^kv: listening on 127%.0%.0%.1:(%d+) %(TCP%)", "--data-dir", dir,
            "examples/kv.lua", "port=0")
          port = tostring(port)
          if round == 1 then
            assert.are.equal("OK\n", tool { "redis-cli", "-p", port, "SET", "kept", "across a restart" })
          else
            assert.are.equal("across a restart\n", tool { "redis-cli", "-p", port, "GET", "kept" })
          end
          p:kill("TERM")
          assert.are.equal(0, p:wait(5))
          assert.truthy(p:output():find(round == 1 and "kv: saved 1 keys to dump.resp" or "kv: loaded 1 keys", 1, true),
            p:output())
        end, { timeout = 20 })
      end
      H.rmdir(dir)
    end)

    it("makes redis-benchmark happy, pipelined", function()
      if not have("redis-benchmark") then
        return pending("redis-benchmark is not installed (apt-get install redis-tools)")
      end
      with_host(function(port)
        local out = tool { "redis-benchmark", "-p", port, "-t", "set,get", "-n", "5000", "-P", "16", "-q" }
        local set = out:match("SET: ([%d.]+) requests per second")
        local get = out:match("GET: ([%d.]+) requests per second")
        assert.truthy(set and get, out)
        print(("\nredis-benchmark -P 16 -n 5000: SET %s/s, GET %s/s (figures: bench/kv)"):format(set, get))
      end)
    end)
  end)
end)
