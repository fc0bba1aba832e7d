/* test_hub.c: the hub client's pure parts (app/hub/): model id parsing, safe
 * repository paths, cache paths and refs as huggingface_hub lays them out, GGUF
 * quant names and file choice, the repository listing parser, settings from the
 * environment, and the hashes (against git hash-object and FIPS 180 vectors). */
#include "testutil.h"

#include "hub/hub_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_parse_id(void **state) {
    (void)state;
    hub_id id;
    assert_int_equal(hub_parse_id("google/gemma-4-E4B-it", &id), 0);
    assert_string_equal(id.org, "google");
    assert_string_equal(id.name, "gemma-4-E4B-it");
    assert_string_equal(id.repo, "google/gemma-4-E4B-it");
    assert_string_equal(id.quant, "");
    assert_int_equal(hub_parse_id("user/repo.v2:Q4_K_M", &id), 0);
    assert_string_equal(id.repo, "user/repo.v2");
    assert_string_equal(id.quant, "Q4_K_M");
    static const char *const bad[] = {"noslash", "a/b/c", "/x", "x/", "a/b:", "a/..b", "a/-b", "a/b-", "a/b--c",
                                      "a/b.gguf", "a/B.SafeTensors", "a/b:Q4 K", "a b/c", "a/b:Q4/K", "", ":Q4/x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (hub_parse_id(bad[i], &id) == 0) fail_msg("'%s' was accepted as an id", bad[i]);
    }
    char long_name[160];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name, "o/", 2);
    long_name[2 + HUB_NAME_MAX] = 0;
    assert_int_equal(hub_parse_id(long_name, &id), 0);
    long_name[2 + HUB_NAME_MAX] = 'a';
    long_name[3 + HUB_NAME_MAX] = 0;
    assert_int_equal(hub_parse_id(long_name, &id), -1);
    assert_int_equal(hub_parse_id(NULL, &id), -1);
}

static void test_is_model_id(void **state) {
    (void)state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tu_tmpdir()), 0);
    mkdir("org", 0755);
    mkdir("org/name", 0755);
    assert_false(hub_is_model_id("org/name"));  /* an existing directory is a path */
    assert_true(hub_is_model_id("org/other"));
    assert_true(hub_is_model_id("org/other:Q8_0"));
    assert_false(hub_is_model_id("model.gguf"));
    assert_false(hub_is_model_id(NULL));
    assert_int_equal(chdir(cwd), 0);
}

