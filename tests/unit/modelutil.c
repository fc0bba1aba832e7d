/* modelutil.c: running models and comparing logits for the tests. */
#include "modelutil.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

float *mu_eval(g4_model *m, const int32_t *tokens, int n, int chunk, int ubatch) {
    return mu_eval_threads(m, tokens, n, chunk, ubatch, 0);
}

float *mu_eval_threads(g4_model *m, const int32_t *tokens, int n, int chunk, int ubatch, int n_threads) {
    g4_model_info info;
    g4_model_get_info(m, &info);
    g4_context_params p = g4_context_default_params();
    p.n_ctx = n;
    if (ubatch) p.n_ubatch = ubatch;
    p.n_threads = n_threads;
    g4_context *ctx = g4_context_new(m, &p);
    float *out = ctx ? malloc((size_t)n * info.vocab_size * sizeof(float)) : NULL;
    int8_t *want = malloc((size_t)n);
    if (!out || !want) goto fail;
    memset(want, 1, (size_t)n);
    if (!chunk) chunk = n;
    for (int s = 0; s < n; s += chunk) {
        int cnt = n - s < chunk ? n - s : chunk;
        g4_batch b = {.n_tokens = cnt, .token = tokens + s, .logits = want};
        if (g4_decode(ctx, &b)) goto fail;
        for (int i = 0; i < cnt; i++)
            memcpy(out + (size_t)(s + i) * info.vocab_size, g4_get_logits(ctx, i), info.vocab_size * sizeof(float));
    }
    free(want);
    g4_context_free(ctx);
    return out;
fail:
    free(want);
    free(out);
    g4_context_free(ctx);
    return NULL;
}

double mu_max_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

int mu_check_splits(g4_model *m, const int32_t *tokens, int n, const float *ref, const mu_split *splits,
                    int n_splits, double tol, double *diff) {
    g4_model_info info;
    g4_model_get_info(m, &info);
    const size_t n_logits = (size_t)n * info.vocab_size;
    for (int i = 0; i < n_splits; i++) {
        const mu_split *s = &splits[i];
        float *got = mu_eval_threads(m, tokens, n, s->chunk, s->ubatch, s->threads);
        *diff = got ? mu_max_diff(got, ref, n_logits) : INFINITY;
        bool same = got && (tol == 0 ? memcmp(got, ref, n_logits * sizeof(float)) == 0 : *diff <= tol);
        free(got);
        if (!same) return i;
    }
    *diff = 0;
    return -1;
}

static int read_ids(json_t *arr, int32_t *out, int cap) {
    if (!json_is_array(arr) || (int)json_array_size(arr) > cap) return -1;
    for (size_t i = 0; i < json_array_size(arr); i++) out[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return (int)json_array_size(arr);
}

int mu_read_golden(const char *path, mu_golden *g) {
    json_t *j = json_load_file(path, 0, NULL);
    if (!j) return -1;
    g->n_tokens = read_ids(json_object_get(j, "tokens"), g->tokens, 4096);
    int na = read_ids(json_object_get(j, "argmax"), g->argmax, 4096);
    g->n_greedy = read_ids(json_object_get(j, "greedy_after_prompt"), g->greedy, 64);
    g->vocab = (int)json_integer_value(json_object_get(j, "vocab"));
    json_decref(j);
    return (g->n_tokens > 0 && na == g->n_tokens && g->n_greedy > 0 && g->vocab > 0) ? 0 : -1;
}

void mu_random_tokens(int32_t *out, int n, int vocab, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 12345u;
    for (int i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        out[i] = 3 + (int32_t)(x % (uint32_t)(vocab - 3));
    }
}
