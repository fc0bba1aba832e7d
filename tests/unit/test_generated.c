/* test_generated.c: models written by g4gen. The same weights stored as GGUF and
 * as an HF directory (either prefix, sharded or not) give identical logits;
 * quantized GGUFs stay within a measured bound of the f32 logits; --type q4_k_m
 * gives each tensor the type llama.cpp's Q4_K_M gives it. */
#include "testutil.h"
#include "modelutil.h"
#include "gemma4.h"
#include "cpu/dot.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/quant.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TOK 40

static const char *shapes[] = {"tiny", "tiny-ple", "tiny-keqv", "tiny-moe", "tiny-q", "tiny-q-ple", "tiny-q-moe"};

/* Writes a model with g4gen (cached by its arguments) and returns its path. */
static const char *generate(const char *shape, const char *format, const char *extra) {
    static char path[8][4096];
    static int next;
    char *p = path[next++ & 7];
    char tag[256];
    snprintf(tag, sizeof tag, "%s-%s%s", shape, format, extra);
    for (char *c = tag; *c; c++)
        if (*c == ' ' || *c == '-') *c = '_';
    snprintf(p, 4096, "%s/%s%s", tu_tmpdir(), tag, strcmp(format, "gguf") ? "" : ".gguf");
    if (tu_system("%s --shape %s --format %s --out %s %s >/dev/null", tu_gen(), shape, format, p, extra) != 0)
        fail_msg("g4gen --shape %s --format %s %s failed", shape, format, extra);
    return p;
}

static float *logits_of(const char *path, int *vocab) {
    g4_model *m = g4_model_load(path);
    if (!m) fail_msg("%s", g4_last_error());
    g4_model_info info;
    g4_model_get_info(m, &info);
    *vocab = info.vocab_size;
    int32_t tok[N_TOK];
    mu_random_tokens(tok, N_TOK, info.vocab_size, 3);
    tok[0] = 2;
    float *l = mu_eval(m, tok, N_TOK, 0, 0);
    assert_non_null(l);
    g4_model_free(m);
    return l;
}

/* Same weights must give the same logits: bit-identical when the tensors are
 * stored alike; within tol when a tensor's storage (and so its kernel, e.g.
 * BLAS for f32 or the row loop for f16) or a matrix's split differs. */
static void expect_same(const char *what, const char *a, const char *b, double tol) {
    int va, vb;
    float *la = logits_of(a, &va), *lb = logits_of(b, &vb);
    assert_int_equal(va, vb);
    double d = mu_max_diff(la, lb, (size_t)N_TOK * va);
    printf("# %-40s max diff %g\n", what, d);
    assert_true(d <= tol);
    free(la);
    free(lb);
}

static void test_gguf_equals_hf(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s: gguf f32 = hf f32", shapes[i]);
        expect_same(what, generate(shapes[i], "gguf", " --type f32"), generate(shapes[i], "hf", " --hf-dtype f32"), 0);
    }
    expect_same("tiny-ple: gguf bf16 = hf bf16", generate("tiny-ple", "gguf", " --type bf16"),
                generate("tiny-ple", "hf", " --hf-dtype bf16"), 0);
    /* the GGUF keeps the MoE router in f32 (f16 values), the HF file in f16 */
    expect_same("tiny-moe: gguf f16 = hf f16", generate("tiny-moe", "gguf", " --type f16"),
                generate("tiny-moe", "hf", " --hf-dtype f16"), 1e-4);
}

/* MoE experts as one fused gate_up tensor or as separate gate and up tensors;
 * HF directories that also hold vision/audio tower tensors. */
static void test_layout_variants(void **state) {
    (void)state;
    expect_same("tiny-moe: split experts = fused (f32, BLAS)", generate("tiny-moe", "gguf", ""),
                generate("tiny-moe", "gguf", " --split-experts"), 1e-4);
    expect_same("tiny-q-moe q4_k: split experts = fused", generate("tiny-q-moe", "gguf", " --type q4_k"),
                generate("tiny-q-moe", "gguf", " --type q4_k --split-experts"), 0);
    expect_same("tiny-ple: vision/audio tensors skipped", generate("tiny-ple", "hf", ""),
                generate("tiny-ple", "hf", " --with-vision --shards 2"), 0);
}

static void test_hf_layouts(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const char *base = generate(shapes[i], "hf", " --hf-dtype f32");
        char what[128];
        snprintf(what, sizeof what, "%s: prefix model. = language_model.", shapes[i]);
        expect_same(what, base, generate(shapes[i], "hf", " --hf-dtype f32 --prefix model"), 0);
        snprintf(what, sizeof what, "%s: 3 shards = 1 file", shapes[i]);
        expect_same(what, base, generate(shapes[i], "hf", " --hf-dtype f32 --shards 3"), 0);
    }
}

