-- request_spec.lua: the XCS request form of the four socket commands, as a
-- call and as one string of words.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket
local request = xcs.request

local function run(fn) return xcs.run(fn, { timeout = 8 }) end

local UNKNOWN = "(expected socket_open, socket_read, socket_write or socket_close)"

describe("request as a call", function()
  it("opens, reads, writes and closes a UDP port", function()
    run(function()
      local h = request("socket_open", 0, "UDP")
      assert.truthy(tostring(h):find("^xcs%.udp"))
      local p = h:port()
      local c = assert(S.connect("127.0.0.1", p, "UDP"))
      c:write("question")
      local data, from = request("socket_read", p)
      assert.are.equal("question", data)
      assert.are.equal(c:address(), from)
      assert.are.equal(6, request("socket_write", p, "answer")) -- to the last peer
      assert.are.equal(4, request("socket_write", p, "more", from))
      assert.are.equal("answer", (c:read()))
      assert.are.equal("more", (c:read()))
      assert.is_true(request("socket_close", p))
      H.raises({ "attempt to use a closed socket" }, h.port, h)
    end)
  end)

  it("opens, reads, writes and closes a TCP port, protocol in any case", function()
    run(function()
      local h = request("socket_open", 0, "tcp")
      assert.truthy(tostring(h):find("^xcs%.listener"))
      local p = h:port()
      local c = assert(S.connect("127.0.0.1", p))
      c:write("question")
      local data, conn = request("socket_read", p)
      assert.are.equal("question", data)
      assert.are.equal(c:address(), conn:peer())
      assert.are.equal(6, request("socket_write", p, "answer"))
      assert.are.equal(1, request("socket_write", p, "!", "*"))
      assert.are.equal("answer!", H.read_n(c, 7))
      assert.is_true(request("socket_close", p))
      assert.are.equal("", c:read())
    end)
  end)

  it("takes handles where the socket table does", function()
    run(function()
      local h = request("socket_open", 0, "Udp")
      local c = assert(S.connect("127.0.0.1", h:port(), "UDP"))
      c:write("x")
      assert.are.equal("x", (request("socket_read", h)))
      assert.are.equal(1, request("socket_write", h, "y"))
      assert.are.equal("y", (c:read()))
      assert.is_true(request("socket_close", h))
    end)
  end)

  it("returns nil, message, code for network outcomes, like the socket table", function()
    run(function()
      local p = S.open(0, "TCP"):port()
      local m = assert(xcs.load("spec/fixtures/sock_open.lua", { port = 0, hold = true }))
      H.outcome("EADDRINUSE", request("socket_open", m:port(), "TCP"))
      assert.truthy(p) -- the spec's own port is unaffected
    end)
  end)

  it("takes the port as a number, as the socket table does", function()
    run(function()
      H.raises({ "socket.open: bad argument #1 (port)", 'got "0"' }, request, "socket_open", "0", "UDP")
      H.raises({ "socket.open: bad argument #2 (protocol)", 'got "SCTP"' },
        request, "socket_open", 0, "SCTP")
    end)
  end)
end)

