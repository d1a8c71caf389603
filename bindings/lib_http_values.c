/*
 * lib_http_values.c — the HTTP values that are not framing: dates (RFC 9110
 * §5.6.7) both ways, and the standard reason phrases (§15). Part of the
 * `http` table (lib_http.c puts them in).
 *
 * A date is written in the one preferred form, IMF-fixdate, and read in
 * the three a recipient must accept: IMF-fixdate, the obsolete RFC 850
 * form (a two-digit year) and C's asctime form. Reading is strict in
 * shape (a bad field is named with its byte) and checks the calendar, so
 * "31 Feb" is refused rather than rolled over into March; the day name is
 * checked to be one, not to match the date, as browsers and nginx do.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bindings/lib.h"

static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* http.date([t]): t (seconds, os.time()) as an HTTP date, IMF-fixdate. */
static int l_date(lua_State *L) {
  time_t t = (time_t)xcs_lib_optinteger(L, 1, "http.date", "time", (lua_Integer)time(NULL));
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
    return xcs_lib_argerror(L, 1, "http.date", "time", "outside the years 0 to 9999");
  char out[40];
  snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  lua_pushstring(L, out);
  return 1;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H.
 * Hinnant's days_from_civil): no timegm, whose time_t and TZ handling vary. */
static long long days_from_civil(long long y, int m, int d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  long long yoe = y - era * 400;
  long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(long long y, int m) {
  static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return n[m - 1] + (m == 2 && leap);
}

/* A cursor over the text; fail names the first byte that did not fit. */
typedef struct scan {
  const char *s, *p, *end;
  const char *why; /* what was expected where p stopped; NULL: all fitted */
} scan;

static int fail(scan *c, const char *why) {
  if (c->why == NULL) c->why = why;
  return 0;
}

static int lit(scan *c, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
  c->p += n;
  return 1;
}

static int expect(scan *c, const char *w, const char *why) { return lit(c, w) || fail(c, why); }

/* n digits exactly (n <= 4). */
static int digits(scan *c, int n, int *v, const char *why) {
  if (c->end - c->p < n) return fail(c, why);
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (c->p[i] < '0' || c->p[i] > '9') return fail(c, why);
    x = x * 10 + (c->p[i] - '0');
  }
  c->p += n;
  *v = x;
  return 1;
}

/* One of names (case as written: the grammar's names are case-sensitive),
 * the longest first so "Sunday" is not taken as "Sun". */
static int name(scan *c, const char *const *names, int count, int *v, const char *why) {
  for (int i = 0; i < count; i++)
    if (lit(c, names[i])) {
      *v = i;
      return 1;
    }
  return fail(c, why);
}

static int time_of_day(scan *c, int *h, int *mi, int *s) {
  return digits(c, 2, h, "an hour (2 digits)") && expect(c, ":", "':' after the hour") &&
         digits(c, 2, mi, "minutes (2 digits)") && expect(c, ":", "':' after the minutes") &&
         digits(c, 2, s, "seconds (2 digits)");
}

/* The three forms; each sets the fields or c->why. A two-digit year is put
 * in the century that makes it not more than 50 years ahead (§5.6.7). */
static int parse(scan *c, int *y, int *mo, int *d, int *h, int *mi, int *s) {
  int wd, yy;
  if (name(c, long_days, 7, &wd, NULL)) { /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    if (!(expect(c, ", ", "', ' after the day name") && digits(c, 2, d, "a day (2 digits)") &&
          expect(c, "-", "'-' after the day") && name(c, months, 12, mo, "a month name such as 'Nov'") &&
          expect(c, "-", "'-' after the month") && digits(c, 2, &yy, "a year (2 digits)") &&
          expect(c, " ", "a space after the year") && time_of_day(c, h, mi, s) &&
          expect(c, " GMT", "' GMT' after the time")))
      return 0;
    struct tm now;
    time_t t = time(NULL);
    int this_year = gmtime_r(&t, &now) ? now.tm_year + 1900 : 2000;
    *y = this_year - this_year % 100 + yy;
    if (*y > this_year + 50) *y -= 100;
    return 1;
  }
  c->why = NULL;
  if (!name(c, days, 7, &wd, "a day name such as 'Sun' or 'Sunday'")) return 0;
  if (lit(c, ", ")) /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    return digits(c, 2, d, "a day (2 digits)") && expect(c, " ", "a space after the day") &&
           name(c, months, 12, mo, "a month name such as 'Nov'") &&
           expect(c, " ", "a space after the month") && digits(c, 4, y, "a year (4 digits)") &&
           expect(c, " ", "a space after the year") && time_of_day(c, h, mi, s) &&
           expect(c, " GMT", "' GMT' after the time");
  /* asctime: Sun Nov  6 08:49:37 1994 */
  if (!(expect(c, " ", "', ' or a space after the day name") &&
        name(c, months, 12, mo, "a month name such as 'Nov'") &&
        expect(c, " ", "a space after the month")))
    return 0;
  if (lit(c, " ")) {
    if (!digits(c, 1, d, "a day (a space and 1 digit, or 2 digits)")) return 0;
  } else if (!digits(c, 2, d, "a day (a space and 1 digit, or 2 digits)")) {
    return 0;
  }
  return expect(c, " ", "a space after the day") && time_of_day(c, h, mi, s) &&
         expect(c, " ", "a space after the time") && digits(c, 4, y, "a year (4 digits)");
}

/* http.parse_date(text): the seconds since 1970 (as os.time() counts) of an
 * HTTP date, or nil and a message naming the byte that did not fit. */
static int l_parse_date(lua_State *L) {
  size_t len;
  const char *s = xcs_lib_string(L, 1, "http.parse_date", "text", &len);
  scan c = {s, s, s + len, NULL};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  int ok = parse(&c, &y, &mo, &d, &h, &mi, &sec);
  if (ok && c.p != c.end) ok = fail(&c, "the end of the date");
  if (!ok) {
    lua_pushnil(L);
    lua_pushfstring(L, "http.parse_date: expected %s at byte %d (a date such as "
                       "'Sun, 06 Nov 1994 08:49:37 GMT')",
                    c.why, (int)(c.p - s) + 1);
    return 2;
  }
  mo += 1; /* name() gave 0..11 */
  const char *bad = d < 1 || d > days_in_month(y, mo) ? "no such day in that month"
                    : h > 23                          ? "an hour past 23"
                    : mi > 59                         ? "minutes past 59"
                    : sec > 60                        ? "seconds past 60"
                                                      : NULL;
  if (bad) {
    lua_pushnil(L);
    char when[64]; /* the fields as read: the text itself may be anything */
    snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, sec);
    lua_pushfstring(L, "http.parse_date: %s (%s)", bad, when);
    return 2;
  }
  if (sec == 60) sec = 59; /* a leap second: the grammar allows it, time_t has none */
  lua_pushinteger(L, (lua_Integer)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec));
  return 1;
}

/* http.reason(status): the standard reason phrase (RFC 9110 §15), or nil. */
static int l_reason(lua_State *L) {
  static const struct {
    int code;
    const char *text;
  } reasons[] = {
      {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
      {202, "Accepted"}, {204, "No Content"}, {206, "Partial Content"},
      {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
      {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
      {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
      {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"},
      {409, "Conflict"}, {410, "Gone"}, {411, "Length Required"},
      {412, "Precondition Failed"}, {413, "Content Too Large"}, {414, "URI Too Long"},
      {415, "Unsupported Media Type"}, {416, "Range Not Satisfiable"},
      {417, "Expectation Failed"}, {422, "Unprocessable Content"}, {426, "Upgrade Required"},
      {428, "Precondition Required"}, {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
      {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
      {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"}};
  lua_Integer code = xcs_lib_integer(L, 1, "http.reason", "status");
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].code == code) {
      lua_pushstring(L, reasons[i].text);
      return 1;
    }
  lua_pushnil(L);
  return 1;
}

void xcs_lib_http_values(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"date", l_date}, {"parse_date", l_parse_date}, {"reason", l_reason}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
