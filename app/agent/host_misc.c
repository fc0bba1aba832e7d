/* host_misc.c: the small parts of ctx for tool scripts: ctx.time (now, iso,
 * format), ctx.env.get (only the names the limits allow), ctx.html (readable text
 * and the title of a page, through libxml2's forgiving HTML parser), ctx.log, and
 * host_push_ctx, which assembles the whole ctx table. */
#include "agent/sandbox.h"

#include <lauxlib.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TIME_FORMAT_MAX 256    /* bytes of a strftime format */
#define TIME_OUTPUT_MAX 1024   /* bytes of its result */

/* ---- ctx.time ------------------------------------------------------------------------ */

static int time_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec * 1e-9);
    return 1;
}

static time_t time_arg(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx)) return time(NULL);
    lua_Number t = luaL_checknumber(L, idx);
    luaL_argcheck(L, t > -1e15 && t < 1e15, idx, "the time is out of range");
    return (time_t)t;
}

static int time_iso(lua_State *L) {
    time_t t = time_arg(L, 1);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return luaL_error(L, "time.iso: the time is out of range");
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    lua_pushstring(L, buf);
    return 1;
}

static int time_format(lua_State *L) {
    size_t flen;
    const char *fmt = luaL_checklstring(L, 1, &flen);
    luaL_argcheck(L, flen > 0 && flen <= TIME_FORMAT_MAX, 1, "the format must hold 1 to 256 bytes");
    time_t t = time_arg(L, 2);
    const char *zone = luaL_optstring(L, 3, "utc");
    bool utc = strcmp(zone, "utc") == 0;
    luaL_argcheck(L, utc || strcmp(zone, "local") == 0, 3, "the zone is \"utc\" or \"local\"");
    struct tm tm;
    if (!(utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm))) return luaL_error(L, "time.format: the time is out of range");
    char buf[TIME_OUTPUT_MAX];
    size_t n = strftime(buf, sizeof buf, fmt, &tm);
    if (n == 0) return luaL_error(L, "time.format: the result is empty or longer than %d bytes", TIME_OUTPUT_MAX);
    lua_pushlstring(L, buf, n);
    return 1;
}

void host_time_push(lua_State *L) {
    static const luaL_Reg functions[] = {{"now", time_now}, {"iso", time_iso}, {"format", time_format}, {NULL, NULL}};
    luaL_newlib(L, functions);
}

/* ---- ctx.env ------------------------------------------------------------------------- */

static int env_get(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const char *const *allow = sandbox_limits(sandbox_from(L))->env_allow;
    for (; allow && *allow; allow++) {
        if (strcmp(*allow, name) == 0) {
            const char *value = getenv(name);
            if (value) lua_pushstring(L, value);
            else lua_pushnil(L);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

void host_env_push(lua_State *L) {
    static const luaL_Reg functions[] = {{"get", env_get}, {NULL, NULL}};
    luaL_newlib(L, functions);
}

/* ---- ctx.html ------------------------------------------------------------------------ */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init_once(void) { xmlInitParser(); }

typedef struct {
    char *data;
    size_t len, cap;
    int newlines;  /* trailing newlines written (0 after text) */
    bool space;    /* a space is owed before the next word */
    bool oom;
} text_out;

static void put_byte(text_out *o, char c) {
    if (o->oom) return;
    if (o->len + 2 > o->cap) {
        size_t grown = o->cap ? o->cap * 2 : 4096;
        char *p = realloc(o->data, grown);
        if (!p) {
            o->oom = true;
            return;
        }
        o->data = p;
        o->cap = grown;
    }
    o->data[o->len++] = c;
    o->data[o->len] = '\0';
}

static void put_break(text_out *o, int want) {
    o->space = false;
    if (o->len == 0) return;
    while (o->newlines < want) {
        put_byte(o, '\n');
        o->newlines++;
    }
}

static void put_text(text_out *o, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            if (o->len && o->newlines == 0) o->space = true;
            continue;
        }
        if (o->space) put_byte(o, ' ');
        o->space = false;
        o->newlines = 0;
        put_byte(o, (char)c);
    }
}

static bool name_in(const xmlChar *name, const char *const *list) {
    for (; *list; list++)
        if (strcasecmp((const char *)name, *list) == 0) return true;
    return false;
}

static const char *const skipped_elements[] = {"script", "style", "noscript", "template", "head", "svg", "iframe", NULL};
static const char *const paragraph_elements[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote",
                                                 "table", "ul", "ol", "dl", "hr", "section", "article", "header",
                                                 "footer", "nav", "main", "aside", "figure", "form", NULL};
static const char *const line_elements[] = {"br", "div", "li", "tr", "dt", "dd", "figcaption", "caption",
                                            "address", "details", "summary", "option", NULL};

static void walk_text(xmlNode *node, text_out *o, int depth) {
    for (; node; node = node->next) {
        if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
            if (node->content) put_text(o, (const char *)node->content);
            continue;
        }
        if (node->type != XML_ELEMENT_NODE || depth > 256) continue;
        if (name_in(node->name, skipped_elements)) continue;
        int gap = name_in(node->name, paragraph_elements) ? 2 : name_in(node->name, line_elements) ? 1 : 0;
        if (strcasecmp((const char *)node->name, "td") == 0 || strcasecmp((const char *)node->name, "th") == 0) {
            if (o->len && o->newlines == 0) o->space = true;
        }
        if (gap) put_break(o, gap);
        walk_text(node->children, o, depth + 1);
        if (gap) put_break(o, gap);
    }
}

