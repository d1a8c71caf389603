-- lib/http_server.lua: the HTTP/1.1 connection loop the HTTP examples share
-- (require "lib.http_server" from a module beside lib/), over the host's
-- `http` library.
--
-- serve(conn, handler [, opts]) keeps the connection's receive buffer
-- itself and lets http.parse_request find each request in it, so pipelined
-- requests are parsed from one read and answered with one write. Request
-- bodies (Content-Length or chunked) are read whole, up to max_body. For
-- each request it calls handler(req, body), which returns
--
--   status, body [, headers]   an answer: headers is a table of name ->
--                              value (Content-Type defaults to text/plain;
--                              Connection = "close" closes after it)
--   "upgrade", fn              fn(conn, rest) takes the connection over:
--                              rest is what arrived after the request
--
-- Connections stay open between requests (HTTP/1.1 by default; HTTP/1.0
-- when it asks for keep-alive) until the client says "Connection: close"
-- or stays idle `idle` seconds. A malformed request gets the parser's
-- status (400, 413, 431, 501, 505), a request that stops half-way 408;
-- each then closes.
local M = {}

local DEFAULTS = { idle = 5, max_head = 8192, max_body = 1024 * 1024 }

-- One response, as a string; without `keep` it says the connection will close.
function M.response(status, body, headers, keep, head_only)
  local lines = { ("HTTP/1.1 %d %s\r\nDate: %s\r\n"):format(status, http.reason(status) or "Unknown",
    http.date()) }
  headers = headers or {}
  if not headers["Content-Type"] then lines[#lines + 1] = "Content-Type: text/plain\r\n" end
  local names = {}
  for name in pairs(headers) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do lines[#lines + 1] = name .. ": " .. headers[name] .. "\r\n" end
  lines[#lines + 1] = ("Content-Length: %d\r\n%s\r\n"):format(#body, keep and "" or "Connection: close\r\n")
  if not head_only then lines[#lines + 1] = body end
  return table.concat(lines)
end

function M.serve(c, handler, opts)
  opts = opts or {}
  for k, v in pairs(DEFAULTS) do
    if opts[k] == nil then opts[k] = v end
  end
  local limits = { max_head = opts.max_head, max_body = opts.max_body }
  local buf, at = "", 1 -- buf:sub(at) has arrived and is not parsed yet
  local out = {}        -- answers waiting to be written, in order

  -- Writes what is answered, then waits for more bytes: false once the
  -- connection is to close (after a 408 if a request stalled half-way).
  local function more()
    if #out > 0 then
      c:write(table.concat(out))
      out = {}
    end
    local data, _, code = c:readany(65536, opts.idle)
    if data and data ~= "" then
      buf, at = buf:sub(at) .. data, 1
      return true
    end
    if code == "ETIMEDOUT" and not buf:sub(at):find("^[\r\n]*$") then
      c:write(M.response(408, "Request Timeout\n"))
    end
    return false
  end

  local function fail(status)
    out[#out + 1] = M.response(status, http.reason(status) .. "\n")
  end

  -- The body of req, from `at` on (moving at past it); nil when the
  -- connection is to close.
  local function body_of(req)
    if req.chunked then
      while true do
        local body, after, status = http.parse_chunked(buf, at, limits)
        if body then
          at = after
          return body
        elseif body == nil then
          return fail(status)
        elseif not more() then
          return nil
        end
      end
    end
    local n = req.length or 0
    if n > opts.max_body then return fail(413) end
    while #buf - at + 1 < n do
      if not more() then return nil end
    end
    at = at + n
    return buf:sub(at - n, at - 1)
  end

  while true do
    local req, next_at, status = http.parse_request(buf, at, limits)
    if req == false then
      if not more() then break end
    elseif req == nil then
      fail(status)
      break
    else
      at = next_at
      local body = body_of(req)
      if not body then break end
      local code, answer, headers = handler(req, body)
      if code == "upgrade" then
        if #out > 0 then c:write(table.concat(out)) end
        return answer(c, buf:sub(at))
      end
      local keep = req.keep_alive
      if headers and headers.Connection == "close" then -- the handler ends it
        keep, headers.Connection = false, nil
      end
      if req.version == "1.0" and keep then
        headers = headers or {}
        headers.Connection = "keep-alive"
      end
      out[#out + 1] = M.response(code, answer, headers, keep, req.method == "HEAD")
      if not keep then break end
    end
  end
  if #out > 0 then c:write(table.concat(out)) end
  c:close() -- flushes what was answered, then FIN
end

return M
