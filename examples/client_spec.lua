-- client_spec.lua: examples/client.lua against examples/echo.lua, against
-- servers written here, and run by the real xcshost.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

-- The lines the client printed (its log without the host's own lines).
local function printed(m)
  local out = {}
  for _, l in ipairs(m:logs()) do
    if l ~= "concluded" and not l:find("^failed") then out[#out + 1] = l end
  end
  return out
end

-- A server on port 0: each client is served by serve(conn) in its own task,
-- then closed (a client's host waits for that, up to its linger time).
local function server(serve)
  local l = assert(S.listen(0))
  xcs.spawn(function()
    while true do
      local c = l:accept()
      if not c then return end
      xcs.spawn(function()
        serve(c)
        c:close()
      end)
    end
  end)
  return l:port()
end

describe("examples/client.lua", function()
  it("sends its lines to echo.lua and prints each reply", function()
    run(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local m = assert(xcs.load("examples/client.lua",
        { port = echo:port(), lines = "hello|how are you?|  spaces kept  " }))
      assert.are.equal("concluded", (m:wait()))
      assert.are.same({ "hello", "how are you?", "  spaces kept  " }, printed(m))
      assert.are.equal("running", echo:status())
    end)
  end)

  it("sends a few lines of its own when given none", function()
    run(function()
      local echo = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local m = assert(xcs.load("examples/client.lua", { port = echo:port() }))
      assert.are.equal("concluded", (m:wait()))
      assert.are.same({ "hello", "xcshost", "goodbye" }, printed(m))
    end)
  end)

  it("sends lines ending in LF and reads replies ending in CRLF, then closes", function()
    run(function()
      local l = assert(S.listen(0))
      local m = assert(xcs.load("examples/client.lua", { port = l:port(), lines = "one|two" }))
      local c = assert(l:accept(5))
      assert.are.equal("one\n", c:read(4))
      c:write("ONE\r\n")
      assert.are.equal("two\n", c:read(4))
      c:write("TWO\r\n")
      assert.are.equal("", c:read()) -- then the client's FIN
      c:close()
      assert.are.equal("concluded", (m:wait()))
      assert.are.same({ "ONE", "TWO" }, printed(m))
    end)
  end)

  it("fails, saying so, when a reply does not come in time", function()
    run(function()
      local port = server(function(c) c:read("*l"); c:read() end) -- never answers
      local m = assert(xcs.load("examples/client.lua", { port = port, lines = "anyone?", timeout = 0.2 }))
      local status, err = m:wait()
      assert.are.equal("failed", status)
      assert.truthy(err:find('no reply to "anyone?": ETIMEDOUT', 1, true), err)
    end)
  end)

  it("fails, saying so, when the server closes before replying", function()
    run(function()
      local port = server(function(c) c:read("*l"); c:close() end)
      local m = assert(xcs.load("examples/client.lua", { port = port, lines = "bye" }))
      local status, err = m:wait()
      assert.are.equal("failed", status)
      assert.truthy(err:find('no reply to "bye": closed', 1, true), err)
    end)
  end)

  it("fails, saying so, when nobody listens", function()
    run(function()
      local port = H.closed_port()
      local m = assert(xcs.load("examples/client.lua", { port = port }))
      local status, err = m:wait()
      assert.are.equal("failed", status)
      assert.truthy(err:find("cannot connect to 127.0.0.1:" .. port .. ": ECONNREFUSED", 1, true), err)
    end)
  end)

  it("runs under xcshost: prints the replies and exits 0, or 1 when it fails", function()
    run(function()
      local port = server(function(c)
        for _ = 1, 10 do
          local line = c:read("*l")
          if not line then break end
          c:write("<" .. line .. ">\n")
        end
      end)
      local p = H.start("examples/client.lua", "port=" .. port, "lines=ping|pong")
      H.expect(p, "^client: <ping>$")
      H.expect(p, "^client: <pong>$")
      assert.are.equal(0, p:wait(5))

      local q = H.start("examples/client.lua", "port=" .. port, "host=no-such-host.invalid")
      H.expect(q, "^client: failed: cannot connect to no%-such%-host%.invalid:%d+: EAI_NONAME")
      assert.are.equal(1, q:wait(5))
    end)
  end)
end)
