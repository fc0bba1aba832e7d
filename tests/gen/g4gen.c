/* g4gen.c: command line of g4gen, the random-weight Gemma 4 text model generator.
 * It writes the same weights as a GGUF file or a Hugging Face directory (values
 * depend only on the seed, the tensor's HF name and the element index), in the
 * real Gemma 4 shapes for benchmarks or in tiny shapes for tests. A GGUF holds
 * one type for every matrix, or the per-tensor types of llama.cpp's Q4_K_M
 * (--type q4_k_m; mix.c lists the rules of llama_tensor_get_type_impl it follows).
 *
 * Validation done by hand when this was written (not a test; redo it after changes
 * to the tensor list, the values or the writers). G=build/tests/g4gen, T=2,5,9,17,33:
 *  1. Layout against the shared fixtures: `$G --shape tiny --format hf --out d` gives
 *     config.json equal to fixtures/models/dense-tiny/config.json (also tiny-ple ->
 *     ple-kvshare, tiny-moe -> moe, tiny-keqv --prefix model -> keqv) and a
 *     model.safetensors of the same size; `--format gguf` gives the same metadata
 *     (every key, type and value but general.name/file_type/quantization_version,
 *     incl. 512 tokens and 872 merges cut from the real vocab) and the same tensor
 *     names, shapes, types and offsets as the fixtures' model.gguf (a small Python
 *     GGUF dumper).
 *  2. Same weights in every form: a Python script read the GGUF (f32/f16/bf16) and
 *     the HF dir (1 or 3 shards, either prefix) and found every tensor equal (1-D
 *     tensors after rounding the GGUF's F32 to the HF dtype); also for e2b --vocab 4096.
 *  3. Reference vs peer: for each tiny shape `$G ... --format hf --hf-dtype f32`, then
 *     `python3 shared/reference/gemma4_ref.py d $T ref.f32` (finite, logit std ~4,
 *     range ~30-43) and `lref logits m.gguf $T peer.f32` on the f32 GGUF: max
 *     |peer - ref| <= 0.11% of the logit range for all 7 tiny shapes and for reduced
 *     real shapes (e2b --vocab 512 --hidden 256 --ff 512; e4b/12b/26b-a4b/31b with
 *     --layers 12 and the same), argmax equal everywhere. Every --type loads in the
 *     peer; q8_0/q4_k/q6_k logits agree within ~1% (MoE: a routing flip, up to 7%)
 *     with the reference run on the weights dequantized in numpy from the GGUF
 *     blocks, so the files hold what ggml decodes.
 *  4. Sensitivity: reference on f32 vs f16-rounded weights differs by < 0.5% of
 *     the range up to 60 layers (this is why layer_scalar is in [0.9, 1] and the
 *     q/k norms are scaled; with [0.5, 1] and unit q/k norms a 30-layer PLE model
 *     moved 24%).
 *  5. Real shapes: e2b bf16 GGUF 9.27 GB in 19-30 s (HF 9.26 GB, 12.5 s; 2 cores,
 *     27 MB RSS), loads in the peer (finite logits, std 4.0); e2b q4_k 2.6 GB in
 *     154 s (the reference K-quantizer, 2 threads); e4b/12b/26b-a4b/31b with
 *     --layers 6 --vocab 4096 load in the peer as bf16 and q4_k.
 *  6. The q4_k_m mix (mix.c) against llama.cpp itself: the peer library's
 *     llama_model_quantize(default GGUF, Q4_K_M) gave every tensor the type g4gen's
 *     --type q4_k_m gives it, for the 7 tiny shapes, e2b/e4b (--vocab 512 --hidden
 *     256 --ff 512) and 12b/26b-a4b (also --split-experts)/31b (the same, --layers
 *     12), tiny-q-moe with --experts 1 and 4; all load in the peer. e2b q4_k_m:
 *     3.40 GB in 162 s (2 threads), against 2.60 GB as uniform q4_k. */
