/*
 * tls_opts.c — TLS options from Lua into an engine config, with every file
 * confined to --tls-dir.
 */
#include "bindings/tls_opts.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/errors.h"
#include "bindings/handle.h"
#include "bindings/openssl.h"
#include "bindings/stream.h"
#include "bindings/tls_stream.h"

static int bad(lua_State *L, const char *fname, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return xcs_raise_at_caller(L, "%s: bad option '%s': %s", fname, name, lua_tostring(L, -1));
}

static const char *type_of(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) return lua_pushfstring(L, "\"%s\"", lua_tostring(L, idx));
  if (lua_type(L, idx) == LUA_TNUMBER || lua_type(L, idx) == LUA_TBOOLEAN)
    return luaL_tolstring(L, idx, NULL);
  return luaL_typename(L, idx);
}

/* Whether p is dir or below it (both absolute, canonical). */
static int inside(const char *p, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1) return p[0] == '/';
  return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* The file named by the string at vidx, resolved under --tls-dir; pushes
 * the absolute path into the anchor table at anchor and returns it. */
static const char *file_at(lua_State *L, int vidx, int anchor, const char *fname,
                           const char *name) {
  if (lua_type(L, vidx) != LUA_TSTRING || lua_rawlen(L, vidx) == 0)
    bad(L, fname, name, "expected a file name (a string), got %s", type_of(L, vidx));
  const char *given = lua_tostring(L, vidx);
  const char *dir = xcs_module_of(L)->host->opt.tls_dir;
  if (dir == NULL)
    bad(L, fname, name, "\"%s\": this host reads no certificate files; start it with "
        "--tls-dir DIR to allow those under DIR", given);
  char realdir[PATH_MAX], real[PATH_MAX];
  if (realpath(dir, realdir) == NULL)
    bad(L, fname, name, "the --tls-dir directory %s: %s", dir, strerror(errno));
  const char *full = given[0] == '/' ? given : lua_pushfstring(L, "%s/%s", realdir, given);
  if (realpath(full, real) == NULL) {
    int e = errno;
    bad(L, fname, name, "\"%s\" (%s): %s", given, full, strerror(e));
  }
  if (!inside(real, realdir))
    bad(L, fname, name, "\"%s\" resolves to %s, outside the --tls-dir directory %s", given, real,
        realdir);
  lua_pushstring(L, real);
  const char *p = lua_tostring(L, -1);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  return p;
}

static const char *string_at(lua_State *L, int vidx, int anchor, const char *fname,
                             const char *name) {
  if (lua_type(L, vidx) != LUA_TSTRING)
    bad(L, fname, name, "expected a string, got %s", type_of(L, vidx));
  lua_pushvalue(L, vidx);
  const char *p = lua_tostring(L, -1);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  return p;
}

/* certs = { ["a.example"] = { cert =, key = }, ... } */
static void read_certs(lua_State *L, int vidx, int anchor, const char *fname, xcs_tls_opts *o) {
  if (!lua_istable(L, vidx))
    bad(L, fname, "certs", "expected a table of { cert =, key = } by server name, got %s",
        type_of(L, vidx));
  lua_pushnil(L);
  while (lua_next(L, vidx)) {
    int v = lua_gettop(L);
    if (lua_type(L, v - 1) != LUA_TSTRING)
      bad(L, fname, "certs", "names are strings (server names), got %s", type_of(L, v - 1));
    if (o->cfg.ncerts > XCS_TLS_MAX_NAMES)
      bad(L, fname, "certs", "at most %d server names", XCS_TLS_MAX_NAMES);
    if (!lua_istable(L, v) || lua_getfield(L, v, "cert") == LUA_TNIL ||
        lua_getfield(L, v, "key") == LUA_TNIL)
      bad(L, fname, "certs", "[\"%s\"] must be { cert = FILE, key = FILE }", lua_tostring(L, v - 1));
    int i = o->cfg.ncerts ? o->cfg.ncerts : 1; /* [0] is the default */
    xcs_tls_cert *c = &o->cfg.certs[i];
    c->name = string_at(L, v - 1, anchor, fname, "certs");
    c->cert = file_at(L, v + 1, anchor, fname, "certs");
    c->key = file_at(L, v + 2, anchor, fname, "certs");
    o->cfg.ncerts = i + 1;
    lua_settop(L, v - 1);
  }
}

