/* test_sampler.c: the samplers against references computed here from first
 * principles (sorted softmax in double, the llama.cpp/OpenAI penalty formulas):
 * greedy and its ties, top-k/top-p/min-p bounds over many draws, chi-square fits
 * of the empirical distribution, seeds, penalties and bias flipping a tiny argmax,
 * parameter checks; the model-file defaults (generation_config.json written here,
 * GGUF images written here and the shared fixture); and a printed per-token cost. */
#include "testutil.h"
#include "ggufimage.h"

#include "gemma4.h"
#include "base/error.h"
#include "model/gguf.h"
#include "run/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---------------------------------------------------------------------- */

/* Draw counts for the statistical tests: full in optimised builds, a tenth in
 * unoptimised sanitizer builds (still thousands, thresholds scale with them). */
static long scaled(long n) {
#ifdef NDEBUG
    return n;
#else
    return n / 10 > 0 ? n / 10 : 1;
#endif
}

static uint64_t mix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *x) { return (double)(mix(x) >> 11) * 0x1.0p-53; }

/* Normal(0, sd) logits, softcapped at 30 like Gemma's final logits. */
static void random_logits(float *x, int n, double sd, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        double u1 = unif(&seed), u2 = unif(&seed);
        double z = sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
        x[i] = (float)(30 * tanh(sd * z / 30));
    }
}

static g4_sampler *new_sampler(const g4_sampler_params *p, int vocab) {
    g4_sampler *s = g4_sampler_new(p, vocab);
    if (!s) fail_msg("g4_sampler_new: %s", g4_last_error());
    return s;
}

/* Plain sampling: no truncation, temperature t. */
static g4_sampler_params plain(float t, uint64_t seed) {
    g4_sampler_params p = g4_sampler_default_params();
    p.temperature = t;
    p.top_k = 0;
    p.top_p = 1;
    p.seed = seed;
    return p;
}

static const float *sort_logits; /* for the qsort comparator */

/* Rank order: higher logit first, lower id among equals. */
static int by_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_logits[i] != sort_logits[j]) return sort_logits[i] > sort_logits[j] ? -1 : 1;
    return i - j;
}

/* ids [n] in rank order (caller frees). */
static int *ranked(const float *x, int n) {
    int *ids = malloc((size_t)n * sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < n; i++) ids[i] = i;
    sort_logits = x;
    qsort(ids, (size_t)n, sizeof *ids, by_rank);
    return ids;
}

/* Reference top-k -> top-p -> min-p -> temperature, in double: writes the final
 * probability of every token to prob[n]. */
static void reference(const float *x, int n, int top_k, double top_p, double min_p, double t, double *prob) {
    int *ids = ranked(x, n);
    int k = top_k > 0 && top_k < n ? top_k : n;
    double m = x[ids[0]], total = 0, cum = 0;
    for (int r = 0; r < k; r++) total += exp(x[ids[r]] - m);
    int keep = k;
    if (top_p < 1)
        for (int r = 0; r < k; r++) {
            cum += exp(x[ids[r]] - m) / total;
            if (cum >= top_p) {
                keep = r + 1;
                break;
            }
        }
    double z = 0;
    for (int i = 0; i < n; i++) prob[i] = 0;
    for (int r = 0; r < keep; r++) {
        if (exp(x[ids[r]] - m) < min_p) continue;
        prob[ids[r]] = exp((x[ids[r]] - m) / t);
        z += prob[ids[r]];
    }
    for (int i = 0; i < n; i++) prob[i] /= z;
    free(ids);
}

/* Pearson chi-square of counts[n] (draws in all) against prob[n]; cells with
 * expected count < 5 are pooled. *df receives the degrees of freedom. */
static double chi_square(const long *counts, const double *prob, int n, long draws, int *df) {
    double chi = 0, pool_e = 0, pool_o = 0;
    int cells = 0;
    for (int i = 0; i < n; i++) {
        double e = prob[i] * (double)draws;
        if (prob[i] == 0) {
            if (counts[i]) return INFINITY;
            continue;
        }
        if (e < 5) {
            pool_e += e, pool_o += (double)counts[i];
            continue;
        }
        chi += (counts[i] - e) * (counts[i] - e) / e;
        cells++;
    }
    if (pool_e > 0) {
        chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        cells++;
    }
    *df = cells - 1;
    return chi;
}

