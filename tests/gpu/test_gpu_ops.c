/* test_gpu_ops.c: every op of kernels/gpu.h on the GPU against the CPU backend
 * (kernels/backend.h), plus the device, memory, graph and error paths of the
 * interface. Where the CPU itself approximates, the reference is exact instead:
 * the CPU's quantized matmuls convert the activations to Q8 blocks (as ggml
 * does), so GPU matmuls are held to the weights dequantized with
 * engine/model/quant.h and summed in double, and to g4k_matmul as well for the
 * float types, where the CPU is exact. Exits 77 ("no GPU: <reason>") where no
 * device can be opened, as in every build without a GPU backend.
 *
 * Tolerances are relative to the reference's scale (the largest |value| of the
 * expected result), see expect_close. */
#include "gpu.h"
#include "backend.h"
#include "model/quant.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define TOL_ELEMENTWISE 1e-5 /* norms, rope, gelu, add/scale/softcap, embed, routing weights */
#define TOL_MATVEC 1e-4      /* f32 matrix-vector products over up to 8192 inputs */
/* Batches of more than MATVEC_MAX_TOK tokens may go through the tiled products,
 * which feed the tensor cores bf16 (8 significant bits: each operand rounded by up
 * to 2^-9 relative), so they agree with f32 only to a few 1e-3 of the output's
 * scale. An indexing or tiling bug is off by O(1). */
#define TOL_PREFILL 2e-2
#define MATVEC_MAX_TOK 4     /* batches up to this size surely take the f32 matvec kernels */
#define TOL_ATTENTION 1e-4
#define TOL_REPLAY 1e-6      /* a graph replay runs the same kernels as the direct calls */

static g4g_device *dev;
static g4k_pool *pool;

/* ---- host helpers ------------------------------------------------------------------ */

static uint64_t rng_state = 0x6a09e667f3bcc909ull;

static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_uniform(void) { return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; }

static float rng_gauss(void) {
    return (float)(sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
}

static void fill_gauss(float *x, size_t n, float sigma) {
    for (size_t i = 0; i < n; i++) x[i] = sigma * rng_gauss();
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) fail_msg("out of host memory (%zu bytes)", bytes);
    return p;
}

static float *gauss_array(size_t n, float sigma) {
    float *x = xmalloc(n * sizeof *x);
    fill_gauss(x, n, sigma);
    return x;
}

/* Largest |got - want| against tol * max|want| (tol itself where want is all 0);
 * infinities must match exactly and a NaN never passes. Returns the relative
 * error (error / scale) for the log. */
static double expect_close(const char *what, const float *got, const float *want, size_t n, double tol) {
    double scale = 0.0, worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > scale) scale = fabs(want[i]);
    if (scale == 0.0) scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        double e;
        if (!isfinite(want[i]) || !isfinite(got[i]))
            e = got[i] == want[i] ? 0.0 : INFINITY;
        else
            e = fabs((double)got[i] - want[i]);
        if (e > worst) worst = e, at = i;
    }
    if (!(worst <= tol * scale))
        fail_msg("%s: |gpu - ref| = %.3g at [%zu] (gpu %.9g, ref %.9g) exceeds %.0e x max|ref| = %.3g", what, worst,
                 at, n ? got[at] : 0.0f, n ? want[at] : 0.0f, tol, tol * scale);
    return worst / scale;
}

static void expect_ids(const char *what, const int32_t *got, const int32_t *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("%s: index %zu is %d, expected %d", what, i, got[i], want[i]);
}

/* ---- device helpers ---------------------------------------------------------------- */

static void *dalloc(size_t bytes) {
    void *p = g4g_alloc(dev, bytes ? bytes : 1);
    if (!p) fail_msg("g4g_alloc(%zu): %s", bytes, g4g_error(dev) ? g4g_error(dev) : "NULL without an error");
    return p;
}

/* g4g_free of a buffer that may not have been made (NULL). */
static void dfree(void *p) {
    if (p) g4g_free(dev, p);
}

static void *dput(const void *host, size_t bytes) {
    void *p = dalloc(bytes);
    if (g4g_upload(dev, p, host, bytes) != 0) fail_msg("g4g_upload(%zu): %s", bytes, g4g_error(dev));
    return p;
}

static void dget(void *host, const void *p, size_t bytes) {
    if (g4g_download(dev, host, p, bytes) != 0) fail_msg("g4g_download(%zu): %s", bytes, g4g_error(dev));
}

/* Waits for the stream and fails the test on any recorded error. */
static void expect_synced(const char *what) {
    if (g4g_sync(dev) != 0) fail_msg("%s: %s", what, g4g_error(dev) ? g4g_error(dev) : "g4g_sync failed without an error");
    if (g4g_error(dev)) fail_msg("%s: g4g_sync returned 0 but g4g_error says: %s", what, g4g_error(dev));
}

/* A device array of device pointers (the caches' form in kv_store and attention). */
static float *const *dput_ptrs(float *const *host, int n) { return dput(host, (size_t)n * sizeof *host); }

/* The same array as attention reads it (C converts float *const * to const float
 * *const * only by a cast). */
static const float *const *readonly(float *const *caches) { return (const float *const *)caches; }

/* ---- weights of every type ----------------------------------------------------------- */

static const enum g4_type matmul_types[] = {
    G4_TYPE_F32,  G4_TYPE_F16,  G4_TYPE_BF16, G4_TYPE_Q4_0, G4_TYPE_Q4_1, G4_TYPE_Q5_0, G4_TYPE_Q5_1,
    G4_TYPE_Q8_0, G4_TYPE_Q2_K, G4_TYPE_Q3_K, G4_TYPE_Q4_K, G4_TYPE_Q5_K, G4_TYPE_Q6_K,
};
#define N_MATMUL_TYPES (sizeof matmul_types / sizeof matmul_types[0])

/* n_rows random rows of n_in values encoded as `type`, and what they decode to. */
typedef struct {
    enum g4_type type;
    int n_in, n_rows;
    size_t row_bytes;
    uint8_t *bytes;   /* [n_rows][row_bytes] */
    float *values;    /* [n_rows][n_in], the decoded rows */
    void *device;     /* the bytes on the device */
} weights;

static void weights_make(weights *w, enum g4_type type, int n_in, int n_rows) {
    w->type = type, w->n_in = n_in, w->n_rows = n_rows;
    w->row_bytes = g4_row_size(type, n_in);
    if (!w->row_bytes) fail_msg("%s rows of %d values are not whole blocks", g4_type_info(type)->name, n_in);
    w->bytes = xmalloc(w->row_bytes * n_rows);
    w->values = xmalloc((size_t)n_rows * n_in * sizeof(float));
    float *src = gauss_array((size_t)n_in, 1.0f);
    for (int r = 0; r < n_rows; r++) {
        fill_gauss(src, (size_t)n_in, 0.02f + 0.05f * (float)(r % 7));
        uint8_t *row = w->bytes + w->row_bytes * r;
        if (g4_quantize_row(type, src, row, n_in) != w->row_bytes) fail_msg("g4_quantize_row(%s) failed", g4_type_info(type)->name);
        g4_dequantize_row(type, row, w->values + (size_t)r * n_in, n_in);
    }
    free(src);
    w->device = dput(w->bytes, w->row_bytes * n_rows);
}

static void weights_free(weights *w) {
    g4g_free(dev, w->device);
    free(w->bytes);
    free(w->values);
}

/* The matrix of n_out rows from row `first` (host or device bytes). */
static g4k_matrix weights_matrix(const weights *w, int first, int n_out, bool on_device) {
    const uint8_t *base = on_device ? (const uint8_t *)w->device : w->bytes;
    return (g4k_matrix){.type = w->type, .n_in = w->n_in, .n_out = n_out, .row_bytes = w->row_bytes,
                        .data = base + w->row_bytes * first};
}

