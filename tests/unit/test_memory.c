/* test_memory.c: weights are memory-mapped, not copied. A generated model of
 * the real E2B shape in BF16 (about 10 GB) is loaded and run for a few tokens;
 * the process's anonymous (private) memory must stay far below the file size
 * and its whole resident set near or below the file size, never double. */
#include "testutil.h"
#include "gemma4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A field of /proc/self/status in MiB (VmRSS, RssAnon, RssFile). */
static double status_mib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') kb = atof(line + n + 1);
    if (f) fclose(f);
    return kb / 1024.0;
}

static void run_model(const char *path, double file_mib) {
    double anon0 = status_mib("RssAnon");
    g4_model *m = g4_model_load(path);
    if (!m) fail_msg("%s", g4_last_error());
    double anon_loaded = status_mib("RssAnon"), rss_loaded = status_mib("VmRSS");
    g4_context_params p = g4_context_default_params();
    p.n_ctx = 64;
    p.n_ubatch = 8;
    g4_context *ctx = g4_context_new(m, &p);
    assert_non_null(ctx);
    int32_t tok[4] = {2, 818, 5279, 529};
    g4_batch b = {.n_tokens = 4, .token = tok};
    assert_int_equal(g4_decode(ctx, &b), 0);
    double anon = status_mib("RssAnon") - anon0, rss = status_mib("VmRSS");
    printf("# %s: file %.0f MiB; after load: private %.0f MiB, resident %.0f MiB; after 4 tokens: private +%.0f MiB, resident %.0f MiB\n",
           path, file_mib, anon_loaded - anon0, rss_loaded, anon, rss);
    assert_true(anon_loaded - anon0 < 64);     /* loading copies nothing but small vectors */
    assert_true(anon < 512);                   /* activations and caches, not weights */
    assert_true(rss < file_mib * 1.05 + 512);  /* mapped pages counted once */
    g4_context_free(ctx);
    g4_model_free(m);
}

static void test_e2b_bf16_is_mapped(void **state) {
    (void)state;
    const char *gguf = tu_path("%s/e2b-bf16.gguf", tu_tmpdir());
    const char *hf = tu_path("%s/e2b-bf16-hf", tu_tmpdir());
    struct stat st;
    assert_int_equal(tu_system("%s --shape e2b --format gguf --type bf16 --out %s >/dev/null", tu_gen(), gguf), 0);
    assert_int_equal(stat(gguf, &st), 0);
    run_model(gguf, st.st_size / 1048576.0);
    remove(gguf);
    assert_int_equal(tu_system("%s --shape e2b --format hf --hf-dtype bf16 --shards 2 --out %s >/dev/null", tu_gen(), hf), 0);
    double mib = 0;
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(stat(tu_path("%s/model-%05d-of-00002.safetensors", hf, i), &st), 0);
        mib += st.st_size / 1048576.0;
    }
    run_model(hf, mib);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_e2b_bf16_is_mapped)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_system("rm -rf %s", tu_tmpdir());
    return rc;
}