/* The 99.99% quantile of chi-square with df degrees of freedom (Wilson-Hilferty). */
static double chi_limit(int df) {
    double z = 3.719, a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

/* Draws `draws` tokens and counts them. */
static void draw_counts(g4_sampler *s, const float *x, int n, long draws, long *counts) {
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (long d = 0; d < draws; d++) {
        int32_t t = g4_sampler_sample(s, x);
        if (t < 0 || t >= n) fail_msg("sampled id %d outside [0, %d): %s", (int)t, n, g4_last_error());
        counts[t]++;
    }
}

/* Field-by-field (the struct has padding that memcmp would see). */
static void assert_params_equal(const g4_sampler_params *a, const g4_sampler_params *b) {
    assert_true(a->temperature == b->temperature && a->top_k == b->top_k && a->top_p == b->top_p &&
                a->min_p == b->min_p && a->repeat_penalty == b->repeat_penalty &&
                a->presence_penalty == b->presence_penalty && a->frequency_penalty == b->frequency_penalty &&
                a->penalty_last_n == b->penalty_last_n && a->seed == b->seed && a->bias == b->bias &&
                a->n_bias == b->n_bias);
}

/* ---- greedy ----------------------------------------------------------------------- */

static void test_defaults(void **state) {
    (void)state;
    g4_sampler_params p = g4_sampler_default_params();
    assert_true(p.temperature == 1.0f && p.top_k == 64 && p.top_p == 0.95f);
    assert_true(p.min_p == 0 && p.repeat_penalty == 1 && p.presence_penalty == 0 && p.frequency_penalty == 0);
    assert_true(p.n_bias == 0 && p.bias == NULL);
    assert_int_equal(g4_sampling_validate(&p), 0);
}

static void test_greedy_is_argmax(void **state) {
    (void)state;
    enum { V = 5000 };
    float *x = malloc(V * sizeof *x);
    for (int trial = 0; trial < 20; trial++) {
        random_logits(x, V, 3, 100 + trial);
        int want = 0;
        for (int i = 1; i < V; i++)
            if (x[i] > x[want]) want = i;
        g4_sampler_params p = g4_sampler_default_params();
        p.temperature = trial % 2 ? 0.0f : -1.0f; /* negative temperature: greedy too */
        g4_sampler *s = new_sampler(&p, V);
        for (int rep = 0; rep < 3; rep++) assert_int_equal(g4_sampler_sample(s, x), want);
        g4_sampler_free(s);
    }
    /* ties go to the lowest id; NaN is never the answer */
    float ties[8] = {1, 3, -2, 3, NAN, 3, 0, 2};
    g4_sampler_params p = plain(0, 1);
    g4_sampler *s = new_sampler(&p, 8);
    assert_int_equal(g4_sampler_sample(s, ties), 1);
    float nan_first[8] = {NAN, -5, -5, -6, -7, NAN, -5, -9};
    assert_int_equal(g4_sampler_sample(s, nan_first), 1);
    g4_sampler_free(s);
    free(x);
}

/* Every logit -inf or NaN: an error, not a crash or a made-up token. */
static void test_nothing_to_sample(void **state) {
    (void)state;
    float x[4] = {-INFINITY, NAN, -INFINITY, -INFINITY};
    for (int greedy = 0; greedy < 2; greedy++) {
        g4_sampler_params p = g4_sampler_default_params();
        p.temperature = greedy ? 0 : 1;
        g4_sampler *s = new_sampler(&p, 4);
        g4_error_clear();
        assert_int_equal(g4_sampler_sample(s, x), -1);
        assert_non_null(strstr(g4_last_error(), "no token"));
        g4_sampler_free(s);
    }
    /* one finite token among banned ones: always that one */
    float one[4] = {-INFINITY, NAN, 0.5f, -INFINITY};
    g4_sampler_params p = plain(1, 3);
    g4_sampler *s = new_sampler(&p, 4);
    for (int i = 0; i < 100; i++) assert_int_equal(g4_sampler_sample(s, one), 2);
    g4_sampler_free(s);
}

/* ---- truncation bounds over many draws ---------------------------------------------- */

static void check_top_k(int V, int k, float t, long draws) {
    float *x = malloc((size_t)V * sizeof *x);
    long *counts = malloc((size_t)V * sizeof *counts);
    random_logits(x, V, 1.5, 7 + (uint64_t)k);
    int *ids = ranked(x, V);
    g4_sampler_params p = plain(t, 42);
    p.top_k = k;
    g4_sampler *s = new_sampler(&p, V);
    draw_counts(s, x, V, draws, counts);
    long outside = 0;
    int seen = 0;
    for (int r = 0; r < V; r++) {
        if (r >= k) outside += counts[ids[r]];
        else seen += counts[ids[r]] > 0;
    }
    printf("# top_k %d of %d at T %.1f: %ld draws, %d of the k seen, %ld outside\n", k, V, t, draws, seen, outside);
    assert_int_equal(outside, 0);
    /* hot enough that all k are reachable: top-k must not keep fewer */
    if (k <= 64) assert_int_equal(seen, k);
    g4_sampler_free(s);
    free(ids), free(counts), free(x);
}

static void test_top_k_bounds(void **state) {
    (void)state;
    check_top_k(1000, 10, 3.0f, 100000);  /* heap path */
    check_top_k(1000, 1, 1.0f, 1000);     /* k = 1 is greedy */
    check_top_k(6000, 2000, 2.0f, 20000); /* quickselect path (k > 1024) */

    /* equal logits at the boundary: the lowest ids are kept */
    float flat[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long counts[8];
    g4_sampler_params p = plain(1, 5);
    p.top_k = 3;
    g4_sampler *s = new_sampler(&p, 8);
    draw_counts(s, flat, 8, 30000, counts);
    for (int i = 0; i < 8; i++) assert_true(i < 3 ? counts[i] > 9000 : counts[i] == 0);
    g4_sampler_free(s);
}

/* Samples x[V] with top-k/top-p at T 1: never outside the reference nucleus,
 * and every token likely enough to show up does. */
static void check_nucleus(const float *x, int V, int top_k, float top_p, long draws) {
    long *counts = malloc((size_t)V * sizeof *counts);
    double *prob = malloc((size_t)V * sizeof *prob);
    reference(x, V, top_k, top_p, 0, 1, prob);
    g4_sampler_params p = plain(1, 9);
    p.top_k = top_k;
    p.top_p = top_p;
    g4_sampler *s = new_sampler(&p, V);
    draw_counts(s, x, V, draws, counts);
    long outside = 0;
    int nucleus = 0, missed = 0;
    for (int i = 0; i < V; i++) {
        if (prob[i] == 0) outside += counts[i];
        else nucleus++;
        if (prob[i] * (double)draws > 20 && counts[i] == 0) missed++; /* likely tokens must show up */
    }
    printf("# top_p %.3g top_k %d over %d: nucleus %d, %ld draws, %ld outside, %d likely ones missed\n", top_p, top_k,
           V, nucleus, draws, outside, missed);
    assert_true(nucleus >= 1);
    assert_int_equal(outside, 0);
    assert_int_equal(missed, 0);
    g4_sampler_free(s);
    free(prob), free(counts);
}

static void check_top_p(int V, int top_k, float top_p, long draws) {
    float *x = malloc((size_t)V * sizeof *x);
    random_logits(x, V, 2.5, 11 + (uint64_t)V);
    check_nucleus(x, V, top_k, top_p, draws);
    free(x);
}

static void test_top_p_nucleus(void **state) {
    (void)state;
    check_top_p(1000, 0, 0.5f, scaled(100000));
    check_top_p(1000, 0, 0.95f, scaled(100000));
    check_top_p(1000, 64, 0.9f, scaled(100000));
    check_top_p(262144, 0, 0.9f, scaled(300)); /* weighted quickselect over a big candidate set */

    /* a nucleus that reaches more than 10 nats below the maximum (the histogram's
     * second pass): one token at 0, the rest near -12 */
    enum { V = 1000 };
    float *y = malloc(V * sizeof *y);
    random_logits(y, V, 0.3, 21);
    for (int i = 0; i < V; i++) y[i] -= 12;
    y[400] = 0;
    check_nucleus(y, V, 0, 0.999f, scaled(100000));
    /* one bucket holding everything: the nucleus is the lowest ids, split inside it */
    for (int i = 0; i < V; i++) y[i] = 0.25f;
    check_nucleus(y, V, 0, 0.5f, scaled(100000));
    for (int i = 0; i < V; i++) y[i] = (float)(i % 7) * 1e-4f;
    check_nucleus(y, V, 0, 0.3f, scaled(100000));
    free(y);

    /* a tiny top_p keeps exactly one token: the argmax */
    float x[5] = {0.1f, 0.3f, 0.3f, -1, 0.2f};
    g4_sampler_params p = plain(5, 1);
    p.top_p = 1e-6f;
    g4_sampler *s = new_sampler(&p, 5);
    for (int i = 0; i < 1000; i++) assert_int_equal(g4_sampler_sample(s, x), 1);
    g4_sampler_free(s);

    /* equal probabilities: top_p 0.5 of four keeps exactly the two lowest ids */
    float flat[4] = {2, 2, 2, 2};
    long counts[4];
    p = plain(1, 2);
    p.top_p = 0.5f;
    s = new_sampler(&p, 4);
    draw_counts(s, flat, 4, 20000, counts);
    assert_true(counts[0] > 9000 && counts[1] > 9000 && counts[2] == 0 && counts[3] == 0);
    g4_sampler_free(s);

    /* top-p is measured over what top-k kept (llama.cpp): logits {2, 1.5, 1, 1}.
     * Over all four, p0 = 0.427 < 0.6 so two survive; over the top 2, p0 = 0.622 >= 0.6. */
    float four[4] = {2, 1.5f, 1, 1};
    p = plain(1, 3);
    p.top_p = 0.6f;
    s = new_sampler(&p, 4);
    draw_counts(s, four, 4, 20000, counts);
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] == 0 && counts[3] == 0);
    g4_sampler_free(s);
    p.top_k = 2;
    s = new_sampler(&p, 4);
    draw_counts(s, four, 4, 20000, counts);
    assert_true(counts[0] == 20000);
    g4_sampler_free(s);
}

