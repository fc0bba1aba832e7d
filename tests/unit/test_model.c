/* test_model.c: the forward pass against the independent float64 reference:
 * every fixture model, from its GGUF file and from its HF directory, must give
 * the golden logits at every position, the golden argmax and greedy
 * continuation, and the same logits whether the prompt is evaluated at once,
 * one token at a time, or 7 at a time. */
#include "testutil.h"
#include "modelutil.h"
#include "gemma4.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_TOL 1e-3   /* max |ours - float64 reference| */
#define CHUNK_TOL 5e-4   /* max |batched - unbatched|: only the summation order differs (BLAS for batches) */

static const char *fixtures[] = {"dense-tiny", "ple-kvshare", "keqv", "moe", "dense-bf16"};

static void check_fixture(const char *name, bool gguf) {
    const char *shared = tu_shared();
    if (!shared) { skip(); return; }
    const char *dir = tu_path("%s/fixtures/models/%s", shared, name);
    mu_golden *gold = malloc(sizeof *gold);
    assert_non_null(gold);
    assert_int_equal(mu_read_golden(tu_path("%s/golden.json", dir), gold), 0);
    size_t bytes = 0;
    float *ref = tu_read_file(tu_path("%s/logits.f32", dir), &bytes);
    assert_non_null(ref);
    assert_int_equal(bytes, (size_t)gold->n_tokens * gold->vocab * sizeof(float));

    g4_model *m = g4_model_load(gguf ? tu_path("%s/model.gguf", dir) : dir);
    if (!m) fail_msg("%s: %s", name, g4_last_error());
    g4_model_info info;
    g4_model_get_info(m, &info);
    assert_int_equal(info.vocab_size, gold->vocab);

    int n = gold->n_tokens, V = gold->vocab;
    float *all = mu_eval(m, gold->tokens, n, 0, 0);
    assert_non_null(all);
    double err = mu_max_diff(all, ref, (size_t)n * V);
    printf("# %-12s %-5s max |logit - ref| = %.3g\n", name, gguf ? "gguf" : "hf", err);
    assert_true(err <= LOGIT_TOL);
    for (int i = 0; i < n; i++) assert_int_equal(g4_argmax(all + (size_t)i * V, V), gold->argmax[i]);

    /* --batch 1 and --batch 7 agree with all-at-once (also with small micro-batches) */
    static const mu_split splits[] = {{1, 0, 0}, {7, 0, 0}, {7, 3, 0}, {0, 5, 0}};
    double d;
    int bad = mu_check_splits(m, gold->tokens, n, all, splits, 4, CHUNK_TOL, &d);
    if (bad >= 0) fail_msg("%s: chunk %d ubatch %d differs by %g", name, splits[bad].chunk, splits[bad].ubatch, d);

    /* greedy continuation after the prompt */
    g4_context_params p = g4_context_default_params();
    p.n_ctx = n + gold->n_greedy;
    g4_context *ctx = g4_context_new(m, &p);
    assert_non_null(ctx);
    g4_batch b = {.n_tokens = n, .token = gold->tokens};
    assert_int_equal(g4_decode(ctx, &b), 0);
    for (int k = 0; k < gold->n_greedy; k++) {
        int32_t next = g4_argmax(g4_get_logits(ctx, k == 0 ? n - 1 : 0), V);
        assert_int_equal(next, gold->greedy[k]);
        b = (g4_batch){.n_tokens = 1, .token = &next};
        assert_int_equal(g4_decode(ctx, &b), 0);
    }
    g4_context_free(ctx);
    free(all);
    free(ref);
    free(gold);
    g4_model_free(m);
}

#define FIXTURE_TESTS(id, name)                                      \
    static void test_##id##_gguf(void **s) { (void)s; check_fixture(name, true); } \
    static void test_##id##_hf(void **s) { (void)s; check_fixture(name, false); }
FIXTURE_TESTS(dense, "dense-tiny")
FIXTURE_TESTS(ple, "ple-kvshare")
FIXTURE_TESTS(keqv, "keqv")
FIXTURE_TESTS(moe, "moe")
FIXTURE_TESTS(bf16, "dense-bf16")

/* Sequences in one batch, interleaved, give the same logits as separate runs. */
static void test_multi_sequence_batch(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) { skip(); return; }
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
        g4_model *m = g4_model_load(tu_path("%s/fixtures/models/%s/model.gguf", shared, fixtures[f]));
        assert_non_null(m);
        g4_model_info info;
        g4_model_get_info(m, &info);
        int V = info.vocab_size, n = 40;
        int32_t a[40], b[40], tok[80], seq[80];
        mu_random_tokens(a, n, V, 1);
        mu_random_tokens(b, n, V, 2);
        float *ra = mu_eval(m, a, n, 0, 0), *rb = mu_eval(m, b, n, 0, 0);
        for (int i = 0; i < n; i++) tok[2 * i] = a[i], seq[2 * i] = 0, tok[2 * i + 1] = b[i], seq[2 * i + 1] = 1;
        g4_context_params p = g4_context_default_params();
        p.n_ctx = n;
        p.n_seq = 2;
        p.n_ubatch = 16;
        g4_context *ctx = g4_context_new(m, &p);
        int8_t want[80];
        memset(want, 1, sizeof want);
        g4_batch batch = {.n_tokens = 2 * n, .token = tok, .seq = seq, .logits = want};
        assert_int_equal(g4_decode(ctx, &batch), 0);
        double d = 0;
        for (int i = 0; i < n; i++) {
            d = fmax(d, mu_max_diff(g4_get_logits(ctx, 2 * i), ra + (size_t)i * V, (size_t)V));
            d = fmax(d, mu_max_diff(g4_get_logits(ctx, 2 * i + 1), rb + (size_t)i * V, (size_t)V));
        }
        if (d > CHUNK_TOL) fail_msg("%s: interleaved sequences differ by %g", fixtures[f], d);
        assert_int_equal(g4_seq_length(ctx, 0), n);
        assert_int_equal(g4_seq_length(ctx, 1), n);
        g4_context_free(ctx);
        free(ra);
        free(rb);
        g4_model_free(m);
    }
}

