/* setup.c: the tool directories in their order of precedence and the toolbox,
 * policy and tools JSON a front end needs before it runs agent_run (setup.h).
 * G4_SOURCE_TOOLS_DIR and G4_INSTALLED_TOOLS_DIR come from the build
 * (CMakeLists.txt). */
#include "agent/setup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef G4_SOURCE_TOOLS_DIR
#define G4_SOURCE_TOOLS_DIR ""
#endif
#ifndef G4_INSTALLED_TOOLS_DIR
#define G4_INSTALLED_TOOLS_DIR "/usr/local/share/gemma4/tools"
#endif

static bool is_dir(const char *path) {
    struct stat st;
    return *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends a malloc'd copy of the formatted path to dirs[*n]; false when out of memory. */
static bool add_dir(char **dirs, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool add_dir(char **dirs, int *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&dirs[*n], fmt, ap);
    va_end(ap);
    if (rc < 0) return dirs[*n] = NULL, false;
    (*n)++;
    return true;
}

char **agent_setup_dirs(const char *const *extra) {
    int n_extra = 0;
    while (extra && extra[n_extra]) n_extra++;
    char **dirs = calloc((size_t)n_extra + 3, sizeof *dirs);
    if (!dirs) return NULL;
    int n = 0;
    const char *env = getenv("G4_TOOLS_DIR"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    bool ok = env && *env ? add_dir(dirs, &n, "%s", env)
              : is_dir(G4_SOURCE_TOOLS_DIR) ? add_dir(dirs, &n, "%s", G4_SOURCE_TOOLS_DIR)
                                            : add_dir(dirs, &n, "%s", G4_INSTALLED_TOOLS_DIR);
    if (ok && xdg && xdg[0] == '/') ok = add_dir(dirs, &n, "%s/gemma4/tools", xdg);
    else if (ok && home && *home) ok = add_dir(dirs, &n, "%s/.config/gemma4/tools", home);
    for (int i = 0; ok && i < n_extra; i++) ok = add_dir(dirs, &n, "%s", extra[i]);
    if (!ok) {
        agent_setup_dirs_free(dirs);
        return NULL;
    }
    return dirs;
}

void agent_setup_dirs_free(char **dirs) {
    for (int i = 0; dirs && dirs[i]; i++) free(dirs[i]);
    free(dirs);
}

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0) *err = NULL;
    va_end(ap);
}

/* "A,B,C" -> a NULL-terminated array of malloc'd names in one block (free once), or
 * NULL with *err set when a name is empty or not [A-Za-z0-9_]. */
