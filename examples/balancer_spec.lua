-- balancer_spec.lua: examples/balancer.lua in front of backends the spec serves itself
-- (each says its name, then echoes): turns, health checks taking a backend out and back,
-- a refused connect moving on, no backend up, bad arguments; then under the real xcshost
-- with curl as the client.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

-- A backend on a port of its own: each client is told `name`, then echoed
-- (health checks connect and close: the write to them may fail, unseen).
local function backend(name, port)
  local l = assert(S.listen(port or 0))
  xcs.spawn(function()
    while true do
      local c = l:accept()
      if not c then return end
      xcs.spawn(function()
        c:write(name .. "\n")
        while true do
          local line = c:read("*l")
          if not line then break end
          c:write(line .. "\n")
        end
        c:close()
      end)
    end
  end)
  return l
end

local function with_balancer(names, fn, more)
  xcs.run(function()
    local ls, list = {}, {}
    for i, name in ipairs(names) do
      ls[i] = backend(name)
      list[i] = "127.0.0.1:" .. ls[i]:port()
    end
    local args = { port = 0, backends = table.concat(list, ","), check = 0.05 }
    for k, v in pairs(more or {}) do args[k] = v end
    local m = assert(xcs.load("examples/balancer.lua", args))
    fn(m, ls, list)
    assert.are.equal("running", m:status(), m:error())
  end, { timeout = 15 })
end

-- Connects through the balancer: the connection and the name of the backend it reached.
local function through(m)
  local c = assert(S.connect("127.0.0.1", m:port()))
  return c, c:read("*l", 5)
end

describe("examples/balancer.lua", function()
  it("gives each client the next backend in turn, and relays both ways", function()
    with_balancer({ "A", "B", "C" }, function(m)
      local got = {}
      for i = 1, 6 do
        local c, name = through(m)
        got[i] = name
        c:write("hello " .. i .. "\n")
        assert.are.equal("hello " .. i, c:read("*l", 5))
        c:close()
      end
      assert.are.same({ "A", "B", "C", "A", "B", "C" }, got)
    end)
  end)

  it("takes a backend out when its check fails, and back once it passes", function()
    with_balancer({ "A", "B" }, function(m, ls, list)
      local port = ls[2]:port()
      ls[2]:close()
      H.until_logged(m, "backend " .. list[2] .. " is down: ") -- refused, or reset if it was in the backlog
      for _ = 1, 3 do
        local c, name = through(m)
        assert.are.equal("A", name)
        c:close()
      end
      ls[2] = backend("B again", port)
      H.until_logged(m, "backend " .. list[2] .. " is up")
      local seen = {}
      for _ = 1, 2 do
        local c, name = through(m)
        seen[name] = true
        c:close()
      end
      assert.are.same({ A = true, ["B again"] = true }, seen)
    end)
  end)

  it("moves a client on to the next backend when its connect is refused", function()
    -- Checks far apart: the refusal is seen by the client's connect first.
    with_balancer({ "A", "B" }, function(m, ls, list)
      ls[1]:close()
      local c, name = through(m)
      assert.are.equal("B", name)
      c:close()
      H.until_logged(m, "backend " .. list[1] .. " is down: ")
    end, { check = 60 })
  end)

  it("closes a client at once when no backend is up", function()
    with_balancer({ "A" }, function(m, ls)
      ls[1]:close()
      local c = assert(S.connect("127.0.0.1", m:port()))
      assert.are.equal("", c:read("*a", 5))
      H.until_logged(m, ": no backend is up")
    end, { check = 60 })
  end)

  for _, case in ipairs {
    { "", "backends: expected at least one, such as backends=127.0.0.1:7000" },
    { "127.0.0.1", "backends: expected a list such as 127.0.0.1:7000,[::1]:7001, not '127.0.0.1'" },
    { "127.0.0.1:70000", "not '127.0.0.1:70000'" },
  } do
    it(("fails on backends=%q, saying why"):format(case[1]), function()
      xcs.run(function()
        local m = xcs.load("examples/balancer.lua", { port = 0, backends = case[1] })
        local status, err = m:wait()
        assert.are.equal("failed", status)
        assert.truthy(tostring(err):find(case[2], 1, true), err)
      end)
    end)
  end

  it("takes curl's requests to the backends in turn under xcshost", function()
    if not H.have("curl") then return pending("curl is not installed (apt-get install curl)") end
    xcs.run(function()
      local list = {}
      for i, name in ipairs { "A", "B" } do
        local l = assert(S.listen(0))
        list[i] = "127.0.0.1:" .. l:port()
        xcs.spawn(function()
          while true do
            local c = l:accept()
            if not c then return end
            xcs.spawn(function()
              if c:readuntil("\r\n\r\n", 8192, 5) then -- else a health check, which only connects
                c:write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" .. name .. "\n")
              end
              c:close()
            end)
          end
        end)
      end
      local p, port = H.start_serving("^balancer: balancing 127%.0%.0%.1:(%d+) over ",
        "examples/balancer.lua", "port=0", "backends=" .. table.concat(list, ","))
      local url = "http://127.0.0.1:" .. port .. "/"
      local curl = H.tool { "curl", "-sS", url, url, url }
      assert.are.equal(0, curl:wait(5), curl:output())
      assert.are.equal("A\nB\nA\n", curl:output())
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end, { timeout = 15 })
  end)
end)
