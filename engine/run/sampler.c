/* sampler.c: picking the next token from a row of logits (g4_sampler_*):
 * repetition/presence/frequency penalties, logit bias, top-k, top-p, min-p,
 * temperature and a seeded draw, in that order (see sampler.h); and reading a
 * model's own sampling defaults from GGUF metadata or generation_config.json.
 *
 * Nothing sorts the vocabulary (V = 262144 for Gemma 4). Per token:
 * - penalties touch only the distinct tokens of the window: a count table and a
 *   list of distinct tokens are kept current by g4_sampler_accept. The logits
 *   are copied once, and only when a penalty or a bias is on.
 * - Scans go over blocks of BLOCK logits. A block whose maximum (a branch-free,
 *   vectorisable reduction) is below the current bar is skipped whole: for
 *   greedy, the best so far; for top-k, the worst kept by a bounded min-heap.
 * - Without top-k, top-p needs softmax's normaliser over V. Tokens more than
 *   TAIL_NATS + ln V nats below the maximum together hold < e^-TAIL_NATS of the
 *   mass and are left out. One pass sums exp(l - max) over the rest and into a
 *   histogram of BUCKETS_PER_NAT buckets per nat below the maximum (only tokens
 *   within 10 nats of it; a second pass bins the deeper ones when the nucleus
 *   goes deeper than that). Walking the buckets from the top finds the one where
 *   the nucleus ends: the tokens of the buckets above it are all kept (never
 *   listed), and a weighted quickselect picks the rest from that one bucket.
 *   The nucleus is exact (bar the dropped tail), not an estimate.
 * - min-p is a cut on the logit: p_i >= min_p * p_max <=> l_i >= max + ln min_p.
 * - The draw walks per-block sums, then one block, so the kept tokens are never
 *   gathered into a list unless top-k or the nucleus' last bucket put them there.
 * exp() over many values goes through exp_block (Cephes' expf polynomial, under
 * 2 ulp, written as fixed-length loops the compiler vectorises).
 * Ties rank the lower id first everywhere (greedy, top-k, top-p). */
#include "sampler.h"
#include "base/error.h"

#include <jansson.h>

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK 64            /* logits per block of a scan */
#define HEAP_K_MAX 1024     /* larger top-k: gather every token and quickselect */
#define TAIL_NATS 20.0f     /* tail left out: < e^-20 (2e-9) of the mass */
#define BUCKETS_PER_NAT 16  /* resolution of the top-p histogram */
#define SHALLOW_BUCKETS (10 * BUCKETS_PER_NAT)  /* buckets of the histogram's first pass: 10 nats */

typedef struct {
    float logit;   /* after penalties and bias */
    float w;       /* unnormalised probability exp((logit - max) / T) */
    int32_t id;
} cand;

/* The tokens kept without being listed: logit >= lo and, when top-p cut the
 * vocabulary, a histogram bucket above `bucket`. */
typedef struct {
    float lo;
    float bucket;  /* histogram buckets kept: those < bucket (INFINITY: no limit) */
    float max;     /* the maximum logit, which buckets are measured from */
} range;

struct g4_sampler {
    g4_sampler_params p;        /* validated; p.bias points at bias below */
    g4_logit_bias *bias;        /* [p.n_bias] own copy */
    int vocab;
    uint64_t rng[4];            /* xoshiro256** state */
    float *work;                /* [vocab] logits after penalties and bias; NULL when both are off */
    cand *cand;                 /* [cand_cap] listed candidates of the current step */
    int cand_cap;
    double *block_sum;          /* [n_blocks] mass of each block's kept tokens, for the draw */
    int n_blocks;
    double *hist;               /* [n_hist] temperature-1 mass per bucket below the maximum (top-p without top-k) */
    int n_hist;
    float tail;                 /* TAIL_NATS + ln(vocab) */

    /* Penalty window (all NULL when no penalty is on). */
    bool penalize;
    uint32_t *count;            /* [vocab] occurrences of each token in the window */
    int32_t *distinct;          /* [n_distinct] the tokens whose count is > 0 */
    int32_t *where;             /* [vocab] index of a token in distinct (valid while count > 0) */
    int n_distinct;
    int32_t *ring;              /* [ring_cap] the last penalty_last_n tokens, when that is > 0 */
    int ring_cap, ring_len;     /* grows on demand up to penalty_last_n */
    int ring_head;              /* slot of the oldest token once the ring is full */
};

/* ---- random numbers: xoshiro256**, seeded by splitmix64 -------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- parameters ------------------------------------------------------------------- */