static void test_min_p(void **state) {
    (void)state;
    enum { V = 2000 };
    float *x = malloc(V * sizeof *x);
    long *counts = malloc(V * sizeof *counts);
    random_logits(x, V, 2.0, 99);
    float m = x[0];
    for (int i = 1; i < V; i++) m = x[i] > m ? x[i] : m;
    const float min_ps[] = {0.05f, 0.3f, 1.0f};
    for (size_t c = 0; c < sizeof min_ps / sizeof *min_ps; c++) {
        g4_sampler_params p = plain(2, 17);
        p.min_p = min_ps[c];
        g4_sampler *s = new_sampler(&p, V);
        draw_counts(s, x, V, scaled(100000), counts);
        long outside = 0;
        int allowed = 0, seen = 0;
        for (int i = 0; i < V; i++) {
            double rel = exp((double)x[i] - m);
            if (rel < min_ps[c] * (1 - 1e-5)) outside += counts[i];
            else allowed++, seen += counts[i] > 0;
        }
        printf("# min_p %.2f: %d allowed, %d seen, %ld outside\n", min_ps[c], allowed, seen, outside);
        assert_int_equal(outside, 0);
        assert_true(seen >= 1);
        if (allowed <= 100) assert_int_equal(seen, allowed); /* T = 2: all allowed ones are likely */
        g4_sampler_free(s);
    }
    free(counts), free(x);
}

/* ---- the distribution itself -------------------------------------------------------- */

static void fit(const float *x, int n, int top_k, float top_p, float min_p, float t, long n_draws, uint64_t seed) {
    double *prob = malloc((size_t)n * sizeof *prob), *wrong = malloc((size_t)n * sizeof *wrong);
    long *counts = malloc((size_t)n * sizeof *counts);
    reference(x, n, top_k, top_p, min_p, t, prob);
    g4_sampler_params p = plain(t, seed);
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    g4_sampler *s = new_sampler(&p, n);
    draw_counts(s, x, n, n_draws, counts);
    int df, df_wrong;
    double chi = chi_square(counts, prob, n, n_draws, &df);
    /* power check: the same counts against the wrong temperature must fail */
    reference(x, n, top_k, top_p, min_p, t == 1 ? 1.5 : 1, wrong);
    double chi_wrong = chi_square(counts, wrong, n, n_draws, &df_wrong);
    printf("# T %.2f top_k %d top_p %.2f min_p %.2f: chi2 %.1f (df %d, limit %.1f); vs wrong T %.0f\n", t, top_k,
           top_p, min_p, chi, df, chi_limit(df), chi_wrong);
    assert_true(df >= 1);
    assert_true(chi < chi_limit(df));
    assert_true(chi_wrong > chi_limit(df_wrong > 0 ? df_wrong : 1));
    g4_sampler_free(s);
    free(counts), free(wrong), free(prob);
}

