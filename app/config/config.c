/* config.c: parses the config file (config.h; the syntax is in docs/usage.md):
 * lines, quoted values with escapes, and each key's type and range from one
 * table. */
#include "config/config.h"
#include "util/errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the keys ------------------------------------------------------------------- */

typedef enum { KIND_MODEL, KIND_THEME, KIND_TEXT, KIND_REAL, KIND_INT, KIND_SEED, KIND_SWITCH } value_kind;

typedef struct {
    const char *name;
    value_kind kind;
    size_t offset;
    double lo, hi;
} key_spec;

#define KEY(name, kind, lo, hi) {#name, kind, offsetof(config, name), lo, hi}
static const key_spec keys[] = {
    KEY(model, KIND_MODEL, 0, 0),
    KEY(theme, KIND_THEME, 0, 0),
    KEY(temperature, KIND_REAL, 0, 100),
    KEY(top_p, KIND_REAL, 0.001, 1),
    KEY(top_k, KIND_INT, 0, 1 << 24),
    KEY(min_p, KIND_REAL, 0, 1),
    KEY(max_tokens, KIND_INT, 1, 1 << 24),
    KEY(seed, KIND_SEED, 0, 0),
    KEY(system, KIND_TEXT, 0, 0),
    KEY(tools, KIND_TEXT, 0, 0),
    KEY(tool_env, KIND_TEXT, 0, 0),
    KEY(think, KIND_SWITCH, 0, 0),
    KEY(threads, KIND_INT, 0, 4096),
    KEY(ctx, KIND_INT, 1, 1 << 30),
};
#define N_KEYS (sizeof keys / sizeof *keys)

void config_init(config *c) {
    memset(c, 0, sizeof *c);
    c->temperature = c->top_p = c->min_p = NAN;
    c->top_k = c->max_tokens = c->threads = c->ctx = -1;
    c->seed = -1;
    c->think = -1;
}

void config_free(config *c) {
    free(c->model);
    free(c->theme);
    free(c->system);
    free(c->tools);
    free(c->tool_env);
    for (int i = 0; i < c->n_tool_permissions; i++) free(c->tool_permissions[i]);
    free(c->tool_permissions);
    config_init(c);
}

int config_default_path(char *buf, size_t size, char *err, size_t err_size) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(buf, size, "%s/gemma4/config", xdg);
    else if (home && *home) n = snprintf(buf, size, "%s/.config/gemma4/config", home);
    else return errmsg(err, err_size, "cannot place the config file: set HOME or XDG_CONFIG_HOME");
    if (n < 0 || (size_t)n >= size) return errmsg(err, err_size, "the config file path is too long");
    return 0;
}

/* ---- values ------------------------------------------------------------------------ */

/* Numbers are read in the C locale whatever LC_NUMERIC the UI set. */
static locale_t c_numeric;
static void make_c_numeric(void) { c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

static int parse_real(const char *s, double *out) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_c_numeric);
    if (!c_numeric || !*s) return -1;
    char *end;
    errno = 0;
    double x = strtod_l(s, &end, c_numeric);
    if (errno || *end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+')) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static bool theme_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return false;
    return true;
}

