/* hub_fetch.c: parallel downloads into the cache (libcurl multi, at most
 * HUB_MAX_PARALLEL files at once). Each file grows in blobs/ETAG.incomplete,
 * continued with an HTTP Range request after a dropped connection or an
 * interrupted run, hashed as it arrives, and renamed to blobs/ETAG only when
 * its hash matches; a mismatch deletes it. Then snapshots/COMMIT/FILE links it. */
#include "hub/hub_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_ATTEMPTS = 3 };

typedef struct {
    const hub_file *file;
    CURL *curl;
    struct curl_slist *headers;
    int fd, lock_fd;
    char blob[PATH_MAX], part[PATH_MAX], url[PATH_MAX + 1024];
    uint64_t have;          /* bytes in the .incomplete file (and in the hash) */
    uint64_t asked_from;    /* the Range start of this attempt */
    uint64_t range_start;   /* from Content-Range of a 206 */
    long status;            /* of the response being received */
    bool body_started;
    char commit_seen[41];
    hub_hash hash;
    int attempts;
    char curl_err[CURL_ERROR_SIZE];
    char *error;            /* set by the callbacks to abort the transfer */
} job;

static void job_close(job *j) {
    if (j->fd >= 0) close(j->fd);
    if (j->lock_fd >= 0) close(j->lock_fd);  /* releases the flock */
    j->fd = j->lock_fd = -1;
    hub_hash_free(&j->hash);
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    if (j->curl) curl_easy_cleanup(j->curl);
    j->curl = NULL;
    free(j->error);
    j->error = NULL;
}

/* Restarts the file from byte 0 (the server ignored our Range, or it is too long). */
static int job_reset(job *j) {
    hub_hash_free(&j->hash);
    j->have = 0;
    if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0) return -1;
    return hub_hash_begin(&j->hash, j->file->etag, j->file->size);
}

/* Opens the .incomplete file, takes huggingface_hub's lock for the blob, and
 * hashes what an earlier run left. */