static void test_temperature_matches_softmax(void **state) {
    (void)state;
    const float x[6] = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f};
    fit(x, 6, 0, 1, 0, 1.0f, scaled(200000), 1);
    fit(x, 6, 0, 1, 0, 0.7f, scaled(200000), 2);
    fit(x, 6, 0, 1, 0, 1.8f, scaled(200000), 3);
    /* the whole chain: top-k and top-p at T = 1, then temperature over the survivors */
    const float y[10] = {0.3f, 2.5f, -1.0f, 1.7f, 0.9f, 2.2f, -0.4f, 1.1f, 0.0f, 1.9f};
    fit(y, 10, 6, 0.9f, 0, 1.6f, scaled(200000), 4);
    fit(y, 10, 0, 0.8f, 0.2f, 0.8f, scaled(200000), 5);
    /* over several scan blocks (and a partial last one): the draw walks block sums */
    enum { V = 300 };
    float z[V];
    random_logits(z, V, 1.0, 6);
    fit(z, V, 0, 1, 0, 1.0f, scaled(300000), 7);
    fit(z, V, 0, 0.9f, 0, 1.3f, scaled(300000), 8);
    fit(z, V, 100, 0.9f, 0.1f, 0.9f, scaled(300000), 9);
}

static void test_seed_reproducible(void **state) {
    (void)state;
    enum { V = 3000, N = 1000 };
    float *rows = malloc((size_t)4 * V * sizeof *rows);
    for (int r = 0; r < 4; r++) random_logits(rows + (size_t)r * V, V, 1.0, 200 + (uint64_t)r);
    g4_sampler_params p = g4_sampler_default_params();
    p.repeat_penalty = 1.2f; /* the penalties see the same accepted tokens, too */
    p.seed = 1234;
    g4_sampler *a = new_sampler(&p, V), *b = new_sampler(&p, V);
    p.seed = 1235;
    g4_sampler *c = new_sampler(&p, V);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        const float *x = rows + (size_t)(i % 4) * V;
        int32_t ta = g4_sampler_sample(a, x), tb = g4_sampler_sample(b, x), tc = g4_sampler_sample(c, x);
        assert_int_equal(ta, tb); /* interleaved calls on other samplers do not matter */
        differ += ta != tc;
        g4_sampler_accept(a, ta), g4_sampler_accept(b, tb), g4_sampler_accept(c, tc);
    }
    printf("# seeds 1234 vs 1235: %d of %d tokens differ\n", differ, N);
    assert_true(differ > N / 2);
    g4_sampler_free(c), g4_sampler_free(b), g4_sampler_free(a);
    free(rows);
}

static const float *sorted_row;

/* Rank order: higher logit first, then lower id. */
static int by_logit(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (sorted_row[i] != sorted_row[j]) return sorted_row[i] > sorted_row[j] ? -1 : 1;
    return (i > j) - (i < j);
}

/* Sampling from the k best logits (as a GPU hands them over) picks exactly the
 * token the whole row gives, draw for draw, wherever g4_sampler_top_k_only says
 * it may; it refuses where the row is needed (penalties, bias, no top-k). */