#include "gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out) {
    fprintf(out,
        "usage: g4gen --shape NAME --format gguf|hf --out PATH [options]\n"
        "\n"
        "Writes a Gemma 4 text model with random weights. Every format, type, shard\n"
        "count and prefix holds the same underlying f32 values for a given --seed.\n"
        "\n"
        "shapes:\n");
    gen_shape_list(out);
    fprintf(out,
        "\n"
        "output:\n"
        "  --format gguf|hf     a GGUF v3 file, or an HF directory (config.json + safetensors)\n"
        "  --out PATH           the file (gguf) or directory (hf, created if missing)\n"
        "  --type T             gguf: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k\n"
        "                       (default f32 for tiny shapes, bf16 for real ones); matrices whose\n"
        "                       rows are not whole blocks fall back to q8_0, else f16; 1-D tensors\n"
        "                       and the MoE router (ffn_gate_inp) are always f32\n"
        "                       q4_k_m: the types llama.cpp's `llama-quantize ... Q4_K_M` picks\n"
        "                       (src/llama-quant.cpp, llama_tensor_get_type_impl): Q4_K, but Q6_K\n"
        "                       for token_embd and per_layer_token_embd (tied output) and for\n"
        "                       attn_v / ffn_down where use_more_bits (first and last eighth of\n"
        "                       the layers, every third between); 8 experts: attn_v/attn_k Q8_0,\n"
        "                       attn_output Q5_K; per_layer_model_proj kept bf16 (f32 tiny); rows\n"
        "                       not whole blocks: Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, else f16\n"
        "  --hf-dtype f32|f16|bf16  hf: dtype of every tensor (default bf16 real, f32 tiny)\n"
        "  --prefix lm|model    hf: model.language_model.* with the multimodal config.json (lm,\n"
        "                       default) or model.* with a flat text-only config.json (model)\n"
        "  --shards N           hf: N files model-0000i-of-0000N.safetensors + index (default 1:\n"
        "                       model.safetensors)\n"
        "  --seed S             weight seed (default 1)\n"
        "  --vocab-from FILE    gguf: copy tokenizer.* from this vocab GGUF, cut to the vocab size\n"
        "                       (default $G4_SHARED/fixtures/vocab/ggml-vocab-gemma-4.gguf or\n"
        "                       ../shared/... if present; 'none': a synthetic tokenizer)\n"
        "  --split-experts      gguf: MoE experts as ffn_gate_exps + ffn_up_exps (same values)\n"
        "  --as-type T          hf: hold the values a --type T GGUF holds (its quantization\n"
        "                       round trip), e.g. to run the float64 reference on them\n"
        "  --with-vision        hf: add vision/audio tower tensors, which text loaders skip\n"
        "  --threads N          generator threads (default: online CPUs, at most 16)\n"
        "\n"
        "overrides:\n"
        "  --layers N           layer count; layer types re-derived from the shape's pattern\n"
        "                       (last layer full), KV-shared layers kept proportional\n"
        "  --kv-shared N        num_kv_shared_layers\n"
        "  --vocab N  --ctx N  --hidden N  --ff N  --window N\n"
        "  --experts N  --top-k K  --moe-ff N   (MoE shapes)\n");
}

typedef struct {
    const char *name;
    enum g4_type type;
} type_name;

static const type_name gguf_types[] = {
    {"f32", G4_TYPE_F32},   {"f16", G4_TYPE_F16},   {"bf16", G4_TYPE_BF16}, {"q8_0", G4_TYPE_Q8_0},
    {"q4_0", G4_TYPE_Q4_0}, {"q4_1", G4_TYPE_Q4_1}, {"q5_0", G4_TYPE_Q5_0}, {"q5_1", G4_TYPE_Q5_1},
    {"q2_k", G4_TYPE_Q2_K}, {"q3_k", G4_TYPE_Q3_K}, {"q4_k", G4_TYPE_Q4_K}, {"q5_k", G4_TYPE_Q5_K},
    {"q6_k", G4_TYPE_Q6_K},
};

static int parse_type(const char *s, size_t n_allowed, enum g4_type *out) {
    for (size_t i = 0; i < n_allowed; i++)
        if (strcmp(s, gguf_types[i].name) == 0) {
            *out = gguf_types[i].type;
            return 0;
        }
    return -1;
}

/* --type / --as-type: one of gguf_types, or the q4_k_m mix. */
static int parse_types(const char *s, gen_types *out) {
    *out = (gen_types){G4_TYPE_Q4_K, strcmp(s, "q4_k_m") == 0};
    return out->q4_k_m ? 0 : parse_type(s, sizeof gguf_types / sizeof gguf_types[0], &out->type);
}