static void read_alpn(lua_State *L, int vidx, int anchor, const char *fname, xcs_tls_opts *o) {
  if (!lua_istable(L, vidx))
    bad(L, fname, "alpn", "expected a list of protocol names such as { \"h2\", \"http/1.1\" }, "
        "got %s", type_of(L, vidx));
  int n = (int)lua_rawlen(L, vidx);
  if (n > XCS_TLS_MAX_ALPN) bad(L, fname, "alpn", "at most %d protocols", XCS_TLS_MAX_ALPN);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, vidx, i);
    size_t len;
    if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &len), len == 0 || len > 255))
      bad(L, fname, "alpn", "protocol names are strings of 1 to 255 bytes, got %s",
          type_of(L, -1));
    o->cfg.alpn[i - 1] = string_at(L, lua_gettop(L), anchor, fname, "alpn");
    lua_pop(L, 1);
  }
  o->cfg.nalpn = n;
}

static double seconds_at(lua_State *L, int vidx, const char *fname, const char *name) {
  lua_Number s = lua_tonumber(L, vidx);
  if (lua_type(L, vidx) != LUA_TNUMBER || !(s > 0))
    bad(L, fname, name, "expected seconds (a number > 0, or math.huge), got %s", type_of(L, vidx));
  return isinf(s) ? -1 : s;
}

static const char *const server_names[] = {"cert", "key", "certs", "ca", "verify_client", "alpn",
                                           "min_version", "ciphers", "ciphersuites", "tickets",
                                           "handshake_timeout", "max_handshakes", NULL};
static const char *const client_names[] = {"servername", "verify", "ca", "cert", "key", "alpn",
                                           "min_version", "ciphers", "ciphersuites",
                                           "handshake_timeout", NULL};