/* y[o] = sum_i values[first + o][i] * x[i] in double: the exact product. */
static void exact_matvec(const weights *w, int first, int n_out, const float *x, float *y) {
    for (int o = 0; o < n_out; o++) {
        const float *row = w->values + (size_t)(first + o) * w->n_in;
        double s = 0.0;
        for (int i = 0; i < w->n_in; i++) s += (double)row[i] * x[i];
        y[o] = (float)s;
    }
}

/* ---- the device ---------------------------------------------------------------------- */

static void test_device(void **state) {
    (void)state;
    const char *backend = g4g_backend_name();
    assert_true(strcmp(backend, "CUDA") == 0 || strcmp(backend, "HIP") == 0);
    assert_true(strlen(g4g_name(dev)) > 0);
    size_t free_bytes = 0, total = 0;
    g4g_memory(dev, &free_bytes, &total);
    assert_true(total > 0);
    assert_true(free_bytes <= total);
    double bw = g4g_peak_bandwidth(dev);
    assert_true(bw >= 0.0);
    printf("# %s on %s: %.1f of %.1f GiB free, peak bandwidth %.0f GB/s\n", backend, g4g_name(dev),
           free_bytes / 1073741824.0, total / 1073741824.0, bw / 1e9);
    assert_null(g4g_error(dev));
}

static void test_supports(void **state) {
    (void)state;
    for (size_t i = 0; i < N_MATMUL_TYPES; i++)
        if (!g4g_supports(matmul_types[i])) fail_msg("g4g_supports(%s) is false; gpu.h lists it", g4_type_info(matmul_types[i])->name);
    assert_false(g4g_supports(G4_TYPE_Q8_0_R16)); /* the CPU's repacked layout */
    assert_false(g4g_supports(G4_TYPE_UNKNOWN));
}

/* ---- matmul -------------------------------------------------------------------------- */

static const int n_toks[] = {1, 2, 5, 8, 9, 33, 130};

/* n_in values a type takes: 256 to 8192, with non-powers of two where its blocks allow. */
static int n_in_values(enum g4_type type, int out[4]) {
    int n = 0, block = g4_type_info(type)->block_size;
    out[n++] = 256;
    if (block == 1) out[n++] = 1000;
    if (block == 32) out[n++] = 2080;
    out[n++] = 2816;
    out[n++] = 8192;
    return n;
}

static void test_matmul(void **state) {
    (void)state;
    const int max_tok = n_toks[sizeof n_toks / sizeof n_toks[0] - 1];
    for (size_t ti = 0; ti < N_MATMUL_TYPES; ti++) {
        const enum g4_type type = matmul_types[ti];
        const char *tname = g4_type_info(type)->name;
        const bool cpu_exact = type == G4_TYPE_F32 || type == G4_TYPE_F16 || type == G4_TYPE_BF16;
        double worst_matvec = 0.0, worst_tiled = 0.0;
        int ins[4];
        const int n_ins = n_in_values(type, ins);
        for (int ii = 0; ii < n_ins; ii++) {
            const int n_in = ins[ii], n_out = n_in >= 8192 ? 37 : 131; /* odd: partial tiles */
            weights w;
            weights_make(&w, type, n_in, n_out);
            const g4k_matrix wd = weights_matrix(&w, 0, n_out, true), wh = weights_matrix(&w, 0, n_out, false);
            float *x = gauss_array((size_t)max_tok * n_in, 1.0f);
            float *y = xmalloc((size_t)max_tok * n_out * sizeof *y), *ref = xmalloc((size_t)max_tok * n_out * sizeof *ref);
            float *dx = dput(x, (size_t)max_tok * n_in * sizeof *x), *dy = dalloc((size_t)max_tok * n_out * sizeof *dy);
            for (size_t ki = 0; ki < sizeof n_toks / sizeof n_toks[0]; ki++) {
                const int n_tok = n_toks[ki];
                char what[96];
                snprintf(what, sizeof what, "matmul %s n_in %d n_out %d n_tok %d", tname, n_in, n_out, n_tok);
                g4g_zero(dev, dy, (size_t)max_tok * n_out * sizeof *dy);
                g4g_matmul(dev, &wd, dx, n_tok, dy);
                expect_synced(what);
                dget(y, dy, (size_t)n_tok * n_out * sizeof *y);
                for (int t = 0; t < n_tok; t++) exact_matvec(&w, 0, n_out, x + (size_t)t * n_in, ref + (size_t)t * n_out);
                const double tol = n_tok <= MATVEC_MAX_TOK ? TOL_MATVEC : TOL_PREFILL;
                double e = expect_close(what, y, ref, (size_t)n_tok * n_out, tol);
                if (n_tok <= MATVEC_MAX_TOK) worst_matvec = fmax(worst_matvec, e);
                else worst_tiled = fmax(worst_tiled, e);
                if (cpu_exact) { /* the CPU backend's own product */
                    g4k_matmul(pool, &wh, x, n_tok, ref);
                    expect_close(what, y, ref, (size_t)n_tok * n_out, tol);
                }
            }
            g4g_free(dev, dx);
            g4g_free(dev, dy);
            free(x);
            free(y);
            free(ref);
            weights_free(&w);
        }
        printf("# matmul %-5s max relative error: matvec %.2e, batched %.2e\n", tname, worst_matvec, worst_tiled);
    }
}

/* Expert products: pair p uses expert ids[p] (a matrix expert_stride bytes after
 * the previous) and activation row p / x_div. */
static void test_matmul_experts(void **state) {
    (void)state;
    enum { N_EXPERTS = 5, N_OUT = 37, K = 3 };
    for (size_t ti = 0; ti < N_MATMUL_TYPES; ti++) {
        const enum g4_type type = matmul_types[ti];
        for (int n_in = 512; n_in <= 2816; n_in += 2304) {
            weights w;
            weights_make(&w, type, n_in, N_EXPERTS * N_OUT);
            const g4k_matrix w0 = weights_matrix(&w, 0, N_OUT, true);
            const size_t stride = w.row_bytes * N_OUT;
            for (int x_div = 1; x_div <= K; x_div += K - 1) {
                static const int32_t ids_one[] = {3, 0, 4, 3, 1, 2};       /* x_div 1: 6 pairs, 6 rows */
                static const int32_t ids_tok[] = {4, 0, 2, 1, 2, 3};       /* x_div 3: 2 tokens x top-3 */
                const int32_t *ids = x_div == 1 ? ids_one : ids_tok;
                const int n_pairs = 6, n_rows = n_pairs / x_div;
                float *x = gauss_array((size_t)n_rows * n_in, 1.0f);
                float y[6 * N_OUT], ref[6 * N_OUT];
                float *dx = dput(x, (size_t)n_rows * n_in * sizeof *x), *dy = dalloc(sizeof y);
                int32_t *dids = dput(ids, n_pairs * sizeof *ids);
                char what[96];
                snprintf(what, sizeof what, "matmul_experts %s n_in %d x_div %d", g4_type_info(type)->name, n_in, x_div);
                g4g_matmul_experts(dev, &w0, stride, dids, n_pairs, dx, x_div, dy);
                expect_synced(what);
                dget(y, dy, sizeof y);
                for (int p = 0; p < n_pairs; p++)
                    exact_matvec(&w, ids[p] * N_OUT, N_OUT, x + (size_t)(p / x_div) * n_in, ref + (size_t)p * N_OUT);
                expect_close(what, y, ref, (size_t)n_pairs * N_OUT, TOL_MATVEC);
                g4g_free(dev, dx);
                g4g_free(dev, dy);
                g4g_free(dev, dids);
                free(x);
            }
            weights_free(&w);
        }
    }
}

/* ---- norms and rope ------------------------------------------------------------------- */

