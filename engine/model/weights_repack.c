/* weights_repack.c: at load, copies the weight matrices the matmul reads into the
 * kernels' faster layouts where they have one (backend.h: g4k_repack; Q8_0 rows
 * become 16-row interleaved groups), all into one block of anonymous memory,
 * and drops the file's pages of each matrix copied, so that the process holds
 * the weights once. The embedding tables stay in the file for their row lookups;
 * the tied LM head (m->w.output) is a matrix of its own and is copied.
 * G4_NO_REPACK=1 in the environment keeps every matrix as the file has it. */
#include "model.h"
#include "base/error.h"
#include "base/mapfile.h"

#include <stdlib.h>
#include <sys/mman.h>

/* Copies are 64-byte aligned in the block; the block is in huge pages where the
 * system gives them (fewer TLB misses on the weight streams). */
#define COPY_ALIGN 64
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct {
    g4k_matrix **items;
    size_t n, cap;
} matrix_list;

static int add(matrix_list *l, g4k_matrix *w) {
    if (!w->data || !g4k_repacked_size(w)) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        g4k_matrix **items = realloc(l->items, cap * sizeof *items);
        if (!items) return g4_error("out of memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = w;
    return 0;
}

static int add_experts(matrix_list *l, g4k_matrix *experts, int n) {
    for (int e = 0; experts && e < n; e++)
        if (add(l, &experts[e])) return -1;
    return 0;
}

/* Every matrix g4k_matmul reads that has a faster layout. */
static int matmul_matrices(g4_model *m, matrix_list *l) {
    g4_weights *w = &m->w;
    if (add(l, &w->output) || add(l, &w->ple_model_proj)) return -1;
    for (int i = 0; i < m->cfg.n_layers; i++) {
        g4_layer_weights *y = &w->layer[i];
        g4k_matrix *dense[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->ffn_gate, &y->ffn_up,
                               &y->ffn_down, &y->ple_gate, &y->ple_proj, &y->router};
        for (size_t k = 0; k < sizeof dense / sizeof *dense; k++)
            if (add(l, dense[k])) return -1;
        const int E = m->cfg.n_experts;
        if (add_experts(l, y->expert_gate_up, E) || add_experts(l, y->expert_gate, E) ||
            add_experts(l, y->expert_up, E) || add_experts(l, y->expert_down, E))
            return -1;
    }
    return 0;
}

static size_t aligned(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

int g4_weights_repack(g4_model *m) {
    const char *off = getenv("G4_NO_REPACK");
    if (off && *off && *off != '0') return 0;
    matrix_list l = {0};
    if (matmul_matrices(m, &l)) {
        free(l.items);
        return -1;
    }
    size_t total = 0;
    for (size_t i = 0; i < l.n; i++) total += aligned(g4k_repacked_size(l.items[i]), COPY_ALIGN);
    char *block = total ? aligned_alloc(HUGE_PAGE, aligned(total, HUGE_PAGE)) : NULL;
    if (total && !g4_model_own(m, block)) {
        free(l.items);
        return -1;
    }
    if (block) madvise(block, aligned(total, HUGE_PAGE), MADV_HUGEPAGE);
    for (size_t i = 0, at = 0; i < l.n; i++) {
        g4k_matrix *w = l.items[i];
        const size_t bytes = g4k_repacked_size(w);
        g4_map_prefetch(w->data, bytes);
        const g4k_matrix copy = g4k_repack(w, block + at);
        g4_map_release(w->data, bytes);
        *w = copy;
        at += aligned(bytes, COPY_ALIGN);
    }
    free(l.items);
    return 0;
}