/* Quantized logits against f32 logits of the same weights: the RMS difference
 * relative to the spread (std) of the f32 logits, and how often the argmax
 * survives. Random weights have no structure for quantization to preserve, so
 * the errors are far larger than on trained models; the bounds are the values
 * measured over the three shapes with about 1.5x margin. (Exactness of the
 * quantized paths is checked against the float64 reference elsewhere.) */
static void test_quantized_close_to_f32(void **state) {
    (void)state;
    static const struct { const char *type; double max_rel; double min_argmax; } types[] = {
        {"f16", 0.005, 1.0}, {"bf16", 0.15, 0.9}, {"q8_0", 0.2, 0.85}, {"q6_k", 0.45, 0}, {"q5_k", 0.6, 0},
        {"q5_0", 0.6, 0},    {"q5_1", 0.6, 0},    {"q4_k_m", 0.7, 0},  {"q4_k", 0.75, 0}, {"q4_0", 0.8, 0},
        {"q4_1", 0.8, 0},    {"q3_k", 1.2, 0},    {"q2_k", 1.6, 0},
    };
    const char *qshapes[] = {"tiny-q", "tiny-q-ple", "tiny-q-moe"};
    int failures = 0;
    for (size_t s = 0; s < 3; s++) {
        int V;
        float *ref = logits_of(generate(qshapes[s], "gguf", " --type f32"), &V);
        double mean = 0, var = 0;
        size_t n = (size_t)N_TOK * V;
        for (size_t i = 0; i < n; i++) mean += ref[i];
        mean /= n;
        for (size_t i = 0; i < n; i++) var += (ref[i] - mean) * (ref[i] - mean);
        double std = sqrt(var / n);
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
            char extra[64];
            snprintf(extra, sizeof extra, " --type %s", types[t].type);
            int Vq;
            float *q = logits_of(generate(qshapes[s], "gguf", extra), &Vq);
            double sq = 0;
            for (size_t i = 0; i < n; i++) sq += (double)(q[i] - ref[i]) * (q[i] - ref[i]);
            double rel = sqrt(sq / n) / std, rel_max = mu_max_diff(q, ref, n) / std;
            int same = 0;
            for (int i = 0; i < N_TOK; i++) same += g4_argmax(q + (size_t)i * V, V) == g4_argmax(ref + (size_t)i * V, V);
            printf("# %-11s %-5s rms(diff)/std %.4f, max|diff|/std %.3f (std %.2f), argmax agreement %d/%d\n", qshapes[s],
                   types[t].type, rel, rel_max, std, same, N_TOK);
            if (rel > types[t].max_rel || same < types[t].min_argmax * N_TOK) {
                printf("#   ^ outside the bound (%.2f, %.0f%%)\n", types[t].max_rel, 100 * types[t].min_argmax);
                failures++;
            }
            free(q);
        }
        free(ref);
    }
    assert_int_equal(failures, 0);
}

/* Logits of the model at path, prompt all at once (AMX tiles where the CPU has them)
 * and one token at a time (the dot kernels); whether its Q8_0 matrices were repacked
 * (layer 0's attn_q as the sample) in *repacked. */
static float *logits_both_ways(const char *path, int *vocab, bool *repacked) {
    g4_model *m = g4_model_load(path);
    if (!m) fail_msg("%s", g4_last_error());
    g4_model_info info;
    g4_model_get_info(m, &info);
    *vocab = info.vocab_size;
    *repacked = m->w.layer[0].wq.type == G4_TYPE_Q8_0_R16;
    int32_t tok[N_TOK];
    mu_random_tokens(tok, N_TOK, info.vocab_size, 3);
    tok[0] = 2; /* as logits_of */
    float *all = mu_eval(m, tok, N_TOK, 0, 0), *single = mu_eval(m, tok, N_TOK, 1, 0);
    assert_true(all && single);
    float *both = malloc(sizeof(float) * 2 * N_TOK * (size_t)info.vocab_size);
    assert_non_null(both);
    memcpy(both, all, sizeof(float) * N_TOK * (size_t)info.vocab_size);
    memcpy(both + (size_t)N_TOK * info.vocab_size, single, sizeof(float) * N_TOK * (size_t)info.vocab_size);
    free(all);
    free(single);
    g4_model_free(m);
    return both;
}