g4_sampler_params g4_sampler_default_params(void) {
    return (g4_sampler_params){
        .temperature = 1.0f, .top_k = 64, .top_p = 0.95f, .min_p = 0.0f,
        .repeat_penalty = 1.0f, .presence_penalty = 0.0f, .frequency_penalty = 0.0f,
        .penalty_last_n = 64, .seed = 0, .bias = NULL, .n_bias = 0,
    };
}

int g4_sampling_validate(const g4_sampler_params *p) {
    if (!isfinite(p->temperature) || p->temperature < 0)
        return g4_error("temperature %g is out of range: use 0 (greedy) or a positive value", p->temperature);
    if (p->top_k < 0) return g4_error("top_k %d is out of range: use 0 (off) or a positive count", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return g4_error("top_p %g is out of range: use a value in (0, 1] (1 is off)", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return g4_error("min_p %g is out of range: use a value in [0, 1] (0 is off)", p->min_p);
    if (!isfinite(p->repeat_penalty) || !(p->repeat_penalty > 0))
        return g4_error("repeat_penalty %g is out of range: use a positive value (1 is off)", p->repeat_penalty);
    if (!isfinite(p->presence_penalty))
        return g4_error("presence_penalty %g is not a finite number", p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return g4_error("frequency_penalty %g is not a finite number", p->frequency_penalty);
    if (p->penalty_last_n < -1)
        return g4_error("penalty_last_n %d is out of range: use -1 (whole history), 0 (off) or a count",
                        p->penalty_last_n);
    if (p->n_bias < 0 || (p->n_bias > 0 && !p->bias))
        return g4_error("logit bias list of %d entries is invalid", p->n_bias);
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------- */

g4_sampler *g4_sampler_new(const g4_sampler_params *params, int vocab_size) {
    if (!params) {
        g4_error("g4_sampler_new: params is NULL");
        return NULL;
    }
    if (vocab_size <= 0) {
        g4_error("g4_sampler_new: vocabulary size %d must be positive", vocab_size);
        return NULL;
    }
    g4_sampler_params p = *params;
    if (p.temperature < 0) p.temperature = 0; /* llama.cpp: a negative temperature is greedy */
    if (g4_sampling_validate(&p) < 0) {
        g4_error_prefix("g4_sampler_new");
        return NULL;
    }
    for (int i = 0; i < p.n_bias; i++) {
        const g4_logit_bias *b = &p.bias[i];
        if (b->token < 0 || b->token >= vocab_size) {
            g4_error("g4_sampler_new: logit bias %d names token %d, outside the vocabulary [0, %d)", i, (int)b->token,
                     vocab_size);
            return NULL;
        }
        if (isnan(b->bias) || b->bias == INFINITY) {
            g4_error("g4_sampler_new: logit bias %d for token %d is %g: use a finite value or -INFINITY", i,
                     (int)b->token, b->bias);
            return NULL;
        }
    }

    g4_sampler *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->vocab = vocab_size;
    s->p = p;
    if (p.n_bias > 0) {
        s->bias = malloc((size_t)p.n_bias * sizeof *s->bias);
        if (!s->bias) goto oom;
        memcpy(s->bias, p.bias, (size_t)p.n_bias * sizeof *s->bias);
    }
    s->p.bias = s->bias;

    s->penalize = p.penalty_last_n != 0 &&
                  (p.repeat_penalty != 1 || p.presence_penalty != 0 || p.frequency_penalty != 0);
    if (s->penalize) {
        s->count = calloc((size_t)vocab_size, sizeof *s->count);
        s->where = malloc((size_t)vocab_size * sizeof *s->where);
        int nd = p.penalty_last_n > 0 && p.penalty_last_n < vocab_size ? p.penalty_last_n : vocab_size;
        s->distinct = malloc((size_t)nd * sizeof *s->distinct);
        if (!s->count || !s->where || !s->distinct) goto oom;
    }
    if (s->penalize || p.n_bias > 0) {
        s->work = malloc((size_t)vocab_size * sizeof *s->work);
        if (!s->work) goto oom;
    }
    s->tail = TAIL_NATS + logf((float)vocab_size);
    if (p.temperature > 0) {
        bool top_k = p.top_k > 0 && p.top_k < vocab_size;
        s->cand_cap = top_k && p.top_k <= HEAP_K_MAX ? p.top_k : vocab_size;
        s->cand = malloc((size_t)s->cand_cap * sizeof *s->cand);
        s->n_blocks = (vocab_size + BLOCK - 1) / BLOCK;
        s->block_sum = malloc((size_t)s->n_blocks * sizeof *s->block_sum);
        if (!s->cand || !s->block_sum) goto oom;
        if (!top_k && p.top_p < 1) {
            s->n_hist = (int)(s->tail * BUCKETS_PER_NAT) + 2;
            s->hist = malloc((size_t)s->n_hist * sizeof *s->hist);
            if (!s->hist) goto oom;
        }
    }

    uint64_t x = p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    return s;
oom:
    g4_sampler_free(s);
    g4_error("g4_sampler_new: out of memory for a sampler over %d tokens", vocab_size);
    return NULL;
}

void g4_sampler_free(g4_sampler *s) {
    if (!s) return;
    free(s->ring);
    free(s->distinct);
    free(s->where);
    free(s->count);
    free(s->hist);
    free(s->block_sum);
    free(s->cand);
    free(s->work);
    free(s->bias);
    free(s);
}

/* ---- penalty window --------------------------------------------------------------- */

static void count_add(g4_sampler *s, int32_t t) {
    if (s->count[t]++ == 0) {
        s->where[t] = s->n_distinct;
        s->distinct[s->n_distinct++] = t;
    }
}

static void count_remove(g4_sampler *s, int32_t t) {
    if (--s->count[t] == 0) {
        int32_t last = s->distinct[--s->n_distinct];
        s->distinct[s->where[t]] = last;
        s->where[last] = s->where[t];
    }
}

void g4_sampler_accept(g4_sampler *s, int32_t token) {
    if (!s || !s->penalize || token < 0 || token >= s->vocab) return;
    int n = s->p.penalty_last_n;
    if (n > 0) {
        if (s->ring_len == n) { /* full: the oldest token leaves the window */
            count_remove(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % n;
            count_add(s, token);
            return;
        }
        if (s->ring_len == s->ring_cap) {
            int cap = s->ring_cap < n / 2 ? (s->ring_cap ? 2 * s->ring_cap : 64) : n;
            if (cap > n) cap = n;
            int32_t *r = realloc(s->ring, (size_t)cap * sizeof *r);
            if (!r) {
                g4_error("g4_sampler_accept: out of memory for the penalty window; token %d not recorded", (int)token);
                return;
            }
            s->ring = r;
            s->ring_cap = cap;
        }
        s->ring[s->ring_len++] = token;
    }
    count_add(s, token);
}

/* Copies logits to s->work with the penalties (llama.cpp order: repetition, then
 * frequency and presence) and the bias applied; returns the row to sample from. */
static const float *adjusted_logits(g4_sampler *s, const float *logits) {
    if (!s->work || (s->n_distinct == 0 && s->p.n_bias == 0)) return logits;
    float *x = s->work;
    memcpy(x, logits, (size_t)s->vocab * sizeof *x);
    const g4_sampler_params *p = &s->p;
    for (int i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        float l = x[t], c = (float)s->count[t];
        if (p->repeat_penalty != 1) l = l <= 0 ? l * p->repeat_penalty : l / p->repeat_penalty;
        x[t] = l - c * p->frequency_penalty - p->presence_penalty;
    }
    for (int i = 0; i < p->n_bias; i++) x[p->bias[i].token] += p->bias[i].bias;
    return x;
}

/* ---- block scans ------------------------------------------------------------------ */

/* Block i0 of x[0, n): a pointer into x, or pad[] filled with -inf past n. */
static const float *block_at(const float *x, int n, int i0, float *pad) {
    if (i0 + BLOCK <= n) return x + i0;
    int m = n - i0;
    memcpy(pad, x + i0, (size_t)m * sizeof *pad);
    for (int j = m; j < BLOCK; j++) pad[j] = -INFINITY;
    return pad;
}

/* Largest value of a block, NaN ignored (-inf if all are NaN or -inf). */
static inline float block_max(const float *restrict x) {
    float lane[16];
    for (int j = 0; j < 16; j++) lane[j] = -INFINITY;
    for (int i = 0; i < BLOCK; i += 16)
        for (int j = 0; j < 16; j++) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    for (int j = 0; j < 8; j++) lane[j] = lane[j + 8] > lane[j] ? lane[j + 8] : lane[j];
    for (int j = 0; j < 4; j++) lane[j] = lane[j + 4] > lane[j] ? lane[j + 4] : lane[j];
    for (int j = 0; j < 2; j++) lane[j] = lane[j + 2] > lane[j] ? lane[j + 2] : lane[j];
    return lane[1] > lane[0] ? lane[1] : lane[0];
}

/* out[j] = e^in[j] for a block of in[j] <= 0 (NaN and values below -87 give 0):
 * Cephes' expf, 2^n * P(r) with |r| <= ln2/2, in loops of fixed length so that
 * the compiler can vectorise them. */
static void exp_block(const float *restrict in, float *restrict out) {
    float x[BLOCK], n[BLOCK], scale[BLOCK];
    int32_t k[BLOCK];
    for (int j = 0; j < BLOCK; j++) x[j] = in[j] > -87.0f ? in[j] : -87.0f;
    for (int j = 0; j < BLOCK; j++) k[j] = (int32_t)(x[j] * 1.44269504088896341f - 0.5f); /* round(x / ln2) */
    for (int j = 0; j < BLOCK; j++) n[j] = (float)k[j];
    for (int j = 0; j < BLOCK; j++) {
        float r = x[j] - n[j] * 0.693359375f + n[j] * 2.12194440e-4f; /* x - n ln2, in two parts */
        float q = 1.9875691500e-4f;
        q = q * r + 1.3981999507e-3f;
        q = q * r + 8.3334519073e-3f;
        q = q * r + 4.1665795894e-2f;
        q = q * r + 1.6666665459e-1f;
        q = q * r + 5.0000001201e-1f;
        x[j] = q * r * r + r + 1.0f;
        k[j] = (k[j] + 127) * (1 << 23); /* 2^n as float bits; n in [-126, 0] */
    }
    memcpy(scale, k, sizeof scale);
    for (int j = 0; j < BLOCK; j++) out[j] = in[j] > -87.0f ? x[j] * scale[j] : 0.0f;
}

/* Sum of a block in a fixed order (16 lanes, then halving). */
static inline float block_sum(const float *restrict w) {
    float lane[16] = {0};
    for (int i = 0; i < BLOCK; i += 16)
        for (int j = 0; j < 16; j++) lane[j] += w[i + j];
    for (int j = 0; j < 8; j++) lane[j] += lane[j + 8];
    for (int j = 0; j < 4; j++) lane[j] += lane[j + 4];
    for (int j = 0; j < 2; j++) lane[j] += lane[j + 2];
    return lane[0] + lane[1];
}

/* Greedy: the highest logit, the lowest id among equals; -1 if none is above -inf. */
static int32_t argmax(const float *x, int n) {
    float pad[BLOCK], m = -INFINITY;
    int32_t best = -1;
    for (int i0 = 0; i0 < n; i0 += BLOCK) {
        const float *b = block_at(x, n, i0, pad);
        if (!(block_max(b) > m)) continue;
        for (int j = 0; j < BLOCK; j++)
            if (b[j] > m) {
                m = b[j];
                best = i0 + j;
            }
    }
    return best;
}

/* ---- candidate lists: heap, quickselect, nucleus ------------------------------------ */

/* Rank order: higher logit first, then lower id. Keys are unique (ids are). */
static bool better(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static void swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Restores the heap below i: every node ranks after (is worse than) its children. */
static void sift_down(cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        swap(&h[i], &h[w]);
        i = w;
    }
}

static void sift_up(cand *h, int i) {
    while (i > 0) {
        int up = (i - 1) / 2;
        if (!better(&h[up], &h[i])) return;
        swap(&h[up], &h[i]);
        i = up;
    }
}

/* The k best logits above -inf of x[0, n) into c[0, k) (unordered), through a
 * heap whose root is the worst kept; returns how many were kept (< k if fewer
 * are above -inf). Once the heap is full, blocks not above its worst are skipped. */
static int heap_top_k(const float *x, int n, int k, cand *c) {
    float pad[BLOCK], worst = -INFINITY;
    int m = 0;
    for (int i0 = 0; i0 < n; i0 += BLOCK) {
        const float *b = block_at(x, n, i0, pad);
        if (m == k && !(block_max(b) > worst)) continue;
        for (int j = 0; j < BLOCK; j++) {
            if (m < k) {
                if (!(b[j] > -INFINITY)) continue;
                c[m] = (cand){.logit = b[j], .id = i0 + j};
                sift_up(c, m++);
                if (m == k) worst = c[0].logit;
            } else if (b[j] > worst) { /* an equal logit comes later than the root: never better */
                c[0] = (cand){.logit = b[j], .id = i0 + j};
                sift_down(c, m, 0);
                worst = c[0].logit;
            }
        }
    }
    return m;
}

/* Lomuto partition of c[lo, hi) (hi - lo >= 2) around a median-of-three pivot:
 * afterwards c[lo, mid) rank before c[mid] and c(mid, hi) after it. *mass_before
 * receives the sum of w over c[lo, mid). */
static int partition(cand *c, int lo, int hi, double *mass_before) {
    int a = lo, b = lo + (hi - lo) / 2, z = hi - 1;
    if (better(&c[b], &c[a])) swap(&c[a], &c[b]);
    if (better(&c[z], &c[b])) {
        swap(&c[b], &c[z]);
        if (better(&c[b], &c[a])) swap(&c[a], &c[b]);
    }
    swap(&c[b], &c[z]); /* the median becomes the pivot at hi - 1 */
    const cand pivot = c[z];
    int mid = lo;
    double mass = 0;
    for (int i = lo; i < z; i++)
        if (better(&c[i], &pivot)) {
            mass += c[i].w;
            swap(&c[i], &c[mid++]);
        }
    swap(&c[mid], &c[z]);
    *mass_before = mass;
    return mid;
}

/* Moves the k best of c[0, n) to c[0, k) (unordered). */
static void select_best(cand *c, int n, int k) {
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        double unused;
        int mid = partition(c, lo, hi, &unused);
        if (mid < k) lo = mid + 1;
        else if (mid > k) hi = mid;
        else return;
    }
}

/* Top-p within a list (n >= 1): moves the smallest best-ranked prefix of c[0, n)
 * whose mass reaches target to c[0, r) and returns r >= 1. A weighted quickselect. */
static int nucleus(cand *c, int n, double target) {
    int lo = 0, hi = n;  /* c[0, lo) are the lo best, with mass acc < target; lo < r <= hi */
    double acc = 0;
    while (hi - lo > 1) {
        double left;
        int mid = partition(c, lo, hi, &left);
        if (acc + left >= target) hi = mid;
        else if (acc + left + c[mid].w >= target) return mid + 1;
        else {
            acc += left + c[mid].w;
            lo = mid + 1;
        }
    }
    return hi > 0 ? hi : 1;
}

/* w = exp((logit - max) * inv_t) for a list. */
static void list_weights(cand *c, int n, float max, float inv_t) {
    float in[BLOCK], out[BLOCK];
    for (int i0 = 0; i0 < n; i0 += BLOCK) {
        int m = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int j = 0; j < BLOCK; j++) in[j] = j < m ? (c[i0 + j].logit - max) * inv_t : -INFINITY;
        exp_block(in, out);
        for (int j = 0; j < m; j++) c[i0 + j].w = out[j];
    }
}

/* ---- top-p over the whole vocabulary: the histogram ---------------------------------- */

/* Histogram bucket of a logit l in [max - tail, max]. */
static int bucket_of(const g4_sampler *s, float max, float l) {
    int b = (int)((max - l) * BUCKETS_PER_NAT);
    return b < s->n_hist - 1 ? b : s->n_hist - 1;
}

/* One pass of the top-p histogram over the tokens in [max - tail, max]: adds
 * exp(l - max) into the buckets of the shallow tokens (bucket < SHALLOW_BUCKETS)
 * and returns the mass of all of them, or (deep) adds only the deeper tokens.
 * Blocks without a shallow token cost the shallow pass no bucketing at all. */
static double fill_hist(g4_sampler *s, const float *x, float max, bool deep) {
    const int V = s->vocab, last = s->n_hist - 1;
    const float lo = max - s->tail;
    float pad[BLOCK], d[BLOCK], w[BLOCK];
    int32_t k[BLOCK];
    double total = 0, *hist = s->hist;
    for (int i0 = 0; i0 < V; i0 += BLOCK) {
        const float *b = block_at(x, V, i0, pad);
        float bmax = block_max(b);
        if (!(bmax >= lo)) continue;
        for (int j = 0; j < BLOCK; j++) d[j] = b[j] >= lo ? b[j] - max : -INFINITY;
        exp_block(d, w);
        if (!deep) {
            total += block_sum(w);
            if (bucket_of(s, max, bmax) >= SHALLOW_BUCKETS) continue;
        }
        /* bucket_of without branches: tokens below lo have w = 0 and land in bucket 0 */
        for (int j = 0; j < BLOCK; j++) k[j] = (int32_t)((b[j] >= lo ? max - b[j] : 0.0f) * BUCKETS_PER_NAT);
        for (int j = 0; j < BLOCK; j++) k[j] = k[j] < last ? k[j] : last;
        for (int j = 0; j < BLOCK; j++) hist[k[j]] += (k[j] >= SHALLOW_BUCKETS) == deep ? w[j] : 0.0f;
    }
    return total;
}

/* Top-p (and min-p) without top-k. Sets *keep to the tokens of the buckets above
 * the one where the nucleus ends, lists the nucleus' part of that bucket in s->cand
 * and returns its length. */
static int nucleus_whole(g4_sampler *s, const float *x, float max, range *keep) {
    const int V = s->vocab, last = s->n_hist - 1;
    const float lo = max - s->tail, min_p_cut = s->p.min_p > 0 ? max + logf(s->p.min_p) : -INFINITY;
    float pad[BLOCK], d[BLOCK], w[BLOCK];
    double *hist = s->hist;
    memset(hist, 0, (size_t)s->n_hist * sizeof *hist);
    const double target = (double)s->p.top_p * fill_hist(s, x, max, false);

    /* the bucket B where the cumulative mass reaches top_p; bucket the deep tokens
     * only when the shallow ones do not reach it (a flat distribution) */
    double above = 0;
    int B = 0;
    while (B < SHALLOW_BUCKETS && B < last && above + hist[B] < target) above += hist[B++];
    if (B == SHALLOW_BUCKETS) {
        fill_hist(s, x, max, true);
        while (B < last && above + hist[B] < target) above += hist[B++];
    }

    /* list bucket B's tokens (not below min-p) and pick the nucleus' part of them;
     * bucket_of falls as l rises, so a block whose maximum lies below B holds none */
    const float cut = min_p_cut > lo ? min_p_cut : lo;
    int n = 0;
    for (int i0 = 0; i0 < V; i0 += BLOCK) {
        const float *b = block_at(x, V, i0, pad);
        float bmax = block_max(b);
        if (!(bmax >= cut) || bucket_of(s, max, bmax) > B) continue;
        for (int j = 0; j < BLOCK; j++) d[j] = b[j] >= cut ? b[j] - max : -INFINITY;
        exp_block(d, w);
        for (int j = 0; j < BLOCK; j++)
            if (b[j] >= cut && bucket_of(s, max, b[j]) == B)
                s->cand[n++] = (cand){.logit = b[j], .w = w[j], .id = i0 + j};
    }
    if (n > 0) n = nucleus(s->cand, n, target - above);
    *keep = (range){.lo = cut, .bucket = (float)B, .max = max};
    return n;
}

/* ---- the draw --------------------------------------------------------------------- */

/* l >= lo and bucket_of(l) < bucket, as one comparison per bound: for v >= 0,
 * (int)v < B <=> v < B (and the clamp in bucket_of never lowers a bucket below B). */
static bool in_range(const range *r, float l) {
    return l >= r->lo && (r->max - l) * BUCKETS_PER_NAT < r->bucket;
}

/* Whether a block whose maximum is bmax can hold a token of the range (the
 * maximum is in the range when any is: the range is a top slice of the ranks). */
static bool block_in_range(const range *r, float bmax) {
    return r->lo < INFINITY && in_range(r, bmax);
}

/* Weights exp((l - max) * inv_t) of one block, 0 outside the range. */
static void range_weights(const range *r, const float *restrict b, float inv_t, float *restrict w) {
    float d[BLOCK];
    for (int j = 0; j < BLOCK; j++) d[j] = in_range(r, b[j]) ? (b[j] - r->max) * inv_t : -INFINITY;
    exp_block(d, w);
}

/* Draws a token with probability proportional to exp((l - max) / T) among the
 * range's tokens of x and the listed candidates c[0, n). */
static int32_t draw(g4_sampler *s, const float *x, const range *r, cand *c, int n, float inv_t, int32_t fallback) {
    const int V = s->vocab;
    float pad[BLOCK], w[BLOCK];
    double total = 0;
    if (r->lo < INFINITY)
        for (int k = 0, i0 = 0; i0 < V; k++, i0 += BLOCK) {
            const float *b = block_at(x, V, i0, pad);
            s->block_sum[k] = 0;
            if (!block_in_range(r, block_max(b))) continue;
            range_weights(r, b, inv_t, w);
            total += s->block_sum[k] = block_sum(w);
        }
    list_weights(c, n, r->max, inv_t);
    for (int i = 0; i < n; i++) total += c[i].w;

    double u = rng_uniform(s->rng) * total, acc = 0;
    if (r->lo < INFINITY)
        for (int k = 0, i0 = 0; i0 < V; k++, i0 += BLOCK) {
            if (!(u < acc + s->block_sum[k])) {
                acc += s->block_sum[k];
                continue;
            }
            const float *b = block_at(x, V, i0, pad);
            range_weights(r, b, inv_t, w);
            int32_t last = fallback;
            for (int j = 0; j < BLOCK; j++) {
                if (w[j] <= 0) continue;
                acc += w[j];
                last = i0 + j;
                if (u < acc) break;
            }
            return last; /* the last kept one if rounding ran past the block */
        }
    int32_t last = fallback;
    for (int i = 0; i < n; i++) {
        if (c[i].w <= 0) continue;
        acc += c[i].w;
        last = c[i].id;
        if (u < acc) break;
    }
    return last;
}

/* ---- sampling --------------------------------------------------------------------- */

static int by_rank(const void *a, const void *b) {
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* top-p, min-p, temperature and the draw over a top-k list c[0, n) in rank
 * order, c[0] the best: the same steps whether the list came from a scan of
 * the whole row here or from the GPU (g4_sampler_sample_top). */
static int32_t sample_list(g4_sampler *s, cand *c, int n, float inv_t) {
    const g4_sampler_params *p = &s->p;
    const float max = c[0].logit;
    const int32_t best = c[0].id;
    if (!(inv_t < INFINITY) || max == INFINITY) return best; /* greedy */
    if (p->top_p < 1) { /* the nucleus of softmax over the k kept (llama.cpp) */
        list_weights(c, n, max, 1.0f);
        double total = 0;
        for (int i = 0; i < n; i++) total += c[i].w;
        n = nucleus(c, n, (double)p->top_p * total);
    }
    if (p->min_p > 0) { /* the maximum is always kept */
        const float cut = max + logf(p->min_p);
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (c[i].logit >= cut) c[kept++] = c[i];
        n = kept;
    }
    range keep = {.lo = INFINITY, .bucket = INFINITY, .max = max}; /* nothing but the list */
    return draw(s, NULL, &keep, c, n, inv_t, best);
}

static float inverse_temperature(const g4_sampler *s) {
    return s->p.temperature > 0 ? 1.0f / s->p.temperature : INFINITY;
}

int32_t g4_sampler_sample(g4_sampler *s, const float *logits) {
    if (!s || !logits) {
        g4_error("g4_sampler_sample: no sampler or no logits");
        return -1;
    }
    const g4_sampler_params *p = &s->p;
    const int V = s->vocab;
    const float *x = adjusted_logits(s, logits);
    const float inv_t = inverse_temperature(s);

    if (p->top_k > 0 && p->top_k < V && inv_t < INFINITY) {
        cand *c = s->cand;
        int n = 0;
        if (p->top_k <= HEAP_K_MAX) {
            n = heap_top_k(x, V, p->top_k, c);
        } else {
            for (int i = 0; i < V; i++)
                if (x[i] > -INFINITY) c[n++] = (cand){.logit = x[i], .id = i};
            if (n > p->top_k) {
                select_best(c, n, p->top_k);
                n = p->top_k;
            }
        }
        if (n == 0) {
            g4_error("g4_sampler_sample: no token can be sampled (every logit is -inf or NaN)");
            return -1;
        }
        qsort(c, (size_t)n, sizeof *c, by_rank);
        return sample_list(s, c, n, inv_t);
    }

    const int32_t best = argmax(x, V);
    if (best < 0) {
        g4_error("g4_sampler_sample: no token can be sampled (every logit is -inf or NaN)");
        return -1;
    }
    const float max = x[best];
    if (!(inv_t < INFINITY) || max == INFINITY) return best; /* greedy */

    const float min_p_cut = p->min_p > 0 ? max + logf(p->min_p) : -INFINITY;
    range keep = {.lo = INFINITY, .bucket = INFINITY, .max = max}; /* nothing but the list */
    int n = 0;
    if (p->top_p < 1) {
        n = nucleus_whole(s, x, max, &keep);
    } else {
        /* no truncation but min-p, and the tail that is negligible at temperature T */
        float lo = max - s->tail * p->temperature;
        keep.lo = min_p_cut > lo ? min_p_cut : lo;
    }
    return draw(s, x, &keep, s->cand, n, inv_t, best);
}

int g4_sampler_top_k_only(const g4_sampler *s) {
    const g4_sampler_params *p = &s->p;
    if (s->penalize || p->n_bias > 0) return 0; /* they change logits outside any top list */
    if (!(inverse_temperature(s) < INFINITY)) return 1;
    return p->top_k > 0 && p->top_k < s->vocab && p->top_k <= 256 ? p->top_k : 0;
}

int32_t g4_sampler_sample_top(g4_sampler *s, const int32_t *ids, const float *vals, int k) {
    int need = s ? g4_sampler_top_k_only(s) : 0;
    if (!s || !ids || !vals || need == 0 || k < need) {
        g4_error("g4_sampler_sample_top: this sampler needs the whole row (or at least %d logits, got %d)", need, k);
        return -1;
    }
    if (!(vals[0] > -INFINITY)) {
        g4_error("g4_sampler_sample: no token can be sampled (every logit is -inf or NaN)");
        return -1;
    }
    float inv_t = inverse_temperature(s);
    if (!(inv_t < INFINITY)) return ids[0]; /* greedy: no candidate list is kept */
    cand *c = s->cand;
    int n = 0;
    for (int i = 0; i < need; i++)
        if (vals[i] > -INFINITY) c[n++] = (cand){.logit = vals[i], .id = ids[i]};
    return sample_list(s, c, n, inv_t);
}

/* ---- defaults from model files ---------------------------------------------------- */

/* An integer GGUF value as an int: 1 found, 0 absent, -1 (error set) wrong type or range.
 * (gguf.h has no signed getter, and penalty_last_n may be -1.) */
static int gguf_get_int(const g4_gguf *g, const char *key, int *out) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    if (!kv) return 0;
    int64_t v;
    switch (kv->type) {
    case G4_GGUF_INT8: case G4_GGUF_INT16: case G4_GGUF_INT32: case G4_GGUF_INT64:
        v = kv->num.i;
        break;
    case G4_GGUF_UINT8: case G4_GGUF_UINT16: case G4_GGUF_UINT32: case G4_GGUF_UINT64:
        if (kv->num.u > INT_MAX) return g4_error("GGUF key '%s' value does not fit in an int", key);
        v = (int64_t)kv->num.u;
        break;
    default:
        return g4_error("GGUF key '%s' is not an integer", key);
    }
    if (v < INT_MIN || v > INT_MAX) return g4_error("GGUF key '%s' value does not fit in an int", key);
    *out = (int)v;
    return 1;
}

int g4_sampling_from_gguf(const g4_gguf *g, g4_sampler_params *p) {
    g4_sampler_params q = *p;
    if (g4_gguf_get_f32(g, "general.sampling.temp", &q.temperature) < 0 ||
        gguf_get_int(g, "general.sampling.top_k", &q.top_k) < 0 ||
        g4_gguf_get_f32(g, "general.sampling.top_p", &q.top_p) < 0 ||
        g4_gguf_get_f32(g, "general.sampling.min_p", &q.min_p) < 0 ||
        g4_gguf_get_f32(g, "general.sampling.penalty_repeat", &q.repeat_penalty) < 0 ||
        gguf_get_int(g, "general.sampling.penalty_last_n", &q.penalty_last_n) < 0)
        return -1;
    if (g4_sampling_validate(&q) < 0) return g4_error_prefix("GGUF general.sampling");
    *p = q;
    return 0;
}

/* A number from a JSON object: 1 found, 0 absent or null, -1 (error set) otherwise. */
static int json_get_number(json_t *obj, const char *key, const char *path, double *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return g4_error("%s: \"%s\" is not a number", path, key);
    *out = json_number_value(v);
    return 1;
}

static int json_get_float(json_t *obj, const char *key, const char *path, float *out) {
    double d = 0;
    int rc = json_get_number(obj, key, path, &d);
    if (rc <= 0) return rc;
    if (!(fabs(d) <= FLT_MAX)) return g4_error("%s: \"%s\" %g does not fit in a float", path, key, d);
    *out = (float)d;
    return 1;
}

static int json_get_int(json_t *obj, const char *key, const char *path, int *out) {
    double d = 0;
    int rc = json_get_number(obj, key, path, &d);
    if (rc <= 0) return rc;
    if (d != floor(d) || d < INT_MIN || d > INT_MAX)
        return g4_error("%s: \"%s\" %g is not an integer that fits in an int", path, key, d);
    *out = (int)d;
    return 1;
}

int g4_sampling_from_hf_dir(const char *dir, g4_sampler_params *p) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/generation_config.json", dir) >= sizeof path)
        return g4_error("%s: path too long", dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return g4_error("%s: %s", path, strerror(errno));
    }
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return g4_error("%s:%d:%d: malformed JSON: %s", path, je.line, je.column, je.text);
    g4_sampler_params q = *p;
    int rc = -1;
    if (!json_is_object(root)) {
        g4_error("%s: expected a JSON object", path);
        goto done;
    }
    if (json_get_float(root, "temperature", path, &q.temperature) < 0 ||
        json_get_int(root, "top_k", path, &q.top_k) < 0 ||
        json_get_float(root, "top_p", path, &q.top_p) < 0 ||
        json_get_float(root, "min_p", path, &q.min_p) < 0 ||
        json_get_float(root, "repetition_penalty", path, &q.repeat_penalty) < 0)
        goto done;
    json_t *ds = json_object_get(root, "do_sample");
    if (ds && !json_is_null(ds)) {
        if (!json_is_boolean(ds)) {
            g4_error("%s: \"do_sample\" is not true or false", path);
            goto done;
        }
        if (json_is_false(ds)) q.temperature = 0;
    }
    if (g4_sampling_validate(&q) < 0) {
        g4_error_prefix("%s", path);
        goto done;
    }
    *p = q;
    rc = 0;
done:
    json_decref(root);
    return rc;
}
