/* shapes.c: the model shapes g4gen knows (the real Gemma 4 variants of spec §1.2
 * and tiny test models), command-line overrides, and per-layer derivations. */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *about;
    gen_config c;
} shape_def;

/* Fields common to every shape are filled in by gen_shape_load (ctx default, period 6). */
static const shape_def shapes[] = {
    {"e2b", "Gemma 4 E2B: PLE, 20 KV-shared layers with double-wide MLP, (4S+F)x7",
     {.real = true, .vocab = 262144, .hidden = 1536, .ff = 6144, .layers = 35, .heads = 8,
      .kv_heads = 1, .head_dim = 256, .global_head_dim = 512, .window = 512, .ctx = 131072,
      .ple = 256, .kv_shared = 20, .double_wide = true, .period = 5}},
    {"e4b", "Gemma 4 E4B: PLE, 18 KV-shared layers, (5S+F)x7",
     {.real = true, .vocab = 262144, .hidden = 2560, .ff = 10240, .layers = 42, .heads = 8,
      .kv_heads = 2, .head_dim = 256, .global_head_dim = 512, .window = 512, .ctx = 131072,
      .ple = 256, .kv_shared = 18, .period = 6}},
    {"12b", "Gemma 4 12B: dense, k_eq_v (1 global KV head), (5S+F)x8",
     {.real = true, .vocab = 262144, .hidden = 3840, .ff = 15360, .layers = 48, .heads = 16,
      .kv_heads = 8, .global_kv_heads = 1, .k_eq_v = true, .head_dim = 256,
      .global_head_dim = 512, .window = 1024, .ctx = 262144, .period = 6, .vision_bidir = true}},
    {"26b-a4b", "Gemma 4 26B-A4B: shared MLP + 128 experts top-8, k_eq_v, (5S+F)x5",
     {.real = true, .vocab = 262144, .hidden = 2816, .ff = 2112, .layers = 30, .heads = 16,
      .kv_heads = 8, .global_kv_heads = 2, .k_eq_v = true, .head_dim = 256,
      .global_head_dim = 512, .window = 1024, .ctx = 262144, .moe = true, .experts = 128,
      .top_k = 8, .moe_ff = 704, .period = 6, .vision_bidir = true}},
    {"31b", "Gemma 4 31B: dense, k_eq_v (4 global KV heads), (5S+F)x10",
     {.real = true, .vocab = 262144, .hidden = 5376, .ff = 21504, .layers = 60, .heads = 32,
      .kv_heads = 16, .global_kv_heads = 4, .k_eq_v = true, .head_dim = 256,
      .global_head_dim = 512, .window = 1024, .ctx = 262144, .period = 6, .vision_bidir = true}},
    {"tiny", "fixtures/models/dense-tiny: H64, 6 layers, GQA",
     {.vocab = 512, .hidden = 64, .ff = 128, .layers = 6, .heads = 4, .kv_heads = 2,
      .head_dim = 16, .global_head_dim = 32, .window = 8, .period = 6}},
    {"tiny-ple", "fixtures/models/ple-kvshare: PLE 8, 5 KV-shared layers, double-wide MLP",
     {.vocab = 512, .hidden = 64, .ff = 128, .layers = 10, .heads = 4, .kv_heads = 1,
      .head_dim = 16, .global_head_dim = 32, .window = 8, .ple = 8, .kv_shared = 5,
      .double_wide = true, .period = 5}},
    {"tiny-keqv", "fixtures/models/keqv: H96, k_eq_v with 1 global KV head",
     {.vocab = 512, .hidden = 96, .ff = 192, .layers = 6, .heads = 8, .kv_heads = 4,
      .global_kv_heads = 1, .k_eq_v = true, .head_dim = 16, .global_head_dim = 32,
      .window = 16, .period = 6}},
    {"tiny-moe", "fixtures/models/moe: shared MLP 48 + 16 experts top-4 (32), k_eq_v",
     {.vocab = 512, .hidden = 64, .ff = 48, .layers = 6, .heads = 4, .kv_heads = 2,
      .global_kv_heads = 1, .k_eq_v = true, .head_dim = 16, .global_head_dim = 32,
      .window = 8, .moe = true, .experts = 16, .top_k = 4, .moe_ff = 32, .period = 6}},
    {"tiny-q", "dense, every matrix input dim a multiple of 256 (K-quants apply)",
     {.vocab = 512, .hidden = 256, .ff = 512, .layers = 6, .heads = 4, .kv_heads = 2,
      .head_dim = 64, .global_head_dim = 128, .window = 16, .period = 6}},
    {"tiny-q-ple", "tiny-q with PLE 256, 5 KV-shared layers, double-wide MLP, (4S+F)x2",
     {.vocab = 512, .hidden = 256, .ff = 512, .layers = 10, .heads = 4, .kv_heads = 1,
      .head_dim = 64, .global_head_dim = 128, .window = 16, .ple = 256, .kv_shared = 5,
      .double_wide = true, .period = 5}},
    {"tiny-q-moe", "tiny-q with shared MLP 256 + 8 experts top-2 (256), k_eq_v",
     {.vocab = 512, .hidden = 256, .ff = 256, .layers = 6, .heads = 4, .kv_heads = 2,
      .global_kv_heads = 1, .k_eq_v = true, .head_dim = 64, .global_head_dim = 128,
      .window = 16, .moe = true, .experts = 8, .top_k = 2, .moe_ff = 256, .period = 6}},
};