static void test_rmsnorm(void **state) {
    (void)state;
    static const int dims[] = {64, 256, 2560, 5376};
    const float eps = 1e-6f;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (int n_rows = 1; n_rows <= 7; n_rows += 6)
            for (int with_w = 0; with_w <= 1; with_w++) {
                const int dim = dims[di];
                const size_t n = (size_t)dim * n_rows;
                char what[96];
                float *x = gauss_array(n, 3.0f), *o = gauss_array(n, 2.0f), *w = gauss_array((size_t)dim, 1.0f);
                float *got = xmalloc(n * sizeof *got), *ref = xmalloc(n * sizeof *ref);
                float *dx = dput(x, n * sizeof *x), *do_ = dput(o, n * sizeof *o), *dy = dalloc(n * sizeof *dy);
                float *dw = with_w ? dput(w, (size_t)dim * sizeof *w) : NULL;
                const float *hw = with_w ? w : NULL;

                snprintf(what, sizeof what, "rmsnorm dim %d rows %d %s", dim, n_rows, with_w ? "w" : "no w");
                g4g_rmsnorm(dev, dy, dx, dw, dim, n_rows, eps);
                expect_synced(what);
                dget(got, dy, n * sizeof *got);
                g4k_rmsnorm(pool, ref, x, hw, dim, n_rows, eps);
                expect_close(what, got, ref, n, TOL_ELEMENTWISE);

                snprintf(what, sizeof what, "rmsnorm in place dim %d rows %d %s", dim, n_rows, with_w ? "w" : "no w");
                g4g_rmsnorm(dev, dx, dx, dw, dim, n_rows, eps);
                expect_synced(what);
                dget(got, dx, n * sizeof *got);
                expect_close(what, got, ref, n, TOL_ELEMENTWISE);

                /* x += RMSNorm(o; w) */
                snprintf(what, sizeof what, "norm_add dim %d rows %d %s", dim, n_rows, with_w ? "w" : "no w");
                if (g4g_upload(dev, dx, x, n * sizeof *x) != 0) fail_msg("%s: upload: %s", what, g4g_error(dev));
                g4g_norm_add(dev, dx, do_, dw, dim, n_rows, eps);
                expect_synced(what);
                dget(got, dx, n * sizeof *got);
                g4k_rmsnorm(pool, ref, o, hw, dim, n_rows, eps);
                g4k_add(ref, x, (int64_t)n);
                expect_close(what, got, ref, n, TOL_ELEMENTWISE);

                g4g_free(dev, dx);
                g4g_free(dev, do_);
                g4g_free(dev, dy);
                dfree(dw);
                free(x);
                free(o);
                free(w);
                free(got);
                free(ref);
            }
}

/* Rotation angles per pair: "sliding" every pair turns (base 10000), "proportional"
 * only the first quarter of the dimensions (the rest are identity pairs, freq 0). */
static void make_freq(float *freq, int d, bool proportional) {
    for (int i = 0; i < d / 2; i++) {
        if (proportional)
            freq[i] = i < d / 8 ? (float)pow(1e6, -2.0 * i / d) : 0.0f;
        else
            freq[i] = (float)pow(1e4, -2.0 * i / d);
    }
}

static void test_norm_rope(void **state) {
    (void)state;
    /* Far positions too: the angle pos * freq must be formed as precisely as the
     * CPU's (in double) or long contexts drift. */
    static const int32_t pos[] = {0, 1, 4097, 70001, 131071};
    const int n_tok = 5;
    const float eps = 1e-6f;
    int32_t *dpos = dput(pos, sizeof pos);
    for (int d = 256; d <= 512; d *= 2)
        for (int n_heads = 1; n_heads <= 8; n_heads += 7)
            for (int with_w = 0; with_w <= 1; with_w++)
                for (int fk = 0; fk < 3; fk++) { /* no rope, sliding, proportional */
                    const size_t n = (size_t)n_tok * n_heads * d;
                    float *x = gauss_array(n, 2.0f), *w = gauss_array((size_t)d, 1.0f), freq[256];
                    float *got = xmalloc(n * sizeof *got), *ref = xmalloc(n * sizeof *ref);
                    make_freq(freq, d, fk == 2);
                    float *dx = dput(x, n * sizeof *x), *dw = with_w ? dput(w, (size_t)d * sizeof *w) : NULL;
                    float *dfreq = fk ? dput(freq, (size_t)d / 2 * sizeof *freq) : NULL;
                    char what[96];
                    snprintf(what, sizeof what, "norm_rope d %d heads %d %s %s", d, n_heads, with_w ? "w" : "no w",
                             fk == 0 ? "no rope" : fk == 1 ? "sliding" : "proportional");
                    g4g_norm_rope(dev, dx, n_tok, n_heads, d, dw, eps, dfreq, dpos);
                    expect_synced(what);
                    dget(got, dx, n * sizeof *got);
                    memcpy(ref, x, n * sizeof *ref);
                    for (int t = 0; t < n_tok; t++) {
                        float *xt = ref + (size_t)t * n_heads * d;
                        g4k_rmsnorm(NULL, xt, xt, with_w ? w : NULL, d, n_heads, eps);
                        if (fk) g4k_rope(xt, n_heads, d, freq, pos[t]);
                    }
                    expect_close(what, got, ref, n, TOL_ELEMENTWISE);
                    g4g_free(dev, dx);
                    dfree(dw);
                    dfree(dfreq);
                    free(x);
                    free(w);
                    free(got);
                    free(ref);
                }
    g4g_free(dev, dpos);
}

/* ---- KV caches and attention ----------------------------------------------------------- */

enum { MAX_SEQ = 2 };

typedef struct {
    int nq, nkv, d, window, ring, n_seq;
} attn_shape;

/* Host copies of the caches (what kv_store must produce) and the device ones. */
typedef struct {
    attn_shape s;
    size_t kv_dim, cache_floats;
    float *hk[MAX_SEQ], *hv[MAX_SEQ];
    float *dk[MAX_SEQ], *dv[MAX_SEQ];
    float *const *dkp, *const *dvp;
} kv_caches;

static void caches_make(kv_caches *c, attn_shape s) {
    c->s = s;
    c->kv_dim = (size_t)s.nkv * s.d;
    c->cache_floats = (size_t)s.ring * c->kv_dim;
    for (int q = 0; q < s.n_seq; q++) {
        c->hk[q] = calloc(c->cache_floats, sizeof(float));
        c->hv[q] = calloc(c->cache_floats, sizeof(float));
        if (!c->hk[q] || !c->hv[q]) fail_msg("out of host memory");
        c->dk[q] = dalloc(c->cache_floats * sizeof(float));
        c->dv[q] = dalloc(c->cache_floats * sizeof(float));
        g4g_zero(dev, c->dk[q], c->cache_floats * sizeof(float));
        g4g_zero(dev, c->dv[q], c->cache_floats * sizeof(float));
    }
    c->dkp = dput_ptrs(c->dk, s.n_seq);
    c->dvp = dput_ptrs(c->dv, s.n_seq);
}

static void caches_free(kv_caches *c) {
    for (int q = 0; q < c->s.n_seq; q++) {
        free(c->hk[q]);
        free(c->hv[q]);
        g4g_free(dev, c->dk[q]);
        g4g_free(dev, c->dv[q]);
    }
    g4g_free(dev, (void *)c->dkp);
    g4g_free(dev, (void *)c->dvp);
}

