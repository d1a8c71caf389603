-- ws_echo_spec.lua: examples/ws_echo.lua: its handshake against RFC 6455's sample key, its
-- frames spoken raw over xcs.socket (fragments, ping, close, every protocol error), and a
-- real WebSocket client: npm's ws, installed into the build directory on first use (pending
-- with the reason if npm cannot install it).
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

local SAMPLE_KEY, SAMPLE_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

local function upgrade(key, extra)
  return "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" ..
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " .. key .. "\r\n" .. (extra or "") .. "\r\n"
end

-- A client frame: masked with a fixed key; fin defaults to true.
local function frame(opcode, payload, fin, masked)
  local mask = "\1\2\3\4"
  local n = #payload
  local b2 = masked == false and 0 or 0x80
  local len = n < 126 and string.char(b2 | n) or n < 65536 and string.char(b2 | 126) .. string.pack(">I2", n)
    or string.char(b2 | 127) .. string.pack(">I8", n)
  local body = payload:gsub("()(.)", function(i, ch) return string.char(ch:byte() ~ mask:byte((i - 1) % 4 + 1)) end)
  return string.char((fin == false and 0 or 0x80) | opcode) .. len .. (masked == false and payload or mask .. body)
end

-- Reads one server frame: opcode, payload.
local function read_frame(c)
  local h = assert(c:read(2, 5))
  local op, len = h:byte(1) & 0x0f, h:byte(2) & 0x7f
  assert.are.equal(0x80, h:byte(1) & 0xf0) -- FIN, no RSV
  assert.are.equal(0, h:byte(2) & 0x80)    -- a server does not mask
  if len == 126 then len = string.unpack(">I2", assert(c:read(2, 5)))
  elseif len == 127 then len = string.unpack(">I8", assert(c:read(8, 5))) end
  return op, len > 0 and assert(c:read(len, 5)) or ""
end

local function with_ws(args, fn)
  xcs.run(function()
    args.port = 0
    local m = assert(xcs.load("examples/ws_echo.lua", args))
    local c = assert(S.connect("127.0.0.1", m:port()))
    c:write(upgrade(SAMPLE_KEY))
    local head = assert(c:readuntil("\r\n\r\n", 4096, 5))
    fn(c, head, m)
    assert.are.equal("running", m:status(), m:error())
  end, { timeout = 9 })
end

-- Asserts the server closed with code: its close frame, then the end of the stream.
local function closed_with(c, code)
  local op, payload = read_frame(c)
  assert.are.equal(8, op)
  assert.are.equal(code, string.unpack(">I2", payload))
  assert.are.equal("", c:read(nil, 5))
end

describe("examples/ws_echo.lua", function()
  it("answers RFC 6455's sample handshake with its Sec-WebSocket-Accept", function()
    assert.are.equal(SAMPLE_ACCEPT, xcs.base64.encode(xcs.crypto.sha1(SAMPLE_KEY ..
      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")))
    with_ws({}, function(_, head)
      local res = assert(xcs.http.parse_response(head .. "\r\n\r\n"))
      assert.are.equal(101, res.status)
      assert.are.equal("websocket", res.headers.upgrade)
      assert.are.equal(SAMPLE_ACCEPT, res.headers["sec-websocket-accept"])
    end)
  end)

  it("echoes text, binary, long and fragmented messages, and answers a ping", function()
    with_ws({}, function(c)
      c:write(frame(1, "héllo") .. frame(2, "\0\1\255") .. frame(9, "p?"))
      assert.are.same({ 1, "héllo" }, { read_frame(c) })
      assert.are.same({ 2, "\0\1\255" }, { read_frame(c) })
      assert.are.same({ 10, "p?" }, { read_frame(c) })
      local long = ("0123456789"):rep(7000)
      c:write(frame(1, long))
      assert.are.same({ 1, long }, { read_frame(c) })
      c:write(frame(1, "frag", false) .. frame(9, "mid") .. frame(0, "men", false) .. frame(0, "ted"))
      assert.are.same({ 10, "mid" }, { read_frame(c) }) -- a control frame may come between fragments
      assert.are.same({ 1, "fragmented" }, { read_frame(c) })
      c:write(frame(8, string.pack(">I2", 1000) .. "bye"))
      closed_with(c, 1000)
    end)
  end)

  for _, case in ipairs {
    { "an unmasked frame", frame(1, "x", true, false), 1002 },
    { "reserved bits", string.char(0xc1, 0x80) .. "\0\0\0\0", 1002 },
    { "a continuation of nothing", frame(0, "x"), 1002 },
    { "a new message inside another", frame(1, "a", false) .. frame(1, "b"), 1002 },
    { "a long ping", frame(9, ("x"):rep(126)), 1002 },
    { "an unknown opcode", frame(3, ""), 1002 },
    { "a bad close code", frame(8, string.pack(">I2", 1005)), 1002 },
    { "text that is not UTF-8", frame(1, "\255"), 1007 },
    { "a message over max", frame(2, ("x"):rep(2000)), 1009 },
  } do
    it("closes on " .. case[1] .. " with " .. case[3], function()
      with_ws({ max = 1000 }, function(c)
        c:write(case[2])
        closed_with(c, case[3])
      end)
    end)
  end

  it("closes an idle connection with 1001", function()
    with_ws({ idle = 0.2 }, function(c)
      closed_with(c, 1001)
    end)
  end)

  it("refuses requests that are not a WebSocket handshake", function()
    xcs.run(function()
      local m = assert(xcs.load("examples/ws_echo.lua", { port = 0 }))
      for _, case in ipairs {
        { "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 426 },
        { upgrade(SAMPLE_KEY):gsub("Version: 13", "Version: 8"), 426 },
        { upgrade("c2hvcnQ="), 400 },
        { (upgrade(SAMPLE_KEY):gsub("GET / ", "GET /x ")), 404 },
      } do
        local c = assert(S.connect("127.0.0.1", m:port()))
        c:write(case[1])
        local res = assert(xcs.http.parse_response(assert(c:readuntil("\r\n\r\n", 4096, 5)) .. "\r\n\r\n"))
        assert.are.equal(case[2], res.status)
        c:close()
      end
    end)
  end)

  it("talks to npm's ws client under xcshost", function()
    if not H.have("node") then
      return pending("node is not installed (apt-get install nodejs npm)")
    end
    -- ws goes into the build directory, next to the xcshost being tested.
    local dir = (H.XCSHOST:match("^(.*)/[^/]*$") or ".") .. "/npm"
    if not H.exists(dir .. "/node_modules/ws/package.json") then
      local ok = os.execute("env -u LD_PRELOAD npm install --prefix '" .. dir .. "' --no-save --no-audit " ..
        "--no-fund --loglevel=error ws >/dev/null 2>&1")
      if not ok or not H.exists(dir .. "/node_modules/ws/package.json") then
        return pending("npm could not install the ws client into " .. dir .. " (is the npm registry reachable?)")
      end
    end
    xcs.run(function()
      local p, port = H.start_serving("^ws_echo: listening on 127%.0%.0%.1:(%d+) %(TCP%)",
        "examples/ws_echo.lua", "port=0")
      local node = H.tool { "node", "examples/ws_client.js",
        "ws://127.0.0.1:" .. port .. "/", dir .. "/node_modules" }
      assert.are.equal(0, node:wait(9), node:output())
      local results = xcs.json.decode(node:output())
      assert.are.same({ open = true, text = true, binary = true, big = true, fragmented = true,
        pong = true, close = 1000 }, results)
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
    end, { timeout = 20 })
  end)
end)
