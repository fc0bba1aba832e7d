/* modelutil.h: helpers for tests that run models: evaluate a token list through
 * the public API (all logits, in chunks), check that other ways of batching it
 * give the same logits, compare logit arrays, read goldens. */
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

/* One way to evaluate a prompt: tokens per g4_decode call (0: all at once),
 * n_ubatch (0: default), CPU threads (0: one per online core). */
typedef struct {
    int chunk, ubatch, threads;
} mu_split;

/* Evaluates tokens once per split and compares all logits with ref [n][vocab]:
 * within tol, or with tol 0 the same bits. Returns the index of the first split
 * that differs (or fails to evaluate), with its largest difference in *diff
 * (INFINITY if it failed), or -1 when every split matches. */
int mu_check_splits(g4_model *m, const int32_t *tokens, int n, const float *ref, const mu_split *splits,
                    int n_splits, double tol, double *diff);

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