/* Stores n tokens' K and V rows (k, v host [n][kv_dim]) on both sides. */
static void caches_store(kv_caches *c, const float *k, const float *v, int n, const int32_t *seq, const int32_t *pos) {
    const size_t row = c->kv_dim * sizeof(float);
    for (int t = 0; t < n; t++) {
        const size_t slot = (size_t)(pos[t] % c->s.ring);
        memcpy(c->hk[seq[t]] + slot * c->kv_dim, k + (size_t)t * c->kv_dim, row);
        memcpy(c->hv[seq[t]] + slot * c->kv_dim, v + (size_t)t * c->kv_dim, row);
    }
    float *dk = dput(k, n * row), *dv = dput(v, n * row);
    int32_t *dseq = dput(seq, (size_t)n * sizeof *seq), *dpos = dput(pos, (size_t)n * sizeof *pos);
    g4g_kv_store(dev, c->dkp, c->dvp, dk, dv, n, (int)c->kv_dim, dseq, dpos, c->s.ring);
    expect_synced("kv_store");
    g4g_free(dev, dk);
    g4g_free(dev, dv);
    g4g_free(dev, dseq);
    g4g_free(dev, dpos);
}

/* Random K/V rows, of the scale that keeps softmax away from one-hot. */
static void random_kv(float *k, float *v, size_t n, int d) {
    fill_gauss(k, n, 1.4f / sqrtf(sqrtf((float)d)));
    fill_gauss(v, n, 1.0f);
}

/* Positions 0..len[q]-1 of every sequence, `chunk` tokens per store. */
static void caches_fill_history(kv_caches *c, const int *len, int chunk) {
    float *k = xmalloc((size_t)chunk * c->kv_dim * sizeof *k), *v = xmalloc((size_t)chunk * c->kv_dim * sizeof *v);
    int32_t *seq = xmalloc((size_t)chunk * sizeof *seq), *pos = xmalloc((size_t)chunk * sizeof *pos);
    for (int q = 0; q < c->s.n_seq; q++)
        for (int p0 = 0; p0 < len[q]; p0 += chunk) {
            const int n = len[q] - p0 < chunk ? len[q] - p0 : chunk;
            random_kv(k, v, (size_t)n * c->kv_dim, c->s.d);
            for (int t = 0; t < n; t++) seq[t] = q, pos[t] = p0 + t;
            caches_store(c, k, v, n, seq, pos);
        }
    free(k);
    free(v);
    free(seq);
    free(pos);
}

/* One batch: stores the tokens' K/V, runs attention on the GPU and g4k_attention
 * on the host copies, and compares both the caches and the outputs. */
static void attention_batch(const char *name, kv_caches *c, int n_tok, const int32_t *seq, const int32_t *pos) {
    const attn_shape s = c->s;
    const size_t q_floats = (size_t)n_tok * s.nq * s.d;
    float *k = xmalloc((size_t)n_tok * c->kv_dim * sizeof *k), *v = xmalloc((size_t)n_tok * c->kv_dim * sizeof *v);
    float *q = gauss_array(q_floats, 1.4f / sqrtf(sqrtf((float)s.d)));
    random_kv(k, v, (size_t)n_tok * c->kv_dim, s.d);
    caches_store(c, k, v, n_tok, seq, pos);

    char what[160];
    float *cache = xmalloc(c->cache_floats * sizeof *cache);
    for (int i = 0; i < s.n_seq; i++) {
        snprintf(what, sizeof what, "%s: kv_store, cache of sequence %d", name, i);
        dget(cache, c->dk[i], c->cache_floats * sizeof *cache);
        expect_close(what, cache, c->hk[i], c->cache_floats, 0.0);
        dget(cache, c->dv[i], c->cache_floats * sizeof *cache);
        expect_close(what, cache, c->hv[i], c->cache_floats, 0.0);
    }
    free(cache);

    g4k_kv_span *span = xmalloc((size_t)n_tok * sizeof *span);
    int max_span = 1;
    for (int t = 0; t < n_tok; t++) {
        const int first = s.window > 0 && pos[t] - s.window + 1 > 0 ? pos[t] - s.window + 1 : 0;
        span[t] = (g4k_kv_span){.k = c->hk[seq[t]], .v = c->hv[seq[t]], .first = first, .last = pos[t]};
        if (pos[t] - first + 1 > max_span) max_span = pos[t] - first + 1;
    }
    const size_t scratch_bytes = g4g_attention_scratch_size(n_tok, s.nq, s.d, max_span);
    void *scratch = dalloc(scratch_bytes);
    float *dq = dput(q, q_floats * sizeof *q), *dout = dalloc(q_floats * sizeof *dout);
    int32_t *dseq = dput(seq, (size_t)n_tok * sizeof *seq), *dpos = dput(pos, (size_t)n_tok * sizeof *pos);
    snprintf(what, sizeof what, "%s: attention", name);
    g4g_attention(dev, dout, dq, n_tok, s.nq, s.nkv, s.d, readonly(c->dkp), readonly(c->dvp), dseq, dpos, s.window, s.ring, scratch,
                  scratch_bytes);
    expect_synced(what);
    float *got = xmalloc(q_floats * sizeof *got), *ref = xmalloc(q_floats * sizeof *ref);
    dget(got, dout, q_floats * sizeof *got);

    const size_t cpu_scratch = g4k_attention_scratch_size(g4k_pool_size(pool), n_tok, s.nq, s.d, max_span);
    float *hs = xmalloc(cpu_scratch * sizeof *hs);
    g4k_attention(pool, ref, q, n_tok, s.nq, s.nkv, s.d, span, s.ring, hs, cpu_scratch);
    expect_close(what, got, ref, q_floats, TOL_ATTENTION);

    g4g_free(dev, scratch);
    g4g_free(dev, dq);
    g4g_free(dev, dout);
    g4g_free(dev, dseq);
    g4g_free(dev, dpos);
    free(hs);
    free(got);
    free(ref);
    free(span);
    free(q);
    free(k);
    free(v);
}

/* A prompt of n_tok tokens of sequence 0 after `history` positions. */
static void attention_prefill(const char *name, attn_shape s, int history, int n_tok) {
    kv_caches c;
    caches_make(&c, s);
    const int len[MAX_SEQ] = {history, 0};
    caches_fill_history(&c, len, 256);
    int32_t *seq = xmalloc((size_t)n_tok * sizeof *seq), *pos = xmalloc((size_t)n_tok * sizeof *pos);
    for (int t = 0; t < n_tok; t++) seq[t] = 0, pos[t] = history + t;
    attention_batch(name, &c, n_tok, seq, pos);
    free(seq);
    free(pos);
    caches_free(&c);
}

static void test_attention_prefill(void **state) {
    (void)state;
    static const int kv_heads[] = {8, 4, 1}; /* nq / nkv = 1, 2, 8 */
    char name[96];
    for (int d = 256; d <= 512; d *= 2)
        for (size_t g = 0; g < sizeof kv_heads / sizeof kv_heads[0]; g++) {
            const int nkv = kv_heads[g];
            snprintf(name, sizeof name, "prefill 64 from 0, d %d, 8/%d heads, full", d, nkv);
            attention_prefill(name, (attn_shape){8, nkv, d, 0, 64, 1}, 0, 64);
            /* a sliding layer 1000 positions in: spans of the whole window, ring
             * of window + batch slots, so positions wrap around it */
            snprintf(name, sizeof name, "prefill 64 from 1000, d %d, 8/%d heads, window 512, ring 576", d, nkv);
            attention_prefill(name, (attn_shape){8, nkv, d, 512, 576, 1}, 1000, 64);
            /* a full layer with a span longer than any window */
            snprintf(name, sizeof name, "prefill 64 from 700, d %d, 8/%d heads, full, ring 1024", d, nkv);
            attention_prefill(name, (attn_shape){8, nkv, d, 0, 1024, 1}, 700, 64);
        }
}

