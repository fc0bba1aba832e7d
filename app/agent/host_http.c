/* host_http.c: ctx.http.get / ctx.http.post for tool scripts (libcurl): only http
 * and https (also after a redirect), at most 5 redirects, connect and total
 * timeouts bounded by what is left of the call's time, the body capped at
 * max_http_body (the transfer stops there and the result says truncated), and the
 * cancel flag and the deadline checked from curl's progress callback. */
#include "agent/sandbox.h"

#include <ctype.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HTTP_MAX_REDIRECTS 5
#define HTTP_HEADERS_CAP (64 * 1024)  /* bytes of response headers kept */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    sandbox *sb;
    size_t cap;
    char *body;
    size_t len, alloc;
    bool truncated, oom;
    char *headers;  /* the header lines of the last response (redirects start it over) */
    size_t hlen;
    long status;
} transfer;

static bool append_bytes(char **buf, size_t *len, size_t *alloc, const char *data, size_t n) {
    if (*len + n + 1 > *alloc) {
        size_t grown = *alloc ? *alloc : 4096;
        while (grown < *len + n + 1) grown *= 2;
        char *p = realloc(*buf, grown);
        if (!p) return false;
        *buf = p;
        *alloc = grown;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    transfer *t = user;
    size_t n = size * nmemb;
    size_t room = t->cap - t->len;
    size_t take = n < room ? n : room;
    if (take && !append_bytes(&t->body, &t->len, &t->alloc, data, take)) {
        t->oom = true;
        return 0;
    }
    if (take < n) {
        t->truncated = true;
        return 0;  /* stop the transfer: the cap is reached */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user) {
    transfer *t = user;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) t->hlen = 0;  /* a new response (after a redirect) */
    if (t->hlen + n < HTTP_HEADERS_CAP) {
        memcpy(t->headers + t->hlen, data, n);
        t->hlen += n;
        t->headers[t->hlen] = '\0';
    }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    transfer *t = user;
    return sandbox_should_stop(t->sb) ? 1 : 0;
}

/* ---- the result table ---------------------------------------------------------------- */

static void push_header_table(lua_State *L, const char *raw, size_t len) {
    lua_newtable(L);
    int tbl = lua_gettop(L);
    const char *p = raw, *end = raw + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p && !(eol - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
            luaL_Buffer name;
            luaL_buffinit(L, &name);
            for (const char *c = p; c < colon; c++) luaL_addchar(&name, (char)tolower((unsigned char)*c));
            luaL_pushresult(&name);
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            lua_pushvalue(L, -1);
            if (lua_rawget(L, tbl) == LUA_TSTRING) {  /* a repeated header: join with ", " */
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, tbl);
        }
        p = eol + 1;
    }
}

static int push_response(lua_State *L) {
    transfer *t = lua_touserdata(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, t->status);
    lua_setfield(L, -2, "status");
    push_header_table(L, t->headers, t->hlen);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, t->body ? t->body : "", t->len);
    lua_setfield(L, -2, "body");
    lua_pushboolean(L, t->truncated);
    lua_setfield(L, -2, "truncated");
    return 1;
}

/* ---- the request ---------------------------------------------------------------------- */

/* Reads the options table at idx: headers (name -> value strings) into *list (with
 * the content type for a POST), the timeout into *timeout. Raises on a bad option
 * before anything is allocated that could leak, except *list, which it frees. */
