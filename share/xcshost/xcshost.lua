---@meta xcshost
-- xcshost.lua: what a tether module sees, for the Lua language server
-- (LuaLS). Point LuaLS at the folder this file is in (installed:
-- /usr/share/xcshost) with "workspace.library", and turn off the parts of
-- the standard library a module cannot reach:
--
--   "runtime.version": "Lua 5.4",
--   "runtime.builtin": { "io": "disable", "os": "disable", "debug": "disable",
--                        "package": "disable" },
--   "workspace.library": ["/usr/share/xcshost"]
--
-- A module also sees these globals of standard Lua, which LuaLS knows (and
-- spec/editor_spec.lua checks, with everything below, against the sandbox):
-- standard: _G _VERSION assert collectgarbage coroutine error getmetatable ipairs load math next pairs pcall rawequal rawget rawlen rawset require select setmetatable string table tonumber tostring type utf8 xpcall
-- (string without string.dump, collectgarbage("count") only, load text only,
-- require of .lua files beside the module.)

---@alias xcs.port integer|string|xcs.handle A port number (0-65535), a UNIX path, or a handle.
---@alias xcs.handle xcs.listener|xcs.tcp|xcs.udp|xcs.unixdgram

-- The socket table -----------------------------------------------------------

---The XCS Socket tether: sockets keyed by port (or path), and clients.
socket = {}

---Opens a socket: "TCP" listens on `port`, "TLS" too with a certificate, "UDP" binds it; "UNIX" and "UNIX-DGRAM" take a path.
---@param port integer|string 0-65535 (0: any free port), or a path for UNIX
---@param protocol "TCP"|"TLS"|"UDP"|"UNIX"|"UNIX-DGRAM"|string in any case
---@param opts? table TCP and UNIX: a listener's options (as socket.listen), address; UDP: address (one of --bind's, or a group or broadcast address), rcvbuf, sndbuf; TLS: { cert =, key =, certs =, alpn =, ca =, verify_client =, min_version =, ciphers =, ciphersuites =, tickets =, handshake_timeout =, max_handshakes = } (files under --tls-dir)
---@return xcs.listener|xcs.udp|xcs.unixdgram|nil handle
---@return string? message "EADDRINUSE: address already in use"
---@return string? code "EADDRINUSE"
function socket.open(port, protocol, opts) end

---Waits for data on a port: UDP gives `data, from` (an address); TCP `data, conn` ("" when that client closed).
---@param port xcs.port
---@return string? data
---@return string|xcs.tcp|nil from
---@return string? truncated
function socket.read(port) end

---Sends data: to `to`, else to the peer of this task's last read on the port; "*" sends to every TCP client.
---@param port xcs.port
---@param data string
---@param to? string|xcs.tcp|"*"
---@return integer? sent bytes, or for "*" how many clients
---@return string? message
---@return string? code
function socket.write(port, data, to) end

---Closes the socket of a port.
---@param port xcs.port
---@return true
function socket.close(port) end

