-- defence_cli_spec.lua: the defence as an operator meets it on the real
-- xcshost: each limit in --help with its default, bad values refused, and
-- the limits set on the command line taking effect, told on stderr.
local xcs = require "xcs"
local S = xcs.socket
local HH = require "helpers"
local H = require "defence_helpers"

describe("xcshost's defence options", function()
  it("are all in --help, with their defaults", function()
    xcs.run(function()
      local code, out = HH.run("--help")
      assert.are.equal(0, code)
      for _, opt in ipairs {
        "biting only\nwhen file descriptors run short (RLIMIT_NOFILE",
        "Hard limits, off by default (0):",
        "--max-clients N      clients open at once per listener\n",
        "--max-per-address N  connections open at once from one remote address",
        "--accept-rate N      clients admitted per second per listener\n",
        "--accept-burst N     ... of which N may come at once (default 1000",
        "--first-data-timeout S",
        "--idle-timeout S     ... or within S seconds of the last byte\n",
        "--max-sockets N",
        "(default 0: no cap)",
        "--max-queued BYTES",
        "(default 16M",
        "--report-interval S",
        "(default 5; 0: every event)",
      } do
        assert.truthy(out:find(opt, 1, true), opt .. " missing from the usage")
      end
    end)
  end)

  it("refuse a bad value with exit status 2", function()
    xcs.run(function()
      for _, words in ipairs {
        { "--max-per-address", "-1" }, { "--accept-rate", "fast" }, { "--max-queued", "16Q" },
        { "--idle-timeout", "nan" }, { "--accept-burst", "0" },
      } do
        local code, out = HH.run(words[1], words[2], "examples/echo.lua")
        assert.are.equal(2, code, table.concat(words, " "))
        assert.are.equal(("xcshost: bad value '%s' for option %s (see xcshost --help)\n")
          :format(words[2], words[1]), out)
      end
    end)
  end)

  it("take effect: a client over the per-address limit and a silent one are closed, and said so",
    function()
      xcs.run(function()
        local p = HH.start("--max-per-address", "2", "--first-data-timeout=1",
          "--report-interval", "60", "examples/echo.lua", "port=0")
        local port = tonumber(HH.expect(p, "^echo: listening on 127%.0%.0%.1:(%d+) %(TCP%)$"))
        local silent = assert(S.connect("127.0.0.1", port)) -- 1 of 2, says nothing
        local how, held = H.try(port) -- 2 of 2
        assert.are.equal("admitted", how)
        for _ = 1, 3 do assert.are.equal("refused", H.try(port)) end
        HH.expect(p, ("^echo: refused a connection from 127%%.0%%.0%%.1 to 127%%.0%%.0%%.1:%d "
          .. "over the per%%-address limit %%(2%%)$"):format(port))
        assert.are.equal("", silent:read()) -- closed after 1 s of silence
        HH.expect(p, ("^echo: closed a client from 127%%.0%%.0%%.1 of 127%%.0%%.0%%.1:%d that "
          .. "sent nothing within 1 s of connecting$"):format(port))
        held:write("still served\n")
        assert.are.equal("still served\n", held:read())
        silent:close()
        held:close()
        p:kill("TERM")
        assert.are.equal(0, (p:wait(5)))
        -- what was counted and not told yet is told as the listener closes
        local out = p:output()
        assert.truthy(out:find("echo: refused 2 connections from 127.0.0.1 to 127.0.0.1:" .. port
          .. " over the per-address limit (2) in the last ", 1, true), out)
      end)
    end)
end)