/* Two sequences, decoding 1..4 tokens per batch (and a two-sequence prompt). */
static void test_attention_two_sequences(void **state) {
    (void)state;
    static const int32_t seqs[4][4] = {{0}, {0, 1}, {1, 0, 0}, {0, 1, 0, 1}};
    char name[128];
    for (int d = 256; d <= 512; d *= 2)
        for (int window = 0; window <= 512; window += 512) {
            const int ring = window ? window + 64 : 2048, nkv = d == 512 ? 1 : 2;
            const attn_shape s = {8, nkv, d, window, ring, 2};
            kv_caches c;
            caches_make(&c, s);
            const int len[MAX_SEQ] = {1500, 300};
            caches_fill_history(&c, len, 200);
            int next[MAX_SEQ] = {1500, 300};
            for (int n_tok = 1; n_tok <= 4; n_tok++) {
                int32_t pos[4];
                for (int t = 0; t < n_tok; t++) pos[t] = next[seqs[n_tok - 1][t]]++;
                snprintf(name, sizeof name, "decode %d tokens of 2 sequences, d %d, 8/%d heads, window %d, ring %d",
                         n_tok, d, nkv, window, ring);
                attention_batch(name, &c, n_tok, seqs[n_tok - 1], pos);
            }
            /* a prompt batch of both sequences, interleaved */
            int32_t seq[64], pos[64];
            for (int t = 0; t < 64; t++) seq[t] = t % 2, pos[t] = next[t % 2]++;
            snprintf(name, sizeof name, "prompt of 2 interleaved sequences, d %d, window %d", d, window);
            attention_batch(name, &c, 64, seq, pos);
            caches_free(&c);
        }
}

/* ---- element-wise ops ----------------------------------------------------------------- */

static void gelu_mul_case(const char *name, int n_rows, int dim, int out_stride, int g_stride, int u_stride,
                          int u_offset, bool out_is_g) {
    /* One buffer holds g (at 0) and u (at u_offset), as the fused gate/up layout does. */
    const size_t in_floats = (size_t)(n_rows - 1) * (g_stride > u_stride ? g_stride : u_stride) + u_offset + dim + g_stride;
    const size_t out_floats = out_is_g ? in_floats : (size_t)(n_rows - 1) * out_stride + dim;
    float *in = gauss_array(in_floats, 1.5f), *want = xmalloc((out_is_g ? in_floats : out_floats) * sizeof *want);
    float *din = dput(in, in_floats * sizeof *in), *dout = out_is_g ? din : dalloc(out_floats * sizeof *dout);
    if (!out_is_g) {
        memset(want, 0, out_floats * sizeof *want);
        g4g_zero(dev, dout, out_floats * sizeof *dout);
    } else {
        memcpy(want, in, in_floats * sizeof *want);
    }
    float *row = xmalloc((size_t)dim * sizeof *row);
    for (int r = 0; r < n_rows; r++) {
        memcpy(row, in + (size_t)r * g_stride, (size_t)dim * sizeof *row);
        g4k_gelu_mul(NULL, row, in + u_offset + (size_t)r * u_stride, dim);
        memcpy(want + (size_t)r * out_stride, row, (size_t)dim * sizeof *row);
    }
    g4g_gelu_mul(dev, dout, out_stride, din, g_stride, din + u_offset, u_stride, n_rows, dim);
    expect_synced(name);
    const size_t n = out_is_g ? in_floats : out_floats;
    float *got = xmalloc(n * sizeof *got);
    dget(got, dout, n * sizeof *got);
    expect_close(name, got, want, n, TOL_ELEMENTWISE); /* also: nothing outside the rows was written */
    g4g_free(dev, din);
    if (!out_is_g) g4g_free(dev, dout);
    free(in);
    free(want);
    free(row);
    free(got);
}

static void test_gelu_mul(void **state) {
    (void)state;
    /* separate g, u and out rows of the same width */
    gelu_mul_case("gelu_mul plain 3 x 100", 3, 100, 100, 100, 100, 3 * 100 + 100, false);
    /* fused [gate | up] rows of 2 * 704, the result over the gate half (MoE experts) */
    gelu_mul_case("gelu_mul fused 5 x 704 in place", 5, 704, 2 * 704, 2 * 704, 2 * 704, 704, true);
    /* the same into a compact output */
    gelu_mul_case("gelu_mul fused 4 x 2112 to compact rows", 4, 2112, 2112, 2 * 2112, 2 * 2112, 2112, false);
    /* per-layer inputs: rows of 256 out of wider rows, in place */
    gelu_mul_case("gelu_mul strided 7 x 256 in place", 7, 256, 384, 384, 320, 7 * 384, true);
    gelu_mul_case("gelu_mul one row of 10240", 1, 10240, 10240, 10240, 10240, 10240, false);
}

static void test_add_scale_softcap(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 7, 1000003};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        const size_t bytes = (size_t)n * sizeof(float);
        float *x = gauss_array((size_t)n, 2.0f), *y = gauss_array((size_t)n, 20.0f), *got = xmalloc(bytes), *ref = xmalloc(bytes);
        float *dx = dput(x, bytes), *dy = dput(y, bytes);
        char what[64];

        snprintf(what, sizeof what, "add n %lld", (long long)n);
        g4g_add(dev, dy, dx, n);
        expect_synced(what);
        dget(got, dy, bytes);
        memcpy(ref, y, bytes);
        g4k_add(ref, x, n);
        expect_close(what, got, ref, (size_t)n, TOL_ELEMENTWISE);

        snprintf(what, sizeof what, "scale n %lld", (long long)n);
        g4g_scale(dev, dy, -0.37f, n);
        expect_synced(what);
        dget(got, dy, bytes);
        g4k_scale(ref, -0.37f, n);
        expect_close(what, got, ref, (size_t)n, TOL_ELEMENTWISE);

        snprintf(what, sizeof what, "softcap n %lld", (long long)n);
        if (g4g_upload(dev, dy, y, bytes) != 0) fail_msg("%s: upload: %s", what, g4g_error(dev));
        g4g_softcap(dev, dy, n, 30.0f);
        expect_synced(what);
        dget(got, dy, bytes);
        memcpy(ref, y, bytes);
        g4k_softcap(ref, n, 30.0f);
        expect_close(what, got, ref, (size_t)n, TOL_ELEMENTWISE);

        g4g_free(dev, dx);
        g4g_free(dev, dy);
        free(x);
        free(y);
        free(got);
        free(ref);
    }
}

static void test_embed(void **state) {
    (void)state;
    static const int32_t ids[] = {0, 40, 7, 7, 23};
    const int n = 5, n_rows = 41;
    const float scale = 50.596443f; /* sqrt(2560) */
    int32_t *dids = dput(ids, sizeof ids);
    for (size_t ti = 0; ti < N_MATMUL_TYPES; ti++)
        for (int n_in = 256; n_in <= 2816; n_in += 2560) {
            weights w;
            weights_make(&w, matmul_types[ti], n_in, n_rows);
            const g4k_matrix table = weights_matrix(&w, 0, n_rows, true);
            float *got = xmalloc((size_t)n * n_in * sizeof *got), *ref = xmalloc((size_t)n * n_in * sizeof *ref);
            float *dout = dalloc((size_t)n * n_in * sizeof *dout);
            char what[64];
            snprintf(what, sizeof what, "embed %s n_in %d", g4_type_info(w.type)->name, n_in);
            g4g_embed(dev, &table, dids, n, scale, dout);
            expect_synced(what);
            dget(got, dout, (size_t)n * n_in * sizeof *got);
            for (int t = 0; t < n; t++)
                for (int i = 0; i < n_in; i++) ref[(size_t)t * n_in + i] = w.values[(size_t)ids[t] * n_in + i] * scale;
            expect_close(what, got, ref, (size_t)n * n_in, TOL_ELEMENTWISE);
            g4g_free(dev, dout);
            free(got);
            free(ref);
            weights_free(&w);
        }
    g4g_free(dev, dids);
}

