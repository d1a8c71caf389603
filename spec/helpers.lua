-- helpers.lua: what more than one spec needs, done one way: assertions on
-- errors and network outcomes, log-line finders, reads, ports, running
-- modules and the real xcshost, temporary files. Every spec (spec/ and
-- examples/) gets it as `local H = require "helpers"`: busted runs them with
-- --lpath=spec/?.lua. Helpers that wait or do I/O are called inside xcs.run.
--
-- A helper one spec needs stays in that spec; it moves here when a second
-- needs it (defence_helpers.lua holds what only the defence specs share).
local xcs = require "xcs"
local luassert = require "luassert" -- busted's assert: a miss is a failure, not an error
local busted = require "busted"
local S = xcs.socket

local H = {}

-- Assertions ------------------------------------------------------------------

-- Asserts that f(...) raises an error containing each of texts (plain); returns it.
function H.raises(texts, f, ...)
  local ok, err = pcall(f, ...)
  luassert.is_false(ok, "expected an error containing: " .. table.concat(texts, " | "))
  err = tostring(err)
  for _, text in ipairs(texts) do
    luassert.truthy(err:find(text, 1, true), ("%q not in error: %s"):format(text, err))
  end
  return err
end

-- Asserts that a call returned the network outcome nil, "CODE: text", "CODE"; returns the text.
function H.outcome(code, ok, msg, got)
  luassert.is_nil(ok)
  luassert.are.equal(code, got)
  luassert.are.equal("string", type(msg))
  luassert.truthy(msg:find("^" .. code .. ": ."), msg)
  return msg
end

-- Asserts a failed read: H.outcome, then exactly `partial` (nil: none) and nothing more.
function H.failed_read(code, partial, ok, msg, got, rest, ...)
  H.outcome(code, ok, msg, got)
  luassert.are.equal(partial, rest)
  luassert.are.equal(0, select("#", ...))
  return msg
end

-- Asserts that the echo module m still answers a new connection, and still runs.
function H.assert_serves(m)
  local c = assert(S.connect("127.0.0.1", m:port()))
  luassert.are.equal(8, c:write("still up"))
  luassert.are.equal("still up", c:read(), "the neighbour stopped serving")
  c:close()
  luassert.are.equal("running", m:status())
end

-- Log lines (m:logs(), xcs.logs()) -----------------------------------------------

