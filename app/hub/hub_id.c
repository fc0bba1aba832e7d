/* hub_id.c: model ids ("org/name[:QUANT]"), safe repository paths, and which
 * of a repository's files a model needs: the checkpoint's config, tokenizer and
 * weights, or the .gguf file(s) of one quantization. */
#include "hub/hub_internal.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int hub_fail(char **err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    if (err) {
        free(*err);
        *err = msg ? msg : strdup("out of memory");
    } else {
        free(msg);
    }
    return -1;
}

/* A hub name: 1..96 of [A-Za-z0-9._-], not starting or ending with '.' or '-',
 * without "--" or "..". */
static bool valid_name(const char *s, size_t n) {
    if (n == 0 || n > HUB_NAME_MAX) return false;
    if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return false;
        if (i > 0 && (c == '.' || c == '-') && s[i - 1] == c) return false;
    }
    return true;
}

static bool ends_with_ci(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

int hub_parse_id(const char *s, hub_id *out) {
    if (!s) return -1;
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/')) return -1;
    const char *colon = strchr(slash + 1, ':');
    size_t org_len = (size_t)(slash - s);
    size_t name_len = colon ? (size_t)(colon - slash - 1) : strlen(slash + 1);
    if (!valid_name(s, org_len) || !valid_name(slash + 1, name_len)) return -1;
    /* a mistyped model file path, not an id */
    if (ends_with_ci(slash + 1, name_len, ".gguf") || ends_with_ci(slash + 1, name_len, ".safetensors")) return -1;
    memset(out, 0, sizeof *out);
    if (colon) {
        size_t q = strlen(colon + 1);
        if (q == 0 || q > HUB_NAME_MAX) return -1;
        for (size_t i = 0; i < q; i++) {
            unsigned char c = (unsigned char)colon[1 + i];
            if (!isalnum(c) && c != '_' && c != '-' && c != '.') return -1;
        }
        memcpy(out->quant, colon + 1, q);
    }
    memcpy(out->org, s, org_len);
    memcpy(out->name, slash + 1, name_len);
    snprintf(out->repo, sizeof out->repo, "%s/%s", out->org, out->name);
    return 0;
}

bool hub_is_model_id(const char *arg) {
    hub_id id;
    struct stat st;
    return arg && hub_parse_id(arg, &id) == 0 && stat(arg, &st) != 0;
}

bool hub_safe_relpath(const char *path) {
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n > 1024 || path[0] == '/') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
    }
    for (const char *p = path; *p;) {  /* each component */
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.')) return false;
        p += k + (e ? 1 : 0);
        if (e && !*p) return false;  /* trailing '/' */
    }
    return true;
}

/* ---- string lists ------------------------------------------------------------------ */

int hub_strlist_add(hub_strlist *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

bool hub_strlist_has(const hub_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return true;
    return false;
}

void hub_strlist_free(hub_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (hub_strlist){0};
}

/* ---- GGUF names --------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int hub_gguf_split(const char *filename, int *part, int *count) {
    const char *b = base_name(filename);
    size_t n = strlen(b);
    /* "-00001-of-00003.gguf": 5 + 4 + 5 + 5 characters */
    if (n < 20 || strcasecmp(b + n - 5, ".gguf")) return 0;
    const char *s = b + n - 20;
    if (s[0] != '-' || strncmp(s + 6, "-of-", 4)) return 0;
    int p = 0, c = 0;
    for (int i = 1; i <= 5; i++) {
        if (!isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[9 + i])) return 0;
        p = p * 10 + (s[i] - '0');
        c = c * 10 + (s[9 + i] - '0');
    }
    if (p < 1 || c < 1 || p > c) return 0;
    *part = p;
    *count = c;
    return 1;
}

/* The name without ".gguf" and without a split suffix: "dir/model-Q4_K_M". */
static size_t gguf_stem_len(const char *filename) {
    int part, count;
    size_t n = strlen(filename);
    return hub_gguf_split(filename, &part, &count) ? n - 20 : n - 5;
}

int hub_gguf_quant(const char *filename, char *out, size_t cap) {
    const char *b = base_name(filename);
    size_t n = strlen(b);
    if (n <= 5 || strcasecmp(b + n - 5, ".gguf") || !strncasecmp(b, "mmproj", 6)) return -1;
    size_t stem = gguf_stem_len(b);
    size_t start = stem;
    while (start > 0 && b[start - 1] != '-' && b[start - 1] != '.') start--;
    size_t k = stem - start;
    if (k == 0 || k >= cap) return -1;
    memcpy(out, b + start, k);
    out[k] = 0;
    return 0;
}

hub_repo_kind hub_repo_kind_of(char *const *files, size_t n) {
    bool config = false, weights = false, gguf = false;
    char q[HUB_NAME_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(files[i], "config.json")) config = true;
        if (!strcmp(files[i], "model.safetensors") || !strcmp(files[i], "model.safetensors.index.json")) weights = true;
        if (hub_gguf_quant(files[i], q, sizeof q) == 0) gguf = true;
    }
    return config && weights ? HUB_REPO_CHECKPOINT : gguf ? HUB_REPO_GGUF : HUB_REPO_NONE;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "Q4_K_M, Q8_0" (sorted, each once) for an error message; malloc'd. */