static void test_ple_combine(void **state) {
    (void)state;
    const int64_t n = 35 * 256 * 3 + 5;
    const size_t bytes = (size_t)n * sizeof(float);
    const float e_scale = 16.0f, out_scale = 0.70710678f;
    float *p = gauss_array((size_t)n, 1.0f), *e = gauss_array((size_t)n, 0.05f), *got = xmalloc(bytes), *ref = xmalloc(bytes);
    float *dp = dput(p, bytes), *de = dput(e, bytes);
    g4g_ple_combine(dev, dp, de, e_scale, out_scale, n);
    expect_synced("ple_combine");
    dget(got, dp, bytes);
    for (int64_t i = 0; i < n; i++) ref[i] = (p[i] + e[i] * e_scale) * out_scale;
    expect_close("ple_combine", got, ref, (size_t)n, TOL_ELEMENTWISE);
    g4g_free(dev, dp);
    g4g_free(dev, de);
    free(p);
    free(e);
    free(got);
    free(ref);
}

static void test_gather_scatter(void **state) {
    (void)state;
    enum { ROWS = 10, DIM = 257 };
    static const int32_t gather_rows[] = {9, 0, 3, 3, 7};
    static const int32_t scatter_rows[] = {2, 9, 0, 5};
    static const float weight[] = {0.5f, -1.25f, 2.0f, 0.1f};
    float *src = gauss_array(ROWS * DIM, 1.0f), *dst0 = gauss_array(ROWS * DIM, 1.0f), *part = gauss_array(4 * DIM, 1.0f);
    float got[ROWS * DIM], ref[ROWS * DIM];
    float *dsrc = dput(src, sizeof got), *ddst = dalloc(sizeof got), *dpart = dput(part, 4 * DIM * sizeof(float));
    int32_t *dg = dput(gather_rows, sizeof gather_rows), *ds = dput(scatter_rows, sizeof scatter_rows);
    float *dw = dput(weight, sizeof weight);

    g4g_gather_rows(dev, ddst, dsrc, dg, 5, DIM);
    expect_synced("gather_rows");
    dget(got, ddst, 5 * DIM * sizeof(float));
    for (int i = 0; i < 5; i++) memcpy(ref + i * DIM, src + gather_rows[i] * DIM, DIM * sizeof(float));
    expect_close("gather_rows", got, ref, 5 * DIM, 0.0);

    if (g4g_upload(dev, ddst, dst0, sizeof got) != 0) fail_msg("scatter_add_rows: upload: %s", g4g_error(dev));
    g4g_scatter_add_rows(dev, ddst, dpart, ds, dw, 4, DIM);
    expect_synced("scatter_add_rows");
    dget(got, ddst, sizeof got);
    memcpy(ref, dst0, sizeof ref);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < DIM; j++) ref[scatter_rows[i] * DIM + j] += weight[i] * part[i * DIM + j];
    expect_close("scatter_add_rows", got, ref, ROWS * DIM, 1e-6); /* a fused multiply-add may round once less */

    g4g_free(dev, dsrc);
    g4g_free(dev, ddst);
    g4g_free(dev, dpart);
    g4g_free(dev, dg);
    g4g_free(dev, ds);
    g4g_free(dev, dw);
    free(src);
    free(dst0);
    free(part);
}

/* ---- MoE routing and top-k -------------------------------------------------------------- */

/* route() of engine/model/gemma4.c after the router product: the k largest logits
 * (the first of equal ones wins), then softmax over them times expert_scale. */
static void route_reference(const float *p, int n_experts, int k, const float *expert_scale, int32_t *ids, float *wt) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < n_experts; e++) {
            bool taken = false;
            for (int i = 0; i < j; i++) taken |= ids[i] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        ids[j] = best;
    }
    float max = p[ids[0]], sum = 0.0f;
    for (int j = 0; j < k; j++) sum += (wt[j] = expf(p[ids[j]] - max));
    for (int j = 0; j < k; j++) wt[j] = wt[j] / sum * expert_scale[ids[j]];
}

static void test_moe_route(void **state) {
    (void)state;
    static const int shapes[][2] = {{128, 8}, {16, 4}, {8, 2}};
    static const int n_toks_route[] = {1, 5, 70};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t ni = 0; ni < sizeof n_toks_route / sizeof n_toks_route[0]; ni++) {
            const int E = shapes[si][0], k = shapes[si][1], n_tok = n_toks_route[ni];
            float *logits = xmalloc((size_t)n_tok * E * sizeof *logits), *scale = xmalloc((size_t)E * sizeof *scale);
            for (int e = 0; e < E; e++) scale[e] = 0.5f + (float)rng_uniform();
            for (int t = 0; t < n_tok; t++)
                for (int e = 0; e < E; e++) /* quarter steps: many ties, also across the k-th place */
                    logits[(size_t)t * E + e] = t == 1 ? 0.75f : roundf(rng_gauss() * 4.0f) / 4.0f;
            int32_t *ids = xmalloc((size_t)n_tok * k * sizeof *ids), *ref_ids = xmalloc((size_t)n_tok * k * sizeof *ids);
            float *wt = xmalloc((size_t)n_tok * k * sizeof *wt), *ref_wt = xmalloc((size_t)n_tok * k * sizeof *wt);
            float *dlogits = dput(logits, (size_t)n_tok * E * sizeof *logits), *dscale = dput(scale, (size_t)E * sizeof *scale);
            int32_t *dids = dalloc((size_t)n_tok * k * sizeof *ids);
            float *dwt = dalloc((size_t)n_tok * k * sizeof *wt);
            char what[64];
            snprintf(what, sizeof what, "moe_route %d experts top-%d, %d tokens", E, k, n_tok);
            g4g_moe_route(dev, dlogits, n_tok, E, k, dscale, dids, dwt);
            expect_synced(what);
            dget(ids, dids, (size_t)n_tok * k * sizeof *ids);
            dget(wt, dwt, (size_t)n_tok * k * sizeof *wt);
            for (int t = 0; t < n_tok; t++)
                route_reference(logits + (size_t)t * E, E, k, scale, ref_ids + (size_t)t * k, ref_wt + (size_t)t * k);
            expect_ids(what, ids, ref_ids, (size_t)n_tok * k);
            expect_close(what, wt, ref_wt, (size_t)n_tok * k, TOL_ELEMENTWISE);
            g4g_free(dev, dlogits);
            g4g_free(dev, dscale);
            g4g_free(dev, dids);
            g4g_free(dev, dwt);
            free(logits);
            free(scale);
            free(ids);
            free(ref_ids);
            free(wt);
            free(ref_wt);
        }
}

static void test_moe_combine(void **state) {
    (void)state;
    const int n_tok = 3, k = 8, dim = 2816;
    float *y = gauss_array((size_t)n_tok * k * dim, 1.0f), *w = gauss_array((size_t)n_tok * k, 0.3f);
    float *got = xmalloc((size_t)n_tok * dim * sizeof *got), *ref = xmalloc((size_t)n_tok * dim * sizeof *ref);
    float *dy = dput(y, (size_t)n_tok * k * dim * sizeof *y), *dw = dput(w, (size_t)n_tok * k * sizeof *w);
    float *dout = dalloc((size_t)n_tok * dim * sizeof *dout);
    g4g_moe_combine(dev, dout, dy, dw, n_tok, k, dim);
    expect_synced("moe_combine");
    dget(got, dout, (size_t)n_tok * dim * sizeof *got);
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < dim; i++) {
            float s = 0.0f;
            for (int j = 0; j < k; j++) s += w[t * k + j] * y[((size_t)t * k + j) * dim + i];
            ref[(size_t)t * dim + i] = s;
        }
    expect_close("moe_combine", got, ref, (size_t)n_tok * dim, TOL_ELEMENTWISE);
    g4g_free(dev, dy);
    g4g_free(dev, dw);
    g4g_free(dev, dout);
    free(y);
    free(w);
    free(got);
    free(ref);
}

static const float *sort_row; /* the row qsort's comparison reads */

