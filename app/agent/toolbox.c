/* toolbox.c: the tool scripts an agent may call: loaded from directories (each
 * *.lua file run once in a sandbox and its returned table checked against the
 * contract in docs/tools.md), listed as OpenAI tools JSON, and run one call at a
 * time in a fresh sandbox, turning every outcome (a value, a Lua error, a limit,
 * bad arguments) into an agent_result the model can read. The toolbox is read-only
 * after loading, so calls may run on many threads at once. */
#include "agent/agent.h"
#include "agent/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SCRIPT_MAX_BYTES (1024 * 1024)
#define TOOL_NAME_MAX 64
#define ERROR_TEXT_MAX 1024

typedef struct {
    char *name, *description;
    char *parameters;  /* JSON text of the parameters schema (an object schema) */
    char *path;        /* the script file, for messages */
    char *source;      /* the script's text, run again for every call */
    size_t source_len;
    bool writes, executes;
} tool;

struct agent_toolbox {
    agent_limits limits;  /* complete; workspace and env_allow point at the copies below */
    char *workspace;
    char **env_allow;
    tool *tools;
    int count, cap;
};

agent_limits agent_limits_defaults(void) {
    return (agent_limits){
        .workspace = NULL,
        .allow_proc = false,
        .timeout_s = 30,
        .max_instructions = 200000000ull,
        .max_memory = 64u << 20,
        .max_result = 64u << 10,
        .max_http_body = 8u << 20,
        .max_file = 8u << 20,
        .env_allow = NULL,
    };
}

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- text helpers ---------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c >= 0x01 && c < 0x80) return 1;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
    if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0; /* past U+10FFFF */
    return len;
}

static bool is_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = utf8_sequence((const unsigned char *)s + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* A malloc'd copy of s with every invalid UTF-8 byte and every NUL replaced by
 * U+FFFD, cut at max bytes (on a character boundary) with a marker saying how
 * many bytes were dropped. */
static char *readable_text(const char *s, size_t n, size_t max, bool *truncated) {
    size_t cap = n * 3 + 64;  /* every byte may become U+FFFD; room for the marker */
    char *clean = malloc(cap);
    if (!clean) return NULL;
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_sequence((const unsigned char *)s + i, n - i);
        if (k) {
            memcpy(clean + len, s + i, k);
            len += k;
            i += k;
        } else {
            memcpy(clean + len, "\xEF\xBF\xBD", 3);
            len += 3;
            i++;
        }
    }
    clean[len] = '\0';
    *truncated = len > max;
    if (!*truncated) return clean;
    size_t keep = max;
    while (keep > 0 && ((unsigned char)clean[keep] & 0xC0) == 0x80) keep--;
    char marker[64];
    int mlen = snprintf(marker, sizeof marker, "\n[... truncated %zu bytes]", len - keep);
    memcpy(clean + keep, marker, (size_t)mlen + 1);
    return clean;
}

static bool valid_tool_name(const char *s, size_t len) {
    if (len == 0 || len > TOOL_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void tool_free(tool *t) {
    free(t->name);
    free(t->description);
    free(t->parameters);
    free(t->path);
    free(t->source);
    memset(t, 0, sizeof *t);
}

/* ---- loading one script --------------------------------------------------------------- */

typedef struct {
    const char *source;
    size_t len;
    const char *chunkname;
    tool *out;
} load_job;

static char *lua_strdup(lua_State *L, const char *s, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) luaL_error(L, "out of memory");
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* Runs the chunk and leaves its result (checked to be a table) on the stack. */
static void run_chunk(lua_State *L, const char *source, size_t len, const char *chunkname) {
    if (luaL_loadbufferx(L, source, len, chunkname, "t") != LUA_OK) lua_error(L);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1)) luaL_error(L, "the script returns %s, not a tool table", luaL_typename(L, -1));
}

static int raw_field(lua_State *L, int table, const char *name) {
    table = lua_absindex(L, table);
    lua_pushstring(L, name);
    return lua_rawget(L, table);
}

static bool optional_flag(lua_State *L, int table, const char *name) {
    int type = raw_field(L, table, name);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN) luaL_error(L, "%s must be true, false or nil", name);
    bool value = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}