static char *quant_list(char *const *files, size_t n) {
    hub_strlist qs = {0};
    char q[HUB_NAME_MAX + 1];
    for (size_t i = 0; i < n; i++)
        if (hub_gguf_quant(files[i], q, sizeof q) == 0 && !hub_strlist_has(&qs, q)) hub_strlist_add(&qs, q);
    if (qs.n) qsort(qs.v, qs.n, sizeof *qs.v, cmp_str);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        for (size_t i = 0; i < qs.n; i++) fprintf(f, "%s%s", i ? ", " : "", qs.v[i]);
        if (!qs.n) fputs("none", f);
        fclose(f);
    }
    hub_strlist_free(&qs);
    return text;
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return false;
}

int hub_select_gguf(char *const *files, size_t n, const char *quant, const char *repo,
                    hub_strlist *out, char **err) {
    const char *want = quant && *quant ? quant : "Q4_K_M";
    char q[HUB_NAME_MAX + 1];
    /* Exact tag matches win over names that merely contain the quant. */
    const char *stem = NULL;
    size_t stem_len = 0;
    for (int exact = 1; exact >= 0 && !stem; exact--) {
        for (size_t i = 0; i < n; i++) {
            if (hub_gguf_quant(files[i], q, sizeof q)) continue;
            bool match = exact ? !strcasecmp(q, want) : contains_ci(base_name(files[i]), want);
            if (!match) continue;
            size_t sl = gguf_stem_len(files[i]);
            if (stem && (sl != stem_len || strncmp(stem, files[i], sl))) {
                char *list = quant_list(files, n);
                hub_fail(err, "%s: '%s' matches both %.*s and %.*s; name the quant exactly (available: %s)", repo,
                         want, (int)stem_len, stem, (int)sl, files[i], list ? list : "?");
                free(list);
                return -1;
            }
            stem = files[i];
            stem_len = sl;
        }
    }
    if (!stem) {
        char *list = quant_list(files, n);
        if (quant && *quant)
            hub_fail(err, "%s has no .gguf file for quant '%s'; available: %s", repo, quant, list ? list : "?");
        else
            hub_fail(err, "%s holds GGUF files but no Q4_K_M; pick one with %s:QUANT (available: %s)", repo, repo,
                     list ? list : "?");
        free(list);
        return -1;
    }
    /* Every file of that stem: one file, or all parts of a split one. */
    int want_count = 0;
    for (size_t i = 0; i < n; i++) {
        int part, count;
        if (hub_gguf_quant(files[i], q, sizeof q) || gguf_stem_len(files[i]) != stem_len ||
            strncmp(files[i], stem, stem_len))
            continue;
        if (hub_gguf_split(files[i], &part, &count)) {
            if (want_count && count != want_count)
                return hub_fail(err, "%s: the parts of %.*s disagree on their count", repo, (int)stem_len, stem);
            want_count = count;
        }
        if (hub_strlist_add(out, files[i])) return hub_fail(err, "out of memory");
    }
    qsort(out->v, out->n, sizeof *out->v, cmp_str);
    if (want_count && out->n != (size_t)want_count)
        return hub_fail(err, "%s: %.*s is split into %d parts but %zu are present", repo, (int)stem_len, stem, want_count,
                        out->n);
    return 0;
}

int hub_select_checkpoint(char *const *files, size_t n, const char *repo, hub_strlist *out,
                          bool *sharded, char **err) {
    static const char *const wanted[] = {"config.json", "generation_config.json", "tokenizer.json",
                                         "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"};
    hub_strlist all = {.v = (char **)files, .n = n};
    if (!hub_strlist_has(&all, "config.json")) return hub_fail(err, "%s has no config.json: not a model checkpoint", repo);
    for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++)
        if (hub_strlist_has(&all, wanted[i]) && hub_strlist_add(out, wanted[i])) return hub_fail(err, "out of memory");
    *sharded = !hub_strlist_has(&all, "model.safetensors");
    const char *weights = *sharded ? "model.safetensors.index.json" : "model.safetensors";
    if (!hub_strlist_has(&all, weights))
        return hub_fail(err, "%s has neither model.safetensors nor model.safetensors.index.json", repo);
    return hub_strlist_add(out, weights) ? hub_fail(err, "out of memory") : 0;
}

int hub_index_shards(const char *index_path, hub_strlist *out, char **err) {
    json_error_t je;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &je);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return hub_fail(err, "%s: %s", index_path, root ? "no weight_map object" : je.text);
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(map, key, v) {
        const char *shard = json_string_value(v);
        if (!shard || !hub_safe_relpath(shard)) {
            rc = hub_fail(err, "%s: tensor %s names an invalid shard file", index_path, key);
            break;
        }
        if (!hub_strlist_has(out, shard) && hub_strlist_add(out, shard)) {
            rc = hub_fail(err, "out of memory");
            break;
        }
    }
    if (rc == 0 && out->n == 0) rc = hub_fail(err, "%s names no shard files", index_path);
    json_decref(root);
    return rc;
}
