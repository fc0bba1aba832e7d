/* mix.c: llama.cpp's Q4_K_M mix (--type q4_k_m): the type that
 * `llama-quantize IN.gguf OUT.gguf Q4_K_M` (no imatrix, no overrides) gives each
 * tensor when IN is the GGUF g4gen writes by default (bf16 for real shapes, f32
 * for tiny ones). The rules are those of llama.cpp's src/llama-quant.cpp
 * (tensor_allows_quantization, llama_tensor_get_type_impl with its
 * use_more_bits, tensor_type_fallback) as in the peer's sources (llama.cpp of
 * node-llama-cpp 3.22.1; ggml-org master has the same Q4_K_M rules):
 *
 *  - not quantized: 1-D tensors (norms, scales, rope_freqs) and the MoE router
 *    ffn_gate_inp stay F32 as the converter wrote them; per_layer_model_proj
 *    ("not too big") keeps the input's type, bf16 or f32;
 *  - token_embd and per_layer_token_embd both count as token embeddings, and
 *    with no output.weight (Gemma ties the output to token_embd) they take the
 *    output's rule: Q6_K, or Q8_0 when rows are not a multiple of 256;
 *  - attn_v: Q6_K when use_more_bits(i, n), i the tensor's place among the n
 *    attn_v tensors in layer order (KV-shared and k_eq_v full layers have none);
 *  - ffn_down and ffn_down_exps of layer l of L: Q6_K when use_more_bits(l, L);
 *  - a model of exactly 8 experts: attn_v and attn_k Q8_0, attn_output Q5_K;
 *  - every other matrix (attn_q, attn_k, attn_output, ffn_gate, ffn_up, the
 *    experts' gate/up, inp_gate, proj): Q4_K;
 *  - rows that are not whole blocks of the chosen type: Q4_K -> Q5_0,
 *    Q5_K -> Q5_1, Q6_K -> Q8_0, and F16 where those do not fit either (rows
 *    not a multiple of 32).
 * use_more_bits(i, n): i < n/8, or i >= 7n/8, or (i - n/8) % 3 == 2. */
#include "gen.h"

#include <stdio.h>
#include <string.h>

static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* tensor_type_fallback: type, or the nearest type whose blocks fit rows of ne0. */
static enum g4_type fit_rows(enum g4_type type, int64_t ne0) {
    if (ne0 % g4_type_info(type)->block_size == 0) return type;
    enum g4_type next = type == G4_TYPE_Q4_K   ? G4_TYPE_Q5_0
                        : type == G4_TYPE_Q5_K ? G4_TYPE_Q5_1
                        : type == G4_TYPE_Q6_K ? G4_TYPE_Q8_0
                                               : type;
    return ne0 % g4_type_info(next)->block_size == 0 ? next : G4_TYPE_F16;
}

/* How many of layers 0..l-1 have an attn_v tensor. */
static int attn_v_before(const gen_config *c, int l) {
    int n = 0;
    for (int j = 0; j < l; j++) n += gen_layer_has_v(c, j);
    return n;
}

enum g4_type gen_q4_k_m_type(const gen_config *c, const gen_tensor *t) {
    const char *name = t->gguf;
    if (t->n_dims < 2 || t->keep_f32) return G4_TYPE_F32;
    if (strstr(name, "per_layer_model_proj")) return c->real ? G4_TYPE_BF16 : G4_TYPE_F32;

    const int64_t ne0 = t->shape[t->n_dims - 1];
    const int n_expert = c->moe ? c->experts : 0;
    int layer = -1;
    sscanf(name, "blk.%d.", &layer);
    enum g4_type type = G4_TYPE_Q4_K;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0) {
        type = ne0 % G4_QK_K == 0 ? G4_TYPE_Q6_K : G4_TYPE_Q8_0;
    } else if (strstr(name, "attn_v.weight")) {
        if (use_more_bits(attn_v_before(c, layer), attn_v_before(c, c->layers))) type = G4_TYPE_Q6_K;
        if (n_expert == 8) type = G4_TYPE_Q8_0;
    } else if (strstr(name, "attn_k.weight")) {
        if (n_expert == 8) type = G4_TYPE_Q8_0;
    } else if (strstr(name, "attn_output.weight")) {
        if (n_expert == 8) type = G4_TYPE_Q5_K;
    } else if (strstr(name, "ffn_down")) {
        /* the layer from the name with several experts; else llama.cpp counts the
         * ffn_down tensors: one a layer, two (dense and experts) with one expert */
        int i = n_expert > 1 || !c->moe ? layer : 2 * layer + (strstr(name, "_exps") != NULL);
        if (use_more_bits(i, c->layers)) type = G4_TYPE_Q6_K;
    }
    return fit_rows(type, ne0);
}
