/* hub_api.c: the hub's repository listing (GET /api/models/REPO/revision/REV
 * ?blobs=true: the commit and every file with its size and hash), the curl
 * settings all requests share, and what HTTP errors mean to the user. */
#include "hub/hub_internal.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { INFO_MAX_BYTES = 64 << 20, INFO_MAX_FILES = 1 << 20 };

const hub_file *hub_info_find(const hub_repo_info *info, const char *name) {
    for (size_t i = 0; i < info->n; i++)
        if (!strcmp(info->files[i].name, name)) return &info->files[i];
    return NULL;
}

void hub_repo_info_free(hub_repo_info *info) {
    for (size_t i = 0; i < info->n; i++) free(info->files[i].name);
    free(info->files);
    memset(info, 0, sizeof *info);
}

/* A lowercase hex digest of n digits into out. */
static bool take_hex(json_t *j, size_t n, char *out) {
    const char *s = json_string_value(j);
    if (!s || strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i])) return false;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[n] = 0;
    return true;
}

static bool take_size(json_t *j, uint64_t *out) {
    if (!json_is_integer(j) || json_integer_value(j) < 0) return false;
    *out = (uint64_t)json_integer_value(j);
    return true;
}

int hub_parse_info(const char *json, size_t len, hub_repo_info *out, char **err) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return hub_fail(err, "the hub's repository listing is not JSON (line %d: %s)", je.line, je.text);
    json_t *sib = json_object_get(root, "siblings");
    int rc = -1;
    if (!take_hex(json_object_get(root, "sha"), 40, out->commit)) {
        hub_fail(err, "the hub's repository listing has no commit hash (\"sha\")");
        goto done;
    }
    if (!json_is_array(sib) || json_array_size(sib) > INFO_MAX_FILES) {
        hub_fail(err, "the hub's repository listing has no \"siblings\" array");
        goto done;
    }
    if (json_array_size(sib) && !(out->files = calloc(json_array_size(sib), sizeof *out->files))) {
        hub_fail(err, "out of memory");
        goto done;
    }
    size_t i;
    json_t *s;
    json_array_foreach(sib, i, s) {
        const char *name = json_string_value(json_object_get(s, "rfilename"));
        json_t *lfs = json_object_get(s, "lfs");
        hub_file *f = &out->files[out->n];
        if (!name || !hub_safe_relpath(name)) {
            hub_fail(err, "the hub's repository listing names an invalid file (entry %zu)", i);
            goto done;
        }
        bool ok = json_is_object(lfs) ? take_hex(json_object_get(lfs, "sha256"), 64, f->etag) &&
                                            take_size(json_object_get(lfs, "size"), &f->size)
                                      : take_hex(json_object_get(s, "blobId"), 40, f->etag) &&
                                            take_size(json_object_get(s, "size"), &f->size);
        if (!ok) {
            hub_fail(err, "the hub's listing of %s lacks its size and hash", name);
            goto done;
        }
        if (!(f->name = strdup(name))) {
            hub_fail(err, "out of memory");
            goto done;
        }
        out->n++;
    }
    rc = 0;
done:
    json_decref(root);
    if (rc) hub_repo_info_free(out);
    return rc;
}

struct curl_slist *hub_curl_setup(void *curl, const hub_options *opt, const char *url) {
    CURL *c = curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gemma4/0.1 (libcurl)");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)HUB_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, opt->connect_timeout_s > 0 ? opt->connect_timeout_s : 10L);
    /* a transfer that stalls (under 1 byte/s for 60 s) fails and can be resumed */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    if (!opt->token[0]) return NULL;
    /* The token goes to the endpoint only; libcurl removes a custom
     * Authorization header when a redirect leaves the original host or port. */
    size_t ep = strlen(opt->endpoint);
    if (strncmp(url, opt->endpoint, ep) != 0 || (url[ep] != '/' && url[ep] != 0)) return NULL;
    char *line = NULL;
    if (asprintf(&line, "Authorization: Bearer %s", opt->token) < 0) return NULL;
    struct curl_slist *h = curl_slist_append(NULL, line);
    free(line);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    return h;
}

int hub_http_error(char **err, long status, const char *repo, const char *what, const hub_options *opt) {
    if (status == 401 || status == 403)
        return hub_fail(err, "%s: access denied (HTTP %ld) to %s: the repository is gated or private; %s", repo, status,
                        what,
                        opt->token[0] ? "the token in HF_TOKEN does not grant access (accept the model's terms on the hub)"
                                      : "accept its terms on the hub and set HF_TOKEN");
    if (status == 404)
        return hub_fail(err, "%s: no such model, revision or file on %s (HTTP 404 for %s)", repo, opt->endpoint, what);
    return hub_fail(err, "%s: the hub answered HTTP %ld for %s", repo, status, what);
}

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} body;

static size_t collect(char *p, size_t size, size_t n, void *user) {
    body *b = user;
    size_t k = size * n;
    if (b->len + k > INFO_MAX_BYTES) {
        b->too_big = true;
        return 0;
    }
    char *d = realloc(b->data, b->len + k + 1);
    if (!d) return 0;
    memcpy(d + b->len, p, k);
    b->data = d;
    b->len += k;
    d[b->len] = 0;
    return k;
}


static bool curl_unreachable(int code) {
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return true;
    default:
        return false;
    }
}

int hub_fetch_info(const hub_options *opt, const hub_id *id, hub_repo_info *out, bool *unreachable,
                   char **err) {
    *unreachable = false;
    CURL *c = curl_easy_init();
    if (!c) return hub_fail(err, "cannot start libcurl");
    char *rev = curl_easy_escape(c, opt->revision, 0);
    char *url = NULL;
    if (!rev || asprintf(&url, "%s/api/models/%s/revision/%s?blobs=true", opt->endpoint, id->repo, rev) < 0) url = NULL;
    curl_free(rev);
    if (!url) {
        curl_easy_cleanup(c);
        return hub_fail(err, "out of memory");
    }
    body b = {0};
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = hub_curl_setup(c, opt, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    int result = -1;
    if (rc != CURLE_OK) {
        *unreachable = curl_unreachable(rc);
        if (b.too_big) hub_fail(err, "%s: the hub's repository listing is larger than %d MiB", id->repo, INFO_MAX_BYTES >> 20);
        else hub_fail(err, "cannot reach %s: %s", opt->endpoint, curl_err[0] ? curl_err : curl_easy_strerror(rc));
    } else if (status != 200) {
        char what[600];
        snprintf(what, sizeof what, "revision '%s'", opt->revision);
        hub_http_error(err, status, id->repo, what, opt);
    } else if (hub_parse_info(b.data ? b.data : "", b.len, out, err) == 0) {
        result = 0;
    } else {
        char *inner = *err;
        *err = NULL;
        hub_fail(err, "%s: %s", id->repo, inner);
        free(inner);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(b.data);
    free(url);
    return result;
}
