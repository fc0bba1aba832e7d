/* hub_cache.c: the Hugging Face cache layout, as huggingface_hub writes it so
 * that Python tools share the files: CACHE/models--ORG--NAME/{blobs/ETAG,
 * snapshots/COMMIT/FILE -> ../../blobs/ETAG, refs/REVISION = COMMIT}. */
#include "hub/hub_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fit(int n, size_t cap, char **err, const char *what) {
    if (n < 0 || (size_t)n >= cap) return hub_fail(err, "the cache path of %s is too long", what);
    return 0;
}

int hub_repo_dir(const char *cache_dir, const char *repo, char *out, size_t cap, char **err) {
    const char *slash = strchr(repo, '/');
    if (!slash) return hub_fail(err, "'%s' is not an org/name id", repo);
    return fit(snprintf(out, cap, "%s/models--%.*s--%s", cache_dir, (int)(slash - repo), repo, slash + 1), cap, err, repo);
}

int hub_blob_path(const char *repo_dir, const char *etag, const char *suffix, char *out, size_t cap,
                  char **err) {
    return fit(snprintf(out, cap, "%s/blobs/%s%s", repo_dir, etag, suffix ? suffix : ""), cap, err, etag);
}

int hub_snapshot_path(const char *repo_dir, const char *commit, const char *file, char *out,
                      size_t cap, char **err) {
    return fit(snprintf(out, cap, "%s/snapshots/%s%s%s", repo_dir, commit, file ? "/" : "", file ? file : ""), cap, err,
               file ? file : commit);
}

int hub_link_target(const char *file, const char *etag, char *out, size_t cap, char **err) {
    /* snapshots/COMMIT/ is two levels below the repo; each '/' in FILE adds one */
    size_t depth = 2, len = 0;
    for (const char *p = file; *p; p++) depth += *p == '/';
    for (size_t i = 0; i < depth; i++) {
        if (len + 3 >= cap) return hub_fail(err, "the cache path of %s is too long", file);
        memcpy(out + len, "../", 3);
        len += 3;
    }
    return fit(snprintf(out + len, cap - len, "blobs/%s", etag), cap - len, err, file);
}

bool hub_is_commit_hash(const char *s) {
    if (!s || strlen(s) != 40) return false;
    for (int i = 0; i < 40; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return false;
    return true;
}

/* A revision is used as a file name under refs/: refuse what could escape it. */
static bool safe_revision(const char *rev) { return hub_safe_relpath(rev) && strlen(rev) < 256; }

int hub_read_ref(const char *repo_dir, const char *revision, char commit[41]) {
    if (hub_is_commit_hash(revision)) {
        memcpy(commit, revision, 41);
        return 0;
    }
    if (!safe_revision(revision)) return -1;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision) >= (int)sizeof path) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && isspace((unsigned char)buf[n - 1])) buf[--n] = 0;
    if (!hub_is_commit_hash(buf)) return -1;
    memcpy(commit, buf, 41);
    return 0;
}

int hub_mkdirs(const char *dir, char **err) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return hub_fail(err, "path too long: %s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST) return hub_fail(err, "cannot create %s: %s", path, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

static int parent_dirs(const char *path, char **err) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    *slash = 0;
    return hub_mkdirs(dir, err);
}

/* Writes a small file through a temporary name and a rename. */
static int write_atomic(const char *path, const char *text, char **err) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) return hub_fail(err, "path too long: %s", path);
    if (parent_dirs(path, err)) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return hub_fail(err, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return hub_fail(err, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int hub_write_ref(const char *repo_dir, const char *revision, const char *commit, char **err) {
    if (hub_is_commit_hash(revision)) return 0;  /* huggingface_hub keeps no ref for a commit */
    if (!safe_revision(revision)) return hub_fail(err, "revision '%s' is not a valid name", revision);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision) >= (int)sizeof path)
        return hub_fail(err, "path too long: %s", repo_dir);
    char old[41];
    if (hub_read_ref(repo_dir, revision, old) == 0 && !strcmp(old, commit)) return 0;
    return write_atomic(path, commit, err);
}

int hub_link_snapshot(const char *repo_dir, const char *commit, const char *file, const char *etag,
                      char **err) {
    char path[PATH_MAX], target[PATH_MAX], tmp[PATH_MAX + 32];
    if (hub_snapshot_path(repo_dir, commit, file, path, sizeof path, err) ||
        hub_link_target(file, etag, target, sizeof target, err) || parent_dirs(path, err))
        return -1;
    char have[PATH_MAX];
    ssize_t n = readlink(path, have, sizeof have - 1);
    if (n >= 0 && (have[n] = 0, !strcmp(have, target))) return 0;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return hub_fail(err, "cannot link %s: %s", path, strerror(e));
    }
    return 0;
}

static int list_rec(const char *root, const char *rel, hub_strlist *out, int depth) {
    if (depth > 8) return 0;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[PATH_MAX], full[PATH_MAX * 2];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub) continue;
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0) continue;  /* a dangling link: the blob is missing */
        if (S_ISDIR(st.st_mode)) rc = list_rec(root, sub, out, depth + 1);
        else if (S_ISREG(st.st_mode)) rc = hub_strlist_add(out, sub);
    }
    closedir(d);
    return rc;
}

int hub_list_dir(const char *dir, hub_strlist *out) { return list_rec(dir, "", out, 0); }
