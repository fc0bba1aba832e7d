/* test_gpu_models.c: every fixture model ($G4_SHARED/fixtures/models/<name>/)
 * through the public API on the GPU: the golden logits of the float64 reference
 * with every layer on the GPU (the prompt at once, and one token at a time) and
 * with part of the layers there, what g4_context_gpu_layers and
 * g4_context_device report, the top logits against a sort of the whole row, two
 * sequences in one batch against each alone, g4_seq_truncate against a fresh run,
 * and sampling through the top-k path against the whole row. Exits 77 (with the
 * reason) when g4_gpu_count() is 0 or the fixtures are absent.
 *
 * Bounds, as max |logit - reference| over every position and token (the logits
 * of these random models have a standard deviation of about 4):
 *   DECODE_TOL   1e-3, the CPU's own bound (tests/unit/test_model.c LOGIT_TOL):
 *                one token per g4_decode runs the f32 matrix-vector kernels.
 *   PREFILL_TOL  1e-2: batched products go through the tensor-core path, where
 *                quantized weights and their inputs are rounded to bf16 (2^-9
 *                relative per operand). The fixtures are F32 and BF16, which take
 *                the exact paths (SGEMM; BF16 weights with hi+lo activations): on
 *                the emulated GPU every fixture stays within 3e-4, the CPU's own
 *                error on dense-bf16. 1e-2 leaves room for cuBLAS's summation
 *                order and still catches any indexing, caching or routing error,
 *                which moves logits by O(1).
 * Runs that differ only in how tokens are batched may take either path for a
 * given row, so they are compared with PREFILL_TOL too. Every measured difference
 * is printed ("# ..."), so the margin can be read off a run. */
#include "testutil.h"
#include "modelutil.h"
#include "gemma4.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DECODE_TOL 1e-3
#define PREFILL_TOL 1e-2
#define MAX_FIXTURES 32

typedef struct {
    char name[64];
    g4_model *model;
    g4_model_info info;
    mu_golden *gold;
    float *ref; /* [gold->n_tokens][vocab] float64-reference logits */
} fixture;

/* ---- contexts and runs ----------------------------------------------------------- */

static g4_context *gpu_context(fixture *f, int n_gpu_layers, int n_ctx, int n_seq, int n_ubatch) {
    g4_context_params p = g4_context_default_params();
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    if (n_ubatch) p.n_ubatch = n_ubatch;
    p.n_gpu_layers = n_gpu_layers;
    p.gpu_device = 0;
    g4_context *ctx = g4_context_new(f->model, &p);
    if (!ctx) fail_msg("%s: g4_context_new with %d GPU layers: %s", f->name, n_gpu_layers, g4_last_error());
    return ctx;
}

/* Decodes tokens of sequence 0 in chunks of `chunk` (0: all at once), every row's
 * logits kept; returns malloc'd logits [n][vocab]. */
static float *run_chunks(fixture *f, g4_context *ctx, const int32_t *tokens, int n, int chunk) {
    const int V = f->info.vocab_size;
    float *out = malloc((size_t)n * V * sizeof *out);
    int8_t *want = malloc((size_t)n);
    assert_non_null(out);
    assert_non_null(want);
    memset(want, 1, (size_t)n);
    if (!chunk) chunk = n;
    for (int s = 0; s < n; s += chunk) {
        const int cnt = n - s < chunk ? n - s : chunk;
        g4_batch b = {.n_tokens = cnt, .token = tokens + s, .logits = want};
        if (g4_decode(ctx, &b) != 0) fail_msg("%s: g4_decode of tokens %d..%d: %s", f->name, s, s + cnt - 1, g4_last_error());
        for (int i = 0; i < cnt; i++) {
            const float *row = g4_get_logits(ctx, i);
            if (!row) fail_msg("%s: no logits for batch row %d", f->name, i);
            memcpy(out + (size_t)(s + i) * V, row, (size_t)V * sizeof *out);
        }
    }
    free(want);
    return out;
}

/* What g4_context_gpu_layers and g4_context_device must say after asking for
 * `asked` layers: that many (all for -1), except that a model with KV-shared
 * layers may round down so that no sharer sits on the other side from its donor. */