-- The lines of a text (a process's output): a list, without their newlines.
function H.lines(text)
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- The keys of a table, sorted: a set to compare with assert.are.same.
function H.sorted_keys(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- Whether one of lines is exactly text.
function H.has_line(lines, text)
  for _, line in ipairs(lines) do
    if line == text then return true end
  end
  return false
end

-- The first of lines containing the plain text `text`, or nil.
function H.find_line(lines, text)
  for _, line in ipairs(lines) do
    if line:find(text, 1, true) then return line end
  end
end

-- The first of lines matching a Lua pattern: its captures, or the line if it has none.
function H.match_line(lines, pattern)
  for _, line in ipairs(lines) do
    local found = table.pack(line:find(pattern))
    if found[1] then
      if found.n > 2 then return table.unpack(found, 3, found.n) end
      return line
    end
  end
end

-- s as a Lua pattern that matches it literally (a path, say).
function H.plain(s)
  return (s:gsub("%p", "%%%0"))
end

-- Reading ---------------------------------------------------------------------

-- Reads until n bytes came (TCP may split or join them) or the peer closed; fails on an error.
function H.read_n(conn, n)
  local parts, len = {}, 0
  for _ = 1, 10000 do
    if len >= n then break end
    local data, err = conn:read()
    assert(data, err)
    if data == "" then break end
    parts[#parts + 1] = data
    len = len + #data
  end
  return table.concat(parts)
end

-- Reads until the peer's orderly close ("" from read) and returns what came; fails on an error.
function H.read_to_end(c, max_reads)
  local parts = {}
  for _ = 1, max_reads or 10000 do
    local data, err, code = c:read()
    assert(data, ("read failed: %s (%s)"):format(tostring(err), tostring(code)))
    if data == "" then return table.concat(parts) end
    parts[#parts + 1] = data
  end
  error("the peer never closed")
end

-- Connects with socket.connect(...), sends `what`, returns one reply (or connect's nil, msg, code).
function H.ask(what, ...)
  local c, err, code = S.connect(...)
  if not c then return nil, err, code end
  c:write(what)
  local reply = c:read()
  c:close()
  return reply
end

-- Sockets ---------------------------------------------------------------------

-- A connected TCP pair on loopback: client c and server side s, from a socket.listen(0, opts).
function H.pair(opts)
  local l = assert(S.listen(0, opts))
  local c = assert(S.connect("127.0.0.1", l:port()))
  local s = assert(l:accept(5))
  l:close()
  return c, s
end

-- A TCP listener and a UDP socket on one port number, and the number (tried a few times).
function H.open_both()
  for _ = 1, 20 do
    local t = assert(S.open(0, "TCP"))
    local u = S.open(t:port(), "UDP")
    if u then return t, u, t:port() end
    S.close(t)
  end
  error("no port number free for both TCP and UDP")
end

-- A port number nobody listens on now, for TCP nor UDP, and none of this module's.
function H.closed_port()
  local t, u, p = H.open_both()
  S.close(t)
  S.close(u)
  return p
end

-- Opens and socket.closes `proto` on port p if it can, leaving no stale port-keyed entry
-- (handle:close() leaves one behind: see the pending core-bug spec in errors_spec).
function H.scrub(p, proto)
  local h = S.open(p, proto)
  if h then S.close(h) end
end

-- Modules ---------------------------------------------------------------------

-- Runs the module at path to its end in an xcs.run of its own: its log lines, status, error.
function H.run_module(path, args, opts)
  return xcs.run(function()
    local m = assert(xcs.load(path, args))
    local status, err = m:wait()
    return m:logs(), status, err
  end, opts)
end

-- Waits (a bounded number of loop turns) until m received n datagrams, counted before faults.
function H.until_received(m, n)
  for _ = 1, 2000 do
    if m:faults().received >= n then return end
    xcs.sleep(0)
  end
  error("the module received " .. m:faults().received .. " of " .. n .. " datagrams")
end

-- Waits (5 s at most, or timeout) until one of m's log lines contains text; returns it.
function H.until_logged(m, text, timeout)
  local deadline = xcs.now() + (timeout or 5)
  repeat
    local line = H.find_line(m:logs(), text)
    if line then return line end
    xcs.sleep(0.01)
  until xcs.now() > deadline
  error(("no log line containing %q; the log was:\n%s"):format(text, table.concat(m:logs(), "\n")), 2)
end

-- A real binary chunk, made here (specs run in plain Lua 5.4).
H.BINARY_CHUNK = string.dump(function() return "ran a binary chunk" end)

-- s in hex, to hand bytes to a module as a key=value argument.
function H.hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- The real xcshost ------------------------------------------------------------

H.XCSHOST = os.getenv("XCSHOST") or "build/xcshost"

-- How much slower than usual things run (scripts/valgrind sets XCS_TIME_SCALE): the
-- waits below, and a spec's own deadlines for what it starts, are that much longer.
H.SCALE = tonumber(os.getenv("XCS_TIME_SCALE")) or 1

-- Starts xcshost with the given words (stdout and stderr merged).
function H.start(...)
  return assert(xcs.process { H.XCSHOST, ... })
end

-- Runs xcshost to its end (10 s at most): exit status and everything it printed.
function H.run(...)
  local p = H.start(...)
  local code, signal = p:wait(10 * H.SCALE)
  assert(code, "xcshost did not exit within " .. 10 * H.SCALE .. " s")
  assert(signal == 0, "xcshost was killed by signal " .. tostring(signal))
  return code, p:output()
end

-- Waits for a line of p matching pattern: its captures, or the line; raises with the output.
function H.expect(p, pattern, timeout)
  local res = table.pack(p:expect(pattern, (timeout or 5) * H.SCALE))
  if res[1] == nil then
    error(("no line matching %q (%s); output was:\n%s"):format(pattern, tostring(res[2]),
      p:output()), 2)
  end
  if res.n > 1 then return table.unpack(res, 2, res.n) end
  return res[1]
end

-- Starts xcshost and waits for the line whose capture is the port it serves: process, port.
function H.start_serving(pattern, ...)
  local p = H.start(...)
  return p, tonumber(H.expect(p, pattern))
end

-- Real clients (curl, wrk, redis-cli, node) ----------------------------------

-- Whether program is on PATH (a spec without it is pending, saying what to install).
function H.have(program)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == true
end

-- Starts another program, {program, args...}, without the sanitizer build's
-- LD_PRELOAD (curl and node hang under it; groff and others fail); argv as
-- xcs.process takes it.
function H.tool(argv)
  local words = { "env", "-u", "LD_PRELOAD" }
  for i = 1, #argv do words[#words + 1] = argv[i] end
  for k, v in pairs(argv) do -- named options of xcs.process pass through
    if math.type(k) ~= "integer" then words[k] = v end
  end
  return assert(xcs.process(words))
end

-- Runs wrk for a second on url (10 connections) and asserts it was happy:
-- requests done, no socket errors, no non-2xx answers. Prints the rate.
function H.wrk(url)
  local wrk = H.tool { "wrk", "-t1", "-c10", "-d1s", url }
  assert(wrk:wait(8) == 0, "wrk failed: " .. wrk:output())
  local out = wrk:output()
  local requests = tonumber(out:match("(%d+) requests in "))
  assert(requests and requests > 0, "wrk did no requests: " .. out)
  assert(not out:find("Socket errors"), out)
  assert(not out:find("Non%-2xx"), out)
  print(("\nwrk -t1 -c10 -d1s %s: %s requests/s"):format(url, out:match("Requests/sec:%s*([%d.]+)")))
end

-- Files and directories -------------------------------------------------------

local function sh(cmd) return os.execute(cmd) == true end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- A new empty directory under /tmp.
function H.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(sh("mkdir -m 700 " .. quote(d)), "cannot make " .. d)
  return d
end

-- Removes a directory H.tmpdir made, with everything in it.
function H.rmdir(d)
  if d and d:match("^/tmp/") then sh("rm -rf " .. quote(d)) end
end

-- Makes a directory (and its parents).
function H.mkdir(path) assert(sh("mkdir -p " .. quote(path))) end

-- The whole text of the file at path.
function H.read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- Writes text to the file at path, replacing what was there.
function H.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Whether something is at path (renaming a file onto itself works exactly when it exists).
function H.exists(path) return os.rename(path, path) ~= nil end

-- Whether path is a socket file.
function H.is_socket(path) return sh("test -S " .. quote(path)) end

-- Gives each test of the enclosing block a new --unix-dir (handed to set), removed after it.
function H.fresh_unix_dir(set)
  local dir
  busted.before_each(function()
    dir = H.tmpdir()
    xcs.configure { unix_dir = dir }
    set(dir)
  end)
  busted.after_each(function()
    xcs.configure { unix_dir = false }
    H.rmdir(dir)
  end)
end

-- Throwaway TLS test material (scripts/tls-certs: ca.pem, server.pem/.key, ...) in a
-- directory made once per busted run, which H.tls_cleanup removes: its path.
local tls_certs
function H.tls_certs()
  if not tls_certs then
    tls_certs = H.tmpdir()
    assert(sh("scripts/tls-certs " .. quote(tls_certs)), "scripts/tls-certs failed")
  end
  return tls_certs
end

function H.tls_cleanup()
  H.rmdir(tls_certs)
  tls_certs = nil
end

-- A tool (a shell command line, exec'd: kill() reaches it) whose input is a FIFO, so it
-- keeps running until told: s.send(line) sends it a line when the spec wants, s.say(line)
-- sends it and waits for it to come back (an echo), s.close() ends it; s.p is the process.
function H.fed(cmdline)
  local fifo = os.tmpname()
  os.remove(fifo)
  assert(sh("mkfifo " .. quote(fifo)))
  local p = H.tool { "sh", "-c", "exec " .. cmdline .. " < " .. quote(fifo) }
  local input = assert(io.open(fifo, "r+")) -- read-write: the open never blocks
  local s = { p = p }
  function s.send(line)
    input:write(line, "\n")
    input:flush()
  end
  function s.say(line)
    s.send(line)
    H.expect(p, "^" .. line:gsub("%p", "%%%0") .. "$")
  end
  function s.close()
    input:close()
    p:kill("TERM")
    p:wait(5 * H.SCALE)
    os.remove(fifo)
  end
  return s
end

-- An openssl s_client session to 127.0.0.1:port trusting dir/ca.pem (more words after),
-- kept open as H.fed does (a line "R" or "K" alone is s_client's renegotiate or key update).
function H.s_client_session(dir, port, ...)
  return H.fed(("openssl s_client -connect 127.0.0.1:%d -CAfile %s -verify_return_error %s")
    :format(port, quote(dir .. "/ca.pem"), table.concat({ ... }, " ")))
end

-- Leaves a stale socket file at path, as a crashed server does (path's directory is --unix-dir).
function H.make_stale(path)
  local tmp = path:match("^(.*)/") .. "/.making-stale.sock"
  local l = assert(S.listen(tmp))
  assert(os.rename(tmp, path)) -- a listener's file renamed away before it closes
  l:close() -- its own file is gone: nothing is removed
  assert(H.is_socket(path))
end

return H
