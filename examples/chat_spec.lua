-- chat_spec.lua: examples/chat.lua, in-process and end to end.
local xcs = require "xcs"
local H = require "helpers"

-- A chat client that reads whole lines, whatever chunks they arrive in.
local function client(port)
  local conn = assert(xcs.socket.connect("127.0.0.1", port, "TCP"))
  local buffered = ""
  local c = { conn = conn, name = conn:address() } -- what the room calls us
  function c.send(s) assert.are.equal(#s, conn:write(s)) end
  -- The next line, newline included; nil, "closed" once the room closed.
  function c.line()
    for _ = 1, 10000 do
      local line, rest = buffered:match("^([^\n]*\n)(.*)$")
      if line then
        buffered = rest
        return line
      end
      local s, err = conn:read()
      if not s then return nil, err end
      if s == "" then return nil, "closed" end
      buffered = buffered .. s
    end
    error("no newline in 10000 reads")
  end
  return c
end

-- Everyone in `all` hears each of `lines`, in that order.
local function heard(all, ...)
  for _, c in ipairs(all) do
    for _, line in ipairs{ ... } do assert.are.equal(line, c.line()) end
  end
end

-- A new client says hello; it and those already in the room see it join.
local function join(port, room)
  local c = client(port)
  room[#room + 1] = c
  c.send("hello\n")
  heard(room, "* " .. c.name .. " joined\n", c.name .. ": hello\n")
  return c
end

local function start()
  local m = assert(xcs.load("examples/chat.lua", { port = 0 }))
  return m, m:port()
end

describe("examples/chat.lua", function()
  it("says where it listens", function()
    xcs.run(function()
      local m, port = start()
      assert.is_true(H.has_line(m:logs(), "listening on 127.0.0.1:" .. port .. " (TCP)"))
    end)
  end)

  it("announces joins, and sends each line to everyone, saying who said it", function()
    xcs.run(function()
      local _, port = start()
      local room = {}
      local a = join(port, room)
      local b = join(port, room)
      local c = join(port, room)
      assert.are.equal("127.0.0.1", a.name:match("^(.*):%d+$"))
      b.send("hi all\n")
      heard(room, b.name .. ": hi all\n")
      c.send("one\ntwo\n")
      heard(room, c.name .. ": one\n", c.name .. ": two\n")
      a.send("\n")
      heard(room, a.name .. ": \n")
    end)
  end)

  it("keeps a line that arrives in pieces until it is whole", function()
    xcs.run(function()
      local _, port = start()
      local room = {}
      local a, b = join(port, room), join(port, room) -- luacheck: ignore b
      a.send("hel")
      -- A round trip through the room: the server has seen "hel" by now
      -- (or will see it before "lo"), and must not have passed it on.
      b.send("ping\n")
      heard(room, b.name .. ": ping\n")
      a.send("lo\n")
      heard(room, a.name .. ": hello\n")
      -- Several lines and a piece in one write, the rest in the next.
      a.send("one\ntwo\nthr")
      a.send("ee\r\n") -- a CR before the newline is dropped
      heard(room, a.name .. ": one\n", a.name .. ": two\n", a.name .. ": three\n")
      -- One byte at a time.
      for ch in ("bytes\n"):gmatch(".") do a.send(ch) end
      heard(room, a.name .. ": bytes\n")
    end)
  end)

  it("refuses a line over 4096 bytes, telling only its sender", function()
    xcs.run(function()
      local _, port = start()
      local room = {}
      local a, b, c = join(port, room), join(port, room), join(port, room)
      local refused = "* line too long (the limit is 4096 bytes), dropped\n"
      -- Told as soon as it goes over, before the line has ended...
      a.send(("x"):rep(5000))
      assert.are.equal(refused, a.line())
      -- ...and the rest of that line, however long, is dropped.
      for _ = 1, 50 do a.send(("y"):rep(1000)) end
      a.send("y\n")
      a.send("short\n")
      heard(room, a.name .. ": short\n")
      -- A whole overlong line in one write, with a good one after it.
      b.send(("z"):rep(4097) .. "\nafter\n")
      assert.are.equal(refused, b.line())
      heard(room, b.name .. ": after\n")
      -- 4096 bytes is still a line.
      local longest = ("w"):rep(4096)
      c.send(longest .. "\n")
      heard(room, c.name .. ": " .. longest .. "\n")
    end)
  end)

  it("refuses a megabyte without a newline, promptly (no quadratic rescans)", function()
    xcs.run(function()
      local _, port = start()
      local room = {}
      local a, b = join(port, room), join(port, room)
      a.send(("q"):rep(1024 * 1024))
      assert.are.equal("* line too long (the limit is 4096 bytes), dropped\n", a.line())
      a.send("\nok\n")
      heard(room, a.name .. ": ok\n")
      b.send(("r"):rep(512 * 1024) .. "\n" .. ("s"):rep(512 * 1024) .. "\nfine\n")
      assert.are.equal("* line too long (the limit is 4096 bytes), dropped\n", b.line())
      assert.are.equal("* line too long (the limit is 4096 bytes), dropped\n", b.line())
      heard(room, b.name .. ": fine\n")
    end, { timeout = 5 })
  end)

  it("announces a leave, drops the leaver's half line, and carries on", function()
    xcs.run(function()
      local m, port = start()
      local room = {}
      local a, b = join(port, room), join(port, room)
      local c = join(port, room)
      c.send("never finished")
      c.conn:shutdown() -- its side closed: it leaves
      assert.are.same({ nil, "closed" }, { c.line() }) -- no "left" for itself, then FIN
      table.remove(room)
      heard(room, "* " .. c.name .. " left\n")
      -- A client that leaves without a word was never in the room.
      local d = client(port)
      d.conn:close()
      a.send("still here\n")
      heard(room, a.name .. ": still here\n")
      -- A client that drops (closes at once) leaves too.
      b.conn:close()
      assert.are.equal("* " .. b.name .. " left\n", a.line())
      a.send("alone\n")
      assert.are.equal(a.name .. ": alone\n", a.line())
      -- And the room takes newcomers.
      local e = join(port, { a })
      e.send("hi\n")
      heard({ a, e }, e.name .. ": hi\n")
      assert.are.equal("running", m:status())
    end)
  end)

  it("runs under xcshost, and stops cleanly on SIGTERM", function()
    xcs.run(function()
      local p, port = H.start_serving("chat: listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        "examples/chat.lua", "port=0")
      local room = {}
      local a, b = join(port, room), join(port, room) -- luacheck: ignore b
      a.send("over the wire\n")
      heard(room, a.name .. ": over the wire\n")
      p:kill("TERM")
      for _, c in ipairs(room) do
        assert.are.same({ nil, "closed" }, { c.line() }) -- FIN, not a reset
        c.conn:close()
      end
      assert.are.equal(0, p:wait(5))
      assert.truthy(p:output():find("chat: closed 127.0.0.1:" .. port .. " (TCP)", 1, true))
    end)
  end)
end)