describe("request as one string", function()
  it("opens, reads, writes and closes a UDP port", function()
    run(function()
      local h = request "socket_open 0 UDP"
      assert.truthy(tostring(h):find("^xcs%.udp"))
      local p = h:port()
      H.scrub(p, "TCP")
      local c = assert(S.connect("127.0.0.1", p, "UDP"))
      c:write("question")
      local data, from = request("socket_read " .. p)
      assert.are.equal("question", data)
      assert.are.equal(c:address(), from)
      assert.are.equal(11, request("socket_write " .. p .. " hello world"))
      assert.are.equal("hello world", (c:read()))
      assert.is_true(request("socket_close " .. p))
      H.raises({ "socket.read: port " .. p .. " is not open in this module" },
        request, "socket_read " .. p)
    end)
  end)

  it("opens, reads, writes and closes a TCP port", function()
    run(function()
      local h = request "socket_open 0 TCP"
      assert.truthy(tostring(h):find("^xcs%.listener"))
      local p = h:port()
      local c = assert(S.connect("127.0.0.1", p))
      c:write("question")
      local data, conn = request("socket_read " .. p)
      assert.are.equal("question", data)
      assert.are.equal(c:address(), conn:peer())
      assert.are.equal(11, request("socket_write " .. p .. " hello world"))
      assert.are.equal("hello world", H.read_n(c, 11))
      assert.is_true(request("socket_close " .. p))
      assert.are.equal("", c:read())
    end)
  end)

  it("takes the protocol in any case", function()
    run(function()
      for _, proto in ipairs { "udp", "Udp", "tcp", "tCP" } do
        local h = request("socket_open 0 " .. proto)
        local want = proto:upper() == "TCP" and "^xcs%.listener" or "^xcs%.udp"
        assert.truthy(tostring(h):find(want), proto)
        assert.is_true(request("socket_close " .. h:port()))
      end
    end)
  end)

  it("reads the port's digits as a number", function()
    run(function()
      local p = H.closed_port()
      local h = assert(request("socket_open " .. p .. " UDP"))
      assert.are.equal(p, h:port())
      assert.is_true(request(("socket_close %d"):format(p)))
      -- only decimal digits make a port: other notations are refused as words
      assert.has_error(function() request(("socket_open 0x%x UDP"):format(p)) end,
        ("socket.open: bad argument #1 (port): expected an integer from 0 to 65535, got \"0x%x\""):format(p))
    end)
  end)

  it("sends everything after the port as the data, spaces and all", function()
    run(function()
      local p = request("socket_open 0 UDP"):port()
      local c = assert(S.connect("127.0.0.1", p, "UDP"))
      c:write("hi")
      request("socket_read " .. p)
      for _, data in ipairs { "hello world", "a  b   c", "trailing ", " leading", "x", "tab\there",
          "socket_close " .. p } do
        assert.are.equal(#data, request("socket_write " .. p .. " " .. data))
        assert.are.equal(data, (c:read()))
      end
    end)
  end)

  it("allows spaces around the words of a command", function()
    run(function()
      local h = request "  socket_open   0   udp  "
      local p = h:port()
      assert.is_true(request("  socket_close   " .. p .. "  "))
    end)
  end)

  it("returns nil, message, code for network outcomes, like the socket table", function()
    run(function()
      local m = assert(xcs.load("spec/fixtures/sock_open.lua", { port = 0, proto = "UDP", hold = true }))
      H.outcome("EADDRINUSE", request("socket_open " .. m:port() .. " UDP"))
    end)
  end)

  for _, proto in ipairs { "UDP", "TCP" } do
    it("serves from a module written in the request form (" .. proto .. ")", function()
      run(function()
        local m = assert(xcs.load("spec/fixtures/sock_request.lua", { port = 0, proto = proto }))
        assert.are.equal("running", m:status())
        local c = assert(S.connect("127.0.0.1", m:port(), proto))
        c:write("ping")
        assert.are.equal("got ping", proto == "TCP" and H.read_n(c, 8) or (c:read()))
        c:write("two words")
        assert.are.equal("got two words", proto == "TCP" and H.read_n(c, 13) or (c:read()))
        c:write("quit")
        c:close()
        assert.are.equal("concluded", (m:wait()))
        assert.truthy(H.find_line(m:logs(), "closed 127.0.0.1:" .. m:port() .. " (" .. proto .. ")"))
      end)
    end)
  end
end)

describe("request errors", function()
  it("an unknown command raises, naming it", function()
    run(function()
      H.raises({ 'request: unknown command "socket_frobnicate"', UNKNOWN },
        request, "socket_frobnicate 80")
      H.raises({ 'request: unknown command "socket_connect"' },
        request, "socket_connect", "127.0.0.1", 80)
      H.raises({ 'request: unknown command "socket_connect"' }, request, "socket_connect 127.0.0.1 80")
      H.raises({ 'request: unknown command "open"' }, request, "open 80 UDP")
      H.raises({ 'request: unknown command "socket_opn"' }, request, "socket_opn 80 UDP")
      H.raises({ 'request: unknown command "socket_open_80"' }, request, "socket_open_80")
      H.raises({ 'request: empty command', UNKNOWN }, request, "")
    end)
  end)

  it("a command that is not a string raises", function()
    run(function()
      local want = 'request: bad argument #1 (command): expected a string such as "socket_open 80 UDP"'
      H.raises({ want, "got nil" }, request)
      H.raises({ want, "got 42" }, request, 42)
      H.raises({ want, "got table" }, request, { "socket_open", 80, "UDP" })
    end)
  end)

  it("a one-string command followed by more values raises", function()
    run(function()
      H.raises({ 'request: unknown command "socket_open 0 UDP"' }, request, "socket_open 0 UDP", "x")
    end)
  end)

  it("a blank command raises a request error", function()
    run(function()
      H.raises({ "request:" }, request, "   ")
    end)
  end)

  it("bad words in the string raise as the socket table does", function()
    run(function()
      local open = "socket.open: bad argument #1 (port): expected an integer from 0 to 65535"
      H.raises({ open, 'got "abc"' }, request, "socket_open abc UDP")
      H.raises({ open, "got 70000" }, request, "socket_open 70000 UDP")
      H.raises({ open, 'got "-1"' }, request, "socket_open -1 UDP")
      H.raises({ open, 'got "1.5"' }, request, "socket_open 1.5 UDP")
      H.raises({ open, "got nil" }, request, "socket_open")
      H.raises({ 'socket.open: bad argument #2 (protocol): expected "TCP", "UDP" or "TLS", got "SCTP"' },
        request, "socket_open 0 SCTP")
      H.raises({ "socket.open: bad argument #2 (protocol)", "got nil" }, request, "socket_open 0")
      H.raises({ "socket.read: bad argument #1 (port)", "got nil" }, request, "socket_read")
      H.raises({ "socket.read: bad argument #1 (port)", 'got "eighty"' }, request, "socket_read eighty")
      H.raises({ "socket.write: bad argument #1 (port)", "got nil" }, request, "socket_write")
      H.raises({ "socket.close: bad argument #1 (port)", "got 65536" }, request, "socket_close 65536")
      local p = H.closed_port()
      H.raises({ "socket.close: port " .. p .. " is not open in this module" },
        request, "socket_close " .. p)
      H.raises({ "socket.write: port " .. p .. " is not open in this module" },
        request, "socket_write " .. p .. " data")
    end)
  end)

  it("a string write with no peer to reply to raises", function()
    run(function()
      local p = request("socket_open 0 UDP"):port()
      H.raises({ "socket.write: bad argument #3 (to)", "nothing was read from this socket" },
        request, "socket_write " .. p .. " hello")
    end)
  end)
end)
