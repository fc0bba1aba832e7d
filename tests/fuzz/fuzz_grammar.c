/* fuzz_grammar.c: libFuzzer target for the GBNF parser and matcher (engine/run/
 * grammar*.c). The input is split at its first NUL: a grammar, then text. A grammar
 * that fails must say why with "grammar"; one that parses gets a matcher over the
 * shared tiny model's vocabulary (when G4_SHARED is set), which takes the text;
 * wherever the text leaves it, the mask must allow some token (a compiled grammar
 * never dead-ends), and for a few steps the mask must be exact: token by token,
 * allowed exactly when a matcher in the same state accepts it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma4.h"

static g4_vocab *vocab;
static g4_grammar_vocab *gv;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *shared = getenv("G4_SHARED");
    if (!shared) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/models/dense-tiny/model.gguf", shared);
    vocab = g4_vocab_load(path);
    if (vocab) gv = g4_grammar_vocab_new(vocab);
    return 0;
}

/* A fork of m brought to m's state by replaying what m took; NULL if it cannot. */
static g4_grammar_matcher *replay(g4_grammar_matcher *m, const char *text, size_t len, const int32_t *taken, int n_taken) {
    g4_grammar_matcher *r = g4_grammar_matcher_fork(m);
    if (!r) return NULL;
    if (len && g4_grammar_matcher_accept_text(r, text, len)) __builtin_trap(); /* m took it */
    for (int i = 0; i < n_taken; i++)
        if (g4_grammar_matcher_accept(r, taken[i])) __builtin_trap();
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t glen = strlen(text);
    const char *rest = text + glen + (glen < size);
    size_t rest_len = glen < size ? size - glen - 1 : 0;
    g4_grammar *g = g4_grammar_parse(text, NULL);
    if (!g) {
        if (!strstr(g4_last_error(), "grammar")) __builtin_trap();
        free(text);
        return 0;
    }
    if (gv) {
        g4_grammar_matcher *m = g4_grammar_matcher_new(g, gv);
        if (m) {
            size_t took_text = rest_len && g4_grammar_matcher_accept_text(m, rest, rest_len) == 0 ? rest_len : 0;
            int n = g4_vocab_size(vocab);
            uint8_t *allowed = malloc((size_t)n);
            int32_t taken[4];
            int n_taken = 0;
            if (allowed) {
                for (int step = 0; step < 4 && !g4_grammar_matcher_done(m); step++) {
                    int count = g4_grammar_matcher_mask(m, allowed);
                    if (count < 0 && strstr(g4_last_error(), "nesting deeper")) break;
                    if (count <= 0) __builtin_trap();
                    for (int t = 0; t < n; t++) {
                        g4_grammar_matcher *r = replay(m, rest, took_text, taken, n_taken);
                        if (!r) break;
                        if ((g4_grammar_matcher_accept(r, t) == 0) != (allowed[t] != 0)) __builtin_trap();
                        g4_grammar_matcher_free(r);
                    }
                    int first = 0;
                    while (first < n && !allowed[first]) first++;
                    if (first == n || g4_grammar_matcher_accept(m, first) != 0) __builtin_trap();
                    taken[n_taken++] = first;
                }
                free(allowed);
            }
            g4_grammar_matcher_free(m);
        }
    }
    g4_grammar_free(g);
    free(text);
    return 0;
}