/* RMS of a - b over the standard deviation of b (n values). */
static double rms_rel(const float *a, const float *b, size_t n) {
    double mean = 0, var = 0, sq = 0;
    for (size_t i = 0; i < n; i++) mean += b[i];
    mean /= n;
    for (size_t i = 0; i < n; i++) {
        var += (b[i] - mean) * (b[i] - mean);
        sq += (double)(a[i] - b[i]) * (a[i] - b[i]);
    }
    return sqrt(sq / var);
}

/* Q8_0 models load with their matrices repacked into 16-row groups (Q8_0_R16) where
 * the CPU has the kernel. Against the matrices as the file has them (G4_NO_REPACK=1):
 * the prompt at once on the dense models (every product on bf16 tiles, unpacked to
 * the same values) gives the same bits; token by token (the dot kernels, whose float
 * order differs from the Q8_0 kernel's), and with the MoE model's experts of few
 * tokens, the logits stay within test_quantized_close_to_f32's Q8_0 bound of the f32
 * logits of the same weights. (The activations' 8-bit rounding turns a last-bit
 * difference into a flip of a quant: the two orders differ about as much as Q8_0's
 * own batched and token-by-token logits do, printed alongside.) */
static void test_q8_0_repacked(void **state) {
    (void)state;
    const char *qshapes[] = {"tiny-q", "tiny-q-ple", "tiny-q-moe"};
    for (size_t s = 0; s < 3; s++) {
        int V, V_plain, V_f32;
        bool repacked, repacked_plain;
        float *f32 = logits_of(generate(qshapes[s], "gguf", " --type f32"), &V_f32);
        const char *path = generate(qshapes[s], "gguf", " --type q8_0");
        float *got = logits_both_ways(path, &V, &repacked);
        setenv("G4_NO_REPACK", "1", 1);
        float *want = logits_both_ways(path, &V_plain, &repacked_plain);
        unsetenv("G4_NO_REPACK");
        assert_true(V == V_plain && V == V_f32);
        assert_false(repacked_plain);
        assert_true(repacked == (g4k_dot_avx512(G4_TYPE_Q8_0_R16) != NULL));
        const size_t n = (size_t)N_TOK * V;
        if (strcmp(qshapes[s], "tiny-q-moe") != 0) assert_memory_equal(got, want, n * sizeof *got);
        for (int way = 0; way < 2; way++) {
            const float *l = got + way * n, *l_plain = want + way * n;
            int same = 0;
            for (int i = 0; i < N_TOK; i++) same += g4_argmax(l + (size_t)i * V, V) == g4_argmax(f32 + (size_t)i * V, V);
            const double rel = rms_rel(l, f32, n);
            printf("# %-11s q8_0 repacked %s, %-16s rms(diff)/std vs f32 %.4f (unrepacked %.4f), argmax agreement "
                   "%d/%d; vs unrepacked %.4f\n", qshapes[s], repacked ? "yes" : "no", way ? "token by token:" : "batched:",
                   rel, rms_rel(l_plain, f32, n), same, N_TOK, rms_rel(l, l_plain, n));
            assert_true(rel <= 0.2 && same >= 0.85 * N_TOK);
        }
        printf("# %-11s q8_0 unrepacked, batched vs token by token: %.4f\n", qshapes[s], rms_rel(want, want + n, n));
        free(f32);
        free(got);
        free(want);
    }
}

/* Fails unless the tensor named by fmt in g has type want (as ggml names it;
 * "absent": no such tensor). */
static void expect_type(const g4_gguf *g, const char *want, const char *fmt, ...) {
    char name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const g4_tensor *t = g4_tensor_set_find(&g->tensors, name);
    const char *got = t ? g4_type_info(t->type)->name : "absent";
    if (strcmp(got, want) != 0) fail_msg("%s is %s, llama.cpp's Q4_K_M gives %s", name, got, want);
}

/* Whether x is in list, which ends with -1. */
static bool has(const int *list, int x) {
    for (; *list >= 0; list++)
        if (*list == x) return true;
    return false;
}

/* Writes a --type q4_k_m GGUF and opens it as g; general.file_type must be
 * LLAMA_FTYPE_MOSTLY_Q4_K_M. Returns its path. */
static const char *open_q4_k_m(g4_gguf *g, const char *shape, const char *extra) {
    char args[128];
    snprintf(args, sizeof args, " --type q4_k_m%s", extra);
    const char *path = generate(shape, "gguf", args);
    if (g4_gguf_open(g, path) != 0) fail_msg("%s", g4_last_error());
    uint32_t file_type = 0;
    assert_int_equal(g4_gguf_get_u32(g, "general.file_type", &file_type), 1);
    assert_int_equal(file_type, 15);
    return path;
}