static void check_placement(fixture *f, g4_context *ctx, int asked) {
    const int n_layers = f->info.n_layers, want = asked < 0 || asked > n_layers ? n_layers : asked;
    const int got = g4_context_gpu_layers(ctx);
    if (f->info.n_kv_shared_layers == 0 || want == n_layers) {
        if (got != want) fail_msg("%s: asked for %d GPU layers, g4_context_gpu_layers says %d", f->name, asked, got);
    } else if (got < 0 || got > want) {
        fail_msg("%s: asked for %d GPU layers (KV-shared model: may round down), got %d", f->name, asked, got);
    }
    const char *where = g4_context_device(ctx);
    assert_non_null(where);
    if (got == 0) {
        if (strcmp(where, "CPU") != 0) fail_msg("%s: no GPU layers but g4_context_device says \"%s\"", f->name, where);
        return;
    }
    char tail[64];
    const int len = snprintf(tail, sizeof tail, ": %d/%d layers", got, n_layers), wl = (int)strlen(where);
    if (wl <= len || strcmp(where + wl - len, tail) != 0)
        fail_msg("%s: g4_context_device says \"%s\", expected \"<GPU>%s\"", f->name, where, tail);
    printf("# %s: %d layers asked, on \"%s\"\n", f->name, asked, where);
}

/* The golden prompt on a context with n_gpu_layers, in chunks; its logits against
 * the reference within tol. */
static void check_golden(fixture *f, int n_gpu_layers, int chunk, double tol) {
    const int n = f->gold->n_tokens, V = f->info.vocab_size;
    g4_context *ctx = gpu_context(f, n_gpu_layers, n, 1, 0);
    check_placement(f, ctx, n_gpu_layers);
    float *got = run_chunks(f, ctx, f->gold->tokens, n, chunk);
    const double err = mu_max_diff(got, f->ref, (size_t)n * V);
    printf("# %-12s %2d GPU layers, %s: max |logit - ref| = %.3g (bound %.0e)\n", f->name, g4_context_gpu_layers(ctx),
           chunk == 1 ? "one token at a time" : chunk ? "in chunks" : "prompt at once", err, tol);
    if (!(err <= tol)) fail_msg("%s: max |logit - ref| = %g exceeds %g", f->name, err, tol);
    /* the argmax where the reference's top two are clearly apart */
    for (int i = 0; i < n; i++) {
        const float *r = f->ref + (size_t)i * V;
        const int best = g4_argmax(r, V);
        float second = -INFINITY;
        for (int j = 0; j < V; j++)
            if (j != best && r[j] > second) second = r[j];
        if (r[best] - second > 2 * tol && g4_argmax(got + (size_t)i * V, V) != f->gold->argmax[i])
            fail_msg("%s: argmax at position %d is %d, golden %d", f->name, i, g4_argmax(got + (size_t)i * V, V),
                     f->gold->argmax[i]);
    }
    free(got);
    g4_context_free(ctx);
}

/* ---- the tests, one set per fixture ------------------------------------------------ */

static void test_all_layers_prompt(void **state) { check_golden(*state, -1, 0, PREFILL_TOL); }

static void test_all_layers_one_token_at_a_time(void **state) { check_golden(*state, -1, 1, DECODE_TOL); }

static void test_partial_offload(void **state) {
    fixture *f = *state;
    check_golden(f, 1, 0, PREFILL_TOL);
    check_golden(f, f->info.n_layers / 2, 0, PREFILL_TOL);
    check_golden(f, f->info.n_layers / 2, 1, DECODE_TOL);
    check_golden(f, 0, 0, DECODE_TOL); /* none: the CPU, with its own bound */
}

static const float *sort_row; /* the row qsort's comparison reads */