static int by_value_then_index(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (sort_row[i] != sort_row[j]) return sort_row[i] > sort_row[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

static void test_top_k(void **state) {
    (void)state;
    static const int ks[] = {1, 40, 256};
    static const int widths[] = {1000, 262144};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int n = widths[wi], n_rows = 4;
        float *x = xmalloc((size_t)n_rows * n * sizeof *x);
        for (int r = 0; r < n_rows; r++) {
            float *row = x + (size_t)r * n;
            for (int i = 0; i < n; i++) row[i] = roundf(rng_gauss() * 16.0f) / 8.0f; /* ties everywhere */
            if (r == 1) /* 300 equal maxima: the k chosen are the lowest indices */
                for (int i = 0; i < 300; i++) row[(size_t)(rng_next() % (uint64_t)n)] = 100.0f;
            if (r == 2) /* banned tokens: all -inf but 20, so -inf fills the rest in index order */
                for (int i = 0; i < n; i++) row[i] = i % (n / 20) == 3 ? row[i] : -INFINITY;
            if (r == 3) /* -inf scattered among the largest */
                for (int i = 0; i < n; i += 3) row[i] = -INFINITY;
        }
        float *dx = dput(x, (size_t)n_rows * n * sizeof *x);
        int32_t *order = xmalloc((size_t)n * sizeof *order);
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            const int k = ks[ki];
            int32_t ids[4 * 256];
            float vals[4 * 256];
            int32_t *dids = dalloc(sizeof ids);
            float *dvals = dalloc(sizeof vals);
            char what[64];
            snprintf(what, sizeof what, "top_k k %d of %d", k, n);
            g4g_top_k(dev, dx, n_rows, n, k, dids, dvals);
            expect_synced(what);
            dget(ids, dids, (size_t)n_rows * k * sizeof *ids);
            dget(vals, dvals, (size_t)n_rows * k * sizeof *vals);
            for (int r = 0; r < n_rows; r++) {
                sort_row = x + (size_t)r * n;
                for (int i = 0; i < n; i++) order[i] = i;
                qsort(order, (size_t)n, sizeof *order, by_value_then_index);
                float want[256];
                for (int j = 0; j < k; j++) want[j] = sort_row[order[j]];
                snprintf(what, sizeof what, "top_k k %d of %d, row %d", k, n, r);
                expect_ids(what, ids + (size_t)r * k, order, (size_t)k);
                expect_close(what, vals + (size_t)r * k, want, (size_t)k, 0.0);
            }
            g4g_free(dev, dids);
            g4g_free(dev, dvals);
        }
        g4g_free(dev, dx);
        free(x);
        free(order);
    }
}

/* ---- graphs ------------------------------------------------------------------------------ */

/* One decoding step of an attention block on device buffers: x += norm(Wo · attn(...)).
 * Its per-step inputs (x and the position) come from page-locked host memory by
 * g4g_upload_async, as a graph needs them. */
typedef struct {
    int hidden, nq, nkv, d, ring;
    weights wq, wk, wv, wo;
    float *x, *a, *q, *k, *v, *o, *y, *norm_w, *freq, *scratch;
    size_t scratch_bytes;
    int32_t *pos, *seq;
    float *kcache, *vcache;
    float *const *kp, *const *vp;
    float *host_x;       /* page-locked */
    int32_t *host_pos;   /* page-locked */
} attn_step;

static void step_make(attn_step *s) {
    s->hidden = 256, s->nq = 4, s->nkv = 2, s->d = 256, s->ring = 8;
    weights_make(&s->wq, G4_TYPE_Q8_0, s->hidden, s->nq * s->d);
    weights_make(&s->wk, G4_TYPE_Q4_K, s->hidden, s->nkv * s->d);
    weights_make(&s->wv, G4_TYPE_BF16, s->hidden, s->nkv * s->d);
    weights_make(&s->wo, G4_TYPE_Q6_K, s->nq * s->d, s->hidden);
    const size_t h = (size_t)s->hidden * sizeof(float), qb = (size_t)s->nq * s->d * sizeof(float),
                 kb = (size_t)s->nkv * s->d * sizeof(float);
    s->x = dalloc(h), s->a = dalloc(h), s->y = dalloc(h), s->q = dalloc(qb), s->o = dalloc(qb);
    s->k = dalloc(kb), s->v = dalloc(kb);
    float w[256], freq[128];
    fill_gauss(w, 256, 1.0f);
    make_freq(freq, s->d, false);
    s->norm_w = dput(w, sizeof w);
    s->freq = dput(freq, sizeof freq);
    s->scratch_bytes = g4g_attention_scratch_size(1, s->nq, s->d, s->ring);
    s->scratch = dalloc(s->scratch_bytes);
    const int32_t zero = 0;
    s->seq = dput(&zero, sizeof zero);
    s->pos = dalloc(sizeof(int32_t));
    s->kcache = dalloc((size_t)s->ring * kb), s->vcache = dalloc((size_t)s->ring * kb);
    s->kp = dput_ptrs(&s->kcache, 1), s->vp = dput_ptrs(&s->vcache, 1);
    s->host_x = g4g_host_alloc(dev, h);
    s->host_pos = g4g_host_alloc(dev, sizeof(int32_t));
    if (!s->host_x || !s->host_pos) fail_msg("g4g_host_alloc: %s", g4g_error(dev));
}

static void step_free(attn_step *s) {
    void *bufs[] = {s->x, s->a, s->y, s->q, s->o, s->k, s->v, s->norm_w, s->freq, s->scratch, s->seq, s->pos,
                    s->kcache, s->vcache, (void *)s->kp, (void *)s->vp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) g4g_free(dev, bufs[i]);
    g4g_host_free(dev, s->host_x);
    g4g_host_free(dev, s->host_pos);
    weights_free(&s->wq);
    weights_free(&s->wk);
    weights_free(&s->wv);
    weights_free(&s->wo);
}

static void step_reset_caches(attn_step *s) {
    const size_t bytes = (size_t)s->ring * s->nkv * s->d * sizeof(float);
    g4g_zero(dev, s->kcache, bytes);
    g4g_zero(dev, s->vcache, bytes);
    expect_synced("zeroing the caches");
}

/* Enqueues (or records) one step. */
static void step_enqueue(attn_step *s) {
    const float eps = 1e-6f;
    g4g_upload_async(dev, s->x, s->host_x, (size_t)s->hidden * sizeof(float));
    g4g_upload_async(dev, s->pos, s->host_pos, sizeof(int32_t));
    g4g_rmsnorm(dev, s->a, s->x, s->norm_w, s->hidden, 1, eps);
    const g4k_matrix wq = weights_matrix(&s->wq, 0, s->wq.n_rows, true), wk = weights_matrix(&s->wk, 0, s->wk.n_rows, true),
                     wv = weights_matrix(&s->wv, 0, s->wv.n_rows, true), wo = weights_matrix(&s->wo, 0, s->wo.n_rows, true);
    g4g_matmul(dev, &wq, s->a, 1, s->q);
    g4g_matmul(dev, &wk, s->a, 1, s->k);
    g4g_matmul(dev, &wv, s->a, 1, s->v);
    g4g_norm_rope(dev, s->q, 1, s->nq, s->d, s->norm_w, eps, s->freq, s->pos);
    g4g_norm_rope(dev, s->k, 1, s->nkv, s->d, NULL, eps, s->freq, s->pos);
    g4g_kv_store(dev, s->kp, s->vp, s->k, s->v, 1, s->nkv * s->d, s->seq, s->pos, s->ring);
    g4g_attention(dev, s->o, s->q, 1, s->nq, s->nkv, s->d, readonly(s->kp), readonly(s->vp), s->seq, s->pos, 0, s->ring, s->scratch,
                  s->scratch_bytes);
    g4g_matmul(dev, &wo, s->o, 1, s->y);
    g4g_norm_add(dev, s->x, s->y, s->norm_w, s->hidden, 1, eps);
}