static void test_top_list_equals_row(void **state) {
    (void)state;
    enum { V = 5000, N = 400 };
    float *x = malloc((size_t)V * sizeof *x);
    int32_t *order = malloc((size_t)V * sizeof *order);
    struct { float temp, top_p, min_p; int top_k; } cases[] = {
        {1.0f, 0.95f, 0.0f, 64}, {0.7f, 1.0f, 0.0f, 40}, {1.3f, 0.9f, 0.05f, 256}, {0.0f, 1.0f, 0.0f, 0}, {1.0f, 1.0f, 0.0f, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        g4_sampler_params p = g4_sampler_default_params();
        p.temperature = cases[c].temp, p.top_p = cases[c].top_p, p.min_p = cases[c].min_p, p.top_k = cases[c].top_k;
        p.seed = 77 + c;
        g4_sampler *row = new_sampler(&p, V), *top = new_sampler(&p, V);
        int k = g4_sampler_top_k_only(top);
        assert_int_equal(k, cases[c].temp == 0 ? 1 : cases[c].top_k);
        int32_t ids[256];
        float vals[256];
        for (int i = 0; i < N; i++) {
            random_logits(x, V, 2.0, 900 + (uint64_t)i);
            if (i % 7 == 0) x[i % V] = x[(i + 1) % V]; /* ties */
            /* the k best by a sort of the whole row: the reference list */
            for (int t = 0; t < V; t++) order[t] = t;
            sorted_row = x;
            qsort(order, V, sizeof *order, by_logit);
            for (int j = 0; j < k; j++) ids[j] = order[j], vals[j] = x[order[j]];
            int32_t a = g4_sampler_sample(row, x), b = g4_sampler_sample_top(top, ids, vals, k);
            assert_int_equal(a, b);
            g4_sampler_accept(row, a), g4_sampler_accept(top, b);
        }
        g4_sampler_free(top), g4_sampler_free(row);
    }
    g4_sampler_params p = g4_sampler_default_params();
    p.repeat_penalty = 1.1f;
    g4_sampler *pen = new_sampler(&p, V);
    assert_int_equal(g4_sampler_top_k_only(pen), 0);
    int32_t id = 0;
    float v = 1;
    assert_int_equal(g4_sampler_sample_top(pen, &id, &v, 1), -1);
    g4_sampler_free(pen);
    p = g4_sampler_default_params();
    p.top_k = 0; /* top-p over the whole vocabulary */
    g4_sampler *whole = new_sampler(&p, V);
    assert_int_equal(g4_sampler_top_k_only(whole), 0);
    g4_sampler_free(whole);
    free(order);
    free(x);
}

/* ---- penalties and bias ------------------------------------------------------------- */

static int32_t greedy_after(const g4_sampler_params *base, const float *x, int n, const int32_t *hist, int n_hist) {
    g4_sampler_params p = *base;
    p.temperature = 0;
    g4_sampler *s = new_sampler(&p, n);
    for (int i = 0; i < n_hist; i++) g4_sampler_accept(s, hist[i]);
    int32_t t = g4_sampler_sample(s, x);
    g4_sampler_free(s);
    return t;
}

static void test_repetition_penalty(void **state) {
    (void)state;
    g4_sampler_params p = g4_sampler_default_params();
    const int32_t h0[1] = {0};
    /* positive logits are divided: 2.0/1.04 = 1.923 > 1.9, 2.0/1.06 = 1.887 < 1.9 */
    const float pos[4] = {2.0f, 1.9f, -3.0f, -3.0f};
    p.repeat_penalty = 1.04f;
    assert_int_equal(greedy_after(&p, pos, 4, h0, 1), 0);
    p.repeat_penalty = 1.06f;
    assert_int_equal(greedy_after(&p, pos, 4, h0, 1), 1);
    /* negative logits are multiplied: -1*1.04 = -1.04 > -1.05, -1*1.06 = -1.06 < -1.05 */
    const float neg[4] = {-1.0f, -1.05f, -3.0f, -3.0f};
    p.repeat_penalty = 1.04f;
    assert_int_equal(greedy_after(&p, neg, 4, h0, 1), 0);
    p.repeat_penalty = 1.06f;
    assert_int_equal(greedy_after(&p, neg, 4, h0, 1), 1);
    /* a penalty below 1 rewards repeats */
    const float up[4] = {1.0f, 1.2f, -3.0f, -3.0f};
    p.repeat_penalty = 0.8f;
    assert_int_equal(greedy_after(&p, up, 4, h0, 1), 0);

    /* the window: with penalty_last_n 2, token 0 leaves after two other tokens */
    p.repeat_penalty = 1.5f;
    const int32_t h1[3] = {0, 3, 3}, h2[2] = {0, 3};
    p.penalty_last_n = 2;
    assert_int_equal(greedy_after(&p, pos, 4, h1, 3), 0);
    assert_int_equal(greedy_after(&p, pos, 4, h2, 2), 1);
    p.penalty_last_n = -1; /* the whole history */
    assert_int_equal(greedy_after(&p, pos, 4, h1, 3), 1);
    p.penalty_last_n = 0; /* off */
    assert_int_equal(greedy_after(&p, pos, 4, h2, 2), 0);
    /* out-of-range accepted ids are ignored */
    const int32_t bad[3] = {-1, 4, 1000};
    p.penalty_last_n = 64;
    assert_int_equal(greedy_after(&p, pos, 4, bad, 3), 0);
}

static void test_presence_frequency(void **state) {
    (void)state;
    const float x[3] = {3.0f, 2.0f, -5.0f};
    const int32_t h[4] = {0, 0, 0, 2};
    g4_sampler_params p = g4_sampler_default_params();
    /* frequency: 3 - 3*0.3 = 2.1 > 2, 3 - 3*0.34 = 1.98 < 2 */
    p.frequency_penalty = 0.3f;
    assert_int_equal(greedy_after(&p, x, 3, h, 4), 0);
    p.frequency_penalty = 0.34f;
    assert_int_equal(greedy_after(&p, x, 3, h, 4), 1);
    /* presence counts once: 3 - 0.9 = 2.1 > 2, 3 - 1.1 = 1.9 < 2 */
    p.frequency_penalty = 0;
    p.presence_penalty = 0.9f;
    assert_int_equal(greedy_after(&p, x, 3, h, 4), 0);
    p.presence_penalty = 1.1f;
    assert_int_equal(greedy_after(&p, x, 3, h, 4), 1);
    /* both, over a window that holds two of the three zeros: 3 - 2*0.2 - 0.5 = 2.1 vs 1.9 */
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.2f;
    p.penalty_last_n = 3;
    assert_int_equal(greedy_after(&p, x, 3, h, 4), 0);
    p.frequency_penalty = 0.3f; /* 3 - 0.6 - 0.5 = 1.9 < 2 */
    assert_int_equal(greedy_after(&p, x, 3, h, 4), 1);
    /* repetition first, then frequency: 3/1.5 - 0.05 = 1.95 < 2 (other order: (3-0.05)/1.5 = 1.97) */
    p = g4_sampler_default_params();
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.05f;
    const float y[3] = {3.0f, 1.96f, -5.0f};
    assert_int_equal(greedy_after(&p, y, 3, h, 1), 1);
    p.presence_penalty = 0.03f; /* 2 - 0.03 = 1.97 > 1.96 */
    assert_int_equal(greedy_after(&p, y, 3, h, 1), 0);
}

static void test_logit_bias(void **state) {
    (void)state;
    enum { V = 50 };
    float x[V];
    random_logits(x, V, 1.0, 5);
    int top = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[top]) top = i;
    x[7] = x[top] + 5; /* 7 is now by far the most likely */
    g4_logit_bias ban[2] = {{7, -INFINITY}, {top, -INFINITY}};
    g4_sampler_params p = plain(1.5f, 8);
    p.bias = ban;
    p.n_bias = 2;
    g4_sampler *s = new_sampler(&p, V);
    ban[0].token = 8; /* the sampler keeps its own copy */
    long counts[V];
    draw_counts(s, x, V, 100000, counts);
    assert_int_equal(counts[7], 0);
    assert_int_equal(counts[top], 0);
    g4_sampler_free(s);

    /* an additive bias flips the argmax; two entries for one token add up */
    const float y[3] = {1.0f, 0.0f, 0.5f};
    g4_logit_bias plus[2] = {{1, 0.6f}, {1, 0.6f}};
    p = plain(0, 1);
    p.bias = plus;
    p.n_bias = 1;
    s = new_sampler(&p, 3);
    assert_int_equal(g4_sampler_sample(s, y), 0);
    g4_sampler_free(s);
    p.n_bias = 2;
    s = new_sampler(&p, 3);
    assert_int_equal(g4_sampler_sample(s, y), 1);
    g4_sampler_free(s);
}

