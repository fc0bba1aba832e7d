/* st_write.c: writes a generated model as a Hugging Face directory: config.json
 * (multimodal Gemma4ForConditionalGeneration layout or flat text-only), and the
 * weights as model.safetensors or N shards balanced by bytes plus
 * model.safetensors.index.json. Tensor names and shapes follow spec §3.2. */
#include "gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dtype_name(enum g4_type t) {
    return t == G4_TYPE_F32 ? "F32" : t == G4_TYPE_F16 ? "F16" : "BF16";
}

/* ---- config.json ------------------------------------------------------------------ */

static void write_text_config(FILE *f, const gen_config *c, const char *in) {
    fprintf(f, "%s\"model_type\": \"gemma4_text\",\n", in);
    fprintf(f, "%s\"vocab_size\": %lld,\n", in, (long long)c->vocab);
    fprintf(f, "%s\"hidden_size\": %lld,\n", in, (long long)c->hidden);
    fprintf(f, "%s\"intermediate_size\": %lld,\n", in, (long long)c->ff);
    fprintf(f, "%s\"num_hidden_layers\": %d,\n", in, c->layers);
    fprintf(f, "%s\"num_attention_heads\": %d,\n", in, c->heads);
    fprintf(f, "%s\"num_key_value_heads\": %d,\n", in, c->kv_heads);
    fprintf(f, "%s\"head_dim\": %d,\n", in, c->head_dim);
    fprintf(f, "%s\"global_head_dim\": %d,\n", in, c->global_head_dim);
    fprintf(f, "%s\"hidden_activation\": \"gelu_pytorch_tanh\",\n", in);
    fprintf(f, "%s\"max_position_embeddings\": %lld,\n", in, (long long)c->ctx);
    fprintf(f, "%s\"rms_norm_eps\": 1e-06,\n", in);
    fprintf(f, "%s\"tie_word_embeddings\": true,\n", in);
    fprintf(f, "%s\"pad_token_id\": 0,\n%s\"eos_token_id\": 1,\n%s\"bos_token_id\": 2,\n", in, in, in);
    fprintf(f, "%s\"rope_parameters\": {\n", in);
    fprintf(f, "%s  \"sliding_attention\": {\n", in);
    fprintf(f, "%s    \"rope_type\": \"default\",\n%s    \"rope_theta\": 10000.0\n%s  },\n", in, in, in);
    fprintf(f, "%s  \"full_attention\": {\n", in);
    fprintf(f, "%s    \"rope_type\": \"proportional\",\n", in);
    fprintf(f, "%s    \"partial_rotary_factor\": 0.25,\n", in);
    fprintf(f, "%s    \"rope_theta\": 1000000.0\n%s  }\n%s},\n", in, in, in);
    fprintf(f, "%s\"attention_bias\": false,\n", in);
    fprintf(f, "%s\"sliding_window\": %d,\n", in, c->window);
    fprintf(f, "%s\"layer_types\": [\n", in);
    for (int l = 0; l < c->layers; l++)
        fprintf(f, "%s  \"%s\"%s\n", in, c->full[l] ? "full_attention" : "sliding_attention",
                l + 1 < c->layers ? "," : "");
    fprintf(f, "%s],\n", in);
    fprintf(f, "%s\"final_logit_softcapping\": 30.0,\n", in);
    fprintf(f, "%s\"vocab_size_per_layer_input\": %lld,\n", in, (long long)c->vocab);
    fprintf(f, "%s\"hidden_size_per_layer_input\": %d,\n", in, c->ple);
    fprintf(f, "%s\"attention_k_eq_v\": %s,\n", in, c->k_eq_v ? "true" : "false");
    if (c->global_kv_heads)
        fprintf(f, "%s\"num_global_key_value_heads\": %d,\n", in, c->global_kv_heads);
    else
        fprintf(f, "%s\"num_global_key_value_heads\": null,\n", in);
    fprintf(f, "%s\"num_kv_shared_layers\": %d,\n", in, c->kv_shared);
    fprintf(f, "%s\"enable_moe_block\": %s,\n", in, c->moe ? "true" : "false");
    if (c->vision_bidir) fprintf(f, "%s\"use_bidirectional_attention\": \"vision\",\n", in);
    fprintf(f, "%s\"use_double_wide_mlp\": %s", in, c->double_wide ? "true" : "false");
    if (c->moe) {
        fprintf(f, ",\n%s\"num_experts\": %d,\n%s\"top_k_experts\": %d,\n", in, c->experts, in, c->top_k);
        fprintf(f, "%s\"moe_intermediate_size\": %lld", in, (long long)c->moe_ff);
    }
}

