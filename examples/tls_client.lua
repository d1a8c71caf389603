-- tls_client.lua: fetches a page over HTTPS and prints it, verifying the
-- server's certificate: against the system's CAs (/etc/ssl/certs), or with
-- ca= against a private CA's file under --tls-dir. A certificate that does
-- not verify (expired, for another host, of an unknown CA) fails the
-- module with OpenSSL's reason.
--
--   xcshost --tls-dir /tmp/certs examples/tls_client.lua \
--       url=https://localhost:8443/ ca=ca.pem
local url = arg.url or "https://localhost:8443/"
local host, port, path = url:match("^https://([^/:]+):?(%d*)(/?.*)$")
assert(host, "url must look like https://host[:port]/path, got " .. url)
port = tonumber(port) or 443
if path == "" then path = "/" end

local c = assert(socket.connect(host, port, "TLS", { ca = arg.ca, alpn = { "http/1.1" } }))
local info = c:tlsinfo()
print(("%s with %s, %s; certificate of %s, verified"):format(info.version, host,
  info.cipher, info.subject))
c:write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"):format(path, host))

local status = assert(c:read("*l"))
print(status)
local length
repeat -- the headers
  local line = assert(c:read("*l"))
  length = length or tonumber(line:lower():match("^content%-length:%s*(%d+)"))
until line == ""
local body = length and assert(c:read(length)) or assert(c:read("*a"))
print(body)
c:close()