static int by_value_then_id(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (sort_row[i] != sort_row[j]) return sort_row[i] > sort_row[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* g4_get_top_logits (asked first, so the row may still be on the GPU) against a
 * sort of g4_get_logits' row: the same ids and the same values. */
static void check_top_logits(fixture *f, g4_context *ctx, int row) {
    static const int ks[] = {1, 40, 256};
    const int V = f->info.vocab_size;
    int32_t ids[3][256], *order = malloc((size_t)V * sizeof *order);
    float vals[3][256];
    assert_non_null(order);
    for (int ki = 0; ki < 3; ki++) {
        const int k = ks[ki] < V ? ks[ki] : V;
        const int got = g4_get_top_logits(ctx, row, ks[ki], ids[ki], vals[ki]);
        if (got != k) fail_msg("%s: g4_get_top_logits(row %d, k %d) returned %d: %s", f->name, row, ks[ki], got, g4_last_error());
    }
    sort_row = g4_get_logits(ctx, row);
    assert_non_null(sort_row);
    for (int i = 0; i < V; i++) order[i] = i;
    qsort(order, (size_t)V, sizeof *order, by_value_then_id);
    for (int ki = 0; ki < 3; ki++) {
        const int k = ks[ki] < V ? ks[ki] : V;
        for (int j = 0; j < k; j++)
            if (ids[ki][j] != order[j] || vals[ki][j] != sort_row[order[j]])
                fail_msg("%s: top-%d of row %d, place %d: id %d value %.9g, the sorted row has id %d value %.9g", f->name,
                         ks[ki], row, j, ids[ki][j], vals[ki][j], order[j], sort_row[order[j]]);
    }
    free(order);
}

static void test_top_logits(void **state) {
    fixture *f = *state;
    const int n = f->gold->n_tokens;
    g4_context *ctx = gpu_context(f, -1, n + 1, 1, 0);
    int8_t *want = calloc((size_t)n, 1);
    assert_non_null(want);
    want[0] = want[n / 2] = want[n - 1] = 1;
    g4_batch b = {.n_tokens = n, .token = f->gold->tokens, .logits = want};
    assert_int_equal(g4_decode(ctx, &b), 0);
    check_top_logits(f, ctx, n - 1);
    check_top_logits(f, ctx, 0);
    check_top_logits(f, ctx, n / 2);
    int32_t id;
    float val;
    assert_int_equal(g4_get_top_logits(ctx, 1, 1, &id, &val), -1); /* a row that did not ask for logits */
    /* and after one decoded token */
    const int32_t next = (int32_t)f->gold->argmax[n - 1];
    b = (g4_batch){.n_tokens = 1, .token = &next};
    assert_int_equal(g4_decode(ctx, &b), 0);
    check_top_logits(f, ctx, 0);
    free(want);
    g4_context_free(ctx);
}

/* Two sequences interleaved in one batch (in micro-batches of 16) against each
 * alone, all on the GPU. */
static void test_two_sequences(void **state) {
    fixture *f = *state;
    enum { N = 40 };
    const int V = f->info.vocab_size;
    int32_t a[N], b[N], tok[2 * N], seq[2 * N];
    int8_t want[2 * N];
    mu_random_tokens(a, N, V, 1);
    mu_random_tokens(b, N, V, 2);
    g4_context *ca = gpu_context(f, -1, N, 1, 0), *cb = gpu_context(f, -1, N, 1, 0);
    float *ra = run_chunks(f, ca, a, N, 0), *rb = run_chunks(f, cb, b, N, 0);
    g4_context_free(ca);
    g4_context_free(cb);
    for (int i = 0; i < N; i++) tok[2 * i] = a[i], seq[2 * i] = 0, tok[2 * i + 1] = b[i], seq[2 * i + 1] = 1;
    memset(want, 1, sizeof want);
    g4_context *ctx = gpu_context(f, -1, N, 2, 16);
    g4_batch batch = {.n_tokens = 2 * N, .token = tok, .seq = seq, .logits = want};
    assert_int_equal(g4_decode(ctx, &batch), 0);
    double d = 0.0;
    for (int i = 0; i < N; i++) {
        d = fmax(d, mu_max_diff(g4_get_logits(ctx, 2 * i), ra + (size_t)i * V, (size_t)V));
        d = fmax(d, mu_max_diff(g4_get_logits(ctx, 2 * i + 1), rb + (size_t)i * V, (size_t)V));
    }
    printf("# %-12s two sequences in one batch vs alone: %.3g\n", f->name, d);
    if (!(d <= PREFILL_TOL)) fail_msg("%s: interleaved sequences differ from separate runs by %g", f->name, d);
    assert_int_equal(g4_seq_length(ctx, 0), N);
    assert_int_equal(g4_seq_length(ctx, 1), N);
    g4_context_free(ctx);
    free(ra);
    free(rb);
}

/* 30 tokens, truncated to 20, then 10 others: the same logits as 20 then those 10
 * on a fresh context (the sliding layers' window is rebuilt by the truncation). */
static void test_truncate(void **state) {
    fixture *f = *state;
    enum { N = 30, KEEP = 20, MORE = 10 };
    const int V = f->info.vocab_size;
    int32_t a[N], b[MORE];
    mu_random_tokens(a, N, V, 3);
    mu_random_tokens(b, MORE, V, 4);
    g4_context *cut = gpu_context(f, -1, N, 1, 0), *fresh = gpu_context(f, -1, N, 1, 0);
    g4_batch batch = {.n_tokens = N, .token = a};
    assert_int_equal(g4_decode(cut, &batch), 0);
    if (g4_seq_truncate(cut, 0, KEEP) != 0) fail_msg("%s: g4_seq_truncate: %s", f->name, g4_last_error());
    assert_int_equal(g4_seq_length(cut, 0), KEEP);
    float *got = run_chunks(f, cut, b, MORE, 0);
    batch = (g4_batch){.n_tokens = KEEP, .token = a};
    assert_int_equal(g4_decode(fresh, &batch), 0);
    float *want = run_chunks(f, fresh, b, MORE, 0);
    const double d = mu_max_diff(got, want, (size_t)MORE * V);
    printf("# %-12s truncate and continue vs fresh: %.3g\n", f->name, d);
    if (!(d <= PREFILL_TOL)) fail_msg("%s: after g4_seq_truncate the logits differ from a fresh run by %g", f->name, d);
    free(got);
    free(want);
    g4_context_free(cut);
    g4_context_free(fresh);
}

/* Greedy decoding through g4_sampler_sample_row (the top-k path) picks the argmax
 * of the whole row, and a seeded top-k sampler (top-p off, then Gemma's defaults)
 * picks through it what the same sampler picks from the whole row, 16 steps each. */
static void test_sample_row(void **state) {
    fixture *f = *state;
    enum { STEPS = 16 };
    const int n = f->gold->n_tokens, V = f->info.vocab_size;
    static const char *const modes[] = {"greedy", "top-k 64", "top-k 64 top-p 0.95"};
    for (int mode = 0; mode < 3; mode++) {
        g4_sampler_params sp = g4_sampler_default_params();
        if (mode == 0) sp.temperature = 0.0f;
        if (mode == 1) sp.top_p = 1.0f;
        sp.top_k = 64;
        sp.seed = 42;
        g4_sampler *top = g4_sampler_new(&sp, V), *whole = g4_sampler_new(&sp, V);
        assert_non_null(top);
        assert_non_null(whole);
        const int k_only = g4_sampler_top_k_only(top);
        if (mode == 0 && k_only != 1) fail_msg("g4_sampler_top_k_only of a greedy sampler is %d, not 1", k_only);
        if (mode == 1 && k_only < 1) fail_msg("a top-k sampler without penalties needs the whole row (top_k_only 0)");
        printf("# %-12s %s: g4_sampler_top_k_only = %d\n", f->name, modes[mode], k_only);
        g4_context *ctx = gpu_context(f, -1, n + STEPS, 1, 0);
        g4_batch b = {.n_tokens = n, .token = f->gold->tokens};
        assert_int_equal(g4_decode(ctx, &b), 0);
        for (int s = 0; s < STEPS; s++) {
            const int row = s == 0 ? n - 1 : 0;
            const int32_t picked = g4_sampler_sample_row(top, ctx, row);
            const float *logits = g4_get_logits(ctx, row);
            assert_non_null(logits);
            const int32_t expected = mode == 0 ? g4_argmax(logits, V) : g4_sampler_sample(whole, logits);
            if (picked != expected)
                fail_msg("%s: %s step %d: g4_sampler_sample_row picked %d, the whole row gives %d", f->name,
                         modes[mode], s, picked, expected);
            g4_sampler_accept(top, picked);
            g4_sampler_accept(whole, picked);
            b = (g4_batch){.n_tokens = 1, .token = &picked};
            assert_int_equal(g4_decode(ctx, &b), 0);
        }
        g4_context_free(ctx);
        g4_sampler_free(top);
        g4_sampler_free(whole);
    }
}

/* ---- fixtures ------------------------------------------------------------------------ */

static int by_name(const void *a, const void *b) { return strcmp(((const fixture *)a)->name, ((const fixture *)b)->name); }

/* Loads every fixtures/models/<name>/ with model.gguf, golden.json and logits.f32. */
static int load_fixtures(const char *shared, fixture *out, int cap) {
    char root[4096]; /* not a tu_path buffer: those rotate */
    snprintf(root, sizeof root, "%s/fixtures/models", shared);
    DIR *d = opendir(root);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        struct stat st;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof out->name) continue;
        if (stat(tu_path("%s/%s/model.gguf", root, e->d_name), &st) != 0) continue;
        fixture *f = &out[n];
        memset(f, 0, sizeof *f);
        snprintf(f->name, sizeof f->name, "%.63s", e->d_name); /* the length was checked above */
        f->gold = malloc(sizeof *f->gold);
        size_t bytes = 0;
        if (!f->gold || mu_read_golden(tu_path("%s/%s/golden.json", root, f->name), f->gold) != 0) {
            fprintf(stderr, "test_gpu_models: %s/%s/golden.json is missing or unreadable\n", root, f->name);
            exit(1);
        }
        f->ref = tu_read_file(tu_path("%s/%s/logits.f32", root, f->name), &bytes);
        if (!f->ref || bytes != (size_t)f->gold->n_tokens * f->gold->vocab * sizeof(float)) {
            fprintf(stderr, "test_gpu_models: %s/%s/logits.f32 is missing or not %d x %d floats\n", root, f->name,
                    f->gold->n_tokens, f->gold->vocab);
            exit(1);
        }
        f->model = g4_model_load(tu_path("%s/%s/model.gguf", root, f->name));
        if (!f->model) {
            fprintf(stderr, "test_gpu_models: %s: %s\n", f->name, g4_last_error());
            exit(1);
        }
        g4_model_get_info(f->model, &f->info);
        if (f->info.vocab_size != f->gold->vocab) {
            fprintf(stderr, "test_gpu_models: %s: vocabulary %d, golden.json says %d\n", f->name, f->info.vocab_size, f->gold->vocab);
            exit(1);
        }
        n++;
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, by_name);
    return n;
}