/* The caller's logits are read, never written, whatever is switched on. */
static void test_logits_not_modified(void **state) {
    (void)state;
    enum { V = 4096 };
    float *x = malloc(V * sizeof *x), *copy = malloc(V * sizeof *copy);
    random_logits(x, V, 2.0, 77);
    x[5] = NAN, x[6] = -INFINITY;
    memcpy(copy, x, V * sizeof *x);
    g4_logit_bias b[2] = {{3, -INFINITY}, {9, 2.0f}};
    g4_sampler_params p = g4_sampler_default_params();
    p.repeat_penalty = 1.3f, p.presence_penalty = 0.4f, p.frequency_penalty = 0.2f, p.min_p = 0.01f;
    p.bias = b, p.n_bias = 2;
    const int top_ks[] = {0, 64, 2000};
    for (int k = 0; k < 3; k++) {
        p.top_k = top_ks[k];
        for (int greedy = 0; greedy < 2; greedy++) {
            p.temperature = greedy ? 0 : 1;
            g4_sampler *s = new_sampler(&p, V);
            for (int i = 0; i < 50; i++) {
                int32_t t = g4_sampler_sample(s, x);
                assert_true(t >= 0 && t < V && t != 3 && t != 5 && t != 6);
                g4_sampler_accept(s, t);
            }
            assert_memory_equal(x, copy, V * sizeof *x);
            g4_sampler_free(s);
        }
    }
    free(copy), free(x);
}

/* ---- parameter checks --------------------------------------------------------------- */

static void expect_rejected(const g4_sampler_params *p, int vocab, const char *words) {
    g4_error_clear();
    g4_sampler *s = g4_sampler_new(p, vocab);
    if (s || !strstr(g4_last_error(), words))
        fail_msg("expected rejection naming '%s', got %p: '%s'", words, (void *)s, g4_last_error());
}

static void test_bad_params(void **state) {
    (void)state;
    g4_sampler_params d = g4_sampler_default_params(), p;
    expect_rejected(NULL, 10, "params");
    expect_rejected(&d, 0, "vocabulary size");
    p = d, p.temperature = NAN, expect_rejected(&p, 10, "temperature");
    p = d, p.temperature = INFINITY, expect_rejected(&p, 10, "temperature");
    p = d, p.top_k = -1, expect_rejected(&p, 10, "top_k");
    p = d, p.top_p = 0, expect_rejected(&p, 10, "top_p");
    p = d, p.top_p = 1.01f, expect_rejected(&p, 10, "top_p");
    p = d, p.top_p = NAN, expect_rejected(&p, 10, "top_p");
    p = d, p.min_p = -0.1f, expect_rejected(&p, 10, "min_p");
    p = d, p.min_p = 1.5f, expect_rejected(&p, 10, "min_p");
    p = d, p.repeat_penalty = 0, expect_rejected(&p, 10, "repeat_penalty");
    p = d, p.repeat_penalty = -1, expect_rejected(&p, 10, "repeat_penalty");
    p = d, p.presence_penalty = NAN, expect_rejected(&p, 10, "presence_penalty");
    p = d, p.frequency_penalty = INFINITY, expect_rejected(&p, 10, "frequency_penalty");
    p = d, p.penalty_last_n = -2, expect_rejected(&p, 10, "penalty_last_n");
    p = d, p.n_bias = 1, expect_rejected(&p, 10, "bias");
    p = d, p.n_bias = -1, expect_rejected(&p, 10, "bias");
    g4_logit_bias b[2] = {{2, 1.0f}, {10, 1.0f}};
    p = d, p.bias = b, p.n_bias = 2, expect_rejected(&p, 10, "token 10");
    b[1].token = -1, expect_rejected(&p, 10, "token -1");
    b[1].token = 3, b[1].bias = NAN, expect_rejected(&p, 10, "bias 1");
    b[1].bias = INFINITY, expect_rejected(&p, 10, "bias 1");
    b[1].bias = -INFINITY;
    g4_sampler *s = new_sampler(&p, 10); /* -INFINITY is a ban, not an error */
    g4_sampler_free(s);
    /* edges that are allowed */
    p = d, p.top_p = 1, p.min_p = 1, p.top_k = 100000, p.penalty_last_n = -1, p.repeat_penalty = 0.5f;
    s = new_sampler(&p, 10);
    float x[10] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 100; i++) assert_int_equal(g4_sampler_sample(s, x), 3); /* min_p 1: the maximum only */
    g4_sampler_free(s);
    g4_sampler_free(NULL);
    assert_int_equal(g4_sampler_sample(NULL, x), -1);
    g4_sampler_accept(NULL, 1);
}

/* ---- defaults from model files ----------------------------------------------------- */

static const char *hf_dir(const char *name, const char *json) {
    const char *dir = tu_path("%s/%s", tu_tmpdir(), name);
    assert_int_equal(tu_system("mkdir -p '%s'", dir), 0);
    if (json) assert_int_equal(tu_write_file(tu_path("%s/generation_config.json", dir), json, strlen(json)), 0);
    return dir;
}