static int parse_int(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "g4gen: %s needs an integer in %lld..%lld, got '%s'\n", opt, (long long)min,
                (long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

/* --vocab-from default: the real Gemma 4 vocab of the shared fixtures, if present. */
static const char *default_vocab(char *buf, size_t cap) {
    const char *rel = "fixtures/vocab/ggml-vocab-gemma-4.gguf";
    const char *shared = getenv("G4_SHARED");
    if (shared && *shared) {
        snprintf(buf, cap, "%s/%s", shared, rel);
        if (file_exists(buf)) return buf;
    }
    snprintf(buf, cap, "../shared/%s", rel);
    return file_exists(buf) ? buf : NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *shape, *format, *out, *type, *hf_dtype, *prefix, *vocab_from, *as_type;
    int64_t shards, seed, threads;
    bool split_experts, with_vision;
    gen_overrides ov;
} options;

/* Parses argv into o. Returns 0, 1 for --help, -1 on an error (reported). */
static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.shards = -1, .seed = 1, .threads = -1,
                   .ov = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}};
    struct {
        const char *flag;
        const char **str;
        int64_t *num;
        int64_t min, max;
    } opts[] = {
        {"--shape", &o->shape, NULL, 0, 0},       {"--format", &o->format, NULL, 0, 0},
        {"--out", &o->out, NULL, 0, 0},           {"--type", &o->type, NULL, 0, 0},
        {"--hf-dtype", &o->hf_dtype, NULL, 0, 0}, {"--prefix", &o->prefix, NULL, 0, 0},
        {"--vocab-from", &o->vocab_from, NULL, 0, 0}, {"--as-type", &o->as_type, NULL, 0, 0},
        {"--shards", NULL, &o->shards, 1, 99999}, {"--seed", NULL, &o->seed, 0, INT64_MAX},
        {"--threads", NULL, &o->threads, 1, 256},
        {"--vocab", NULL, &o->ov.vocab, 1, INT32_MAX}, {"--ctx", NULL, &o->ov.ctx, 1, INT32_MAX},
        {"--hidden", NULL, &o->ov.hidden, 1, 1 << 20}, {"--ff", NULL, &o->ov.ff, 1, 1 << 22},
        {"--moe-ff", NULL, &o->ov.moe_ff, 1, 1 << 22},
    };
    struct {
        const char *flag;
        int *num;
        int64_t min, max;
    } iopts[] = {
        {"--layers", &o->ov.layers, 1, GEN_MAX_LAYERS}, {"--kv-shared", &o->ov.kv_shared, 0, GEN_MAX_LAYERS},
        {"--window", &o->ov.window, 1, INT32_MAX},      {"--experts", &o->ov.experts, 1, 1 << 16},
        {"--top-k", &o->ov.top_k, 1, 1 << 16},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
        bool known = true;
        if (strcmp(a, "--split-experts") == 0) o->split_experts = true;
        else if (strcmp(a, "--with-vision") == 0) o->with_vision = true;
        else known = false;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !known; k++) {
            if (strcmp(a, opts[k].flag) != 0) continue;
            known = true;
            if (i + 1 >= argc) {
                fprintf(stderr, "g4gen: %s needs a value\n", a);
                return -1;
            }
            const char *v = argv[++i];
            if (opts[k].str) *opts[k].str = v;
            else if (parse_int(a, v, opts[k].min, opts[k].max, opts[k].num) != 0) return -1;
        }
        for (size_t k = 0; k < sizeof iopts / sizeof iopts[0] && !known; k++) {
            if (strcmp(a, iopts[k].flag) != 0) continue;
            known = true;
            int64_t v;
            if (i + 1 >= argc) {
                fprintf(stderr, "g4gen: %s needs a value\n", a);
                return -1;
            }
            if (parse_int(a, argv[++i], iopts[k].min, iopts[k].max, &v) != 0) return -1;
            *iopts[k].num = (int)v;
        }
        if (!known) {
            fprintf(stderr, "g4gen: unknown option '%s' (see g4gen --help)\n", a);
            return -1;
        }
    }
    if (!o->shape || !o->format || !o->out) {
        fprintf(stderr, "g4gen: --shape, --format and --out are required (see g4gen --help)\n");
        return -1;
    }
    return 0;
}