static void test_safe_relpath(void **state) {
    (void)state;
    assert_true(hub_safe_relpath("model.safetensors"));
    assert_true(hub_safe_relpath("Q4_K_M/model-00001-of-00002.gguf"));
    assert_true(hub_safe_relpath("a..b/.hidden"));
    static const char *const bad[] = {"", "/etc/passwd", "../x", "a/../b", "a/./b", ".", "a//b", "a/", "a\\b", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (hub_safe_relpath(bad[i])) fail_msg("'%s' was accepted as a safe path", bad[i]);
    assert_false(hub_safe_relpath(NULL));
}

static void test_cache_paths(void **state) {
    (void)state;
    char p[512], q[512], *err = NULL;
    assert_int_equal(hub_repo_dir("/c/hub", "google/gemma-4-E4B-it", p, sizeof p, &err), 0);
    assert_string_equal(p, "/c/hub/models--google--gemma-4-E4B-it");
    assert_int_equal(hub_blob_path(p, "abc", ".incomplete", q, sizeof q, &err), 0);
    assert_string_equal(q, "/c/hub/models--google--gemma-4-E4B-it/blobs/abc.incomplete");
    assert_int_equal(hub_snapshot_path("/r", "0123", "sub/f.gguf", p, sizeof p, &err), 0);
    assert_string_equal(p, "/r/snapshots/0123/sub/f.gguf");
    assert_int_equal(hub_link_target("config.json", "e1", p, sizeof p, &err), 0);
    assert_string_equal(p, "../../blobs/e1");
    assert_int_equal(hub_link_target("Q4_K_M/a/m.gguf", "e2", p, sizeof p, &err), 0);
    assert_string_equal(p, "../../../../blobs/e2");
    assert_null(err);
    char tiny[16];
    assert_int_equal(hub_repo_dir("/a/long/cache/dir", "org/name", tiny, sizeof tiny, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "too long"));
    free(err);
}

static void test_refs_and_links(void **state) {
    (void)state;
    char repo[PATH_MAX];  /* tu_path's buffers rotate: keep our own copy */
    snprintf(repo, sizeof repo, "%s/cache/models--o--n", tu_tmpdir());
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char got[41], *err = NULL;
    assert_int_equal(hub_read_ref(repo, "main", got), -1);
    assert_int_equal(hub_write_ref(repo, "main", commit, &err), 0);
    assert_int_equal(hub_read_ref(repo, "main", got), 0);
    assert_string_equal(got, commit);
    size_t n;
    char *text = tu_read_file(tu_path("%s/refs/main", repo), &n);
    assert_non_null(text);
    assert_int_equal(n, 40);  /* the bare hash, as huggingface_hub writes it */
    free(text);
    assert_int_equal(tu_write_file(tu_path("%s/refs/v1", repo), "0123456789abcdef0123456789abcdef01234567\n", 41), 0);
    assert_int_equal(hub_read_ref(repo, "v1", got), 0);
    assert_int_equal(tu_write_file(tu_path("%s/refs/bad", repo), "not a hash", 10), 0);
    assert_int_equal(hub_read_ref(repo, "bad", got), -1);
    assert_int_equal(hub_read_ref(repo, "../../x", got), -1);
    assert_int_equal(hub_read_ref(repo, commit, got), 0);  /* a commit names itself */
    assert_int_equal(hub_write_ref(repo, "../x", commit, &err), -1);
    free(err);
    err = NULL;

    assert_int_equal(hub_mkdirs(tu_path("%s/blobs", repo), &err), 0);
    assert_int_equal(tu_write_file(tu_path("%s/blobs/e1", repo), "weights", 7), 0);
    assert_int_equal(hub_link_snapshot(repo, commit, "sub/w.bin", "e1", &err), 0);
    assert_int_equal(hub_link_snapshot(repo, commit, "sub/w.bin", "e1", &err), 0);  /* again: unchanged */
    char target[256];
    ssize_t k = readlink(tu_path("%s/snapshots/%s/sub/w.bin", repo, commit), target, sizeof target - 1);
    assert_true(k > 0);
    target[k] = 0;
    assert_string_equal(target, "../../../blobs/e1");
    text = tu_read_file(tu_path("%s/snapshots/%s/sub/w.bin", repo, commit), &n);
    assert_non_null(text);
    assert_memory_equal(text, "weights", 7);
    free(text);
    hub_strlist l = {0};
    assert_int_equal(hub_list_dir(tu_path("%s/snapshots/%s", repo, commit), &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0], "sub/w.bin");
    hub_strlist_free(&l);
    assert_null(err);
}

static void test_gguf_names(void **state) {
    (void)state;
    char q[64];
    assert_int_equal(hub_gguf_quant("gemma-4-E4B-it-Q4_K_M.gguf", q, sizeof q), 0);
    assert_string_equal(q, "Q4_K_M");
    assert_int_equal(hub_gguf_quant("dir/model.Q8_0.gguf", q, sizeof q), 0);
    assert_string_equal(q, "Q8_0");
    assert_int_equal(hub_gguf_quant("BF16/big-BF16-00002-of-00003.gguf", q, sizeof q), 0);
    assert_string_equal(q, "BF16");
    assert_int_equal(hub_gguf_quant("mmproj-model-f16.gguf", q, sizeof q), -1);
    assert_int_equal(hub_gguf_quant("model.safetensors", q, sizeof q), -1);
    assert_int_equal(hub_gguf_quant("x-Q4_K_M.gguf", q, 4), -1);  /* does not fit */
    int part, count;
    assert_int_equal(hub_gguf_split("m-Q4_K_M-00002-of-00003.gguf", &part, &count), 1);
    assert_int_equal(part, 2);
    assert_int_equal(count, 3);
    assert_int_equal(hub_gguf_split("m-Q4_K_M-00004-of-00003.gguf", &part, &count), 0);
    assert_int_equal(hub_gguf_split("m-Q4_K_M.gguf", &part, &count), 0);
    assert_int_equal(hub_gguf_split("m-0000a-of-00003.gguf", &part, &count), 0);
}

static void test_select_gguf(void **state) {
    (void)state;
    char *files[] = {"README.md", "m-Q4_K_S.gguf", "m-Q4_K_M.gguf", "m-Q8_0.gguf", "mmproj-m-F16.gguf",
                     "BF16/m-BF16-00002-of-00002.gguf", "BF16/m-BF16-00001-of-00002.gguf"};
    size_t n = sizeof files / sizeof *files;
    hub_strlist out = {0};
    char *err = NULL;
    assert_int_equal(hub_select_gguf(files, n, "", "o/m", &out, &err), 0);  /* default Q4_K_M */
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "m-Q4_K_M.gguf");
    hub_strlist_free(&out);
    assert_int_equal(hub_select_gguf(files, n, "q8_0", "o/m", &out, &err), 0);
    assert_string_equal(out.v[0], "m-Q8_0.gguf");
    hub_strlist_free(&out);
    assert_int_equal(hub_select_gguf(files, n, "bf16", "o/m", &out, &err), 0);  /* split: all parts, in order */
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0], "BF16/m-BF16-00001-of-00002.gguf");
    assert_string_equal(out.v[1], "BF16/m-BF16-00002-of-00002.gguf");
    hub_strlist_free(&out);
    assert_null(err);
    /* "Q4_K" is no file's tag and is contained in two: ambiguous */
    assert_int_equal(hub_select_gguf(files, n, "Q4_K", "o/m", &out, &err), -1);
    assert_non_null(strstr(err, "matches both"));
    /* nothing matches: the quants available, without the projector */
    assert_int_equal(hub_select_gguf(files, n, "Q2_K", "o/m", &out, &err), -1);
    assert_non_null(strstr(err, "available: BF16, Q4_K_M, Q4_K_S, Q8_0"));
    assert_null(strstr(err, " F16"));
    char *no_default[] = {"m-Q8_0.gguf", "m-Q5_K_M.gguf"};
    assert_int_equal(hub_select_gguf(no_default, 2, "", "o/m", &out, &err), -1);
    assert_non_null(strstr(err, "no Q4_K_M"));
    assert_non_null(strstr(err, "Q5_K_M, Q8_0"));
    char *missing_part[] = {"m-Q4_K_M-00001-of-00003.gguf", "m-Q4_K_M-00003-of-00003.gguf"};
    assert_int_equal(hub_select_gguf(missing_part, 2, "Q4_K_M", "o/m", &out, &err), -1);
    assert_non_null(strstr(err, "3 parts but 2"));
    free(err);
    hub_strlist_free(&out);
}