static int load_tool(lua_State *L) {
    load_job *job = lua_touserdata(L, 1);
    tool *t = job->out;
    run_chunk(L, job->source, job->len, job->chunkname);
    int tbl = lua_gettop(L);
    size_t len;

    if (raw_field(L, tbl, "name") != LUA_TSTRING) luaL_error(L, "name must be a string");
    const char *name = lua_tolstring(L, -1, &len);
    if (!valid_tool_name(name, len)) luaL_error(L, "name must be 1 to 64 letters, digits, '_' or '-'");
    t->name = lua_strdup(L, name, len);
    lua_pop(L, 1);

    if (raw_field(L, tbl, "description") != LUA_TSTRING) luaL_error(L, "description must be a string");
    const char *description = lua_tolstring(L, -1, &len);
    if (!is_utf8(description, len)) luaL_error(L, "description is not valid UTF-8");
    t->description = lua_strdup(L, description, len);
    lua_pop(L, 1);

    if (raw_field(L, tbl, "parameters") != LUA_TTABLE) luaL_error(L, "parameters must be a table (a JSON schema)");
    char err[256];
    if (host_json_encode(L, -1, &t->parameters, err, sizeof err)) luaL_error(L, "parameters: %s", err);
    json_t *schema = json_loads(t->parameters, 0, NULL);
    bool object_schema = json_is_object(schema) && json_is_string(json_object_get(schema, "type")) &&
                         strcmp(json_string_value(json_object_get(schema, "type")), "object") == 0;
    json_t *props = json_object_get(schema, "properties");
    bool props_ok = !props || json_is_object(props);
    json_decref(schema);
    if (!object_schema) luaL_error(L, "parameters must be a JSON schema with type = \"object\"");
    if (!props_ok) luaL_error(L, "parameters.properties must be an object (use json.empty_object)");
    lua_pop(L, 1);

    if (raw_field(L, tbl, "run") != LUA_TFUNCTION) luaL_error(L, "run must be a function");
    lua_pop(L, 1);
    t->writes = optional_flag(L, tbl, "writes");
    t->executes = optional_flag(L, tbl, "executes");
    return 0;
}

