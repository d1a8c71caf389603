-- unix_helpers.lua: temporary --unix-dir directories and socket files for
-- the unix_*_spec files.
local xcs = require "xcs"

local H = {}

H.XCSHOST = os.getenv("XCSHOST") or "build/xcshost"

local function sh(cmd) return os.execute(cmd) == true end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
H.quote = quote

-- A new empty directory (os.tmpname-based), for --unix-dir.
function H.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(sh("mkdir -m 700 " .. quote(d)), "cannot make " .. d)
  return d
end

function H.rmdir(d)
  if d and d:match("^/tmp/") then sh("rm -rf " .. quote(d)) end
end

-- Whether something (a socket file, say) is at path; renaming a file onto
-- itself succeeds exactly when it exists, with no shell.
function H.exists(path) return os.rename(path, path) ~= nil end

function H.is_socket(path) return sh("test -S " .. quote(path)) end

function H.mkdir(path) assert(sh("mkdir -p " .. quote(path))) end

function H.symlink(target, path) assert(sh("ln -s " .. quote(target) .. " " .. quote(path))) end

function H.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Leaves a stale socket file at path (a socket file nobody listens on, as a
-- crashed server leaves): a listener's file renamed away before it closes.
-- Call inside xcs.run, with --unix-dir (xcs.configure) the directory of path.
function H.make_stale(path)
  local tmp = path:match("^(.*)/") .. "/.making-stale.sock"
  local l = assert(xcs.socket.listen(tmp))
  assert(os.rename(tmp, path))
  l:close() -- its own file is gone: nothing is removed
  assert(H.is_socket(path))
end

-- Whether one of lines is exactly text.
function H.has_line(lines, text)
  for _, line in ipairs(lines) do
    if line == text then return true end
  end
  return false
end

-- Calls f(...) and checks it raised an error containing each piece (plain).
function H.raises(pieces, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  err = tostring(err)
  for _, piece in ipairs(pieces) do
    assert(err:find(piece, 1, true), ("no %q in: %s"):format(piece, err))
  end
  return err
end

return H