static void test_select_checkpoint(void **state) {
    (void)state;
    char *files[] = {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                     "tokenizer.json", "chat_template.jinja", "README.md", "tokenizer_config.json"};
    hub_strlist out = {0};
    bool sharded = false;
    char *err = NULL;
    assert_int_equal(hub_repo_kind_of(files, 7), HUB_REPO_CHECKPOINT);
    assert_int_equal(hub_select_checkpoint(files, 7, "o/m", &out, &sharded, &err), 0);
    assert_true(sharded);
    assert_true(hub_strlist_has(&out, "config.json") && hub_strlist_has(&out, "tokenizer.json") &&
                hub_strlist_has(&out, "chat_template.jinja") && hub_strlist_has(&out, "tokenizer_config.json") &&
                hub_strlist_has(&out, "model.safetensors.index.json"));
    assert_false(hub_strlist_has(&out, "README.md") || hub_strlist_has(&out, "generation_config.json"));
    assert_int_equal(out.n, 5);
    hub_strlist_free(&out);
    char *no_config[] = {"model.safetensors"};
    assert_int_equal(hub_select_checkpoint(no_config, 1, "o/m", &out, &sharded, &err), -1);
    assert_non_null(strstr(err, "no config.json"));
    char *gguf_only[] = {"README.md", "m-Q4_K_M.gguf"};
    assert_int_equal(hub_repo_kind_of(gguf_only, 2), HUB_REPO_GGUF);
    assert_int_equal(hub_repo_kind_of(gguf_only, 1), HUB_REPO_NONE);
    free(err);
    hub_strlist_free(&out);
}