static char *read_script(const char *path, size_t *len, char *why, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, cap, "%s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(SCRIPT_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, SCRIPT_MAX_BYTES + 1, f) : 0;
    bool failed = !buf || ferror(f);
    fclose(f);
    if (failed || n > SCRIPT_MAX_BYTES) {
        snprintf(why, cap, "%s", !buf ? "out of memory" : n > SCRIPT_MAX_BYTES ? "larger than 1 MiB" : "cannot be read");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* "@file.lua": Lua's name for the chunk in error messages. */
static void chunk_name(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    snprintf(out, cap, "@%s", base ? base + 1 : path);
}

/* Loads one file into *t; false with the reason in why. */
static bool load_script(const agent_limits *limits, const char *path, tool *t, char *why, size_t cap) {
    memset(t, 0, sizeof *t);
    size_t len;
    char *source = read_script(path, &len, why, cap);
    if (!source) return false;
    char err[ERROR_TEXT_MAX];
    sandbox *sb = sandbox_open(limits, NULL, err, sizeof err);
    if (!sb) {
        free(source);
        snprintf(why, cap, "%s", err);
        return false;
    }
    char chunkname[PATH_MAX + 2];
    chunk_name(path, chunkname, sizeof chunkname);
    load_job job = {source, len, chunkname, t};
    int status = sandbox_call(sb, load_tool, &job, err, sizeof err);
    sandbox_close(sb);
    if (status != LUA_OK) {
        free(source);
        tool_free(t);
        snprintf(why, cap, "%s", err);
        return false;
    }
    t->source = source;
    t->source_len = len;
    t->path = strdup(path);
    if (!t->path) {
        tool_free(t);
        snprintf(why, cap, "out of memory");
        return false;
    }
    return true;
}

/* ---- the toolbox ----------------------------------------------------------------------- */

static void warnf(void (*warn)(const char *, void *), void *user, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warnf(void (*warn)(const char *, void *), void *user, const char *fmt, ...) {
    if (!warn) return;
    char line[PATH_MAX + ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    warn(line, user);
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.lua regular files of dir, sorted (malloc'd array of malloc'd paths). */
static char **list_scripts(const char *dir, int *count) {
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **paths = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".lua") != 0 || e->d_name[0] == '.') continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (*count == cap) {
            int ncap = cap ? cap * 2 : 16;
            char **grown = realloc(paths, (size_t)ncap * sizeof *grown);
            if (!grown) break;
            paths = grown;
            cap = ncap;
        }
        if (!(paths[*count] = strdup(path))) break;
        (*count)++;
    }
    closedir(d);
    if (*count) qsort(paths, (size_t)*count, sizeof *paths, compare_names);
    return paths;
}

/* Adds t (taking its fields), replacing a tool of the same name. */
static bool toolbox_add(agent_toolbox *tb, tool *t, char **replaced_path) {
    *replaced_path = NULL;
    int i = agent_toolbox_find(tb, t->name);
    if (i >= 0) {
        *replaced_path = tb->tools[i].path;
        tb->tools[i].path = NULL;
        tool_free(&tb->tools[i]);
        tb->tools[i] = *t;
        return true;
    }
    if (tb->count == tb->cap) {
        int ncap = tb->cap ? tb->cap * 2 : 16;
        tool *grown = realloc(tb->tools, (size_t)ncap * sizeof *grown);
        if (!grown) return false;
        tb->tools = grown;
        tb->cap = ncap;
    }
    tb->tools[tb->count++] = *t;
    return true;
}

static bool copy_limits(agent_toolbox *tb, const agent_limits *given, void (*warn)(const char *, void *), void *user) {
    agent_limits d = agent_limits_defaults();
    agent_limits l = given ? *given : d;
    if (!(l.timeout_s > 0)) l.timeout_s = d.timeout_s;
    if (!l.max_instructions) l.max_instructions = d.max_instructions;
    if (!l.max_memory) l.max_memory = d.max_memory;
    if (!l.max_result) l.max_result = d.max_result;
    if (!l.max_http_body) l.max_http_body = d.max_http_body;
    if (!l.max_file) l.max_file = d.max_file;
    const char *ws = l.workspace ? l.workspace : ".";
    tb->workspace = realpath(ws, NULL);
    if (!tb->workspace) {
        warnf(warn, user, "%s: cannot be the workspace: %s", ws, strerror(errno));
        tb->workspace = strdup(ws);  /* every call will say why it cannot run */
        if (!tb->workspace) return false;
    }
    l.workspace = tb->workspace;
    int n = 0;
    while (given && given->env_allow && given->env_allow[n]) n++;
    tb->env_allow = calloc((size_t)n + 1, sizeof *tb->env_allow);
    if (!tb->env_allow) return false;
    for (int i = 0; i < n; i++)
        if (!(tb->env_allow[i] = strdup(given->env_allow[i]))) return false;
    l.env_allow = (const char *const *)tb->env_allow;
    tb->limits = l;
    return true;
}

agent_toolbox *agent_toolbox_load(const char *const *dirs, const agent_limits *limits,
                                  void (*warn)(const char *line, void *user), void *user) {
    agent_toolbox *tb = calloc(1, sizeof *tb);
    if (!tb) return NULL;
    if (!copy_limits(tb, limits, warn, user)) {
        agent_toolbox_free(tb);
        return NULL;
    }
    for (int d = 0; dirs && dirs[d]; d++) {
        int first_of_dir = tb->count;
        int n;
        char **paths = list_scripts(dirs[d], &n);
        for (int i = 0; i < n; i++) {
            tool t;
            char why[ERROR_TEXT_MAX];
            if (!load_script(&tb->limits, paths[i], &t, why, sizeof why)) {
                warnf(warn, user, "%s: %s", paths[i], why);
                continue;
            }
            int same = agent_toolbox_find(tb, t.name);
            char *replaced = NULL;
            if (!toolbox_add(tb, &t, &replaced)) {
                warnf(warn, user, "%s: out of memory", paths[i]);
                tool_free(&t);
                continue;
            }
            if (replaced && same >= first_of_dir) /* the same directory defines it twice */
                warnf(warn, user, "%s: replaces the tool %s of %s", paths[i], t.name, replaced);
            free(replaced);
        }
        for (int i = 0; i < n; i++) free(paths[i]);
        free(paths);
    }
    return tb;
}

void agent_toolbox_free(agent_toolbox *tb) {
    if (!tb) return;
    for (int i = 0; i < tb->count; i++) tool_free(&tb->tools[i]);
    free(tb->tools);
    for (int i = 0; tb->env_allow && tb->env_allow[i]; i++) free(tb->env_allow[i]);
    free(tb->env_allow);
    free(tb->workspace);
    free(tb);
}

int agent_toolbox_count(const agent_toolbox *tb) { return tb ? tb->count : 0; }

const char *agent_toolbox_name(const agent_toolbox *tb, int i) {
    return tb && i >= 0 && i < tb->count ? tb->tools[i].name : NULL;
}

const char *agent_toolbox_description(const agent_toolbox *tb, int i) {
    return tb && i >= 0 && i < tb->count ? tb->tools[i].description : NULL;
}

agent_permission agent_toolbox_default_permission(const agent_toolbox *tb, int i) {
    if (!tb || i < 0 || i >= tb->count) return AGENT_DENY;
    return tb->tools[i].writes || tb->tools[i].executes ? AGENT_ASK : AGENT_ALLOW;
}

int agent_toolbox_find(const agent_toolbox *tb, const char *name) {
    for (int i = 0; tb && name && i < tb->count; i++)
        if (strcmp(tb->tools[i].name, name) == 0) return i;
    return -1;
}

/* ---- tools JSON ------------------------------------------------------------------------ */

static json_t *tool_json(const tool *t) {
    json_t *fn = json_pack("{s:s, s:s, s:o}", "name", t->name, "description", t->description, "parameters",
                           json_loads(t->parameters, 0, NULL));
    return fn ? json_pack("{s:s, s:o}", "type", "function", "function", fn) : NULL;
}

static char *names_list(const agent_toolbox *tb) {
    size_t len = 1;
    for (int i = 0; i < tb->count; i++) len += strlen(tb->tools[i].name) + 2;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; i < tb->count; i++) {
        if (i) strcat(s, ", ");
        strcat(s, tb->tools[i].name);
    }
    return s;
}

static void set_error(char **err, const char *fmt, const char *a, const char *b) {
    if (!err) return;
    int n = snprintf(NULL, 0, fmt, a, b);
    *err = malloc((size_t)n + 1);
    if (*err) snprintf(*err, (size_t)n + 1, fmt, a, b);
}

char *agent_toolbox_tools_json(const agent_toolbox *tb, const char *selection, char **err) {
    if (err) *err = NULL;
    if (!tb || !selection) {
        set_error(err, "no tools are loaded%s%s", "", "");
        return NULL;
    }
    bool *chosen = calloc((size_t)tb->count + 1, sizeof *chosen);
    int *order = calloc((size_t)tb->count + 1, sizeof *order);
    json_t *arr = json_array();
    char *result = NULL;
    if (!chosen || !order || !arr) goto done;
    int n = 0;
    if (strcmp(selection, "all") == 0) {
        for (int i = 0; i < tb->count; i++) order[n++] = i;
    } else {
        const char *p = selection;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            const char *end = p;
            while (*end && *end != ',') end++;
            const char *last = end;
            while (last > p && last[-1] == ' ') last--;
            if (last > p) {
                char name[TOOL_NAME_MAX + 2];
                size_t len = (size_t)(last - p) > TOOL_NAME_MAX + 1 ? TOOL_NAME_MAX + 1 : (size_t)(last - p);
                memcpy(name, p, len);
                name[len] = '\0';
                int i = agent_toolbox_find(tb, name);
                if (i < 0) {
                    char *names = names_list(tb);
                    set_error(err, "unknown tool \"%s\" (the tools are: %s)", name, names && *names ? names : "none");
                    free(names);
                    goto done;
                }
                if (!chosen[i]) order[n++] = i;
                chosen[i] = true;
            }
            p = end;
        }
    }
    if (n == 0 && strcmp(selection, "all") != 0) {
        set_error(err, "no tool names in \"%s\"%s", selection, "");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        json_t *item = tool_json(&tb->tools[order[k]]);
        if (!item || json_array_append_new(arr, item)) goto done;
    }
    result = json_dumps(arr, JSON_COMPACT);
done:
    if (!result && err && !*err) set_error(err, "out of memory%s%s", "", "");
    json_decref(arr);
    free(chosen);
    free(order);
    return result;
}

