/* hub.c: hub ids to local paths. Settings from the environment, then: list the
 * repository at the revision, choose the files the model needs, download what
 * the cache lacks, record refs/REVISION; without network (or with
 * HF_HUB_OFFLINE) resolve through refs/REVISION -> snapshots/COMMIT instead. */
#include "hub/hub_internal.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void copy_setting(hub_options *opt, char *dst, size_t cap, const char *value, const char *what) {
    if (snprintf(dst, cap, "%s", value) >= (int)cap && !opt->env_error[0])
        snprintf(opt->env_error, sizeof opt->env_error, "%s is longer than %zu bytes", what, cap - 1);
}

static bool env_true(const char *name) {
    const char *v = env(name);
    return v && (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

/* A token goes into an HTTP header: printable ASCII without spaces only. */
static void set_token(hub_options *opt, const char *text, const char *from) {
    size_t a = 0, b = strlen(text);
    while (a < b && isspace((unsigned char)text[a])) a++;
    while (b > a && isspace((unsigned char)text[b - 1])) b--;
    for (size_t i = a; i < b; i++)
        if (text[i] <= 0x20 || text[i] >= 0x7f) {
            snprintf(opt->env_error, sizeof opt->env_error, "the token in %s has characters a token cannot have", from);
            return;
        }
    if (b - a >= sizeof opt->token) {
        snprintf(opt->env_error, sizeof opt->env_error, "the token in %s is too long", from);
        return;
    }
    memcpy(opt->token, text + a, b - a);
    opt->token[b - a] = 0;
}

void hub_options_default(hub_options *opt) {
    memset(opt, 0, sizeof *opt);
    snprintf(opt->revision, sizeof opt->revision, "main");
    opt->progress = HUB_PROGRESS_AUTO;
    opt->connect_timeout_s = 10;
    opt->offline = env_true("HF_HUB_OFFLINE");

    const char *ep = env("HF_ENDPOINT");
    copy_setting(opt, opt->endpoint, sizeof opt->endpoint, ep ? ep : "https://huggingface.co", "HF_ENDPOINT");
    size_t n = strlen(opt->endpoint);
    while (n > 0 && opt->endpoint[n - 1] == '/') opt->endpoint[--n] = 0;
    if (strncmp(opt->endpoint, "http://", 7) && strncmp(opt->endpoint, "https://", 8) && !opt->env_error[0])
        snprintf(opt->env_error, sizeof opt->env_error, "HF_ENDPOINT must be an http:// or https:// URL, not '%.200s'", opt->endpoint);

    /* HF_HOME: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface */
    char home[HUB_STR_MAX];
    const char *hf_home = env("HF_HOME"), *xdg = env("XDG_CACHE_HOME"), *user_home = env("HOME");
    if (hf_home) copy_setting(opt, home, sizeof home, hf_home, "HF_HOME");
    else if (xdg) snprintf(home, sizeof home, "%.4000s/huggingface", xdg);
    else if (user_home) snprintf(home, sizeof home, "%.4000s/.cache/huggingface", user_home);
    else home[0] = 0;
    const char *cache = env("HF_HUB_CACHE") ? env("HF_HUB_CACHE") : env("HUGGINGFACE_HUB_CACHE");
    if (cache) copy_setting(opt, opt->cache_dir, sizeof opt->cache_dir, cache, "HF_HUB_CACHE");
    else if (home[0]) snprintf(opt->cache_dir, sizeof opt->cache_dir, "%.4000s/hub", home);
    else if (!opt->env_error[0])
        snprintf(opt->env_error, sizeof opt->env_error, "no model cache: set HF_HUB_CACHE, HF_HOME or HOME");

    const char *token = env("HF_TOKEN") ? env("HF_TOKEN") : env("HUGGING_FACE_HUB_TOKEN");
    if (token) {
        set_token(opt, token, "HF_TOKEN");
        return;
    }
    char path[HUB_STR_MAX + 8];
    if (env("HF_TOKEN_PATH")) snprintf(path, sizeof path, "%s", env("HF_TOKEN_PATH"));
    else if (home[0]) snprintf(path, sizeof path, "%s/token", home);
    else return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char text[HUB_STR_MAX];
    size_t k = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[k] = 0;
    set_token(opt, text, path);
}

static bool has_gguf(char *const *names, size_t n) {
    char q[HUB_NAME_MAX + 1];
    for (size_t i = 0; i < n; i++)
        if (hub_gguf_quant(names[i], q, sizeof q) == 0) return true;
    return false;
}

/* The files the model needs out of a repository's file list. */
static int select_files(char *const *names, size_t n, const hub_id *id, hub_strlist *out, bool *sharded, char **err) {
    *sharded = false;
    hub_repo_kind kind = hub_repo_kind_of(names, n);
    if (id->quant[0]) {
        if (kind != HUB_REPO_GGUF && !(kind == HUB_REPO_CHECKPOINT && has_gguf(names, n)))
            return hub_fail(err, "%s has no .gguf files; use %s without :%s", id->repo, id->repo, id->quant);
        return hub_select_gguf(names, n, id->quant, id->repo, out, err);
    }
    if (kind == HUB_REPO_CHECKPOINT) return hub_select_checkpoint(names, n, id->repo, out, sharded, err);
    if (kind == HUB_REPO_GGUF) return hub_select_gguf(names, n, "", id->repo, out, err);
    return hub_fail(err, "%s holds neither a safetensors checkpoint (config.json + model.safetensors) nor .gguf files",
                    id->repo);
}

/* The path to load: the snapshot directory, or the (first) .gguf file in it. */
static char *model_path(const char *snapshot, const hub_strlist *chosen, char **err) {
    char *path = NULL;
    size_t k = chosen->n ? strlen(chosen->v[0]) : 0;
    if (k > 5 && !strcasecmp(chosen->v[0] + k - 5, ".gguf")) {
        if (asprintf(&path, "%s/%s", snapshot, chosen->v[0]) < 0) path = NULL;
    } else {
        path = strdup(snapshot);
    }
    if (!path) hub_fail(err, "out of memory");
    return path;
}

/* Resolves id from the cache alone; NULL with *err saying what is missing. */
static char *resolve_cached(const hub_id *id, const hub_options *opt, const char *repo_dir, char **err) {
    char commit[41], snapshot[PATH_MAX], index[PATH_MAX];
    if (hub_read_ref(repo_dir, opt->revision, commit) != 0) {
        hub_fail(err, "none");
        return NULL;
    }
    if (hub_snapshot_path(repo_dir, commit, NULL, snapshot, sizeof snapshot, err)) return NULL;
    hub_strlist have = {0}, chosen = {0}, shards = {0};
    char *path = NULL, *why = NULL;
    bool sharded;
    if (hub_list_dir(snapshot, &have) != 0 || have.n == 0) {
        hub_fail(err, "none");
    } else if (select_files(have.v, have.n, id, &chosen, &sharded, &why) == 0) {
        int rc = 0;
        if (sharded) {
            rc = hub_snapshot_path(repo_dir, commit, "model.safetensors.index.json", index, sizeof index, &why);
            if (rc == 0) rc = hub_index_shards(index, &shards, &why);
            for (size_t i = 0; rc == 0 && i < shards.n; i++)
                if (!hub_strlist_has(&have, shards.v[i])) rc = hub_fail(&why, "shard %s is missing", shards.v[i]);
        }
        if (rc == 0) path = model_path(snapshot, &chosen, err);
        else hub_fail(err, "an incomplete snapshot %.12s (%s)", commit, why);
    } else {
        hub_fail(err, "an incomplete snapshot %.12s (%s)", commit, why);
    }
    free(why);
    hub_strlist_free(&have);
    hub_strlist_free(&chosen);
    hub_strlist_free(&shards);
    return path;
}

/* Downloads the named files of info (each must be listed). */
static int fetch_named(const hub_options *opt, const hub_id *id, const char *repo_dir, const hub_repo_info *info,
                       const hub_strlist *names, char **err) {
    const hub_file **files = calloc(names->n ? names->n : 1, sizeof *files);
    if (!files) return hub_fail(err, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < names->n && rc == 0; i++)
        if (!(files[i] = hub_info_find(info, names->v[i])))
            rc = hub_fail(err, "%s: %s is not in the repository at commit %.12s", id->repo, names->v[i], info->commit);
    if (rc == 0) rc = hub_fetch_files(opt, id, repo_dir, info->commit, files, names->n, err);
    free(files);
    return rc;
}

static char *resolve_online(const hub_id *id, const hub_options *opt, const char *repo_dir, char **err) {
    hub_repo_info info;
    bool unreachable;
    if (hub_fetch_info(opt, id, &info, &unreachable, err) != 0) {
        if (!unreachable) return NULL;
        char *why = NULL, *path = resolve_cached(id, opt, repo_dir, &why);
        if (path) {
            if (opt->progress != HUB_PROGRESS_NONE)
                fprintf(stderr, "gemma4: %s; using the cached %s\n", *err, id->repo);
            free(*err);
            *err = NULL;
        } else {
            char *reach = *err;
            *err = NULL;
            hub_fail(err, "%s; cached files: %s", reach, why);
            free(reach);
        }
        free(why);
        return path;
    }
    char **names = calloc(info.n ? info.n : 1, sizeof *names);
    hub_strlist chosen = {0}, shards = {0};
    char snapshot[PATH_MAX], index[PATH_MAX];
    char *path = NULL;
    bool sharded;
    if (!names) {
        hub_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < info.n; i++) names[i] = info.files[i].name;
    if (select_files(names, info.n, id, &chosen, &sharded, err) ||
        fetch_named(opt, id, repo_dir, &info, &chosen, err) ||
        hub_snapshot_path(repo_dir, info.commit, NULL, snapshot, sizeof snapshot, err))
        goto done;
    if (sharded) {
        if (hub_snapshot_path(repo_dir, info.commit, "model.safetensors.index.json", index, sizeof index, err) ||
            hub_index_shards(index, &shards, err) || fetch_named(opt, id, repo_dir, &info, &shards, err)) goto done;
    }
    if (hub_write_ref(repo_dir, opt->revision, info.commit, err)) goto done;
    path = model_path(snapshot, &chosen, err);
done:
    free(names);
    hub_strlist_free(&chosen);
    hub_strlist_free(&shards);
    hub_repo_info_free(&info);
    return path;
}

char *hub_resolve(const char *id_text, const hub_options *opt, char **err) {
    *err = NULL;
    if (opt->env_error[0]) {
        hub_fail(err, "%s", opt->env_error);
        return NULL;
    }
    hub_id id;
    if (hub_parse_id(id_text, &id) != 0) {
        hub_fail(err, "'%s' is not a model id (ORG/NAME or ORG/NAME:QUANT)", id_text);
        return NULL;
    }
    char repo_dir[PATH_MAX];
    if (hub_repo_dir(opt->cache_dir, id.repo, repo_dir, sizeof repo_dir, err)) return NULL;
    if (!opt->offline) return resolve_online(&id, opt, repo_dir, err);
    char *why = NULL, *path = resolve_cached(&id, opt, repo_dir, &why);
    if (!path)
        hub_fail(err, "HF_HUB_OFFLINE is set and %s (revision %s) is not in the cache %s; cached files: %s", id_text,
                 opt->revision, opt->cache_dir, why);
    free(why);
    return path;
}
