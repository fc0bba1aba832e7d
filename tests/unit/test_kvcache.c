/* test_kvcache.c: sliding-window rings and KV sharing at their edges: prompts
 * longer than the window, decoding across the ring wrap, and truncate-and-
 * continue, each compared with a fresh evaluation that never wraps. */
#include "testutil.h"
#include "modelutil.h"
#include "gemma4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 5e-4 /* same model, other batching: only the summation order differs */

static const char *models[] = {"dense-tiny", "ple-kvshare", "keqv", "moe"};

static g4_model *load(const char *name) {
    g4_model *m = g4_model_load(tu_path("%s/fixtures/models/%s/model.gguf", tu_shared(), name));
    if (!m) fail_msg("%s", g4_last_error());
    return m;
}

/* 300 tokens one at a time with 1-token micro-batches: the sliding rings (window
 * 8-16, ring window-1+1+slack) wrap several times; logits must equal a single
 * 300-token evaluation, whose ring holds everything. */
static void test_decode_across_ring_wrap(void **state) {
    (void)state;
    if (!tu_shared()) { skip(); return; }
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        g4_model *m = load(models[i]);
        g4_model_info info;
        g4_model_get_info(m, &info);
        int n = 300, V = info.vocab_size;
        int32_t *tok = malloc(n * sizeof *tok);
        mu_random_tokens(tok, n, V, 7);
        tok[0] = 2;
        float *whole = mu_eval(m, tok, n, 0, 0), *steps = mu_eval(m, tok, n, 1, 1), *chunks = mu_eval(m, tok, n, 37, 5);
        assert_non_null(whole);
        assert_non_null(steps);
        assert_non_null(chunks);
        double d1 = mu_max_diff(whole, steps, (size_t)n * V), d2 = mu_max_diff(whole, chunks, (size_t)n * V);
        printf("# %-12s ring wrap: step-by-step %.3g, chunks of 37 in ubatches of 5 %.3g\n", models[i], d1, d2);
        assert_true(d1 <= TOL && d2 <= TOL);
        free(whole), free(steps), free(chunks), free(tok);
        g4_model_free(m);
    }
}

/* Decode a, truncate to `keep`, decode b: logits of b must equal a fresh run of
 * a[0..keep) + b. keep close to the end is served from the ring; keep far back
 * forces a rebuild of the sliding windows from the token history. */
static void truncate_case(g4_model *m, const char *name, int n_a, int keep, int n_b, int ubatch) {
    g4_model_info info;
    g4_model_get_info(m, &info);
    int V = info.vocab_size;
    int32_t *a = malloc((size_t)(n_a + n_b) * sizeof *a), *b = malloc((size_t)n_b * sizeof *b);
    mu_random_tokens(a, n_a, V, 11);
    mu_random_tokens(b, n_b, V, 13);
    a[0] = 2;
    g4_context_params p = g4_context_default_params();
    p.n_ctx = n_a + n_b;
    p.n_ubatch = ubatch;
    g4_context *ctx = g4_context_new(m, &p);
    assert_non_null(ctx);
    for (int i = 0; i < n_a; i++) { /* token by token, as a chat would */
        g4_batch one = {.n_tokens = 1, .token = a + i};
        assert_int_equal(g4_decode(ctx, &one), 0);
    }
    assert_int_equal(g4_seq_truncate(ctx, 0, keep), 0);
    assert_int_equal(g4_seq_length(ctx, 0), keep);
    int8_t *want = malloc((size_t)n_b);
    memset(want, 1, (size_t)n_b);
    g4_batch batch = {.n_tokens = n_b, .token = b, .logits = want};
    assert_int_equal(g4_decode(ctx, &batch), 0);

    memcpy(a + keep, b, (size_t)n_b * sizeof *b);
    float *fresh = mu_eval(m, a, keep + n_b, 0, 0);
    double d = 0;
    for (int i = 0; i < n_b; i++) {
        double di = mu_max_diff(g4_get_logits(ctx, i), fresh + (size_t)(keep + i) * V, (size_t)V);
        if (di > d) d = di;
    }
    printf("# %-12s truncate %d -> %d, +%d: max diff %.3g\n", name, n_a, keep, n_b, d);
    assert_true(d <= TOL);
    free(fresh), free(want), free(a), free(b);
    g4_context_free(ctx);
}

static void test_truncate_and_continue(void **state) {
    (void)state;
    if (!tu_shared()) { skip(); return; }
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        g4_model *m = load(models[i]);
        truncate_case(m, models[i], 200, 190, 30, 4);  /* within the ring: no rebuild */
        truncate_case(m, models[i], 200, 60, 30, 4);   /* window forgotten: rebuilt */
        truncate_case(m, models[i], 50, 0, 20, 8);     /* back to empty */
        truncate_case(m, models[i], 50, 50, 20, 8);    /* no-op */
        g4_model_free(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_across_ring_wrap),
        cmocka_unit_test(test_truncate_and_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