typedef struct {
    const char *what;
    CMUnitTestFunction fn;
} check;

static const check checks[] = {
    {"all layers, prompt at once", test_all_layers_prompt},
    {"all layers, one token at a time", test_all_layers_one_token_at_a_time},
    {"partial offload", test_partial_offload},
    {"top logits", test_top_logits},
    {"two sequences in one batch", test_two_sequences},
    {"truncate and continue", test_truncate},
    {"sampling from the top logits", test_sample_row},
};
#define N_CHECKS (sizeof checks / sizeof checks[0])

int main(void) {
    if (g4_gpu_count() == 0) {
        printf("no GPU: g4_gpu_count() is 0 (no GPU backend in this build, or no device present)\n");
        return 77;
    }
    char desc[256];
    if (g4_gpu_describe(0, desc, sizeof desc) < 0) {
        printf("no GPU: GPU 0 cannot be opened: %s\n", g4_last_error());
        return 77;
    }
    const char *shared = tu_shared();
    if (!shared) {
        printf("no fixtures: G4_SHARED is unset or not a directory\n");
        return 77;
    }
    static fixture fixtures[MAX_FIXTURES];
    const int n_fixtures = load_fixtures(shared, fixtures, MAX_FIXTURES);
    if (n_fixtures == 0) {
        printf("no fixtures: no %s/fixtures/models/*/model.gguf\n", shared);
        return 77;
    }
    printf("# GPU 0: %s; %d fixture models\n", desc, n_fixtures);

    const size_t n_tests = (size_t)n_fixtures * N_CHECKS;
    struct CMUnitTest *tests = calloc(n_tests, sizeof *tests);
    char (*names)[128] = calloc(n_tests, sizeof *names);
    if (!tests || !names) {
        fprintf(stderr, "test_gpu_models: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_fixtures; i++)
        for (size_t c = 0; c < N_CHECKS; c++) {
            const size_t t = (size_t)i * N_CHECKS + c;
            snprintf(names[t], sizeof names[t], "%.63s: %.60s", fixtures[i].name, checks[c].what);
            tests[t] = (struct CMUnitTest){.name = names[t], .test_func = checks[c].fn, .initial_state = &fixtures[i]};
        }
    const int failed = _cmocka_run_group_tests("test_gpu_models", tests, n_tests, NULL, NULL);
    for (int i = 0; i < n_fixtures; i++) {
        g4_model_free(fixtures[i].model);
        free(fixtures[i].gold);
        free(fixtures[i].ref);
    }
    free(tests);
    free(names);
    return failed;
}
