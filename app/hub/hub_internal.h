/* hub_internal.h: what the hub's files share with each other and the unit
 * tests: id parsing and file choice (hub_id.c), cache paths (hub_cache.c),
 * content hashes (hub_verify.c), the repository listing (hub_api.c), parallel
 * downloads (hub_fetch.c) and the progress display (hub_progress.c). */
#ifndef G4_HUB_INTERNAL_H
#define G4_HUB_INTERNAL_H

#include "hub/hub.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { HUB_NAME_MAX = 96, HUB_MAX_PARALLEL = 4, HUB_MAX_REDIRECTS = 5 };

/* ---- errors: every failure leaves one malloc'd line in *err ---------------------- */
int hub_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- ids and which files a model needs (hub_id.c) -------------------------------- */
typedef struct {
    char org[HUB_NAME_MAX + 1], name[HUB_NAME_MAX + 1];
    char repo[2 * HUB_NAME_MAX + 2];  /* "org/name" */
    char quant[HUB_NAME_MAX + 1];     /* "" when the id has no ":QUANT" */
} hub_id;

/* 0 and *out filled when s is "org/name[:QUANT]" with valid hub names, else -1. */
int hub_parse_id(const char *s, hub_id *out);
/* A repository-relative file name that is safe to join to a directory: no
 * absolute path, no "." or ".." component, no backslash or control character. */
bool hub_safe_relpath(const char *path);

typedef struct {
    char **v;
    size_t n, cap;
} hub_strlist;
int hub_strlist_add(hub_strlist *l, const char *s);
bool hub_strlist_has(const hub_strlist *l, const char *s);
void hub_strlist_free(hub_strlist *l);

/* The quantization tag of a .gguf file name ("gemma-4-E4B-it-Q4_K_M.gguf" ->
 * "Q4_K_M", split suffix "-00001-of-00003" ignored): 0, or -1 when the name is
 * not a model .gguf (another extension, or an "mmproj" projector). */
int hub_gguf_quant(const char *filename, char *out, size_t cap);
/* 1 with *part and *count for "...-00002-of-00003.gguf", else 0. */
int hub_gguf_split(const char *filename, int *part, int *count);

typedef enum { HUB_REPO_NONE, HUB_REPO_CHECKPOINT, HUB_REPO_GGUF } hub_repo_kind;
hub_repo_kind hub_repo_kind_of(char *const *files, size_t n);

/* The .gguf files for quant (every part of a split file, first part first).
 * quant "" picks Q4_K_M. -1 with a message listing the quants available. */
int hub_select_gguf(char *const *files, size_t n, const char *quant, const char *repo,
                    hub_strlist *out, char **err);
/* The files of a safetensors checkpoint apart from the shards: config.json,
 * the tokenizer, generation and template files present, and model.safetensors
 * or model.safetensors.index.json. *sharded says whether the index was chosen. */
int hub_select_checkpoint(char *const *files, size_t n, const char *repo, hub_strlist *out,
                          bool *sharded, char **err);
/* The shard files a model.safetensors.index.json names (each once). */
int hub_index_shards(const char *index_path, hub_strlist *out, char **err);

/* ---- the cache (hub_cache.c) ----------------------------------------------------- */
/* Each builds a path into out (cap bytes); -1 with a message if it does not fit. */
int hub_repo_dir(const char *cache_dir, const char *repo, char *out, size_t cap, char **err);
int hub_blob_path(const char *repo_dir, const char *etag, const char *suffix, char *out, size_t cap,
                  char **err);
int hub_snapshot_path(const char *repo_dir, const char *commit, const char *file, char *out,
                      size_t cap, char **err);
