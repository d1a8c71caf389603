-- https_hello.lua: examples/http_hello.lua over TLS, the same server with a
-- certificate: "Hello, world!\n" at /, keep-alive, pipelining, the same
-- errors and timeouts. The certificate and key are files under the host's
-- --tls-dir (scripts/tls-certs makes test ones: server.pem, server.key).
--
-- Run it:
--   scripts/tls-certs /tmp/certs
--   xcshost --tls-dir /tmp/certs examples/https_hello.lua port=8443
-- Try it:
--   curl --cacert /tmp/certs/ca.pem https://localhost:8443/
--   wrk -t1 -c10 -d5s https://localhost:8443/
local accept_all = require "http_hello" -- listens on port= (8443) with cert= and key=
accept_all()