static int write_config(const gen_output *o, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    if (o->multimodal) {
        fprintf(f, "{\n  \"architectures\": [\n    \"Gemma4ForConditionalGeneration\"\n  ],\n");
        fprintf(f, "  \"model_type\": \"gemma4\",\n  \"text_config\": {\n");
        write_text_config(f, o->cfg, "    ");
        fprintf(f, "\n  },\n  \"eos_token_id\": [\n    1,\n    106\n  ],\n");
        fprintf(f, "  \"tie_word_embeddings\": true\n}\n");
    } else {
        fprintf(f, "{\n");
        write_text_config(f, o->cfg, "  ");
        fprintf(f, ",\n  \"architectures\": [\n    \"Gemma4ForCausalLM\"\n  ]\n}\n");
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- safetensors ------------------------------------------------------------------- */

/* Contiguous shards balanced by bytes: tensor i goes to the shard its byte midpoint
 * falls in, never skipping a shard and leaving enough tensors for the rest. */
static void assign_shards(const gen_output *o, const size_t *idx, size_t n, int *shard) {
    uint64_t total = 0, cum = 0;
    for (size_t i = 0; i < n; i++) total += gen_tensor_bytes(&o->tensors->t[idx[i]], o->hf_dtype);
    int prev = -1;
    const int N = o->shards;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = gen_tensor_bytes(&o->tensors->t[idx[i]], o->hf_dtype);
        double mid = (double)cum + (double)b / 2.0;
        int s = total ? (int)(N * mid / (double)total) : 0;
        int lo = prev > N - (int)(n - i) ? prev : N - (int)(n - i);
        int hi = prev + 1 < N - 1 ? prev + 1 : N - 1;
        if (lo < 0) lo = 0;
        s = s < lo ? lo : s > hi ? hi : s;
        shard[i] = prev = s;
        cum += b;
    }
}

static int write_shard(const gen_output *o, const char *path, const size_t *idx, const int *shard,
                       size_t n, int s) {
    char *hdr = NULL;
    size_t hdr_size = 0;
    FILE *h = open_memstream(&hdr, &hdr_size);
    if (!h) return -1;
    uint64_t off = 0;
    fputc('{', h);
    for (size_t i = 0; i < n; i++) {
        if (shard[i] != s) continue;
        const gen_tensor *t = &o->tensors->t[idx[i]];
        uint64_t b = gen_tensor_bytes(t, o->hf_dtype);
        fprintf(h, "\"%s%s\": {\"dtype\": \"%s\", \"shape\": [", t->hf_only ? "" : o->prefix, t->hf,
                dtype_name(o->hf_dtype));
        for (int d = 0; d < t->n_dims; d++) fprintf(h, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        fprintf(h, "], \"data_offsets\": [%llu, %llu]}, ", (unsigned long long)off,
                (unsigned long long)(off + b));
        off += b;
    }
    fprintf(h, "\"__metadata__\": {\"format\": \"pt\"}}");
    while (ftello(h) % 8) fputc(' ', h); /* data starts 8-aligned */
    if (fclose(h) != 0) {
        free(hdr);
        return -1;
    }

    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        free(hdr);
        return -1;
    }
    int rc = gen_put_u64(f, hdr_size) | gen_put(f, hdr, hdr_size);
    free(hdr);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (shard[i] == s)
        {
            const gen_tensor *t = &o->tensors->t[idx[i]];
            enum g4_type via = gen_value_type(o->cfg, t, o->as_type);
            rc = gen_tensor_write(f, t, o->hf_dtype, via == o->hf_dtype ? G4_TYPE_F32 : via, o->seed, o->threads);
        }
    if (fclose(f) != 0) rc = -1;
    if (rc != 0) fprintf(stderr, "g4gen: writing %s failed\n", path);
    return rc;
}

static int write_index(const gen_output *o, const char *path, const size_t *idx, const int *shard,
                       size_t n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += gen_tensor_bytes(&o->tensors->t[idx[i]], o->hf_dtype);
    fprintf(f, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {\n",
            (unsigned long long)total);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "    \"%s%s\": \"model-%05d-of-%05d.safetensors\"%s\n",
                o->tensors->t[idx[i]].hf_only ? "" : o->prefix, o->tensors->t[idx[i]].hf, shard[i] + 1, o->shards,
                i + 1 < n ? "," : "");
    fprintf(f, "  }\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

int gen_write_hf(const gen_output *o, const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return -1;
    }
    size_t n = 0, cap = o->tensors->n;
    size_t *idx = malloc((cap ? cap : 1) * sizeof *idx);
    int *shard = malloc((cap ? cap : 1) * sizeof *shard);
    char path[4096];
    int rc = idx && shard ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < cap; i++)
        if (o->tensors->t[i].hf[0]) idx[n++] = i; /* rope_freqs is GGUF-only */
    if (rc == 0 && (size_t)o->shards > n) {
        fprintf(stderr, "g4gen: --shards %d exceeds the %zu tensors\n", o->shards, n);
        rc = -1;
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = write_config(o, path);
    }
    if (rc == 0 && o->shards == 1) {
        for (size_t i = 0; i < n; i++) shard[i] = 0;
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        unlink(path); /* a stale index would shadow the single file */
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = write_shard(o, path, idx, shard, n, 0);
    } else if (rc == 0) {
        assign_shards(o, idx, n, shard);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        unlink(path);
        for (int s = 0; s < o->shards && rc == 0; s++) {
            snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, o->shards);
            rc = write_shard(o, path, idx, shard, n, s);
        }
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (rc == 0) rc = write_index(o, path, idx, shard, n);
    }
    free(shard);
    free(idx);
    return rc;
}
