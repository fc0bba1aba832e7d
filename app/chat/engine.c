/* engine.c: the chat engine's lifecycle and getters: loading the model and
 * creating its context (chat_engine_open/close), the model's name and context
 * use for a status bar, the cancel flag, default settings and finish-reason
 * names. A turn itself (render, reuse, evaluate, sample) is turn.c. */
#include "chat/run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { DEFAULT_MAX_CTX = 32768 };

/* Sets *err to a malloc'd copy of the formatted reason (when err is not NULL). */
static void set_err(char **err, const char *fmt, ...) {
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0) *err = NULL;
    va_end(ap);
}

void chat_model_name(const char *path, char *out, size_t cap) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t n = len - start;
    if (n > 5 && !memcmp(path + len - 5, ".gguf", 5)) n -= 5;
    if (n >= cap) n = cap - 1;
    memcpy(out, path + start, n);
    out[n] = '\0';
}

uint64_t chat_engine_next_random(chat_engine *e) {
    uint64_t z = (e->id_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

chat_engine *chat_engine_open(const char *model_path, const chat_engine_params *params, char **err) {
    if (err) *err = NULL;
    chat_engine_params p = params ? *params : (chat_engine_params){0};
    if (!model_path || !*model_path) return set_err(err, "no model given"), NULL;
    if (p.n_ctx < 0) return set_err(err, "context size %d must be positive (0: the model's default)", p.n_ctx), NULL;
    if (p.threads < 0) return set_err(err, "thread count %d must not be negative (0: every core)", p.threads), NULL;
    chat_engine *e = calloc(1, sizeof *e);
    if (!e) return set_err(err, "out of memory"), NULL;
    atomic_init(&e->cancel, 0);
    atomic_init(&e->busy, 0);
    atomic_init(&e->used, 0);
    if (!(e->model = g4_model_load(model_path))) {
        set_err(err, "%s", g4_last_error());
        goto fail;
    }
    if (!(e->vocab = g4_model_vocab(e->model))) {
        set_err(err, "%s has no tokenizer: use a GGUF with tokenizer.* or a directory with tokenizer.json", model_path);
        goto fail;
    }
    if (p.chat_template) {
        if (!(e->template_owned = strdup(p.chat_template))) {
            set_err(err, "out of memory");
            goto fail;
        }
        e->chat_template = e->template_owned;
    } else {
        e->chat_template = g4_model_chat_template(e->model);
    }
    g4_model_info info;
    g4_model_get_info(e->model, &info);
    int trained = info.n_ctx_train > 0 ? info.n_ctx_train : DEFAULT_MAX_CTX;
    e->n_ctx = p.n_ctx ? p.n_ctx : trained < DEFAULT_MAX_CTX ? trained : DEFAULT_MAX_CTX;
    if (e->n_ctx > trained) {
        set_err(err, "a context of %d tokens exceeds what %s was trained for (%d); ask for at most that", e->n_ctx,
                model_path, trained);
        goto fail;
    }
    e->vocab_size = info.vocab_size;
    e->defaults = g4_model_sampler_params(e->model);
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = e->n_ctx;
    cp.n_seq = 1;
    cp.n_threads = p.threads;
    cp.n_gpu_layers = p.gpu_layers;
    cp.gpu_device = p.gpu_device;
    if (!(e->ctx = g4_context_new(e->model, &cp))) {
        set_err(err, "%s", g4_last_error());
        goto fail;
    }
    if (!(e->held = malloc((size_t)e->n_ctx * sizeof *e->held))) {
        set_err(err, "out of memory for a context of %d tokens", e->n_ctx);
        goto fail;
    }
    chat_model_name(model_path, e->name, sizeof e->name);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->id_state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^ (uintptr_t)e;
    return e;
fail:
    chat_engine_close(e);
    return NULL;
}

void chat_engine_close(chat_engine *e) {
    if (!e) return;
    free(e->completion);
    free(e->held);
    free(e->masked);
    chat_grammar_cache_free(e->grammars);
    g4_context_free(e->ctx);
    free(e->template_owned);
    g4_model_free(e->model);
    free(e);
}

const char *chat_engine_model_name(const chat_engine *e) { return e->name; }
int chat_engine_context_size(const chat_engine *e) { return e->n_ctx; }
int chat_engine_context_used(const chat_engine *e) { return atomic_load(&e->used); }
const g4_model *chat_engine_model(const chat_engine *e) { return e->model; }

const int32_t *chat_engine_completion_tokens(const chat_engine *e, int *n) {
    *n = e->n_completion;
    return e->completion;
}

void chat_engine_cancel(chat_engine *e) { atomic_store(&e->cancel, 1); }

chat_settings chat_settings_defaults(void) {
    return (chat_settings){
        .temperature = NAN,
        .top_p = NAN,
        .min_p = NAN,
        .repeat_penalty = NAN,
        .top_k = -1,
        .max_tokens = 0,
        .seed = CHAT_SEED_RANDOM,
        .think = 0,
        .tool_choice = CHAT_TOOLS_AUTO,
        .parallel_tool_calls = 1,
    };
}

const char *chat_finish_name(chat_finish finish) {
    switch (finish) {
    case CHAT_FINISH_STOP: return "stop";
    case CHAT_FINISH_LENGTH: return "length";
    case CHAT_FINISH_CONTEXT: return "context";
    case CHAT_FINISH_CANCELLED: return "cancelled";
    case CHAT_FINISH_TOOL_CALLS: return "tool_calls";
    }
    return "unknown";
}
