-- fs_spec.lua: files and the environment, only where the operator says:
-- fs.read, fs.lines, fs.list under --read-dir and the module's data
-- directory, fs.write and fs.remove there (--data-dir, --data-quota), and
-- env(name) for --env NAME. The ways out are tried in escape_spec.lua.
local xcs = require "xcs"
local H = require "helpers"
local fs = xcs.fs


describe("fs", function()
  local a, b, data
  before_each(function()
    a, b, data = H.tmpdir(), H.tmpdir(), H.tmpdir()
    H.write(a .. "/page.html", "<h1>hi</h1>")
    H.write(a .. "/lines.txt", "one\r\ntwo\n\nlast")
    H.mkdir(a .. "/sub")
    H.write(a .. "/sub/c.txt", "in a")
    H.write(b .. "/only_b.txt", "in b")
    H.write(b .. "/page.html", "b's page")
    xcs.configure { read_dirs = { a, b }, data_dir = data, data_quota = 1000 }
  end)
  after_each(function()
    H.rmdir(a)
    H.rmdir(b)
    H.rmdir(data)
  end)

  it("fs.read reads a file under the first --read-dir that has it", function()
    xcs.run(function()
      assert.are.equal("<h1>hi</h1>", fs.read("page.html"))
      assert.are.equal("in b", fs.read("only_b.txt"))
      assert.are.equal("in a", fs.read("sub/c.txt"))
      assert.are.equal("in a", fs.read("./sub/../sub/c.txt"))
      assert.are.equal("b's page", fs.read(b .. "/page.html")) -- absolute: that directory
      H.outcome("ENOENT", fs.read("missing.txt"))
      H.outcome("EISDIR", fs.read("sub"))
    end)
  end)

  it("fs.lines gives each line without its LF (or CRLF), the last one too", function()
    xcs.run(function()
      local got = {}
      for line in fs.lines("lines.txt") do got[#got + 1] = line end
      assert.are.same({ "one", "two", "", "last" }, got)
      H.raises({ "ENOENT: fs.lines: no file \"missing.txt\"" }, fs.lines, "missing.txt")
    end)
  end)

  it("fs.list gives the names in a directory, sorted", function()
    xcs.run(function()
      assert.are.same({ "c.txt" }, fs.list("sub"))
      assert.are.same({ "only_b.txt", "page.html" }, fs.list(b))
      H.outcome("ENOTDIR", fs.list("page.html"))
    end)
  end)

  it("fs.write replaces a file whole, fs.read reads it back, fs.remove removes it", function()
    xcs.run(function()
      assert.is_true(fs.write("snap", "first"))
      assert.are.equal("first", fs.read("snap"))
      assert.is_true(fs.write("snap", "second, longer"))
      assert.are.equal("second, longer", fs.read("snap"))
      assert.are.same({ "snap" }, fs.list(data .. "/spec"))
      assert.is_true(fs.write("empty", ""))
      assert.are.equal("", fs.read("empty"))
      assert.is_true(fs.remove("snap"))
      H.outcome("ENOENT", fs.read("snap"))
      H.outcome("ENOENT", fs.remove("snap"))
    end)
    -- the module's files are DIR/NAME/*: the spec is the module "spec"
    assert.is_false(H.exists(data .. "/spec/snap"))
    assert.is_true(H.exists(data .. "/spec/empty"))
  end)

  it("holds a module to --data-quota, counting every file it keeps", function()
    xcs.run(function()
      assert.is_true(fs.write("a", string.rep("x", 600)))
      local msg = H.outcome("EDQUOT", fs.write("b", string.rep("y", 500)))
      assert.matches("500 more bytes in \"b\" would put the module's data at 1100 bytes, " ..
        "over its quota of 1000 %(%-%-data%-quota%)", msg)
      H.outcome("ENOENT", fs.read("b")) -- nothing of it was written
      assert.is_true(fs.write("a", string.rep("x", 1000))) -- a replaced file counts once
      H.outcome("EDQUOT", fs.write("b", "1"))
      assert.are.equal(1000, #fs.read("a")) -- the refused write left "a" alone
    end)
  end)

  it("gives each module a data directory of its own", function()
    xcs.run(function()
      local m = assert(xcs.load("spec/fixtures/fs_own.lua", { value = "from one" }))
      assert.are.equal("concluded", m:wait())
      assert.truthy(H.find_line(m:logs(), "mine\tfrom one"))
      m = assert(xcs.load("spec/fixtures/fs_own.lua")) -- the same name: the same files
      assert.are.equal("concluded", m:wait())
      assert.truthy(H.find_line(m:logs(), "mine\tfrom one"))
      H.outcome("ENOENT", fs.read("mine")) -- not the spec's
    end)
  end)

  it("raises on misuse, naming the function and what was wrong", function()
    xcs.run(function()
      H.raises({ "fs.read: bad argument #1 (path): expected a string, got number" }, fs.read, 1)
      H.raises({ "fs.write: bad argument #2 (data): expected a string, got nil" }, fs.write, "x")
      H.raises({ "fs.write: bad argument #1 (name): expected the name of one of the module's " ..
        "files (letters, digits, '.', '-' and '_', not '.' first" }, fs.write, "a/b", "x")
      H.raises({ "fs.remove: bad argument #1 (name)" }, fs.remove, ".hidden")
    end)
    H.raises({ "fs.read: can only wait inside a task" }, fs.read, "page.html")
  end)

  it("without the options, every call raises naming the option to give", function()
    xcs.configure { read_dirs = false, data_dir = false }
    xcs.run(function()
      H.raises({ "fs.read: this host lets modules read no files (start it with --read-dir DIR" },
        fs.read, "page.html")
      H.raises({ "fs.list: this host lets modules read no files" }, fs.list, ".")
      H.raises({ "fs.write: this host lets modules write no files (start it with --data-dir DIR)" },
        fs.write, "a", "b")
      H.raises({ "fs.remove: this host lets modules write no files" }, fs.remove, "a")
    end)
  end)

  it("reads under --data-dir alone too: the module's own files", function()
    xcs.configure { read_dirs = false }
    xcs.run(function()
      H.outcome("ENOENT", fs.read("snap")) -- nothing written yet: no directory either
      assert.is_true(fs.write("snap", "kept"))
      assert.are.equal("kept", fs.read("snap"))
      assert.are.same({ "snap" }, fs.list("."))
    end)
  end)
end)

describe("env", function()
  it("gives the variables --env exposes, nil for one that is not set", function()
    xcs.configure { env = { "HOME", "XCS_SURELY_UNSET" } }
    xcs.run(function()
      assert.are.equal(os.getenv("HOME"), xcs.env("HOME"))
      assert.is_nil(xcs.env("XCS_SURELY_UNSET"))
      H.raises({ "env: PATH is not exposed to modules (this host exposes HOME and " ..
        "XCS_SURELY_UNSET; --env PATH would expose it)" }, xcs.env, "PATH")
    end)
  end)

  it("exposes nothing by default", function()
    H.raises({ "env: this host exposes no environment variable (start it with --env HOME" },
      xcs.env, "HOME")
  end)
end)

describe("xcshost --read-dir, --data-dir, --env", function()
  it("give a module the files and variables named, and nothing without them", function()
    local rd, dd = H.tmpdir(), H.tmpdir()
    finally(function() H.rmdir(rd); H.rmdir(dd) end)
    H.write(rd .. "/a.txt", "hello")
    local out, code, plain = xcs.run(function()
      local p = assert(xcs.process { H.XCSHOST, "--read-dir", rd, "--data-dir", dd, "--env",
        "XCS_FS_VAR", "spec/fixtures/fs_probe.lua",
        env = { XCS_FS_VAR = "from env", XCS_OTHER = "x" } })
      assert.are.equal(0, p:wait(10), p:output())
      return p:output(), H.run("spec/fixtures/fs_probe.lua") -- no options at all
    end, { timeout = 25 })
    assert.truthy(out:find("fs_probe: read\thello\n", 1, true), out)
    assert.truthy(out:find("fs_probe: env\tfrom env\n", 1, true), out)
    assert.truthy(out:find("fs_probe: back\tsaved\n", 1, true), out)
    assert.is_true(H.exists(dd .. "/fs_probe/snap"))
    assert.are.equal(1, code)
    assert.truthy(plain:find("fs_probe: failed: spec/fixtures/fs_probe.lua:3: fs.read: this " ..
      "host lets modules read no files (start it with --read-dir DIR", 1, true), plain)
  end)

  it("refuses a bad --env name and names the option", function()
    local code, out = xcs.run(H.run, "--env", "A=B", "spec/fixtures/fs_probe.lua")
    assert.are.equal(2, code)
    assert.truthy(out:find("bad value 'A=B' for option --env", 1, true), out)
  end)
end)