/* --type q4_k_m against the types llama.cpp's Q4_K_M picks (the lists are what
 * the peer's llama_model_quantize gave for the same models): an E2B layout (35
 * layers, attn_v in the 15 that are not KV-shared), a model of 8 experts, and
 * rows that are not whole Q4_K/Q6_K blocks. */
static void test_q4_k_m_types(void **state) {
    (void)state;
    g4_gguf g;
    const char *e2b = open_q4_k_m(&g, "e2b", " --vocab 512 --hidden 256 --ff 512");
    static const int attn_v_q6[] = {0, 3, 6, 9, 12, 13, 14, -1};
    static const int ffn_down_q6[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31, 32, 33, 34, -1};
    expect_type(&g, "Q6_K", "token_embd.weight");
    expect_type(&g, "Q6_K", "per_layer_token_embd.weight");
    expect_type(&g, "BF16", "per_layer_model_proj.weight");
    expect_type(&g, "F32", "per_layer_proj_norm.weight");
    expect_type(&g, "F32", "output_norm.weight");
    for (int l = 0; l < 35; l++) {
        const char *v = l >= 15 ? "absent" : has(attn_v_q6, l) ? "Q6_K" : "Q4_K";
        expect_type(&g, v, "blk.%d.attn_v.weight", l);
        expect_type(&g, has(ffn_down_q6, l) ? "Q6_K" : "Q4_K", "blk.%d.ffn_down.weight", l);
        expect_type(&g, "Q4_K", "blk.%d.attn_q.weight", l);
        expect_type(&g, "Q4_K", "blk.%d.attn_output.weight", l);
        expect_type(&g, "Q4_K", "blk.%d.ffn_gate.weight", l);
        expect_type(&g, "Q4_K", "blk.%d.ffn_up.weight", l);
        expect_type(&g, "Q4_K", "blk.%d.inp_gate.weight", l);
        expect_type(&g, "Q4_K", "blk.%d.proj.weight", l);
        expect_type(&g, "F32", "blk.%d.attn_norm.weight", l);
        expect_type(&g, "F32", "blk.%d.layer_output_scale.weight", l);
    }
    expect_type(&g, "Q4_K", "blk.0.attn_k.weight");
    g4_gguf_close(&g);
    int V;
    float *logits = logits_of(e2b, &V); /* the mixed types (BF16 among them) load and run */
    for (size_t i = 0; i < (size_t)N_TOK * V; i++) assert_true(isfinite(logits[i]));
    free(logits);

    /* exactly 8 experts: attn_k/attn_v Q8_0, attn_output Q5_K; the router stays F32 */
    open_q4_k_m(&g, "tiny-q-moe", "");
    expect_type(&g, "Q8_0", "blk.0.attn_k.weight");
    expect_type(&g, "Q8_0", "blk.0.attn_v.weight");
    expect_type(&g, "Q5_K", "blk.0.attn_output.weight");
    expect_type(&g, "F32", "blk.0.ffn_gate_inp.weight");
    expect_type(&g, "Q4_K", "blk.0.ffn_gate_up_exps.weight");
    expect_type(&g, "Q4_K", "blk.1.ffn_down_exps.weight");
    expect_type(&g, "Q6_K", "blk.2.ffn_down_exps.weight");
    expect_type(&g, "Q6_K", "blk.2.ffn_down.weight");
    g4_gguf_close(&g);

    /* H 64, PLE 8: Q4_K -> Q5_0, Q6_K -> Q8_0, and F16 for rows of 8 or 80 */
    open_q4_k_m(&g, "tiny-ple", "");
    expect_type(&g, "Q8_0", "token_embd.weight");
    expect_type(&g, "F16", "per_layer_token_embd.weight");
    expect_type(&g, "F32", "per_layer_model_proj.weight");
    expect_type(&g, "Q5_0", "blk.0.attn_q.weight");
    expect_type(&g, "Q8_0", "blk.0.ffn_down.weight");
    expect_type(&g, "Q5_0", "blk.1.ffn_down.weight");
    expect_type(&g, "F16", "blk.0.proj.weight");
    g4_gguf_close(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_equals_hf),
        cmocka_unit_test(test_hf_layouts),
        cmocka_unit_test(test_layout_variants),
        cmocka_unit_test(test_quantized_close_to_f32),
        cmocka_unit_test(test_q8_0_repacked),
        cmocka_unit_test(test_q4_k_m_types),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_system("rm -rf %s", tu_tmpdir());
    return rc;
}