/* Stores VALUE for K into C; -1 with the reason (no location) in err. */
static int set_value(config *c, const key_spec *k, const char *value, bool quoted, char *err, size_t err_size) {
    void *field = (char *)c + k->offset;
    long long iv;
    double rv;
    switch (k->kind) {
    case KIND_MODEL:
    case KIND_THEME:
    case KIND_TEXT:
        if (k->kind == KIND_MODEL && !*value) return errmsg(err, err_size, "model cannot be empty");
        if (k->kind == KIND_THEME && !theme_name_ok(value))
            return errmsg(err, err_size, "theme must be a name of 1 to 64 letters, digits, '-' or '_', not '%.80s'", value);
        if (!(*(char **)field = strdup(value))) return errmsg(err, err_size, "out of memory");
        return 0;
    case KIND_REAL:
        if (quoted || parse_real(value, &rv) || !(rv >= k->lo && rv <= k->hi))
            return errmsg(err, err_size, "%s must be a number in [%g, %g], not '%.80s'", k->name, k->lo, k->hi, value);
        *(double *)field = rv;
        return 0;
    case KIND_INT:
        if (quoted || parse_int(value, (long long)k->lo, (long long)k->hi, &iv))
            return errmsg(err, err_size, "%s must be an integer in [%lld, %lld], not '%.80s'", k->name,
                        (long long)k->lo, (long long)k->hi, value);
        *(int *)field = (int)iv;
        return 0;
    case KIND_SEED:
        if (!quoted && !strcmp(value, "random")) iv = -1;
        else if (quoted || parse_int(value, 0, INT64_MAX, &iv))
            return errmsg(err, err_size, "seed must be an integer in [0, 9223372036854775807] or random, not '%.80s'", value);
        *(int64_t *)field = iv;
        return 0;
    case KIND_SWITCH:
        if (!quoted && (!strcmp(value, "on") || !strcmp(value, "true"))) *(int *)field = 1;
        else if (!quoted && (!strcmp(value, "off") || !strcmp(value, "false"))) *(int *)field = 0;
        else return errmsg(err, err_size, "%s must be on, off, true or false, not '%.80s'", k->name, value);
        return 0;
    }
    return errmsg(err, err_size, "internal error: key kind");
}

/* ---- lines ----------------------------------------------------------------------------- */

static bool is_space(char ch) { return ch == ' ' || ch == '\t'; }

/* Reads the value of a line from P (after '='), into OUT (at least strlen(P) + 1
 * bytes). -1 with the reason. */
static int read_value(const char *p, char *out, bool *quoted, char *err, size_t err_size) {
    size_t n = 0;
    *quoted = *p == '"';
    if (!*quoted) {
        /* to the end of the line or a '#' after whitespace, trailing blanks dropped */
        for (const char *q = p; *q && !(*q == '#' && q > p && is_space(q[-1])); q++) out[n++] = *q;
        while (n && is_space(out[n - 1])) n--;
        out[n] = '\0';
        return n ? 0 : errmsg(err, err_size, "no value after '=' (use \"\" for an empty text)");
    }
    for (p++;; p++) {
        if (!*p) return errmsg(err, err_size, "the quoted value has no closing '\"'");
        if (*p == '"') break;
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        switch (*++p) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case '\0': return errmsg(err, err_size, "the quoted value has no closing '\"'");
        default: return errmsg(err, err_size, "unknown escape '\\%c' (use \\\", \\\\, \\n or \\t)", *p);
        }
    }
    out[n] = '\0';
    for (p++; is_space(*p); p++) {}
    if (*p && *p != '#') return errmsg(err, err_size, "unexpected text after the closing '\"'");
    return 0;
}