static int known(const char *const *names, const char *name) {
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

/* One option; stack: ... key value (at v). */
static void read_one(lua_State *L, int v, int anchor, const char *fname, int server,
                     xcs_tls_opts *o) {
  const char *name = lua_tostring(L, v - 1);
  xcs_tls_config *c = &o->cfg;
  if (strcmp(name, "cert") == 0 || strcmp(name, "key") == 0) {
    const char *f = file_at(L, v, anchor, fname, name);
    *(name[0] == 'c' ? &c->certs[0].cert : &c->certs[0].key) = f;
    if (c->ncerts == 0) c->ncerts = 1;
  } else if (strcmp(name, "certs") == 0) {
    read_certs(L, v, anchor, fname, o);
  } else if (strcmp(name, "ca") == 0) {
    c->ca = file_at(L, v, anchor, fname, name);
  } else if (strcmp(name, "verify_client") == 0) {
    if (lua_type(L, v) == LUA_TSTRING && strcmp(lua_tostring(L, v), "optional") == 0)
      c->verify = 2;
    else if (lua_isboolean(L, v))
      c->verify = lua_toboolean(L, v);
    else
      bad(L, fname, name, "expected true, false or \"optional\", got %s", type_of(L, v));
  } else if (strcmp(name, "verify") == 0) {
    if (!lua_isboolean(L, v)) bad(L, fname, name, "expected true or false, got %s", type_of(L, v));
    c->verify = lua_toboolean(L, v);
  } else if (strcmp(name, "servername") == 0) {
    o->servername = lua_toboolean(L, v) ? string_at(L, v, anchor, fname, name) : NULL;
  } else if (strcmp(name, "alpn") == 0) {
    read_alpn(L, v, anchor, fname, o);
  } else if (strcmp(name, "min_version") == 0) {
    const char *s = lua_type(L, v) == LUA_TSTRING ? lua_tostring(L, v) : "";
    if (strcmp(s, "TLS1.2") == 0)
      c->min_version = TLS1_2_VERSION;
    else if (strcmp(s, "TLS1.3") == 0)
      c->min_version = TLS1_3_VERSION;
    else
      bad(L, fname, name, "expected \"TLS1.2\" or \"TLS1.3\", got %s", type_of(L, v));
  } else if (strcmp(name, "ciphers") == 0) {
    c->ciphers = string_at(L, v, anchor, fname, name);
  } else if (strcmp(name, "ciphersuites") == 0) {
    c->ciphersuites = string_at(L, v, anchor, fname, name);
  } else if (strcmp(name, "tickets") == 0) {
    if (!lua_isboolean(L, v)) bad(L, fname, name, "expected true or false, got %s", type_of(L, v));
    c->tickets = lua_toboolean(L, v);
  } else if (strcmp(name, "handshake_timeout") == 0) {
    o->handshake_timeout = seconds_at(L, v, fname, name);
  } else if (strcmp(name, "max_handshakes") == 0) {
    int isint;
    lua_Integer n = lua_tointegerx(L, v, &isint);
    if (!isint || n < 1 || n > INT_MAX)
      bad(L, fname, name, "expected an integer > 0, got %s", type_of(L, v));
    c->max_handshakes = (int)n;
  }
  (void)server;
}

int xcs_tls_opts_read(lua_State *L, int idx, const char *fname, int server, const char *host,
                      xcs_tls_opts *o) {
  idx = lua_absindex(L, idx);
  xcs_tls_config_default(&o->cfg, server);
  o->servername = host;
  o->handshake_timeout = XCS_TLS_HANDSHAKE_TIMEOUT;
  lua_newtable(L); /* the anchor */
  int anchor = lua_gettop(L);
  if (lua_isnoneornil(L, idx)) return anchor;
  if (!lua_istable(L, idx))
    xcs_raise_at_caller(L, "%s: bad TLS options: expected a table, got %s", fname,
                        luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int v = lua_gettop(L);
    if (lua_type(L, v - 1) != LUA_TSTRING)
      xcs_raise_at_caller(L, "%s: bad TLS option: names are strings, got %s", fname,
                          luaL_typename(L, v - 1));
    const char *name = lua_tostring(L, v - 1);
    if (!known(server ? server_names : client_names, name))
      xcs_raise_at_caller(L, "%s: unknown TLS option '%s' for a %s", fname, name,
                          server ? "server" : "client");
    read_one(L, v, anchor, fname, server, o);
    lua_settop(L, v - 1);
  }
  xcs_tls_cert *d = &o->cfg.certs[0];
  if (server && d->cert == NULL)
    xcs_raise_at_caller(L, "%s: bad option 'cert': a TLS server needs its certificate and key "
                        "(cert = FILE, key = FILE, under --tls-dir)", fname);
  if ((d->cert == NULL) != (d->key == NULL))
    xcs_raise_at_caller(L, "%s: bad option '%s': cert and key go together", fname,
                        d->cert ? "key" : "cert");
  if (server && o->cfg.verify && o->cfg.ca == NULL)
    xcs_raise_at_caller(L, "%s: bad option 'ca': verify_client needs the CA file that signs "
                        "client certificates (ca = FILE)", fname);
  return anchor;
}

static int ctx_gc(lua_State *L) {
  xcs_tls_ctx **box = lua_touserdata(L, 1);
  xcs_tls_ctx_unref(*box);
  *box = NULL;
  return 0;
}

xcs_tls_ctx *xcs_tls_opts_ctx(lua_State *L, int anchor, const xcs_tls_opts *o,
                              const char *fname) {
  /* Said here, where the message can name the call, rather than as
   * xcs_tls_ctx_new's "tls: ..." (which would read as a bad option). */
  const char *missing = xcs_openssl_load();
  if (missing) xcs_raise_at_caller(L, "%s: TLS %s", fname, missing);
  anchor = lua_absindex(L, anchor);
  xcs_tls_ctx **box = lua_newuserdatauv(L, sizeof *box, 1); /* owns one ref: no leak on a raise */
  *box = NULL;
  lua_pushvalue(L, anchor); /* and keeps the strings o points to */
  lua_setiuservalue(L, -2, 1);
  if (luaL_newmetatable(L, "xcs.tlsctx")) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  char err[512];
  *box = xcs_tls_ctx_new(&o->cfg, err, sizeof err);
  if (*box == NULL) {
    const char *colon = strchr(err, ':');
    if (colon && colon[1] == ' ') {
      lua_pushlstring(L, err, (size_t)(colon - err));
      xcs_raise_at_caller(L, "%s: bad option '%s': %s", fname, lua_tostring(L, -1), colon + 2);
    }
    xcs_raise_at_caller(L, "%s: %s", fname, err);
  }
  return *box; /* the box stays on the stack: the caller takes its own ref */
}