/* The relative symlink target from snapshots/COMMIT/FILE to blobs/ETAG. */
int hub_link_target(const char *file, const char *etag, char *out, size_t cap, char **err);
/* The commit a ref names (refs/REV), or REV itself when it is a commit hash; -1 if unknown. */
int hub_read_ref(const char *repo_dir, const char *revision, char commit[41]);
int hub_write_ref(const char *repo_dir, const char *revision, const char *commit, char **err);
/* Points snapshots/COMMIT/FILE at blobs/ETAG (replacing what was there). */
int hub_link_snapshot(const char *repo_dir, const char *commit, const char *file, const char *etag,
                      char **err);
/* Creates dir and its parents. */
int hub_mkdirs(const char *dir, char **err);
/* Every regular file (followed through symlinks) under dir, as relative paths. */
int hub_list_dir(const char *dir, hub_strlist *out);
bool hub_is_commit_hash(const char *s);

/* ---- content hashes (hub_verify.c) ----------------------------------------------- */
/* sha256 of the content (ETAG of 64 hex digits, LFS files) or the git blob sha1
 * (40 hex digits: sha1 of "blob SIZE\0" + content, small git files). */
typedef struct {
    void *md;          /* EVP_MD_CTX */
    bool git_blob;
} hub_hash;
int hub_hash_begin(hub_hash *h, const char *etag, uint64_t size);
int hub_hash_update(hub_hash *h, const void *data, size_t n);
/* Compares the digest with etag (lowercase hex); 0 if equal. Frees h either way. */
int hub_hash_matches(hub_hash *h, const char *etag);
void hub_hash_free(hub_hash *h);
/* One-shot git blob sha1 of a buffer as 40 hex digits plus NUL. */
int hub_git_blob_sha1(const void *data, size_t n, char out[41]);

/* ---- the repository listing (hub_api.c) ------------------------------------------ */
typedef struct {
    char *name;      /* repository-relative path */
    char etag[65];   /* lfs sha256, or the git blob sha1 */
    uint64_t size;
} hub_file;

typedef struct {
    char commit[41];
    hub_file *files;
    size_t n;
} hub_repo_info;

/* Parses the JSON of GET /api/models/REPO/revision/REV?blobs=true. */
int hub_parse_info(const char *json, size_t len, hub_repo_info *out, char **err);
/* Fetches it; *unreachable is set when no connection could be made. */
int hub_fetch_info(const hub_options *opt, const hub_id *id, hub_repo_info *out, bool *unreachable,
                   char **err);
void hub_repo_info_free(hub_repo_info *info);
const hub_file *hub_info_find(const hub_repo_info *info, const char *name);

/* The curl settings every request shares: user agent, timeouts, redirects
 * (http/https only, at most HUB_MAX_REDIRECTS), the token for the endpoint's
 * host only (libcurl drops it on a redirect to another host or port). Returns
 * the header list to free after the transfer, or NULL (none needed). */
struct curl_slist *hub_curl_setup(void *curl, const hub_options *opt, const char *url);
/* "HTTP 404" -> a message naming the repo and the cause. */
int hub_http_error(char **err, long status, const char *repo, const char *what, const hub_options *opt);

/* ---- downloads (hub_fetch.c) ----------------------------------------------------- */
/* Brings every file into blobs/ (resuming .incomplete ones, verifying all) and
 * links it into snapshots/COMMIT/; files already there are not fetched. */
int hub_fetch_files(const hub_options *opt, const hub_id *id, const char *repo_dir,
                    const char *commit, const hub_file *const *files, size_t n, char **err);

/* ---- progress (hub_progress.c) --------------------------------------------------- */
typedef struct {
    hub_progress_mode mode;   /* BAR, LINES or NONE after hub_progress_begin */
    uint64_t total, done, start_done;
    int files_total, files_done, active;
    double t_start, t_last;
    int last_width;
} hub_progress;
void hub_progress_begin(hub_progress *p, hub_progress_mode mode, const char *label, int n_files,
                        uint64_t total, uint64_t already);
void hub_progress_update(hub_progress *p, uint64_t done, int active, int files_done, bool force);
void hub_progress_end(hub_progress *p, bool ok);
/* "1.5 GiB" */
void hub_format_bytes(double bytes, char *out, size_t cap);

#endif