static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], cp, min;
        size_t len;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
        else return false;
        if (n - i < len) return false;
        cp = c & (0x3F >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

/* tool.NAME = allow | ask | deny: a tool's permission, kept as "NAME=value". */
static int set_tool_permission(config *c, const char *name, const char *value, char *err, size_t err_size) {
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
        return errmsg(err, err_size, "tool.NAME needs a tool name of 1 to 64 letters, digits, _ or -");
    if (strcmp(value, "allow") && strcmp(value, "ask") && strcmp(value, "deny"))
        return errmsg(err, err_size, "tool.%s must be allow, ask or deny", name);
    for (int i = 0; i < c->n_tool_permissions; i++)
        if (!strncmp(c->tool_permissions[i], name, n) && c->tool_permissions[i][n] == '=')
            return errmsg(err, err_size, "tool.%s is already set", name);
    char **v = realloc(c->tool_permissions, (size_t)(c->n_tool_permissions + 1) * sizeof *v);
    if (!v) return errmsg(err, err_size, "out of memory");
    c->tool_permissions = v;
    if (asprintf(&v[c->n_tool_permissions], "%s=%s", name, value) < 0) return errmsg(err, err_size, "out of memory");
    c->n_tool_permissions++;
    return 0;
}

/* Parses one line (NUL-terminated, no newline) into C; SET_AT records lines. */
static int parse_line(config *c, char *line, int lineno, int set_at[N_KEYS], char *err, size_t err_size) {
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[--len] = '\0';
    char *p = line;
    while (is_space(*p)) p++;
    if (!*p || *p == '#') return 0;
    char *key = p;
    while ((*p >= 'a' && *p <= 'z') || *p == '_') p++;
    if (!strncmp(key, "tool.", 5) && p == key + 4) /* tool.NAME */
        for (p++; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';) p++;
    size_t key_len = (size_t)(p - key);
    while (is_space(*p)) p++;
    if (key_len == 0 || *p != '=') return errmsg(err, err_size, "expected 'key = value'");
    key[key_len] = '\0';
    if (!strncmp(key, "tool.", 5)) {
        char value[16];
        bool quoted;
        for (p++; is_space(*p); p++) {}
        if (strlen(p) >= sizeof value) return errmsg(err, err_size, "%s must be allow, ask or deny", key);
        if (read_value(p, value, &quoted, err, err_size)) return -1;
        return set_tool_permission(c, key + 5, value, err, err_size);
    }
    const key_spec *k = NULL;
    for (size_t i = 0; i < N_KEYS && !k; i++)
        if (!strcmp(keys[i].name, key)) k = &keys[i];
    if (!k) return errmsg(err, err_size, "unknown key '%.60s'", key);
    int *seen = &set_at[k - keys];
    if (*seen) return errmsg(err, err_size, "%s is already set on line %d", k->name, *seen);
    for (p++; is_space(*p); p++) {}
    char *value = malloc(strlen(p) + 1);
    bool quoted;
    if (!value) return errmsg(err, err_size, "out of memory");
    int rc = read_value(p, value, &quoted, err, err_size);
    if (!rc) rc = set_value(c, k, value, quoted, err, err_size);
    free(value);
    if (!rc) *seen = lineno;
    return rc;
}

int config_parse(config *c, const char *text, size_t len, const char *origin, char *err, size_t err_size) {
    if (!origin) origin = "config";
    if (len > CONFIG_FILE_MAX)
        return errmsg(err, err_size, "%s: %zu bytes is over the %zu KiB a config file may have", origin, len,
                    CONFIG_FILE_MAX >> 10);
    if (memchr(text, '\0', len)) return errmsg(err, err_size, "%s: contains a NUL byte; it is not a text file", origin);
    if (!valid_utf8((const unsigned char *)text, len)) return errmsg(err, err_size, "%s: is not valid UTF-8", origin);
    char *copy = malloc(len + 1);
    if (!copy) return errmsg(err, err_size, "%s: out of memory", origin);
    memcpy(copy, text, len);
    copy[len] = '\0';
    config parsed;
    config_init(&parsed);
    int set_at[N_KEYS] = {0}, lineno = 1, rc = 0;
    char why[300];
    for (char *line = copy; line && !rc; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (parse_line(&parsed, line, lineno, set_at, why, sizeof why)) {
            rc = errmsg(err, err_size, "%s:%d: %s", origin, lineno, why);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    if (rc) {
        config_free(&parsed);
        return -1;
    }
    config_free(c);
    *c = parsed;
    return 0;
}

int config_load(config *c, const char *path, char *err, size_t err_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            config_free(c);
            return 0;
        }
        return errmsg(err, err_size, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    char *data = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        errmsg(err, err_size, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        errmsg(err, err_size, "%s: not a regular file", path);
    } else if ((uintmax_t)st.st_size > CONFIG_FILE_MAX) {
        errmsg(err, err_size, "%s: %jd bytes is over the %zu KiB a config file may have", path, (intmax_t)st.st_size,
             CONFIG_FILE_MAX >> 10);
    } else if (!(data = malloc((size_t)st.st_size + 1))) {
        errmsg(err, err_size, "%s: out of memory", path);
    } else {
        size_t got = 0, want = (size_t)st.st_size;
        ssize_t r = 1;
        while (got < want && (r = read(fd, data + got, want - got)) != 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) break;
            got += (size_t)r;
        }
        if (r < 0) errmsg(err, err_size, "%s: %s", path, strerror(errno));
        else rc = config_parse(c, data, got, path, err, err_size);
    }
    free(data);
    close(fd);
    return rc;
}