/* ---- running a call -------------------------------------------------------------------- */

typedef struct {
    const tool *t;
    json_t *args;
    char *text;  /* the result as text (malloc'd) */
    size_t len;
} run_job;

static int run_tool(lua_State *L) {
    run_job *job = lua_touserdata(L, 1);
    char chunkname[PATH_MAX + 2];
    chunk_name(job->t->path, chunkname, sizeof chunkname);
    run_chunk(L, job->t->source, job->t->source_len, chunkname);
    if (raw_field(L, -1, "run") != LUA_TFUNCTION) luaL_error(L, "the script's run is not a function");
    host_json_push_value(L, job->args);
    host_push_ctx(L);
    lua_call(L, 2, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        job->text = lua_strdup(L, s, len);
        job->len = len;
        return 0;
    }
    char err[256];
    if (host_json_encode(L, -1, &job->text, err, sizeof err)) luaL_error(L, "the result cannot be sent: %s", err);
    job->len = strlen(job->text);
    return 0;
}

static void set_error_result(agent_result *out, const char *tool_name, const char *message, const char *log,
                             size_t max) {
    bool cut;
    char *msg = readable_text(message, strlen(message), max, &cut);
    char *log_text = log && *log ? readable_text(log, strlen(log), max, &cut) : NULL;
    json_t *obj = json_pack("{s:s, s:s}", "error", msg ? msg : "out of memory", "tool", tool_name);
    if (obj && log_text) json_object_set_new(obj, "log", json_string(log_text));
    out->content = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (!out->content) out->content = strdup("{\"error\":\"out of memory\"}");
    json_decref(obj);
    free(msg);
    free(log_text);
    out->is_error = true;
}

