/* loader.c: g4_model_load: opens a GGUF file or an HF checkpoint directory,
 * reads the configuration, binds the weights, and owns what it allocated. */
#include "model.h"
#include "quant.h"
#include "base/error.h"
#include "run/sampler.h"
#include "text/tokenizer.h"

#include <jansson.h>

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
    g4_vocab_free(m->vocab);
    free(m->chat_template);
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

/* The chat template of an HF directory: chat_template.jinja, else the
 * "chat_template" of tokenizer_config.json (a string, or a list of named
 * templates of which "default" is taken). NULL without one. */
static char *hf_chat_template(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    FILE *f = fopen(path, "rb");
    if (f) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        char buf[65536];
        size_t n;
        while (out && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, out);
        fclose(f);
        if (out) fclose(out);
        return text;
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL), *t = json_object_get(cfg, "chat_template");
    char *text = NULL;
    if (json_is_string(t)) text = strdup(json_string_value(t));
    for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++) {
        json_t *e = json_array_get(t, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *tpl = json_string_value(json_object_get(e, "template"));
        if (name && tpl && strcmp(name, "default") == 0) text = strdup(tpl);
    }
    json_decref(cfg);
    return text;
}

static int load_hf(g4_model *m, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (access(path, R_OK) != 0) return g4_error("%s has no readable config.json: not a Hugging Face checkpoint directory", dir);
    if (g4_config_from_hf(&m->cfg, path)) return g4_error_prefix("%s", dir);
    if (g4_st_open_dir(&m->st, dir)) return -1;
    m->format = "safetensors";
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (access(path, R_OK) == 0 && !(m->vocab = g4_vocab_from_hf_dir(dir))) return -1;
    m->chat_template = hf_chat_template(dir);
    return g4_sampling_from_hf_dir(dir, &m->sampling);
}

static int load_gguf(g4_model *m, const char *file) {
    if (g4_gguf_open(&m->gguf, file)) return -1;
    m->is_gguf = true;
    m->format = "gguf";
    if (g4_config_from_gguf(&m->cfg, &m->gguf)) return g4_error_prefix("%s", file);
    if (g4_gguf_find(&m->gguf, "tokenizer.ggml.model") && !(m->vocab = g4_vocab_from_gguf(&m->gguf)))
        return g4_error_prefix("%s", file);
    const g4_gguf_kv *tpl = g4_gguf_find(&m->gguf, "tokenizer.chat_template");
    if (tpl && tpl->type == G4_GGUF_STRING && !(m->chat_template = strndup(tpl->str, tpl->str_len)))
        return g4_error("out of memory");
    return g4_sampling_from_gguf(&m->gguf, &m->sampling) ? g4_error_prefix("%s", file) : 0;
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
    m->sampling = g4_sampler_default_params();
    int rc = S_ISDIR(st.st_mode) ? load_hf(m, path) : load_gguf(m, path);
    if (rc == 0 && (g4_weights_bind(m) || g4_weights_repack(m))) rc = g4_error_prefix("%s", path);
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

const g4_vocab *g4_model_vocab(const g4_model *m) { return m->vocab; }

g4_sampler_params g4_model_sampler_params(const g4_model *m) { return m->sampling; }

/* The large canonical variant (pre-closed thought channel when thinking is off)
 * is the one the converter gives 26B-A4B and 31B: the MoE model and the widest. */
const char *g4_model_chat_template(const g4_model *m) {
    if (m->chat_template) return m->chat_template;
    return g4_chat_template_builtin(m->cfg.n_experts > 0 || m->cfg.hidden >= 5000);
}