static int job_open(job *j, const char *lock_path, char **err) {
    j->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lock_fd < 0) return hub_fail(err, "cannot create %s: %s", lock_path, strerror(errno));
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return hub_fail(err, "another process is downloading %s (it holds %s); wait for it to finish", j->file->name,
                        lock_path);
    j->fd = open(j->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) return hub_fail(err, "cannot create %s: %s", j->part, strerror(errno));
    if (hub_hash_begin(&j->hash, j->file->etag, j->file->size)) return hub_fail(err, "cannot start a sha digest");
    struct stat st;
    if (fstat(j->fd, &st) != 0) return hub_fail(err, "cannot read %s: %s", j->part, strerror(errno));
    if ((uint64_t)st.st_size > j->file->size) return job_reset(j) ? hub_fail(err, "cannot truncate %s", j->part) : 0;
    char buf[1 << 16];
    while (j->have < (uint64_t)st.st_size) {
        ssize_t n = read(j->fd, buf, sizeof buf);
        if (n <= 0) return hub_fail(err, "cannot read %s: %s", j->part, n ? strerror(errno) : "short file");
        hub_hash_update(&j->hash, buf, (size_t)n);
        j->have += (uint64_t)n;
    }
    return 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *user) {
    job *j = user;
    size_t len = size * n;
    char text[512];
    size_t k = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, line, k);
    text[k] = 0;
    while (k > 0 && (text[k - 1] == '\r' || text[k - 1] == '\n')) text[--k] = 0;
    if (!strncmp(text, "HTTP/", 5)) {  /* a new response (the first, or after a redirect) */
        const char *sp = strchr(text, ' ');
        j->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        j->range_start = UINT64_MAX;
    } else if (!strncasecmp(text, "X-Repo-Commit:", 14)) {
        const char *v = text + 14;
        while (*v == ' ') v++;
        snprintf(j->commit_seen, sizeof j->commit_seen, "%.40s", v);
    } else if (!strncasecmp(text, "Content-Range:", 14)) {
        const char *v = strstr(text + 14, "bytes ");
        char *end;
        if (v) {
            unsigned long long s = strtoull(v + 6, &end, 10);
            if (end != v + 6 && *end == '-') j->range_start = s;
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    job *j = user;
    size_t len = size * n;
    if (j->status != 200 && j->status != 206) return len;  /* an error page: the status says it */
    if (!j->body_started) {
        j->body_started = true;
        if (j->status == 200 && j->have > 0 && job_reset(j)) {
            hub_fail(&j->error, "cannot truncate %s: %s", j->part, strerror(errno));
            return 0;
        }
        if (j->status == 206 && j->range_start != j->have) {
            hub_fail(&j->error, "%s: the server resumed at the wrong offset", j->file->name);
            return 0;
        }
    }
    if (len > j->file->size - j->have) {
        hub_fail(&j->error, "%s is larger than the %" PRIu64 " bytes the hub announced", j->file->name, j->file->size);
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(j->fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            hub_fail(&j->error, "cannot write %s: %s", j->part, strerror(errno));
            return 0;
        }
        off += (size_t)w;
    }
    hub_hash_update(&j->hash, data, len);
    j->have += len;
    return len;
}

static int job_start(job *j, CURLM *multi, const hub_options *opt) {
    if (!j->curl && !(j->curl = curl_easy_init())) return -1;
    curl_easy_reset(j->curl);
    curl_slist_free_all(j->headers);
    j->headers = hub_curl_setup(j->curl, opt, j->url);
    curl_easy_setopt(j->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(j->curl, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(j->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(j->curl, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(j->curl, CURLOPT_ERRORBUFFER, j->curl_err);
    curl_easy_setopt(j->curl, CURLOPT_PRIVATE, j);
    curl_easy_setopt(j->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)j->have);
    j->curl_err[0] = 0;
    j->asked_from = j->have;
    j->status = 0;
    j->body_started = false;
    j->attempts++;
    if (lseek(j->fd, (off_t)j->have, SEEK_SET) < 0) return -1;
    return curl_multi_add_handle(multi, j->curl) == CURLM_OK ? 0 : -1;
}

/* Verified: rename into blobs/ and link into the snapshot. */
static int job_finish(job *j, const hub_id *id, const char *repo_dir, const char *commit, char **err) {
    if (fsync(j->fd) != 0) return hub_fail(err, "cannot write %s: %s", j->part, strerror(errno));
    if (hub_hash_matches(&j->hash, j->file->etag) != 0) {
        unlink(j->part);
        return hub_fail(err, "%s: %s does not match its %s %s; the download was deleted, run the command again", id->repo,
                        j->file->name, strlen(j->file->etag) == 64 ? "sha256" : "git sha1", j->file->etag);
    }
    if (rename(j->part, j->blob) != 0) return hub_fail(err, "cannot move %s into place: %s", j->part, strerror(errno));
    return hub_link_snapshot(repo_dir, commit, j->file->name, j->file->etag, err);
}

typedef enum { DONE_OK, DONE_RETRY, DONE_FAIL } done_action;

static done_action job_done(job *j, CURLcode rc, const hub_options *opt, const hub_id *id, const char *repo_dir,
                            const char *commit, char **err) {
    if (j->error) {
        hub_fail(err, "%s", j->error);
        return DONE_FAIL;
    }
    if (rc == CURLE_OK && j->commit_seen[0] && strcmp(j->commit_seen, commit) != 0) {
        hub_fail(err, "%s: the server sent %s from commit %s instead of %s", id->repo, j->file->name, j->commit_seen, commit);
        return DONE_FAIL;
    }
    if (rc == CURLE_OK && j->status == 416 && j->attempts < MAX_ATTEMPTS) {
        if (job_reset(j)) return hub_fail(err, "cannot truncate %s", j->part), DONE_FAIL;
        return DONE_RETRY;
    }
    if (rc == CURLE_OK && j->status != 200 && j->status != 206) {
        hub_http_error(err, j->status, id->repo, j->file->name, opt);
        return DONE_FAIL;
    }
    if (rc == CURLE_OK && j->have == j->file->size)
        return job_finish(j, id, repo_dir, commit, err) ? DONE_FAIL : DONE_OK;
    if (j->attempts < MAX_ATTEMPTS) return DONE_RETRY;
    hub_fail(err, "downloading %s from %s failed: %s (%" PRIu64 " of %" PRIu64 " bytes kept in %s; run the command again to resume)",
             j->file->name, opt->endpoint, rc == CURLE_OK ? "the connection closed early" : j->curl_err[0] ? j->curl_err : curl_easy_strerror(rc),
             j->have, j->file->size, j->part);
    return DONE_FAIL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Prepares job j for file f: done already (1), to download (0), or an error (-1). */
static int job_prepare(job *j, const hub_file *f, const hub_options *opt, const hub_id *id, const char *repo_dir,
                       const char *commit, CURL *escaper, char **err) {
    *j = (job){.file = f, .fd = -1, .lock_fd = -1};
    char dir[PATH_MAX], lock_path[PATH_MAX];
    if (hub_blob_path(repo_dir, f->etag, NULL, j->blob, sizeof j->blob, err) ||
        hub_blob_path(repo_dir, f->etag, ".incomplete", j->part, sizeof j->part, err))
        return -1;
    struct stat st;
    if (stat(j->blob, &st) == 0 && (uint64_t)st.st_size == f->size)
        return hub_link_snapshot(repo_dir, commit, f->name, f->etag, err) ? -1 : 1;
    const char *slash = strrchr(repo_dir, '/');
    snprintf(dir, sizeof dir, "%s/blobs", repo_dir);
    if (hub_mkdirs(dir, err)) return -1;
    if (snprintf(dir, sizeof dir, "%.*s/.locks/%s", (int)(slash - repo_dir), repo_dir, slash + 1) >= (int)sizeof dir ||
        snprintf(lock_path, sizeof lock_path, "%s/%s.lock", dir, f->etag) >= (int)sizeof lock_path)
        return hub_fail(err, "the cache path %s is too long", repo_dir);
    if (hub_mkdirs(dir, err) || job_open(j, lock_path, err)) return -1;
    /* the URL: ENDPOINT/REPO/resolve/COMMIT/PATH, each path component escaped */
    int len = snprintf(j->url, sizeof j->url, "%s/%s/resolve/%s", opt->endpoint, id->repo, commit);
    for (const char *p = f->name; *p && len > 0 && (size_t)len < sizeof j->url;) {
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        char *esc = curl_easy_escape(escaper, p, (int)k);
        if (!esc) return hub_fail(err, "out of memory");
        len += snprintf(j->url + len, sizeof j->url - (size_t)len, "/%s", esc);
        curl_free(esc);
        p += k + (e ? 1 : 0);
    }
    if (len < 0 || (size_t)len >= sizeof j->url) return hub_fail(err, "the URL of %s is too long", f->name);
    return 0;
}

int hub_fetch_files(const hub_options *opt, const hub_id *id, const char *repo_dir,
                    const char *commit, const hub_file *const *files, size_t n, char **err) {
    if (n == 0) return 0;
    job *jobs = calloc(n, sizeof *jobs);
    CURLM *multi = curl_multi_init();
    CURL *escaper = curl_easy_init();
    int rc = 0;
    if (!jobs || !multi || !escaper) {
        rc = hub_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) jobs[i].fd = jobs[i].lock_fd = -1;
    /* What is missing, and how much of it an earlier run left. */
    size_t *todo = calloc(n, sizeof *todo), n_todo = 0;
    uint64_t total = 0, already = 0;
    if (!todo) {
        rc = hub_fail(err, "out of memory");
        goto done;
    }
    hub_strlist aliases = {0};  /* files whose content another file of the list brings */
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool same_blob = false;
        for (size_t k = 0; k < i && !same_blob; k++) same_blob = !strcmp(files[k]->etag, files[i]->etag);
        if (same_blob) {
            if (hub_strlist_add(&aliases, files[i]->name)) rc = hub_fail(err, "out of memory");
            continue;
        }
        int r = job_prepare(&jobs[i], files[i], opt, id, repo_dir, commit, escaper, err);
        if (r < 0) rc = -1;
        else if (r == 0) {
            todo[n_todo++] = i;
            total += files[i]->size;
            already += jobs[i].have;
        }
    }
    hub_progress prog = {0};
    if (rc == 0 && n_todo) {
        char label[300];
        snprintf(label, sizeof label, "%s", id->repo);
        hub_progress_begin(&prog, opt->progress, label, (int)n_todo, total, already);
    }
    size_t next = 0;
    int active = 0, finished = 0;
    double retry_at = 0;
    while (rc == 0 && (size_t)finished < n_todo) {
        while (active < HUB_MAX_PARALLEL && next < n_todo) {
            job *j = &jobs[todo[next]];
            if (j->have == j->file->size) {  /* complete but unverified: no request needed */
                next++;
                finished++;
                if (job_finish(j, id, repo_dir, commit, err)) rc = -1;
                job_close(j);
                if (rc) break;
                continue;
            }
            if (job_start(j, multi, opt)) {
                rc = hub_fail(err, "cannot start the download of %s", j->file->name);
                break;
            }
            next++;
            active++;
        }
        if (rc || (size_t)finished == n_todo) break;
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int queued;
        while (rc == 0 && (msg = curl_multi_info_read(multi, &queued))) {
            if (msg->msg != CURLMSG_DONE) continue;
            job *j = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            CURLcode code = msg->data.result;
            curl_multi_remove_handle(multi, j->curl);
            done_action a = job_done(j, code, opt, id, repo_dir, commit, err);
            if (a == DONE_RETRY) {
                retry_at = now_s() + 0.25 * j->attempts;
                while (now_s() < retry_at) curl_multi_poll(multi, NULL, 0, 50, NULL);
                if (job_start(j, multi, opt)) rc = hub_fail(err, "cannot restart the download of %s", j->file->name);
                continue;
            }
            active--;
            finished++;
            if (a == DONE_FAIL) rc = -1;
            job_close(j);
        }
        if (rc) break;
        uint64_t done_bytes = 0;
        for (size_t k = 0; k < n_todo; k++) done_bytes += jobs[todo[k]].have;
        hub_progress_update(&prog, done_bytes, active, finished, false);
        if (active) curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (hub_strlist_has(&aliases, files[i]->name) &&
            hub_link_snapshot(repo_dir, commit, files[i]->name, files[i]->etag, err))
            rc = -1;
    hub_strlist_free(&aliases);
    if (n_todo && rc == 0) {
        hub_progress_update(&prog, total, 0, finished, true);
        hub_progress_end(&prog, true);
    } else if (n_todo) {
        hub_progress_end(&prog, false);
    }
    free(todo);
done:
    for (size_t i = 0; jobs && i < n; i++) {
        if (jobs[i].curl) curl_multi_remove_handle(multi, jobs[i].curl);
        job_close(&jobs[i]);  /* partial files stay for the next run */
    }
    free(jobs);
    curl_easy_cleanup(escaper);
    curl_multi_cleanup(multi);
    return rc;
}