static void read_options(lua_State *L, int idx, bool post, struct curl_slist **list, double *timeout) {
    *list = NULL;
    const char *content_type = "application/json";
    if (lua_isnoneornil(L, idx)) {
        if (post) *list = curl_slist_append(NULL, "Content-Type: application/json");
        return;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
        luaL_argcheck(L, lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0, idx, "timeout must be a positive number");
        if (lua_tonumber(L, -1) < *timeout) *timeout = lua_tonumber(L, -1);
    }
    if (lua_getfield(L, idx, "content_type") != LUA_TNIL) {
        luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, idx, "content_type must be a string");
        content_type = lua_tostring(L, -1);
    }
    int headers = lua_getfield(L, idx, "headers");
    luaL_argcheck(L, headers == LUA_TNIL || headers == LUA_TTABLE, idx, "headers must be a table");
    int htbl = lua_gettop(L);
    const char *bad = NULL;
    char line[8192];
    if (post) {
        if (strpbrk(content_type, "\r\n")) bad = "content_type holds a line break";
        if (snprintf(line, sizeof line, "Content-Type: %s", content_type) >= (int)sizeof line) bad = "content_type is too long";
        else *list = curl_slist_append(*list, line);
    }
    if (headers == LUA_TTABLE) {
        lua_pushnil(L);
        while (!bad && lua_next(L, htbl)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
                bad = "headers must map names to strings";
            } else {
                const char *name = lua_tostring(L, -2), *value = lua_tostring(L, -1);
                if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") || !*name) bad = "a header name or value holds a line break or a colon";
                else if (snprintf(line, sizeof line, "%s: %s", name, value) >= (int)sizeof line) bad = "a header is longer than 8 KiB";
                else {
                    struct curl_slist *grown = curl_slist_append(*list, line);
                    if (!grown) bad = "out of memory";
                    else *list = grown;
                }
            }
            lua_pop(L, 1);
        }
        if (bad) lua_pop(L, 1);
    }
    if (bad) {
        curl_slist_free_all(*list);
        *list = NULL;
        luaL_argerror(L, idx, bad);
    }
}

static int http_request(lua_State *L, bool post) {
    const char *url = luaL_checkstring(L, 1);
    size_t body_len = 0;
    const char *body = post ? luaL_checklstring(L, 2, &body_len) : NULL;
    int opts = post ? 3 : 2;
    sandbox_check(L);
    sandbox *sb = sandbox_from(L);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: only http:// and https:// URLs are allowed", url);
        return 2;
    }
    double timeout = sandbox_remaining_s(sb);
    struct curl_slist *headers = NULL;
    read_options(L, opts, post, &headers, &timeout);
    pthread_once(&curl_once, curl_init_once);

    transfer t = {.sb = sb, .cap = sandbox_limits(sb)->max_http_body};
    t.headers = malloc(HTTP_HEADERS_CAP);
    CURL *curl = t.headers ? curl_easy_init() : NULL;
    if (!curl) {
        free(t.headers);
        curl_slist_free_all(headers);
        return luaL_error(L, "http: out of memory");
    }
    t.headers[0] = '\0';
    char errbuf[CURL_ERROR_SIZE] = "";
    long timeout_ms = (long)(timeout * 1000) + 1;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRECTS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "gemma4-agent/1");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (post) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);

    char reason[CURL_ERROR_SIZE + 160] = "";
    if (t.oom) snprintf(reason, sizeof reason, "out of memory while reading the response");
    else if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t.truncated)) reason[0] = '\0';
    else if (rc == CURLE_TOO_MANY_REDIRECTS) snprintf(reason, sizeof reason, "more than %d redirects", HTTP_MAX_REDIRECTS);
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL) snprintf(reason, sizeof reason, "redirected to a URL that is not http or https");
    else if (rc == CURLE_OPERATION_TIMEDOUT) snprintf(reason, sizeof reason, "timed out after %.3g s", timeout);
    else snprintf(reason, sizeof reason, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (reason[0]) {
        free(t.body);
        free(t.headers);
        /* curl's clock may fire a few ms before the call's deadline it was given:
         * a timeout that close to the deadline is the deadline */
        double left = sandbox_remaining_s(sb);
        if (rc == CURLE_OPERATION_TIMEDOUT && left < 0.05) usleep((useconds_t)(left * 1e6) + 1000);
        sandbox_check(L);  /* a cancel or the call's deadline ends the script, not just the request */
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", url, reason);
        return 2;
    }
    int status = sandbox_push_protected(L, push_response, &t);
    free(t.body);
    free(t.headers);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

static int http_get(lua_State *L) { return http_request(L, false); }
static int http_post(lua_State *L) { return http_request(L, true); }

void host_http_push(lua_State *L) {
    static const luaL_Reg functions[] = {{"get", http_get}, {"post", http_post}, {NULL, NULL}};
    luaL_newlib(L, functions);
}