static void test_graph_replay(void **state) {
    (void)state;
    enum { STEPS = 3 };
    attn_step s;
    step_make(&s);
    float inputs[STEPS][256], direct[STEPS][256], replayed[STEPS][256];
    for (int i = 0; i < STEPS; i++) fill_gauss(inputs[i], 256, 1.0f);

    step_reset_caches(&s);
    for (int i = 0; i < STEPS; i++) {
        memcpy(s.host_x, inputs[i], sizeof inputs[i]);
        *s.host_pos = i;
        step_enqueue(&s);
        expect_synced("the step run directly");
        dget(direct[i], s.x, sizeof direct[i]);
    }

    step_reset_caches(&s);
    g4g_graph *graph = NULL;
    if (g4g_graph_begin(dev) != 0) fail_msg("g4g_graph_begin: %s", g4g_error(dev));
    step_enqueue(&s);
    if (g4g_graph_end(dev, &graph) != 0 || !graph) fail_msg("g4g_graph_end: %s", g4g_error(dev));
    for (int i = 0; i < STEPS; i++) {
        memcpy(s.host_x, inputs[i], sizeof inputs[i]); /* the replay reads the buffers as they are now */
        *s.host_pos = i;
        g4g_graph_launch(dev, graph);
        expect_synced("the graph replay");
        dget(replayed[i], s.x, sizeof replayed[i]);
        char what[64];
        snprintf(what, sizeof what, "graph replay step %d vs direct", i);
        expect_close(what, replayed[i], direct[i], 256, TOL_REPLAY);
    }
    /* the steps differ (the replay did not reuse the first step's inputs) */
    assert_true(memcmp(replayed[0], replayed[1], sizeof replayed[0]) != 0);
    g4g_graph_free(graph);
    step_free(&s);
}

/* ---- errors ------------------------------------------------------------------------------- */

/* The op recorded an error (sync fails, g4g_error says something) and clearing it
 * leaves the device usable. */
static void expect_recorded_error(const char *what) {
    if (g4g_sync(dev) != -1) fail_msg("%s: g4g_sync did not report the error", what);
    const char *e = g4g_error(dev);
    if (!e || !*e) fail_msg("%s: no error message recorded", what);
    printf("# %s: \"%s\"\n", what, e);
    g4g_clear_error(dev);
    assert_null(g4g_error(dev));
    expect_synced("after g4g_clear_error");
}

static void test_errors(void **state) {
    (void)state;
    enum { N = 512 };
    float sentinel[N], got[N];
    for (int i = 0; i < N; i++) sentinel[i] = 7.0f;
    float *dy = dput(sentinel, sizeof sentinel), *dx = dput(sentinel, sizeof sentinel);

    /* an unsupported weight type: an error, and y untouched */
    uint8_t block[4 * 128] = {0}; /* 4 rows of 32 f32 (also used as 4 Q8_0-sized rows) */
    void *dblock = dput(block, sizeof block);
    g4k_matrix bad = {.type = G4_TYPE_Q8_0_R16, .n_in = 32, .n_out = 4, .row_bytes = 34, .data = dblock};
    g4g_matmul(dev, &bad, dx, 1, dy);
    /* later ops still run after an error */
    g4g_add(dev, dx, dx, N);
    expect_recorded_error("matmul of Q8_0_R16");
    dget(got, dy, sizeof got);
    expect_close("matmul of an unsupported type leaves y", got, sentinel, N, 0.0);
    dget(got, dx, sizeof got);
    for (int i = 0; i < N; i++)
        if (got[i] != 14.0f) fail_msg("g4g_add after a recorded error did not run: x[%d] = %g", i, got[i]);

    /* attention over heads of 544 (> 512) */
    float *big = dalloc(8 * 544 * sizeof(float));
    float *ptr[1] = {big};
    float *const *bp = dput_ptrs(ptr, 1);
    const int32_t zero = 0;
    int32_t *dzero = dput(&zero, sizeof zero);
    g4g_attention(dev, dy, big, 1, 1, 1, 544, readonly(bp), readonly(bp), dzero, dzero, 0, 8, big, 8 * 544 * sizeof(float));
    expect_recorded_error("attention with d 544");
    dget(got, dy, sizeof got);
    expect_close("attention with d 544 leaves out", got, sentinel, N, 0.0);

    /* top-k of more than 256 */
    int32_t *dids = dalloc(300 * sizeof(int32_t));
    g4g_top_k(dev, dx, 1, N, 257, dids, dy);
    expect_recorded_error("top_k with k 257");
    dget(got, dy, sizeof got);
    expect_close("top_k with k 257 leaves vals", got, sentinel, N, 0.0);

    /* an allocation the device cannot hold */
    void *huge = g4g_alloc(dev, (size_t)1 << 60);
    assert_null(huge);
    expect_recorded_error("g4g_alloc of 2^60 bytes");

    /* zero-size ops are no-ops, not errors */
    const g4k_matrix none = {.type = G4_TYPE_F32, .n_in = 32, .n_out = 4, .row_bytes = 128, .data = dblock};
    g4g_add(dev, dy, dx, 0);
    g4g_matmul(dev, &none, dx, 0, dy);
    g4g_rmsnorm(dev, dy, dx, NULL, 64, 0, 1e-6f);
    g4g_top_k(dev, dx, 0, N, 1, dids, dy);
    expect_synced("zero-size ops");
    dget(got, dy, sizeof got);
    expect_close("zero-size ops leave y", got, sentinel, N, 0.0);

    g4g_free(dev, dy);
    g4g_free(dev, dx);
    g4g_free(dev, dblock);
    g4g_free(dev, big);
    g4g_free(dev, (void *)bp);
    g4g_free(dev, dzero);
    g4g_free(dev, dids);
}

/* Every test starts from a device without errors. */
static int clear_errors(void **state) {
    (void)state;
    g4g_sync(dev);
    g4g_clear_error(dev);
    return 0;
}

int main(void) {
    if (g4g_device_count() == 0) {
        printf("no GPU: g4g_device_count() is 0 (backend: %s)\n", g4g_backend_name());
        return 77;
    }
    char err[512] = "";
    dev = g4g_open(0, err, sizeof err);
    if (!dev) {
        printf("no GPU: g4g_open(0) failed: %s\n", err);
        return 77;
    }
    pool = g4k_pool_new(8);
    if (!pool) {
        g4g_close(dev);
        fprintf(stderr, "test_gpu_ops: cannot start the CPU thread pool\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_device, clear_errors),
        cmocka_unit_test_setup(test_supports, clear_errors),
        cmocka_unit_test_setup(test_matmul, clear_errors),
        cmocka_unit_test_setup(test_matmul_experts, clear_errors),
        cmocka_unit_test_setup(test_rmsnorm, clear_errors),
        cmocka_unit_test_setup(test_norm_rope, clear_errors),
        cmocka_unit_test_setup(test_attention_prefill, clear_errors),
        cmocka_unit_test_setup(test_attention_two_sequences, clear_errors),
        cmocka_unit_test_setup(test_gelu_mul, clear_errors),
        cmocka_unit_test_setup(test_add_scale_softcap, clear_errors),
        cmocka_unit_test_setup(test_embed, clear_errors),
        cmocka_unit_test_setup(test_ple_combine, clear_errors),
        cmocka_unit_test_setup(test_gather_scatter, clear_errors),
        cmocka_unit_test_setup(test_moe_route, clear_errors),
        cmocka_unit_test_setup(test_moe_combine, clear_errors),
        cmocka_unit_test_setup(test_top_k, clear_errors),
        cmocka_unit_test_setup(test_graph_replay, clear_errors),
        cmocka_unit_test_setup(test_errors, clear_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    g4k_pool_free(pool);
    g4g_close(dev);
    return failed;
}
