/* modelutil.h: helpers for tests that run models: evaluate a token list through
 * the public API (all logits, in chunks), compare logit arrays, read goldens. */
#ifndef G4_MODELUTIL_H
#define G4_MODELUTIL_H

#include "gemma4.h"

#include <stdint.h>

/* Evaluates tokens in chunks of `chunk` (0: all at once) on a fresh context with
 * n_ubatch = ubatch (0: default); returns malloc'd logits [n][vocab] or NULL. */
float *mu_eval(g4_model *m, const int32_t *tokens, int n, int chunk, int ubatch);
/* The same on n_threads CPU threads (0: one per online core, as mu_eval). */
float *mu_eval_threads(g4_model *m, const int32_t *tokens, int n, int chunk, int ubatch, int n_threads);

/* Largest |a[i] - b[i]|. */
double mu_max_diff(const float *a, const float *b, size_t n);

/* A fixture model's golden.json: tokens, argmax per position, greedy continuation. */
typedef struct {
    int32_t tokens[4096];
    int n_tokens;
    int32_t argmax[4096];
    int32_t greedy[64];
    int n_greedy;
    int vocab;
} mu_golden;

int mu_read_golden(const char *path, mu_golden *g);

/* Deterministic pseudo-random token ids in [3, vocab). */
void mu_random_tokens(int32_t *out, int n, int vocab, uint32_t seed);

#endif