static void expect_hf_error(const char *name, const char *json, const char *words) {
    g4_sampler_params p = g4_sampler_default_params(), before = p;
    const char *dir = hf_dir(name, json);
    g4_error_clear();
    int rc = g4_sampling_from_hf_dir(dir, &p);
    if (rc != -1 || !strstr(g4_last_error(), "generation_config.json") || !strstr(g4_last_error(), words))
        fail_msg("%s: expected an error naming the file and '%s', got %d: '%s'", name, words, rc, g4_last_error());
    assert_params_equal(&p, &before); /* unchanged on error */
}

static void test_hf_generation_config(void **state) {
    (void)state;
    g4_sampler_params p = g4_sampler_default_params(), d = p;
    assert_int_equal(g4_sampling_from_hf_dir(hf_dir("none", NULL), &p), 0); /* missing: no change */
    assert_params_equal(&p, &d);

    /* the released Gemma 4 file */
    assert_int_equal(g4_sampling_from_hf_dir(hf_dir("gemma", "{\"bos_token_id\": 2, \"do_sample\": true,"
                                                              " \"eos_token_id\": [1, 106, 50], \"pad_token_id\": 0,"
                                                              " \"temperature\": 1.0, \"top_k\": 64, \"top_p\": 0.95,"
                                                              " \"transformers_version\": \"5.0.0\"}"),
                                             &p),
                     0);
    assert_true(p.temperature == 1.0f && p.top_k == 64 && p.top_p == 0.95f);

    assert_int_equal(g4_sampling_from_hf_dir(hf_dir("all", "{\"temperature\": 0.6, \"top_k\": 20, \"top_p\": 0.8,"
                                                           " \"min_p\": 0.05, \"repetition_penalty\": 1.1}"),
                                             &p),
                     0);
    assert_true(p.temperature == 0.6f && p.top_k == 20 && p.top_p == 0.8f && p.min_p == 0.05f &&
                p.repeat_penalty == 1.1f);
    assert_true(p.presence_penalty == 0 && p.penalty_last_n == d.penalty_last_n); /* untouched */

    p = d;
    assert_int_equal(g4_sampling_from_hf_dir(hf_dir("greedy", "{\"do_sample\": false, \"temperature\": 0.7}"), &p), 0);
    assert_true(p.temperature == 0 && p.top_k == 64);
    p = d;
    assert_int_equal(g4_sampling_from_hf_dir(hf_dir("nulls", "{\"top_k\": null, \"top_p\": 0.5, \"do_sample\": null}"), &p), 0);
    assert_true(p.top_k == 64 && p.top_p == 0.5f && p.temperature == 1.0f);

    expect_hf_error("bad_json", "{\"temperature\": 0.7,", "malformed");
    expect_hf_error("not_object", "[1, 2]", "object");
    expect_hf_error("bad_type", "{\"temperature\": \"hot\"}", "temperature");
    expect_hf_error("bad_topk_type", "{\"top_k\": 6.5}", "top_k");
    expect_hf_error("bad_do_sample", "{\"do_sample\": 1}", "do_sample");
    expect_hf_error("neg_temp", "{\"temperature\": -0.5}", "temperature");
    expect_hf_error("big_top_p", "{\"top_p\": 1.5}", "top_p");
    expect_hf_error("zero_top_p", "{\"top_p\": 0}", "top_p");
    expect_hf_error("neg_top_k", "{\"top_k\": -3}", "top_k");
    expect_hf_error("bad_min_p", "{\"min_p\": 2}", "min_p");
    expect_hf_error("bad_rep", "{\"repetition_penalty\": 0}", "repeat_penalty");
    expect_hf_error("huge", "{\"temperature\": 1e300}", "temperature");
}

/* Parses the image and applies it to the defaults; returns from_gguf's result. */
static int apply_gguf(tg_buf *w, g4_sampler_params *p) {
    g4_gguf g;
    if (g4_gguf_parse(&g, w->p, w->n) != 0) fail_msg("g4_gguf_parse: %s", g4_last_error());
    *p = g4_sampler_default_params();
    int rc = g4_sampling_from_gguf(&g, p);
    g4_gguf_close(&g);
    tg_free(w);
    return rc;
}

