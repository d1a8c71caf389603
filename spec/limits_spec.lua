-- limits_spec.lua: what a module may hold and which ports it may open.
local xcs = require "xcs"
local H = require "helpers"
local S = xcs.socket

-- Runs a module made of `source` to its end: its log lines, status, error.
local function run_source(source, args)
  local path = os.tmpname()
  H.write(path, source)
  local lines, status, err = H.run_module(path, args)
  os.remove(path)
  return lines, status, err
end

describe("module limits", function()
  after_each(function()
    xcs.configure { max_sockets = 0, max_connections = 0, ports = "0,1024-65535" }
  end)

  it("refuses a socket past --max-sockets with EMFILE, and counts closes", function()
    xcs.configure { max_sockets = 3 }
    local lines, status, err = run_source([[
      local held = {}
      for i = 1, 3 do held[i] = assert(socket.open(0, i == 2 and "UDP" or "TCP")) end
      print("4th:", socket.open(0, "TCP"))
      print("connect:", socket.connect("127.0.0.1", held[1]:port()))
      held[3]:close()
      print("after close:", socket.open(0, "UDP") ~= nil)
    ]])
    assert.are.equal("concluded", status, err)
    assert.truthy(H.match_line(lines,
      "^4th:\tnil\tEMFILE: the module holds its limit of 3 sockets %(%-%-max%-sockets%)\tEMFILE$"))
    assert.truthy(H.match_line(lines, "^connect:\tnil\tEMFILE"))
    assert.truthy(H.match_line(lines, "^after close:\ttrue$"))
  end)

  it("keeps privileged ports for modules granted them with --ports", function()
    local lines, status = run_source([[
      print("80:", socket.open(80, "TCP"))
      print("udp 53:", socket.open(53, "UDP"))
    ]])
    assert.are.equal("concluded", status)
    assert.truthy(H.match_line(lines,
      "^80:\tnil\tEACCES: this host lets modules open ports 0,1024%-65535, not 80 %(%-%-ports%)\tEACCES$"))
    assert.truthy(H.match_line(lines, "^udp 53:\tnil\tEACCES"))
  end)

  it("opens only the ports --ports lists", function()
    local l = xcs.run(H.closed_port)
    xcs.configure { ports = ("0,%d"):format(l) }
    local lines, status = run_source(([[
      print("listed:", socket.open(%d, "TCP") ~= nil)
      print("other:", socket.open(%d, "TCP"))
    ]]):format(l, l == 65535 and 65534 or l + 1))
    assert.are.equal("concluded", status)
    assert.truthy(H.match_line(lines, "^listed:\ttrue$"))
    assert.truthy(H.match_line(lines, "^other:\tnil\tEACCES"))
  end)

  it("closes accepted clients past --max-connections, and takes new ones as others leave", function()
    xcs.configure { max_connections = 2 }
    xcs.run(function()
      local m = assert(xcs.load("examples/echo.lua", { port = 0 }))
      local a = assert(S.connect("127.0.0.1", m:port()))
      local b = assert(S.connect("127.0.0.1", m:port()))
      a:write("a"); assert.are.equal("a", a:read())
      b:write("b"); assert.are.equal("b", b:read())
      local c = assert(S.connect("127.0.0.1", m:port()))
      local data = c:read()
      assert.is_true(data == "" or data == nil) -- closed at once, never served
      a:close()
      -- the host frees a's place once its close is done: retry a few times
      local served
      for _ = 1, 50 do
        local d = assert(S.connect("127.0.0.1", m:port()))
        d:write("d")
        served = d:read()
        if served == "d" then break end
        xcs.sleep(0.01)
      end
      assert.are.equal("d", served)
      local logs = table.concat(m:logs(), "\n")
      assert.matches("limit of 2 connections", logs)
    end)
  end)
end)