/* Bad batches are refused with a reason and leave the sequence untouched. */
static void test_bad_batches(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) { skip(); return; }
    g4_model *m = g4_model_load(tu_path("%s/fixtures/models/dense-tiny/model.gguf", shared));
    assert_non_null(m);
    g4_context_params p = g4_context_default_params();
    p.n_ctx = 8;
    p.n_seq = 2;
    g4_context *ctx = g4_context_new(m, &p);
    int32_t ok[4] = {2, 10, 11, 12}, bad_id[2] = {2, 512}, seq_bad[1] = {2};
    g4_batch b = {.n_tokens = 2, .token = bad_id};
    assert_int_equal(g4_decode(ctx, &b), -1);
    assert_non_null(strstr(g4_last_error(), "vocabulary"));
    b = (g4_batch){.n_tokens = 1, .token = ok, .seq = seq_bad};
    assert_int_equal(g4_decode(ctx, &b), -1);
    assert_non_null(strstr(g4_last_error(), "sequence 2"));
    b = (g4_batch){.n_tokens = 4, .token = ok};
    assert_int_equal(g4_decode(ctx, &b), 0);
    assert_int_equal(g4_decode(ctx, &b), 0);
    assert_int_equal(g4_decode(ctx, &b), -1); /* 12 > n_ctx 8 */
    assert_non_null(strstr(g4_last_error(), "context size"));
    assert_int_equal(g4_seq_length(ctx, 0), 8);
    assert_int_equal(g4_seq_truncate(ctx, 0, 9), -1);
    assert_int_equal(g4_seq_truncate(ctx, 5, 0), -1);
    b = (g4_batch){.n_tokens = 0, .token = ok};
    assert_int_equal(g4_decode(ctx, &b), -1);
    g4_context_free(ctx);
    g4_model_free(m);
}

/* g4_get_top_logits equals a sort of the row (ties to the lower id), for rows
 * that asked for logits only; g4_sampler_sample_row picks what the row gives. */
static void test_top_logits(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) { skip(); return; }
    g4_model *m = g4_model_load(tu_path("%s/fixtures/models/moe/model.gguf", shared));
    assert_non_null(m);
    g4_model_info info;
    g4_model_get_info(m, &info);
    int V = info.vocab_size;
    g4_context *ctx = g4_context_new(m, NULL);
    assert_non_null(ctx);
    int32_t tok[6] = {2, 17, 99, 4, 250, 31};
    int8_t want[6] = {1, 0, 1, 1, 0, 1};
    g4_batch b = {.n_tokens = 6, .token = tok, .logits = want};
    assert_int_equal(g4_decode(ctx, &b), 0);
    int32_t ids[256];
    float vals[256];
    for (int i = 0; i < 6; i++) {
        if (!want[i]) {
            assert_int_equal(g4_get_top_logits(ctx, i, 5, ids, vals), -1);
            continue;
        }
        int k = V < 256 ? V : 256;
        assert_int_equal(g4_get_top_logits(ctx, i, 256, ids, vals), k);
        const float *row = g4_get_logits(ctx, i);
        for (int j = 0; j < k; j++) { /* the j-th of the rank order, found by counting */
            assert_float_equal(vals[j], row[ids[j]], 0);
            int above = 0;
            for (int t = 0; t < V; t++) above += row[t] > row[ids[j]] || (row[t] == row[ids[j]] && t < ids[j]);
            assert_int_equal(above, j);
        }
        g4_sampler_params sp = g4_sampler_default_params();
        sp.seed = 5;
        g4_sampler *by_row = g4_sampler_new(&sp, V), *by_top = g4_sampler_new(&sp, V);
        assert_int_equal(g4_sampler_sample_row(by_top, ctx, i), g4_sampler_sample(by_row, row));
        g4_sampler_free(by_top), g4_sampler_free(by_row);
    }
    assert_int_equal(g4_get_top_logits(ctx, 0, 0, ids, vals), -1);
    assert_int_equal(g4_get_top_logits(ctx, 0, 257, ids, vals), -1);
    assert_string_equal(g4_context_device(ctx), "CPU");
    assert_int_equal(g4_context_gpu_layers(ctx), 0);
    g4_context_free(ctx);

    /* without a GPU, asking for one fails with the reason */
    if (g4_gpu_count() == 0) {
        g4_context_params p = g4_context_default_params();
        p.n_gpu_layers = -1;
        assert_null(g4_context_new(m, &p));
        assert_non_null(strstr(g4_last_error(), "no GPU"));
    }
    g4_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_gguf), cmocka_unit_test(test_dense_hf),
        cmocka_unit_test(test_ple_gguf),   cmocka_unit_test(test_ple_hf),
        cmocka_unit_test(test_keqv_gguf),  cmocka_unit_test(test_keqv_hf),
        cmocka_unit_test(test_moe_gguf),   cmocka_unit_test(test_moe_hf),
        cmocka_unit_test(test_bf16_gguf),  cmocka_unit_test(test_bf16_hf),
        cmocka_unit_test(test_multi_sequence_batch),
        cmocka_unit_test(test_bad_batches),
        cmocka_unit_test(test_top_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