#define N_SHAPES (sizeof shapes / sizeof shapes[0])

void gen_shape_list(FILE *out) {
    for (size_t i = 0; i < N_SHAPES; i++)
        fprintf(out, "  %-11s %s\n", shapes[i].name, shapes[i].about);
}

bool gen_layer_shared(const gen_config *c, int l) { return l >= c->layers - c->kv_shared; }

int gen_layer_head_dim(const gen_config *c, int l) {
    return c->full[l] ? c->global_head_dim : c->head_dim;
}

int gen_layer_kv_heads(const gen_config *c, int l) {
    return (c->full[l] && c->k_eq_v) ? c->global_kv_heads : c->kv_heads;
}

int64_t gen_layer_ff(const gen_config *c, int l) {
    return (c->double_wide && gen_layer_shared(c, l)) ? 2 * c->ff : c->ff;
}

/* k_eq_v full layers have no v_proj (V := raw K); shared layers have no K/V at all. */
bool gen_layer_has_v(const gen_config *c, int l) {
    return !gen_layer_shared(c, l) && !(c->full[l] && c->k_eq_v);
}

/* Every KV-shared layer needs an earlier non-shared layer of its type (its donor). */
static bool donors_ok(const gen_config *c) {
    int first = c->layers - c->kv_shared;
    for (int l = first; l < c->layers; l++) {
        bool found = false;
        for (int j = 0; j < first && !found; j++) found = c->full[j] == c->full[l];
        if (!found) return false;
    }
    return true;
}

/* llama.cpp takes the donor of a shared layer to be layer first-1 (full) or
 * first-2 (sliding): true when that agrees with the HF rule (spec §5). */
static bool peer_compatible(const gen_config *c, int first) {
    return first >= 2 && c->full[first - 1] && !c->full[first - 2];
}

/* The KV-shared count nearest to target (of the shape's fraction) that both
 * llama.cpp and HF read the same way; 0 if there is none. */
static int peer_kv_shared(const gen_config *c, int target) {
    int best = 0;
    for (int first = c->layers - 1; target > 0 && first >= 2; first--) {
        int n = c->layers - first;
        if (peer_compatible(c, first) && (best == 0 || abs(n - target) < abs(best - target))) best = n;
    }
    return best;
}

static void derive_layer_types(gen_config *c) {
    for (int i = 0; i < c->layers; i++)
        c->full[i] = (i + 1) % c->period == 0 || i == c->layers - 1;
}