static char **split_names(const char *list, char **err) {
    size_t n = 1, len = strlen(list);
    for (const char *c = list; *c; c++) n += *c == ',';
    char **names = malloc((n + 1) * sizeof *names + len + 1);
    if (!names) return set_err(err, "out of memory"), NULL;
    char *text = (char *)(names + n + 1);
    memcpy(text, list, len + 1);
    size_t k = 0;
    for (char *name = strtok(text, ","); name; name = strtok(NULL, ",")) names[k++] = name;
    names[k] = NULL;
    for (size_t i = 0; i < k; i++)
        if (strspn(names[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(names[i])) k = 0;
    if (k != n) {
        free(names);
        set_err(err, "--tool-env takes environment variable names separated by commas, not '%s'", list);
        return NULL;
    }
    return names;
}

int agent_setup_open(const agent_setup_options *opt, void (*warn)(const char *line, void *user), void *user,
                     agent_setup *out, char **err) {
    *out = (agent_setup){0};
    *err = NULL;
    agent_limits limits = opt->limits;
    char **env = NULL;
    if (opt->env && *opt->env && !(env = split_names(opt->env, err))) return -1;
    if (env) limits.env_allow = (const char *const *)env;
    char **dirs = agent_setup_dirs(opt->extra_dirs);
    if (!dirs) return free(env), set_err(err, "out of memory"), -1;
    out->toolbox = agent_toolbox_load((const char *const *)dirs, &limits, warn, user); /* copies env */
    free(env);
    if (!out->toolbox) {
        set_err(err, "cannot load the tools: out of memory");
    } else if (agent_toolbox_count(out->toolbox) == 0) {
        size_t len = 0;
        for (int i = 0; dirs[i]; i++) len += strlen(dirs[i]) + 2;
        char *list = calloc(len + 1, 1);
        for (int i = 0; list && dirs[i]; i++) strcat(strcat(list, i ? ", " : ""), dirs[i]);
        set_err(err, "no tools found (looked in %s): add .lua tools there or give --tools-dir DIR", list ? list : "?");
        free(list);
    } else if (!(out->policy = agent_policy_new(out->toolbox))) {
        set_err(err, "out of memory");
    } else {
        char *why = NULL;
        for (int i = 0; opt->overrides && opt->overrides[i] && !*err; i++)
            if (agent_policy_apply(out->policy, opt->overrides[i], &why)) {
                set_err(err, "%s", why ? why : "out of memory");
                free(why), why = NULL;
            }
        if (!*err && opt->yes) agent_policy_allow_asks(out->policy);
        if (!*err && !(out->tools_json = agent_toolbox_tools_json(out->toolbox, opt->selection, &why))) {
            set_err(err, "--tools %s: %s", opt->selection, why ? why : "out of memory");
            free(why);
        }
    }
    agent_setup_dirs_free(dirs);
    if (!*err && !out->tools_json) set_err(err, "out of memory");
    if (*err) {
        agent_setup_close(out);
        return -1;
    }
    return 0;
}

void agent_setup_close(agent_setup *s) {
    free(s->tools_json);
    agent_policy_free(s->policy);
    agent_toolbox_free(s->toolbox);
    *s = (agent_setup){0};
}

int agent_overrides_add(agent_overrides *o, const char *override) {
    char **grown = realloc(o->items, (size_t)(o->n + 2) * sizeof *grown);
    if (!grown) return -1;
    o->items = grown;
    if (!(grown[o->n] = strdup(override))) return -1;
    grown[++o->n] = NULL;
    return 0;
}

int agent_overrides_add_list(agent_overrides *o, const char *names, const char *word, char **err) {
    for (const char *p = names;; p++) {
        size_t n = strcspn(p, ",");
        char one[96];
        if (n == 0 || n > 64) {
            if (asprintf(err, "expected tool names separated by commas, not '%s'", names) < 0) *err = NULL;
            return -1;
        }
        snprintf(one, sizeof one, "%.*s=%s", (int)n, p, word);
        if (agent_overrides_add(o, one)) {
            *err = strdup("out of memory");
            return -1;
        }
        p += n;
        if (!*p) return 0;
    }
}

void agent_overrides_free(agent_overrides *o) {
    for (int i = 0; i < o->n; i++) free(o->items[i]);
    free(o->items);
    *o = (agent_overrides){0};
}

int agent_flags_take(agent_flags *f, const char *arg, const char *value, char **err) {
    *err = NULL;
    if (!strcmp(arg, "--yes")) return f->yes = f->given = true, 1;
    if (!strcmp(arg, "--allow-shell")) return f->allow_shell = f->given = true, 1;
    static const char *const with_value[] = {"--tools-dir", "--workspace", "--tool-env", "--allow",
                                             "--deny",      "--tool-timeout", "--max-steps"};
    size_t k = 0;
    while (k < sizeof with_value / sizeof *with_value && strcmp(arg, with_value[k])) k++;
    if (k == sizeof with_value / sizeof *with_value) return 0;
    if (!value) return set_err(err, "%s needs a value", arg), -1;
    f->given = true;
    char *end;
    double t;
    long n;
    switch (k) {
    case 0:
        if (f->n_dirs == AGENT_MAX_TOOL_DIRS) return set_err(err, "at most %d --tools-dir", AGENT_MAX_TOOL_DIRS), -1;
        f->dirs[f->n_dirs++] = value;
        break;
    case 1: f->workspace = value; break;
    case 2: f->env = value; break;
    case 3:
    case 4:
        if (agent_overrides_add_list(&f->overrides, value, k == 3 ? "allow" : "deny", err)) {
            char *why = *err;
            set_err(err, "%s: %s", arg, why ? why : "out of memory");
            free(why);
            return -1;
        }
        break;
    case 5:
        t = strtod(value, &end);
        if (end == value || *end || !(t >= 0.001 && t <= 86400)) return set_err(err, "--tool-timeout needs seconds in [0.001, 86400]"), -1;
        f->timeout_s = t;
        break;
    case 6:
        n = strtol(value, &end, 10);
        if (end == value || *end || n < 1 || n > 1000) return set_err(err, "--max-steps needs an integer in [1, 1000]"), -1;
        f->max_steps = (int)n;
        break;
    }
    return 2;
}

void agent_flags_free(agent_flags *f) {
    agent_overrides_free(&f->overrides);
}

static void warn_stderr(const char *line, void *user) {
    (void)user;
    fprintf(stderr, "gemma4: warning: %s\n", line);
}

int agent_flags_setup(const agent_flags *f, const char *selection, const agent_overrides *config, agent_setup *out,
                      char **err) {
    agent_overrides all = {0};
    int rc = 0;
    for (int i = 0; config && i < config->n && !rc; i++) rc = agent_overrides_add(&all, config->items[i]);
    for (int i = 0; i < f->overrides.n && !rc; i++) rc = agent_overrides_add(&all, f->overrides.items[i]);
    if (rc) {
        agent_overrides_free(&all);
        *out = (agent_setup){0};
        set_err(err, "out of memory");
        return -1;
    }
    agent_setup_options so = {
        .selection = selection,
        .extra_dirs = f->dirs,
        .overrides = (const char *const *)all.items,
        .yes = f->yes,
        .env = f->env,
        .limits = agent_limits_defaults(),
    };
    so.limits.workspace = f->workspace;
    so.limits.allow_proc = f->allow_shell;
    if (f->timeout_s > 0) so.limits.timeout_s = f->timeout_s;
    rc = agent_setup_open(&so, warn_stderr, NULL, out, err);
    agent_overrides_free(&all);
    return rc;
}