/* Fills the writer options from the parsed command line. */
static int setup_output(const options *o, const gen_config *cfg, bool gguf, gen_output *out) {
    if (gguf && (o->hf_dtype || o->prefix || o->shards >= 0)) {
        fprintf(stderr, "g4gen: --hf-dtype, --prefix and --shards apply to --format hf only\n");
        return -1;
    }
    if (!gguf && (o->type || o->vocab_from || o->split_experts)) {
        fprintf(stderr, "g4gen: --type, --vocab-from and --split-experts apply to --format gguf only\n");
        return -1;
    }
    if (gguf && (o->as_type || o->with_vision)) {
        fprintf(stderr, "g4gen: --as-type and --with-vision apply to --format hf only\n");
        return -1;
    }
    out->as_type = (gen_types){G4_TYPE_F32, false};
    if (o->as_type && parse_types(o->as_type, &out->as_type) != 0) {
        fprintf(stderr, "g4gen: unknown --as-type '%s' (see g4gen --help)\n", o->as_type);
        return -1;
    }
    out->type = (gen_types){cfg->real ? G4_TYPE_BF16 : G4_TYPE_F32, false};
    out->type_name = cfg->real ? "bf16" : "f32";
    if (o->type) {
        if (parse_types(o->type, &out->type) != 0) {
            fprintf(stderr, "g4gen: unknown --type '%s' (see g4gen --help)\n", o->type);
            return -1;
        }
        out->type_name = o->type;
    }
    out->hf_dtype = cfg->real ? G4_TYPE_BF16 : G4_TYPE_F32;
    if (o->hf_dtype && parse_type(o->hf_dtype, 3, &out->hf_dtype) != 0) {
        fprintf(stderr, "g4gen: --hf-dtype must be f32, f16 or bf16\n");
        return -1;
    }
    const char *prefix = o->prefix ? o->prefix : "lm";
    if (strcmp(prefix, "lm") != 0 && strcmp(prefix, "model") != 0) {
        fprintf(stderr, "g4gen: --prefix must be lm or model\n");
        return -1;
    }
    out->multimodal = strcmp(prefix, "lm") == 0;
    out->prefix = out->multimodal ? "model.language_model." : "model.";
    out->shards = o->shards > 0 ? (int)o->shards : 1;
    return 0;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        if (rc > 0) usage(stdout);
        return rc > 0 ? 0 : 2;
    }
    bool gguf = strcmp(o.format, "gguf") == 0;
    if (!gguf && strcmp(o.format, "hf") != 0) {
        fprintf(stderr, "g4gen: --format must be gguf or hf\n");
        return 2;
    }
    gen_config cfg;
    if (gen_shape_load(&cfg, o.shape, &o.ov) != 0) return 2;
    gen_output out = {.cfg = &cfg, .seed = (uint64_t)o.seed};
    if (setup_output(&o, &cfg, gguf, &out) != 0) return 2;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    out.threads = o.threads > 0 ? (int)o.threads : ncpu > 16 ? 16 : ncpu > 0 ? (int)ncpu : 1;

    gen_tensor_list tl;
    if (gen_tensors_build(&tl, &cfg, o.split_experts, o.with_vision) != 0) return 1;
    out.tensors = &tl;
    gen_vocab *vocab = NULL;
    if (gguf) {
        char buf[4096];
        const char *vpath = o.vocab_from ? o.vocab_from : default_vocab(buf, sizeof buf);
        if (vpath && strcmp(vpath, "none") == 0) vpath = NULL;
        if (!vpath && !o.vocab_from)
            fprintf(stderr, "g4gen: no vocab file found (set G4_SHARED); writing a synthetic tokenizer\n");
        vocab = vpath ? gen_vocab_load(vpath, cfg.vocab) : gen_vocab_synthetic(cfg.vocab);
        if (!vocab) {
            gen_tensors_free(&tl);
            return 1;
        }
        out.vocab = vocab;
    }

    double t0 = now();
    rc = gguf ? gen_write_gguf(&out, o.out) : gen_write_hf(&out, o.out);
    double secs = now() - t0;

    uint64_t params = 0, bytes = 0, type_bytes[G4_TYPE_COUNT] = {0};
    int type_count[G4_TYPE_COUNT] = {0};
    for (size_t i = 0; i < tl.n; i++) {
        const gen_tensor *t = &tl.t[i];
        if (!t->hf[0] || (gguf && t->hf_only)) continue;
        enum g4_type type = gguf ? gen_tensor_type(&cfg, t, out.type) : out.hf_dtype;
        uint64_t b = gen_tensor_bytes(t, type);
        params += (uint64_t)gen_tensor_nelem(t);
        bytes += b;
        type_bytes[type] += b;
        type_count[type]++;
    }
    const char *dtype = gguf ? out.type_name
                        : out.hf_dtype == G4_TYPE_F32 ? "f32"
                        : out.hf_dtype == G4_TYPE_F16 ? "f16" : "bf16";
    if (rc == 0) {
        fprintf(stderr, "g4gen: %s %s %s: %zu tensors, %.2f M params, %.2f MB of weights -> %s (%.1f s)\n",
                cfg.shape, o.format, dtype, tl.n, (double)params * 1e-6, (double)bytes * 1e-6, o.out, secs);
        fprintf(stderr, "g4gen: weights by type:");
        for (int type = 0; type < G4_TYPE_COUNT; type++)
            if (type_count[type])
                fprintf(stderr, " %s %.2f MB (%d)", g4_type_info(type)->name, (double)type_bytes[type] * 1e-6,
                        type_count[type]);
        fprintf(stderr, "\n");
    }
    gen_vocab_free(vocab);
    gen_tensors_free(&tl);
    return rc == 0 ? 0 : 1;
}
