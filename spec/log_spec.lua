-- Logs: --log-format text|json, --log-level, and a module's log at a level
-- (log.error/warn/info/debug beside log(...) and print).
local xcs = require "xcs"
local cjson = require "cjson"
local H = require "helpers"
local S = xcs.socket

local FIXTURE = "spec/fixtures/log_levels.lua"

-- Every line of a JSON log, decoded (each must be one JSON object).
local function decode_all(out)
  local records = {}
  for _, line in ipairs(H.lines(out)) do
    local ok, r = pcall(cjson.decode, line)
    assert(ok and type(r) == "table", "not a JSON object: " .. line)
    records[#records + 1] = r
  end
  return records
end

local function find(records, message)
  for _, r in ipairs(records) do
    if r.message == message then return r end
  end
end

local function run(...)
  local words = table.pack(...)
  return xcs.run(function() return H.run(table.unpack(words, 1, words.n)) end)
end

describe("the log", function()
  it("is text by default, `module: message`, at info and above", function()
    local code, out = run(FIXTURE)
    assert.are.equal(0, code, out)
    local lines = H.lines(out)
    for _, want in ipairs { "log_levels: plain 1", "log_levels: an error", "log_levels: a warning",
      "log_levels: some news", "log_levels: printed\t2", "log_levels: concluded" } do
      assert.truthy(H.has_line(lines, want), out)
    end
    assert.falsy(out:find("a detail", 1, true), out)
  end)

  it("--log-level drops what is below it", function()
    local code, out = run("--log-level", "warn", FIXTURE)
    assert.are.equal(0, code, out)
    assert.are.same({ "log_levels: an error", "log_levels: a warning" }, H.lines(out))
    code, out = run("--log-level=debug", FIXTURE)
    assert.are.equal(0, code, out)
    assert.truthy(H.has_line(H.lines(out), "log_levels: a detail"), out)
    code, out = run("--log-level", "error", FIXTURE)
    assert.are.same({ "log_levels: an error" }, H.lines(out))
  end)

  it("--log-format json: one object a line, with time (RFC 3339), level, module and message", function()
    local code, out = run("--log-format", "json", "--log-level", "debug", FIXTURE)
    assert.are.equal(0, code, out)
    local records = decode_all(out)
    for _, r in ipairs(records) do
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.time)
      assert.are.equal("log_levels", r.module)
    end
    assert.are.equal("error", find(records, "an error").level)
    assert.are.equal("warn", find(records, "a warning").level)
    assert.are.equal("info", find(records, "some news").level)
    assert.are.equal("debug", find(records, "a detail").level)
    assert.are.equal("info", find(records, "plain 1").level)
    assert.are.equal("info", find(records, "printed\t2").level)
    -- a zero byte is escaped; a byte that is not UTF-8 becomes U+FFFD
    assert.truthy(find(records, "bytes \0 \u{FFFD} \"quoted\""), out)
  end)

  it("--log-format json: socket events carry their fields; the host's own lines name no module", function()
    xcs.run(function()
      local p, port = H.start_serving('"message":"listening on [%d.]+:(%d+) %(TCP%)"',
        "--log-format", "json", "examples/echo.lua", "port=0")
      local c = assert(S.connect("127.0.0.1", port))
      c:write("x\n")
      assert.are.equal("x\n", c:read())
      p:kill("TERM")
      assert.are.equal(0, p:wait(5))
      local records = decode_all(p:output())
      local listen = find(records, "listening on 127.0.0.1:" .. port .. " (TCP)")
      assert.are.same({ event = "listen", address = "127.0.0.1:" .. port, protocol = "TCP",
        module = "echo", level = "info", time = listen.time,
        message = "listening on 127.0.0.1:" .. port .. " (TCP)" }, listen)
      local closed = find(records, "closed 127.0.0.1:" .. port .. " (TCP)")
      assert.are.equal("close", closed.event)
      local stop = find(records, "stopping on SIGTERM: unloading every module")
      assert.is_nil(stop.module)
      assert.are.equal("info", stop.level)
    end)
  end)

  it("--workers --log-format json: every line of the supervisor and the workers is JSON; " ..
    "a worker's carry its number", function()
    xcs.run(function()
      local p, port = H.start_serving('"message":"listening on [%d.]+:(%d+) %(TCP%)"',
        "--workers", "2", "--log-format", "json", "examples/echo.lua", "port=0")
      H.expect(p, '"message":"worker 2 %(pid %d+%) is serving"')
      local c = assert(S.connect("127.0.0.1", port))
      c:write("x\n")
      assert.are.equal("x\n", c:read())
      c:close()
      p:kill("TERM")
      assert.are.equal(0, p:wait(10))
      local records = decode_all(p:output())
      local listen = find(records, "listening on 127.0.0.1:" .. port .. " (TCP)")
      assert.are.equal("echo", listen.module)
      assert.truthy(listen.worker == "1" or listen.worker == "2", listen.worker)
      local pid = assert(p:output():match('"worker 1 %(pid (%d+)%) is serving"'))
      local serving = find(records, "worker 1 (pid " .. pid .. ") is serving")
      assert.are.equal("info", serving.level)
      assert.is_nil(serving.worker) -- the supervisor's own line
      for _, r in ipairs(records) do assert.truthy(r.level and r.time, cjson.encode(r)) end
    end)
  end)

  -- Runs a module of the given text with --log-format json: status, output, records.
  local function run_json(name, text)
    local dir = H.tmpdir()
    H.write(dir .. "/" .. name, text)
    local code, out = run("--log-format", "json", dir .. "/" .. name)
    H.rmdir(dir)
    return code, out, decode_all(out)
  end

  it("a failure is logged at error level", function()
    local code, out, records = run_json("boom.lua", "error('boom')\n")
    assert.are.equal(1, code, out)
    local failed
    for _, r in ipairs(records) do
      if r.message:find("^failed: ") then failed = r end
    end
    assert.are.equal("error", failed and failed.level, out)
  end)

  it("--log-format json: a module that cannot be loaded is a JSON line too", function()
    local code, out, records = run_json("broken.lua", "local x = \n")
    assert.are.equal(2, code, out)
    assert.are.equal(1, #records, out)
    assert.are.equal("error", records[1].level)
    assert.is_nil(records[1].module)
    assert.truthy(records[1].message:find("broken.lua:2: unexpected symbol near <eof>", 1, true), out)
  end)

  it("refuses a format or a level it does not know, naming it", function()
    local code, out = run("--log-format", "xml", FIXTURE)
    assert.are.equal(2, code)
    assert.truthy(out:find("bad value 'xml' for option --log-format", 1, true), out)
    code, out = run("--log-level", "loud", FIXTURE)
    assert.are.equal(2, code)
    assert.truthy(out:find("bad value 'loud' for option --log-level", 1, true), out)
  end)
end)

describe("a module's log", function()
  it("has every level in the test host's capture, and log(...) works as before", function()
    local lines, status = H.run_module(FIXTURE)
    assert.are.equal("concluded", status)
    for _, want in ipairs { "plain 1", "an error", "a warning", "some news", "a detail", "printed\t2" } do
      assert.truthy(H.has_line(lines, want), table.concat(lines, "\n"))
    end
  end)

  it("raises on a level it does not have, and its levels cannot be replaced", function()
    xcs.run(function()
      local dir = H.tmpdir()
      H.write(dir .. "/bad.lua", [[
        log(select(2, pcall(function() return log.loud end)))
        log(select(2, pcall(function() log.warn = print end)))
        log(select(2, pcall(log, "%d", "x")))
        log(tostring(getmetatable(log)))
      ]])
      local m = assert(xcs.load(dir .. "/bad.lua"))
      assert.are.equal("concluded", (m:wait()))
      H.rmdir(dir)
      local lines = m:logs()
      assert.truthy(H.find_line(lines, "log.loud: no such level (error, warn, info, debug)"), table.concat(lines, "\n"))
      assert.truthy(H.find_line(lines, "log: its levels cannot be changed"), table.concat(lines, "\n"))
      assert.truthy(H.find_line(lines, "bad argument #2 to 'format'"), table.concat(lines, "\n"))
      assert.truthy(H.has_line(lines, "false"), table.concat(lines, "\n"))
    end)
  end)
end)