void agent_toolbox_run(const agent_toolbox *tb, const char *name, const char *arguments_json,
                       const atomic_int *cancel, agent_result *out) {
    memset(out, 0, sizeof *out);
    double start = monotonic_now();
    const char *tool_name = name ? name : "";
    size_t max = tb ? tb->limits.max_result : agent_limits_defaults().max_result;
    int i = agent_toolbox_find(tb, name);
    if (i < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "there is no tool named \"%.64s\"", tool_name);
        set_error_result(out, tool_name, msg, NULL, max);
        out->seconds = monotonic_now() - start;
        return;
    }
    const tool *t = &tb->tools[i];
    const char *text = arguments_json ? arguments_json : "";
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r') text++;
    json_error_t jerr;
    json_t *args = *text ? json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr) : json_object();
    char msg[ERROR_TEXT_MAX];
    if (!args) {
        snprintf(msg, sizeof msg, "the arguments are not valid JSON: %s (column %d)", jerr.text, jerr.column);
        set_error_result(out, t->name, msg, NULL, max);
    } else if (!json_is_object(args)) {
        set_error_result(out, t->name, "the arguments must be a JSON object", NULL, max);
    } else if (cancel && atomic_load(cancel)) {
        set_error_result(out, t->name, "the tool call was cancelled", NULL, max);
    } else {
        sandbox *sb = sandbox_open(&tb->limits, cancel, msg, sizeof msg);
        if (!sb) {
            set_error_result(out, t->name, msg, NULL, max);
        } else {
            run_job job = {t, args, NULL, 0};
            if (sandbox_call(sb, run_tool, &job, msg, sizeof msg) != LUA_OK) {
                set_error_result(out, t->name, msg, sandbox_log_text(sb), max);
            } else {
                out->content = readable_text(job.text, job.len, max, &out->truncated);
                if (!out->content) set_error_result(out, t->name, "out of memory", NULL, max);
            }
            free(job.text);
            sandbox_close(sb);
        }
    }
    json_decref(args);
    out->seconds = monotonic_now() - start;
}

void agent_result_free(agent_result *r) {
    if (!r) return;
    free(r->content);
    r->content = NULL;
}
