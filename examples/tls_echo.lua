-- tls_echo.lua: examples/echo.lua over TLS, in the port-keyed style of the
-- XCS Socket document: every client's bytes come back to it, decrypted by
-- the host and encrypted again on the way out. The certificate and key are
-- files under the host's --tls-dir (scripts/tls-certs makes test ones).
--
--   scripts/tls-certs /tmp/certs
--   xcshost --tls-dir /tmp/certs examples/tls_echo.lua port=7443
--   openssl s_client -connect 127.0.0.1:7443 -CAfile /tmp/certs/ca.pem
local port = tonumber(arg.port) or 7443

local listener = assert(socket.open(port, "TLS", {
  cert = arg.cert or "server.pem",
  key = arg.key or "server.key",
}))
port = listener:port() -- the one the system chose, when asked for port 0

while true do
  local data, from = socket.read(port)
  socket.write(port, data, from) -- "" (a client closed) writes nothing
end