---Connects to host:port (TCP by default; "TLS" verifies the server against the system's CAs and its name), or to a UNIX path; names are resolved without blocking.
---@param host string a name, an IP, "[::1]", or a path for UNIX
---@param port? integer
---@param protocol? "TCP"|"TLS"|"UDP"|"UNIX"|"UNIX-DGRAM"|string
---@param opts? table TCP: nodelay, keepalive, sndbuf, rcvbuf, maxline, maxall, read_timeout, send_timeout, timeout; TLS: those and servername, verify, ca, cert, key, alpn, min_version, ciphers, ciphersuites, handshake_timeout; UDP: rcvbuf, sndbuf
---@return xcs.tcp|xcs.udp|xcs.unixdgram|nil handle
---@return string? message
---@return string? code
function socket.connect(host, port, protocol, opts) end

---Listens on a TCP port (or UNIX path) whose clients a task takes with listener:accept().
---@param port integer|string
---@param opts? table the options each accepted connection starts with, backlog, reuseaddr, proxy_protocol, address (one of --bind's), and tls (TLS server options, as socket.open's)
---@return xcs.listener? listener
---@return string? message
---@return string? code
function socket.listen(port, opts) end

---What the module holds: one table per socket (protocol, kind, local, remote, bytes_in, bytes_out, queued, memory (TLS), clients, age, handle).
---@return table[]
function socket.list() end

-- Handles --------------------------------------------------------------------

---A TCP or UNIX stream listener.
---@class xcs.listener
local listener = {}

---socket.listen: the next client, waiting for one (nil, "ETIMEDOUT: ...", "ETIMEDOUT" after timeout seconds).
---@param timeout? number
---@return xcs.tcp? conn
---@return string? message
---@return string? code
function listener:accept(timeout) end

---socket.open: the next chunk any client sent, and its connection ("" when it closed).
---@return string? data
---@return xcs.tcp|string|nil conn
function listener:read() end

---socket.open: sends data to one client, or "*" to every client.
---@param data string
---@param to xcs.tcp|"*"
---@return integer? sent
---@return string? message
---@return string? code
function listener:write(data, to) end

---socket.open: the open client connections.
---@return xcs.tcp[]
function listener:clients() end

---The port it listens on (for port 0: the one it got).
---@return integer
function listener:port() end

---Its address, "ip:port" or the path.
---@return string
function listener:address() end

---Closes it; calling it again does nothing.
function listener:close() end

---A TCP (or UNIX stream) connection.
---@class xcs.tcp
local tcp = {}

---Reads: nothing (whatever arrived), n (exactly n bytes), "*l" (a line), "*n" (a line that is an integer, as one), "*a" (all until close); fails with nil, msg, code, partial.
---@param pattern? integer|"*l"|"*n"|"*a"
---@param timeout? number
---@return (string|integer)? data
---@return string? message
---@return string? code
---@return string? partial
function tcp:read(pattern, timeout) end

---Whatever has arrived, at most max bytes ("" once the peer closed).
---@param max integer
---@param timeout? number
---@return string? data
---@return string? message
---@return string? code
function tcp:readany(max, timeout) end

---What comes before delimiter (consumed), at most max bytes before it.
---@param delimiter string
---@param max? integer
---@param timeout? number
---@return string? data
---@return string? message
---@return string? code
---@return string? partial
function tcp:readuntil(delimiter, max, timeout) end

---What has arrived and not been read, in bytes: what a read returns without waiting.
---@return integer
function tcp:buffered() end

---Queues data now if a write would not wait, else queues nothing: nil, "EAGAIN: ...", "EAGAIN".
---@param data string
---@return integer? sent
---@return string? message
---@return string? code
function tcp:trywrite(data) end

---Queues data, waiting while too much is queued (backpressure).
---@param data string
---@param timeout? number
---@return integer? sent
---@return string? message
---@return string? code
function tcp:write(data, timeout) end

---Waits until everything written was handed to the system.
---@param timeout? number
---@return true|nil ok
---@return string? message
---@return string? code
function tcp:flush(timeout) end

---Sends FIN after what is queued (a half close); reading goes on.
---@return true|nil ok
---@return string? message
---@return string? code
function tcp:shutdown() end

---Sets the connect, send and read timeouts in seconds (nil keeps one, math.huge: none).
---@param connect? number
---@param send? number
---@param read? number
function tcp:settimeouts(connect, send, read) end

---Sets an option: nodelay, keepalive, sndbuf, rcvbuf, maxline, maxall, read_timeout, send_timeout.
---@param name string
---@param value any
---@return true|nil ok
---@return string? message
---@return string? code
function tcp:setoption(name, value) end

---Its own address, "ip:port".
---@return string
function tcp:address() end

---The peer's address, "ip:port".
---@return string
function tcp:peer() end

---Its own port.
---@return integer
function tcp:port() end

---Flushes, sends FIN and closes; "reset" drops what is queued and sends RST.
---@param how? "reset"
function tcp:close(how) end

---TLS from now on (STARTTLS): as the client, or with opts.server = true (and cert, key) as the server.
---@param opts? table the TLS options of socket.connect, or of socket.open's server with server = true
---@return true|nil ok
---@return string? message "ETLSVERIFY: certificate has expired"
---@return string? code
function tcp:starttls(opts) end

---The TLS session: version, cipher, alpn, servername, verified, subject, issuer, resumed; nil without TLS.
---@return table|nil info
---@return string? message
---@return string? code
function tcp:tlsinfo() end

---A UDP socket.
---@class xcs.udp
local udp = {}

---The next datagram and its sender ("ip:port"); nil, "ETIMEDOUT: ...", "ETIMEDOUT" after timeout seconds.
---@param timeout? number
---@return string? data
---@return string? from
---@return string? truncated
function udp:read(timeout) end

---Sends one datagram to `to` ("ip:port", or "name:port" looked up without blocking and kept), or to the connected peer.
---@param data string
---@param to? string
---@return integer? sent
---@return string? message
---@return string? code
function udp:write(data, to) end

---Sets broadcast, ttl, multicast_loop, multicast_ttl, multicast_interface, rcvbuf or sndbuf.
---@param name string
---@param value any
---@return true|nil ok
---@return string? message
---@return string? code
function udp:setoption(name, value) end

---Joins a multicast group (on interface, default the --bind address).
---@param group string
---@param interface? string
---@return true|nil ok
---@return string? message
---@return string? code
function udp:join(group, interface) end

---Leaves a multicast group.
---@param group string
---@param interface? string
---@return true|nil ok
---@return string? message
---@return string? code
function udp:leave(group, interface) end

---The port it is bound to.
---@return integer
function udp:port() end

---Its own address, "ip:port".
---@return string
function udp:address() end

---The peer's address, when connected.
---@return string?
function udp:peer() end

---Closes it.
function udp:close() end

---A UNIX datagram socket.
---@class xcs.unixdgram
local unixdgram = {}

---The next datagram and its sender's path.
---@param timeout? number
---@return string? data
---@return string? from
function unixdgram:read(timeout) end

---Sends one datagram to the path `to`, or to the connected peer.
---@param data string
---@param to? string
---@param timeout? number
---@return integer? sent
---@return string? message
---@return string? code
function unixdgram:write(data, to, timeout) end

---Its path (as port() and address()).
---@return string
function unixdgram:path() end

---Its path.
---@return string
function unixdgram:port() end

---Its path.
---@return string
function unixdgram:address() end

---The peer's path, when connected.
---@return string?
function unixdgram:peer() end

---Closes it and removes its socket file.
function unixdgram:close() end

-- Tasks, time, the log --------------------------------------------------------

---The four socket commands in the XCS documentation's form: request("socket_open", 80, "UDP") or request "socket_open 80 UDP".
---@param command string "socket_open", "socket_read", "socket_write", "socket_close", or the whole request as words
---@param ... any
---@return any ...
function request(command, ...) end

---Runs fn(...) as a new task of the module, from the next turn of the loop. An error in it fails the task alone (unless strict = true or --strict), closing what it owned; a connection given to it is reset.
---@param fn function
---@param ... any
---@return xcs.task
function spawn(fn, ...) end

---A task's handle, from spawn.
---@class xcs.task
local task = {}

---Waits for the task: true, results... once it returned; false, err if it raised or was cancelled; nil, "ETIMEDOUT: ...", "ETIMEDOUT" while it still runs after timeout seconds (0: only looks).
---@param timeout? number
---@return boolean|nil ok
---@return any ...
function task:wait(timeout) end

---Stops it now (its __close handlers run, what it owned closes): whether it was running.
---@return boolean
function task:cancel() end

---"running", "done", "failed" or "cancelled".
---@return "running"|"done"|"failed"|"cancelled"
function task:status() end

---Runs fn() as a task of its own, once, seconds from now; a pending one keeps the module running.
---@param seconds number
---@param fn function
---@return xcs.timer
function after(seconds, fn) end

---Runs fn() as a task every that many seconds (at least 0.001), from that much later on, until cancelled.
---@param seconds number
---@param fn function
---@return xcs.timer
function every(seconds, fn) end

---A timer from after or every.
---@class xcs.timer
local timer = {}

---It fires no more (what it started goes on); again: nothing.
function timer:cancel() end

---As cancel.
function timer:close() end

---A queue of at most max values (default: no bound but the module's memory) between the module's tasks.
---@param max? integer
---@return xcs.queue
function queue(max) end

---A queue: push waits while it is full, pop while it is empty.
---@class xcs.queue
local q = {}

---Adds a value (not nil), waiting while the queue is full: true, or nil, "ETIMEDOUT: ...", "ETIMEDOUT".
---@param value any
---@param timeout? number
---@return true|nil ok
---@return string? message
---@return string? code
function q:push(value, timeout) end

---The oldest value, waiting while the queue is empty (0: only looks); nil, "ETIMEDOUT: ...", "ETIMEDOUT".
---@param timeout? number
---@return any value
---@return string? message
---@return string? code
function q:pop(timeout) end

---How many values are queued.
---@return integer
function q:len() end

---Something tasks wait on until another task says so (a signal nobody waits for is not kept).
---@return xcs.condition
function condition() end

---A condition.
---@class xcs.condition
local cond = {}

---Waits for a signal: true, or nil, "ETIMEDOUT: ...", "ETIMEDOUT".
---@param timeout? number
---@return true|nil ok
---@return string? message
---@return string? code
function cond:wait(timeout) end

---Wakes one waiting task: whether there was one.
---@return boolean
function cond:signal() end

---Wakes every waiting task: how many.
---@return integer
function cond:broadcast() end

---The module's limits and usage (bytes, seconds, counts; a limit of 0 is none).
---@return { memory: integer, memory_peak: integer, memory_limit: integer, cpu_limit: number, sockets: integer, max_sockets: integer, connections: integer, max_connections: integer }
function limits() end

---Runs fn() as a task once memory passes fraction of --memory-limit, and again on a new crossing or more growth; nil stops it. Raises without a memory limit.
---@param fraction? number above 0, at most 1
---@param fn? function
---@return true?
function on_memory(fraction, fn) end

---An environment variable the operator allowed with --env NAME; nil otherwise.
---@param name string
---@return string?
function env(name) end

---Files, only where the operator says: --read-dir (read, lines, list) and the module's --data-dir (also write, remove).
fs = {}

---The bytes of a file: nil, message, code when it cannot.
---@param path string
---@return string? data
---@return string? message
---@return string? code
function fs.read(path) end

---An iterator over the lines of a file (LF ends a line, a CR before it is dropped); raises when it cannot.
---@param path string
---@return fun(): string?
function fs.lines(path) end

---The names in a directory, sorted.
---@param path string
---@return string[]? names
---@return string? message
---@return string? code
function fs.list(path) end

---Replaces a file of the module's data directory whole (atomic), within --data-quota.
---@param name string letters, digits, ".", "-", "_"; not "." first
---@param data string
---@return true|nil ok
---@return string? message
---@return string? code
function fs.write(name, data) end

---Removes a file of the module's data directory.
---@param name string
---@return true|nil ok
---@return string? message
---@return string? code
function fs.remove(name) end

---Waits that long; other tasks and modules run meanwhile.
---@param seconds number
function sleep(seconds) end

---Seconds on a monotonic clock.
---@return number
function now() end

---Ends the module now: no code, true or 0 concludes it; false or another number fails it.
---@param code? boolean|integer
---@param message? string
function exit(code, message) end

---This worker's number and the number of workers (1, 1 without --workers); state is per worker.
---@return integer number
---@return integer count
function worker() end

---Registers fn to run, as a task, when the host asks the module to stop; nil removes it.
---@param fn? function
function on_unload(fn) end

---Like Lua's print, to the host's log, tagged with the module's name (info level).
---@param ... any
function print(...) end

---The module's log: log(fmt, ...) at info, or at a level; --log-level drops what is below the host's.
---@class xcs.log
---@overload fun(fmt: any, ...: any)
log = {}

---An error line.
---@param fmt any
---@param ... any
function log.error(fmt, ...) end

---A warning line.
---@param fmt any
---@param ... any
function log.warn(fmt, ...) end

---An info line (as log(...)).
---@param fmt any
---@param ... any
function log.info(fmt, ...) end

---A debug line (dropped unless --log-level debug).
---@param fmt any
---@param ... any
function log.debug(fmt, ...) end

---The module's arguments from the command line: key=value words, as strings.
---@type table<string, string>
arg = {}

---Only these of os.
os = {}

---As Lua's os.time.
---@param t? table
---@return integer
function os.time(t) end

---As Lua's os.clock.
---@return number
function os.clock() end

---As Lua's os.date.
---@param format? string
---@param time? integer
---@return string|table
function os.date(format, time) end

---As Lua's os.difftime.
---@param t2 integer
---@param t1? integer
---@return number
function os.difftime(t2, t1) end

-- The libraries (bindings/lib_*.c) ---------------------------------------------

---JSON (RFC 8259).
json = {}

---The JSON null: keeps an array's length where nil would end it.
---@type lightuserdata
json.null = nil

---Decodes JSON text: objects and arrays become tables, null json.null; nil and a message naming the byte when malformed.
---@param text string
---@param opts? { max_depth?: integer, max_size?: integer }
---@return any value
---@return string? message
function json.decode(text, opts) end

---Encodes a value as JSON text; raises on what JSON cannot say (functions, NaN, holes, bytes that are not UTF-8, cycles).
---@param value any
---@param opts? { sort_keys?: boolean, indent?: boolean|string, max_depth?: integer }
---@return string
function json.encode(value, opts) end

---Marks t (or a new table) as an array, so an empty one encodes as []; returns it.
---@param t? table
---@return table
function json.array(t) end

---Whether v is a table marked as an array.
---@param v any
---@return boolean
function json.is_array(v) end

---Base64 (RFC 4648).
base64 = {}

---Encodes with +/ and = padding.
---@param s string
---@return string
function base64.encode(s) end

---Decodes strictly; nil and a message naming the byte on a bad character, padding or stray bits.
---@param text string
---@return string? bytes
---@return string? message
function base64.decode(text) end

---Encodes with the URL-safe alphabet -_, without padding.
---@param s string
---@return string
function base64.urlencode(s) end

---Decodes the URL-safe alphabet, with or without padding.
---@param text string
---@return string? bytes
---@return string? message
function base64.urldecode(text) end

---Hexadecimal.
hex = {}

---Encodes as lower-case hex.
---@param s string
---@return string
function hex.encode(s) end

---Decodes hex of either case; nil and a message naming the byte otherwise.
---@param text string
---@return string? bytes
---@return string? message
function hex.decode(text) end

---Digests, MACs and random bytes (OpenSSL's libcrypto); results are raw bytes.
crypto = {}

---The SHA-1 digest (20 bytes).
---@param s string
---@return string
function crypto.sha1(s) end

---The SHA-256 digest (32 bytes).
---@param s string
---@return string
function crypto.sha256(s) end

---The SHA-512 digest (64 bytes).
---@param s string
---@return string
function crypto.sha512(s) end

---HMAC of data under key.
---@param algorithm "sha1"|"sha256"|"sha512"
---@param key string
---@param data string
---@return string
function crypto.hmac(algorithm, key, data) end

---Whether two strings are equal, in time that does not depend on where they differ.
---@param a string
---@param b string
---@return boolean
function crypto.equal(a, b) end

---n random bytes (0 to 1 MiB a call).
---@param n integer
---@return string
function crypto.random(n) end

---URLs (RFC 3986) and HTML's form encoding.
url = {}

---Every byte but A-Z a-z 0-9 - . _ ~ as %XX.
---@param s string
---@return string
function url.escape(s) end

---Decodes %XX (and + as a space when plus); nil and a message on a bad escape.
---@param s string
---@param plus? boolean
---@return string? decoded
---@return string? message
function url.unescape(s, plus) end

---"a=1&b=x+y&a=2&c" -> { a = { "1", "2" }, b = "x y", c = true }; nil and a message past max (default 100) or on a bad escape.
---@param query string
---@param max? integer
---@return table<string, string|string[]|true>? args
---@return string? message
function url.parse_query(query, max) end

---The query string of t, names sorted; a list repeats its name, true writes the bare name, false leaves it out.
---@param t table<string, string|number|boolean|table>
---@return string
function url.build_query(t) end

---The parts of a URL or reference, each only when present; nil and a message when malformed.
---@param s string
---@return { scheme?: string, user?: string, password?: string, host?: string, port?: integer, path?: string, query?: string, fragment?: string }? parts
---@return string? message
function url.parse(s) end

---HTTP/1.x message heads and chunked bodies (RFC 9112), found in a buffer of the module's own.
http = {}

---@alias xcs.http_opts { max_head?: integer, max_headers?: integer, max_body?: integer }

---A request head at init (default 1): the request and the position after it; false: incomplete; nil, message, status: malformed.
---@param buf string
---@param init? integer
---@param opts? xcs.http_opts
---@return table|false|nil request { method, target, path, query, version, headers, keep_alive, chunked, length }
---@return integer|string|nil next or message
---@return integer? status 400, 413, 431, 501 or 505
function http.parse_request(buf, init, opts) end

---A response head at init: as parse_request, { version, status, reason, headers, keep_alive, chunked, length }.
---@param buf string
---@param init? integer
---@param opts? xcs.http_opts
---@return table|false|nil response
---@return integer|string|nil next or message
---@return integer? status
function http.parse_response(buf, init, opts) end

---A whole chunked body at init: body, next, trailers; false: incomplete; nil, message, status: malformed.
---@param buf string
---@param init? integer
---@param opts? xcs.http_opts
---@return string|false|nil body
---@return integer|string|nil next or message
---@return table<string, string>|integer|nil trailers or status
function http.parse_chunked(buf, init, opts) end

---t (seconds, default now) as an HTTP date: "Sun, 06 Nov 1994 08:49:37 GMT".
---@param t? integer
---@return string
function http.date(t) end

---The seconds since 1970 of an HTTP date in any of RFC 9110's three forms;
---nil and a message naming what was wrong otherwise.
---@param text string
---@return integer|nil seconds
---@return string|nil message
function http.parse_date(text) end

---The standard reason phrase of status ("Not Found"), or nil.
---@param status integer
---@return string?
function http.reason(status) end

---Milliseconds since 1970-01-01 UTC, from the real-time clock (now() is monotonic: for intervals).
---@return integer
function wallclock() end
