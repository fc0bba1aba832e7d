/* loader.c: g4_model_load: opens a GGUF file or an HF checkpoint directory,
 * reads the configuration, binds the weights, and owns what it allocated. */
#include "model.h"
#include "quant.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void *g4_model_own(g4_model *m, void *p) {
    if (!p) {
        g4_error("out of memory");
        return NULL;
    }
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **o = realloc(m->owned, cap * sizeof *o);
        if (!o) {
            free(p);
            g4_error("out of memory");
            return NULL;
        }
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return p;
}

void g4_model_free(g4_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    g4_config_free(&m->cfg);
    if (m->is_gguf) g4_gguf_close(&m->gguf);
    else g4_st_close_dir(&m->st);
    free(m);
}

/* The type holding the most bytes of matrices, for display. */
static enum g4_type main_type(const g4_tensor_set *set) {
    uint64_t bytes[G4_TYPE_COUNT] = {0};
    for (size_t i = 0; i < set->n; i++) {
        const g4_tensor *t = &set->tensors[i];
        if (t->n_dims >= 2 && t->type >= 0 && t->type < G4_TYPE_COUNT) bytes[t->type] += t->nbytes;
    }
    int best = 0;
    for (int i = 1; i < G4_TYPE_COUNT; i++)
        if (bytes[i] > bytes[best]) best = i;
    return (enum g4_type)best;
}

static int load_hf(g4_model *m, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (access(path, R_OK) != 0) return g4_error("%s has no readable config.json: not a Hugging Face checkpoint directory", dir);
    if (g4_config_from_hf(&m->cfg, path)) return g4_error_prefix("%s", dir);
    if (g4_st_open_dir(&m->st, dir)) return -1;
    m->format = "safetensors";
    return 0;
}

static int load_gguf(g4_model *m, const char *file) {
    if (g4_gguf_open(&m->gguf, file)) return -1;
    m->is_gguf = true;
    m->format = "gguf";
    return g4_config_from_gguf(&m->cfg, &m->gguf) ? g4_error_prefix("%s", file) : 0;
}

g4_model *g4_model_load(const char *path) {
    g4_error_clear();
    struct stat st;
    if (stat(path, &st) != 0) {
        g4_error("cannot open model %s: no such file or directory", path);
        return NULL;
    }
    g4_model *m = calloc(1, sizeof *m);
    if (!m) {
        g4_error("out of memory");
        return NULL;
    }
    int rc = S_ISDIR(st.st_mode) ? load_hf(m, path) : load_gguf(m, path);
    if (rc == 0 && g4_weights_bind(m)) rc = g4_error_prefix("%s", path);
    if (rc) {
        g4_model_free(m);
        return NULL;
    }
    m->main_type = main_type(m->is_gguf ? &m->gguf.tensors : &m->st.tensors);
    return m;
}

void g4_model_get_info(const g4_model *m, g4_model_info *info) {
    const g4_config *c = &m->cfg;
    const g4_type_traits *tt = g4_type_info(m->main_type);
    *info = (g4_model_info){
        .vocab_size = c->vocab_size, .hidden_size = c->hidden, .n_layers = c->n_layers,
        .n_ctx_train = c->n_ctx_train, .bos_id = c->bos_id, .eos_id = c->eos_id, .pad_id = c->pad_id,
        .n_experts = c->n_experts, .has_ple = c->ple_dim > 0, .n_kv_shared_layers = c->n_kv_shared,
        .n_params = m->n_params, .n_bytes = m->n_bytes, .format = m->format,
        .weight_type = tt ? tt->name : "?",
    };
}