static void test_gguf_sampling_keys(void **state) {
    (void)state;
    tg_buf w = {0};
    g4_sampler_params p, d = g4_sampler_default_params();

    tg_header(&w, 3, 0, 7);
    tg_kv_f32(&w, "general.sampling.temp", 0.7f);
    tg_kv_i32(&w, "general.sampling.top_k", 40);
    tg_kv_f32(&w, "general.sampling.top_p", 0.9f);
    tg_kv_f32(&w, "general.sampling.min_p", 0.05f);
    tg_kv_f32(&w, "general.sampling.penalty_repeat", 1.1f);
    tg_kv_i32(&w, "general.sampling.penalty_last_n", -1);
    tg_kv_f32(&w, "general.sampling.unknown", 3.0f);
    assert_int_equal(apply_gguf(&w, &p), 0);
    assert_true(p.temperature == 0.7f && p.top_k == 40 && p.top_p == 0.9f && p.min_p == 0.05f &&
                p.repeat_penalty == 1.1f && p.penalty_last_n == -1);
    assert_true(p.presence_penalty == d.presence_penalty && p.seed == d.seed);

    tg_header(&w, 3, 0, 2); /* some keys: the others keep their value; u32 top_k works too */
    tg_kv_u32(&w, "general.sampling.top_k", 20);
    tg_kv_f32(&w, "general.sampling.temp", 0.0f);
    assert_int_equal(apply_gguf(&w, &p), 0);
    assert_true(p.top_k == 20 && p.temperature == 0 && p.top_p == d.top_p && p.min_p == d.min_p);

    tg_header(&w, 3, 0, 1);
    tg_kv_f32(&w, "general.name.not_sampling", 1.0f);
    assert_int_equal(apply_gguf(&w, &p), 0);
    assert_params_equal(&p, &d);

    struct { const char *key; float f; int32_t i; int is_int; const char *words; } bad[] = {
        {"general.sampling.temp", -0.5f, 0, 0, "temperature"},
        {"general.sampling.top_p", 1.5f, 0, 0, "top_p"},
        {"general.sampling.min_p", NAN, 0, 0, "min_p"},
        {"general.sampling.penalty_repeat", 0.0f, 0, 0, "repeat_penalty"},
        {"general.sampling.top_k", 0, -3, 1, "top_k"},
        {"general.sampling.penalty_last_n", 0, -5, 1, "penalty_last_n"},
        {"general.sampling.top_k", 64.0f, 0, 0, "not an integer"},
        {"general.sampling.temp", 0, 1, 1, "expected a float"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tg_header(&w, 3, 0, 1);
        if (bad[i].is_int) tg_kv_i32(&w, bad[i].key, bad[i].i);
        else tg_kv_f32(&w, bad[i].key, bad[i].f);
        g4_error_clear();
        int rc = apply_gguf(&w, &p);
        if (rc != -1 || !strstr(g4_last_error(), bad[i].words))
            fail_msg("%s: expected an error naming '%s', got %d: '%s'", bad[i].key, bad[i].words, rc, g4_last_error());
        assert_params_equal(&p, &d);
    }
}

/* A real converted model without general.sampling.* keys leaves the defaults alone. */
static void test_gguf_fixture(void **state) {
    (void)state;
    if (!tu_shared()) {
        skip();
        return;
    }
    g4_gguf g;
    if (g4_gguf_open(&g, tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared())) != 0)
        fail_msg("%s", g4_last_error());
    assert_null(g4_gguf_find(&g, "general.sampling.temp"));
    g4_sampler_params p = g4_sampler_default_params(), d = p;
    assert_int_equal(g4_sampling_from_gguf(&g, &p), 0);
    assert_params_equal(&p, &d);
    g4_gguf_close(&g);
}

/* ---- speed (printed, not asserted: meaningful in a Release build only) ---------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Times p on rows [first, first + 2) (alternating). */
static double time_rows(const g4_sampler_params *p, const float *rows, int first, int V) {
    g4_sampler *s = new_sampler(p, V);
#ifdef NDEBUG
    int n = 200;
#else
    int n = 10; /* sanitizer builds: keep the test short */
#endif
    for (int i = 0; i < 5; i++) g4_sampler_accept(s, g4_sampler_sample(s, rows + (size_t)first * V)); /* warm up */
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int32_t t = g4_sampler_sample(s, rows + (size_t)(first + i % 2) * V);
        assert_true(t >= 0 && t < V);
        g4_sampler_accept(s, t);
    }
    g4_sampler_free(s);
    return (now_s() - t0) * 1e3 / n;
}

static void time_setting(const char *label, const g4_sampler_params *p, const float *rows, int V) {
    double peaked = time_rows(p, rows, 0, V), flat = time_rows(p, rows, 2, V);
    printf("# sample: %.3f ms/token at vocab %d, %s (flat logits: %.3f ms)\n", peaked, V, label, flat);
}

static void test_speed(void **state) {
    (void)state;
    enum { V = 262144, ROWS = 4 };
    float *rows = malloc((size_t)ROWS * V * sizeof *rows);
    assert_non_null(rows);
    /* a peaked row like a language model's (bulk N(0, 2), 40 plausible tokens 8-16
     * nats above it), and a flat one (N(0, 3): the nucleus holds ~30k tokens) */
    for (int r = 0; r < ROWS; r++) {
        float *x = rows + (size_t)r * V;
        uint64_t seed = 300 + (uint64_t)r;
        random_logits(x, V, r < ROWS / 2 ? 2.0 : 3.0, seed);
        if (r < ROWS / 2)
            for (int i = 0; i < 40; i++) x[mix(&seed) % V] += (float)(8 + 8 * unif(&seed));
    }
#ifdef NDEBUG
    printf("# (Release build)\n");
#else
    printf("# (not a Release build: these times mean little)\n");
#endif
    g4_sampler_params p = g4_sampler_default_params();
    time_setting("top_k 64 top_p 0.95 T 1 (defaults)", &p, rows, V);
    p.repeat_penalty = 1.1f, p.presence_penalty = 0.5f, p.penalty_last_n = 256;
    time_setting("defaults + repeat 1.1 presence 0.5 over 256", &p, rows, V);
    p = g4_sampler_default_params();
    p.temperature = 0;
    time_setting("greedy", &p, rows, V);
    p = g4_sampler_default_params();
    p.top_k = 0;
    time_setting("top_k 0 top_p 0.95 T 1", &p, rows, V);
    p.top_p = 1, p.min_p = 0.05f;
    time_setting("top_k 0 top_p 1 min_p 0.05 T 1", &p, rows, V);
    p.min_p = 0;
    time_setting("top_k 0 top_p 1 T 1 (full softmax)", &p, rows, V);
    free(rows);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_greedy_is_argmax),
        cmocka_unit_test(test_nothing_to_sample),
        cmocka_unit_test(test_top_k_bounds),
        cmocka_unit_test(test_top_p_nucleus),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_temperature_matches_softmax),
        cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_top_list_equals_row),
        cmocka_unit_test(test_repetition_penalty),
        cmocka_unit_test(test_presence_frequency),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_logits_not_modified),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_hf_generation_config),
        cmocka_unit_test(test_gguf_sampling_keys),
        cmocka_unit_test(test_gguf_fixture),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