static void test_index_shards(void **state) {
    (void)state;
    const char *path = tu_path("%s/index.json", tu_tmpdir());
    const char *good = "{\"metadata\": {}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                       " \"b\": \"model-00002-of-00002.safetensors\", \"c\": \"model-00001-of-00002.safetensors\"}}";
    assert_int_equal(tu_write_file(path, good, strlen(good)), 0);
    hub_strlist out = {0};
    char *err = NULL;
    assert_int_equal(hub_index_shards(path, &out, &err), 0);
    assert_int_equal(out.n, 2);
    hub_strlist_free(&out);
    const char *evil = "{\"weight_map\": {\"a\": \"../../../../etc/passwd\"}}";
    assert_int_equal(tu_write_file(path, evil, strlen(evil)), 0);
    assert_int_equal(hub_index_shards(path, &out, &err), -1);
    assert_non_null(strstr(err, "invalid shard"));
    hub_strlist_free(&out);
    assert_int_equal(tu_write_file(path, "{}", 2), 0);
    assert_int_equal(hub_index_shards(path, &out, &err), -1);
    assert_non_null(strstr(err, "weight_map"));
    free(err);
    hub_strlist_free(&out);
}

static void test_hashes(void **state) {
    (void)state;
    char hex[41];
    /* references: printf 'hello' | git hash-object --stdin, and the empty blob */
    assert_int_equal(hub_git_blob_sha1("hello", 5, hex), 0);
    assert_string_equal(hex, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
    assert_int_equal(hub_git_blob_sha1("", 0, hex), 0);
    assert_string_equal(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    /* streamed in pieces, as downloads arrive */
    hub_hash h;
    assert_int_equal(hub_hash_begin(&h, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0", 5), 0);
    hub_hash_update(&h, "he", 2);
    hub_hash_update(&h, "llo", 3);
    assert_int_equal(hub_hash_matches(&h, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"), 0);
    const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";  /* FIPS 180-2 */
    assert_int_equal(hub_hash_begin(&h, abc, 3), 0);
    hub_hash_update(&h, "abc", 3);
    assert_int_equal(hub_hash_matches(&h, abc), 0);
    assert_int_equal(hub_hash_begin(&h, abc, 3), 0);
    hub_hash_update(&h, "abd", 3);
    assert_int_equal(hub_hash_matches(&h, abc), -1);
    assert_int_equal(hub_hash_begin(&h, "short", 3), -1);
}

static void test_parse_info(void **state) {
    (void)state;
    const char *json =
        "{\"id\": \"o/m\", \"sha\": \"0123456789ABCDEF0123456789abcdef01234567\", \"siblings\": ["
        "{\"rfilename\": \"config.json\", \"blobId\": \"b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0\", \"size\": 5},"
        "{\"rfilename\": \"model.safetensors\", \"blobId\": \"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\", \"size\": 134,"
        " \"lfs\": {\"sha256\": \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", \"size\": 9000000000,"
        " \"pointerSize\": 134}}]}";
    hub_repo_info info;
    char *err = NULL;
    assert_int_equal(hub_parse_info(json, strlen(json), &info, &err), 0);
    assert_string_equal(info.commit, "0123456789abcdef0123456789abcdef01234567");
    assert_int_equal(info.n, 2);
    const hub_file *f = hub_info_find(&info, "model.safetensors");
    assert_non_null(f);
    assert_string_equal(f->etag, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(f->size == 9000000000ull);  /* the LFS size, not the pointer's */
    assert_string_equal(hub_info_find(&info, "config.json")->etag, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
    assert_null(hub_info_find(&info, "nope"));
    hub_repo_info_free(&info);
    static const char *const bad[] = {
        "not json", "{\"siblings\": []}", "{\"sha\": \"0123\", \"siblings\": []}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\"}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": [{\"rfilename\": \"../x\","
        " \"blobId\": \"b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0\", \"size\": 1}]}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": [{\"rfilename\": \"x\"}]}",
        "{\"sha\": \"0123456789abcdef0123456789abcdef01234567\", \"siblings\": [{\"rfilename\": \"x\","
        " \"blobId\": \"b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0\", \"size\": -1}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (hub_parse_info(bad[i], strlen(bad[i]), &info, &err) == 0) fail_msg("listing %zu was accepted", i);
        assert_non_null(err);
    }
    free(err);
}

static void clear_env(void) {
    static const char *const vars[] = {"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "HF_TOKEN",
                                       "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

static void test_options(void **state) {
    (void)state;
    hub_options o;
    clear_env();
    setenv("HOME", "/home/u", 1);
    hub_options_default(&o);
    assert_string_equal(o.endpoint, "https://huggingface.co");
    assert_string_equal(o.cache_dir, "/home/u/.cache/huggingface/hub");
    assert_string_equal(o.revision, "main");
    assert_false(o.offline);
    assert_string_equal(o.env_error, "");

    const char *home = tu_path("%s/hfhome", tu_tmpdir());
    mkdir(home, 0755);
    assert_int_equal(tu_write_file(tu_path("%s/token", home), "hf_abc123\n", 10), 0);
    setenv("HF_HOME", home, 1);
    setenv("HF_ENDPOINT", "http://127.0.0.1:8080//", 1);
    setenv("HF_HUB_OFFLINE", "yes", 1);
    hub_options_default(&o);
    assert_string_equal(o.endpoint, "http://127.0.0.1:8080");
    assert_string_equal(o.cache_dir, tu_path("%s/hub", home));
    assert_string_equal(o.token, "hf_abc123");  /* from $HF_HOME/token, newline stripped */
    assert_true(o.offline);

    setenv("HF_HUB_CACHE", "/elsewhere", 1);
    setenv("HF_TOKEN", "hf_env", 1);
    setenv("HF_HUB_OFFLINE", "0", 1);
    hub_options_default(&o);
    assert_string_equal(o.cache_dir, "/elsewhere");
    assert_string_equal(o.token, "hf_env");
    assert_false(o.offline);

    setenv("HF_TOKEN", "hf_x\r\nX-Evil: 1", 1);  /* would inject a header */
    hub_options_default(&o);
    assert_string_equal(o.token, "");
    assert_non_null(strstr(o.env_error, "token"));
    char *err = NULL;
    assert_null(hub_resolve("o/m", &o, &err));
    assert_non_null(strstr(err, "token"));
    free(err);

    unsetenv("HF_TOKEN");
    setenv("HF_ENDPOINT", "ftp://mirror", 1);
    hub_options_default(&o);
    assert_non_null(strstr(o.env_error, "HF_ENDPOINT"));
    clear_env();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_id),     cmocka_unit_test(test_is_model_id),
        cmocka_unit_test(test_safe_relpath), cmocka_unit_test(test_cache_paths),
        cmocka_unit_test(test_refs_and_links), cmocka_unit_test(test_gguf_names),
        cmocka_unit_test(test_select_gguf),  cmocka_unit_test(test_select_checkpoint),
        cmocka_unit_test(test_index_shards), cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_parse_info),   cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