static int check(bool ok, const char *what) {
    if (!ok) fprintf(stderr, "g4gen: %s\n", what);
    return ok ? 0 : -1;
}

static int validate(const gen_config *c) {
    int bad = 0;
    bad |= check(c->vocab >= 8 && c->vocab <= (1 << 24), "--vocab must be in 8..16777216");
    bad |= check(c->hidden >= 1 && c->ff >= 1, "--hidden and --ff must be positive");
    bad |= check(c->window >= 1, "--window must be positive");
    bad |= check(c->ctx >= 1, "--ctx must be positive");
    bad |= check(c->heads % c->kv_heads == 0, "attention heads must be a multiple of KV heads");
    bad |= check(!c->global_kv_heads || c->heads % c->global_kv_heads == 0,
                 "attention heads must be a multiple of global KV heads");
    bad |= check(c->kv_shared >= 0 && c->kv_shared < c->layers,
                 "--kv-shared must be below the layer count");
    bad |= check(c->kv_shared == 0 || donors_ok(c),
                 "too many KV-shared layers: each needs an earlier layer of its type to share from");
    if (c->moe) {
        bad |= check(c->experts >= 1 && c->top_k >= 1 && c->top_k <= c->experts,
                     "need 1 <= --top-k <= --experts");
        bad |= check(c->moe_ff >= 1, "--moe-ff must be positive");
    }
    return bad ? -1 : 0;
}

int gen_shape_load(gen_config *c, const char *name, const gen_overrides *ov) {
    const shape_def *s = NULL;
    for (size_t i = 0; i < N_SHAPES; i++)
        if (strcmp(shapes[i].name, name) == 0) s = &shapes[i];
    if (!s) {
        fprintf(stderr, "g4gen: unknown shape '%s' (see g4gen --help)\n", name);
        return -1;
    }
    *c = s->c;
    snprintf(c->shape, sizeof c->shape, "%s", s->name);
    if (!c->ctx) c->ctx = 131072;

    if (ov->layers >= 0) {
        if (ov->layers < 1 || ov->layers > GEN_MAX_LAYERS) {
            fprintf(stderr, "g4gen: --layers must be in 1..%d\n", GEN_MAX_LAYERS);
            return -1;
        }
        /* keep the KV-shared fraction of the shape */
        c->kv_shared = (int)lround((double)s->c.kv_shared * ov->layers / s->c.layers);
        c->layers = ov->layers;
    }
    if (ov->kv_shared >= 0) c->kv_shared = ov->kv_shared;
    if (ov->vocab >= 0) c->vocab = ov->vocab;
    if (ov->ctx >= 0) c->ctx = ov->ctx;
    if (ov->hidden >= 0) c->hidden = ov->hidden;
    if (ov->ff >= 0) c->ff = ov->ff;
    if (ov->window >= 0) c->window = ov->window;
    if (ov->experts >= 0 || ov->top_k >= 0 || ov->moe_ff >= 0) {
        if (!c->moe) {
            fprintf(stderr, "g4gen: --experts/--top-k/--moe-ff need an MoE shape (26b-a4b, tiny-moe, tiny-q-moe)\n");
            return -1;
        }
        if (ov->experts >= 0) c->experts = ov->experts;
        if (ov->top_k >= 0) c->top_k = ov->top_k;
        if (ov->moe_ff >= 0) c->moe_ff = ov->moe_ff;
    }
    derive_layer_types(c);
    if (ov->layers >= 0 && ov->kv_shared < 0) c->kv_shared = peer_kv_shared(c, c->kv_shared);
    else if (c->kv_shared > 0 && !peer_compatible(c, c->layers - c->kv_shared))
        fprintf(stderr, "g4gen: note: llama.cpp shares KV only when the last non-shared layer is "
                        "full and the one before it sliding; this model will not load there\n");
    return validate(c);
}