static xmlNode *find_element(xmlNode *node, const char *name, int depth) {
    for (; node && depth < 256; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && strcasecmp((const char *)node->name, name) == 0) return node;
        xmlNode *found = find_element(node->children, name, depth + 1);
        if (found) return found;
    }
    return NULL;
}

static int push_text_out(lua_State *L) {
    text_out *o = lua_touserdata(L, 1);
    size_t len = o->len;
    while (len && (o->data[len - 1] == '\n' || o->data[len - 1] == ' ')) len--;
    lua_pushlstring(L, o->data ? o->data : "", len);
    return 1;
}

static int html_extract(lua_State *L, bool title_only) {
    size_t len;
    const char *html = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, len < INT_MAX, 1, "the page is too large");
    sandbox_check(L);
    pthread_once(&xml_once, xml_init_once);
    htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, NULL,
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
    text_out o = {0};
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        if (title_only) {
            xmlNode *title = find_element(root, "title", 0);
            if (title) walk_text(title->children, &o, 0);
        } else {
            xmlNode *body = find_element(root, "body", 0);
            walk_text(body ? body->children : root, &o, 0);
        }
        xmlFreeDoc(doc);
    }
    if (o.oom) {
        free(o.data);
        return luaL_error(L, "html: out of memory");
    }
    if (title_only && o.len == 0) {
        free(o.data);
        lua_pushnil(L);
        return 1;
    }
    int status = sandbox_push_protected(L, push_text_out, &o);
    free(o.data);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

static int html_text(lua_State *L) { return html_extract(L, false); }
static int html_title(lua_State *L) { return html_extract(L, true); }

void host_html_push(lua_State *L) {
    static const luaL_Reg functions[] = {{"text", html_text}, {"title", html_title}, {NULL, NULL}};
    luaL_newlib(L, functions);
}

/* ---- ctx ----------------------------------------------------------------------------- */

void host_push_ctx(lua_State *L) {
    static const struct {
        const char *name;
        void (*push)(lua_State *L);
    } modules[] = {{"fs", host_fs_push},     {"http", host_http_push}, {"proc", host_proc_push}, {"json", host_json_push},
                   {"time", host_time_push}, {"env", host_env_push},   {"html", host_html_push}};
    lua_createtable(L, 0, 9);
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        modules[i].push(L);
        lua_setfield(L, -2, modules[i].name);
    }
    lua_pushstring(L, sandbox_limits(sandbox_from(L))->workspace);
    lua_setfield(L, -2, "workspace");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, -2, "log");
}
