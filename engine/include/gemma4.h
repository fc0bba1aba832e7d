/* gemma4.h: the public API of libgemma4, the engine that turns tokens into logits.
 *
 * The app includes this header and nothing else from engine/. Every function that
 * can fail returns NULL or a negative number and leaves a one-line reason in
 * g4_last_error() (per thread). The engine never exits or aborts on bad input. */
#ifndef GEMMA4_H
#define GEMMA4_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The reason for the most recent failure on this thread ("" if none). */
const char *g4_last_error(void);

/* ---- Models ---------------------------------------------------------------- */

typedef struct g4_model g4_model;

/* Loads a Gemma 4 text model from a .gguf file or a Hugging Face checkpoint
 * directory (config.json + model.safetensors or sharded model-*.safetensors).
 * Weights are memory-mapped, never copied unless a format forces it. */
g4_model *g4_model_load(const char *path);
void g4_model_free(g4_model *model);

typedef struct {
    int vocab_size;
    int hidden_size;
    int n_layers;
    int n_ctx_train;        /* max_position_embeddings */
    int bos_id, eos_id, pad_id;
    int n_experts;          /* 0 for dense models */
    int has_ple;            /* per-layer embeddings (E2B/E4B) */
    int n_kv_shared_layers;
    uint64_t n_params;      /* parameters of the text decoder */
    uint64_t n_bytes;       /* bytes of weight data it uses */
    const char *format;     /* "gguf" or "safetensors" */
    const char *weight_type;/* the type of most matrices, e.g. "BF16", "Q4_K" */
} g4_model_info;

void g4_model_get_info(const g4_model *model, g4_model_info *info);

/* ---- Contexts: KV caches for one or more sequences ------------------------- */

typedef struct g4_context g4_context;

typedef struct {
    int n_ctx;      /* max positions per sequence (0: the model's trained length) */
    int n_seq;      /* sequences that can be live at once */
    int n_ubatch;   /* tokens evaluated together per step; larger batches are split */
    int n_threads;  /* CPU threads the forward pass runs on, started with the context
                       (0: one per online core); logits do not depend on it */
    int n_gpu_layers;/* decoder layers run on the GPU, from the first (0: none, the default;
                       -1: all); the rest run on the CPU. With every layer on the GPU the
                       embedding and the LM head go there too, and logits stay on the GPU
                       until asked for. Rounded down where KV-shared layers would sit on
                       the other side from their donor (g4_context_gpu_layers tells). */
    int gpu_device; /* which GPU (0: the first; see g4_gpu_count) */
} g4_context_params;

g4_context_params g4_context_default_params(void);
g4_context *g4_context_new(g4_model *model, const g4_context_params *params);
void g4_context_free(g4_context *ctx);

/* A batch of tokens from one or more sequences. Within a sequence the tokens
 * must be in order and continue it: the first one at g4_seq_length(seq). */
typedef struct {
    int n_tokens;
    const int32_t *token;   /* [n_tokens] token ids */
    const int32_t *seq;     /* [n_tokens] sequence ids, or NULL: all sequence 0 */
    const int8_t *logits;   /* [n_tokens] 1 = compute this row's logits, or NULL: only the last token */
} g4_batch;

/* Runs the forward pass over the batch and appends it to the KV caches.
 * Returns 0, or -1 with g4_last_error() set (the caches are then unchanged). */
int g4_decode(g4_context *ctx, const g4_batch *batch);

/* Logits [vocab_size] (after the final softcap) of batch row i of the last
 * g4_decode, or NULL if that row did not ask for logits. */
const float *g4_get_logits(g4_context *ctx, int i);

/* The k (<= 256) largest logits of batch row i, in descending order (ties to the
 * lower id), into ids[k] and vals[k]: the same values as g4_get_logits's row,
 * without copying the whole row off the GPU. Returns k (or the vocabulary size if
 * smaller), or -1 (error set) if the row did not ask for logits. */
int g4_get_top_logits(g4_context *ctx, int i, int k, int32_t *ids, float *vals);

/* GPUs this build can use (0: none, or built without a GPU backend), and a line
 * describing GPU i ("NVIDIA H200 (sm_90, 139.8 GiB)") into buf; -1 (error set)
 * when it cannot be opened. */
int g4_gpu_count(void);
int g4_gpu_describe(int i, char *buf, size_t len);

/* Decoder layers of a context on the GPU (0: it runs on the CPU), and where:
 * "NVIDIA H200 (sm_90, 139.8 GiB): 35/35 layers" or "CPU". */
int g4_context_gpu_layers(const g4_context *ctx);
const char *g4_context_device(const g4_context *ctx);

/* Number of positions held for a sequence. */
int g4_seq_length(const g4_context *ctx, int seq);

/* Drops every position >= pos of a sequence so it continues from pos, exactly as
 * if it had been evaluated from scratch. Sliding-window layers that no longer hold
 * the window before pos are rebuilt from the sequence's own token history. */
int g4_seq_truncate(g4_context *ctx, int seq, int pos);

/* Index of the largest value (greedy decoding). */
int g4_argmax(const float *x, int n);

/* ---- Vocabularies: tokens <-> text ------------------------------------------- */

typedef struct g4_vocab g4_vocab;

/* Loads a tokenizer from a GGUF file (vocab-only or a whole model: tokenizer.ggml.*)
 * or from an HF checkpoint directory (tokenizer.json). */
g4_vocab *g4_vocab_load(const char *path);
void g4_vocab_free(g4_vocab *vocab);

/* The tokenizer stored with a model (NULL if its files carry none). Owned by the model. */
const g4_vocab *g4_model_vocab(const g4_model *model);

int g4_vocab_size(const g4_vocab *vocab);
int g4_vocab_bos(const g4_vocab *vocab);
int g4_vocab_eos(const g4_vocab *vocab);

/* Id of the token whose piece is exactly `piece` (e.g. "<|turn>"), or -1. */
int32_t g4_vocab_find(const g4_vocab *vocab, const char *piece);
/* The stored piece of a token (SentencePiece form: "▁" for spaces, "<0x0A>" for
 * byte tokens), NUL-terminated; NULL if id is out of range. */
const char *g4_vocab_piece(const g4_vocab *vocab, int32_t id);
/* Control tokens (<bos>, <|turn>, ...) and user-defined ones (<|tool_call>, <|"|>, ...). */
int g4_vocab_is_special(const g4_vocab *vocab, int32_t id);
/* End-of-generation tokens: <eos>, <turn|>, <|tool_response>. */
int g4_vocab_is_eog(const g4_vocab *vocab, int32_t id);

enum {
    G4_TOKENIZE_ADD_BOS = 1,   /* prepend <bos> */
    G4_TOKENIZE_SPECIAL = 2,   /* match special-token text (trusted text only: never user content) */
};

/* Tokenizes len bytes of UTF-8 text. Writes up to cap ids to out and returns the
 * total number of ids (call again with a larger buffer if it exceeds cap), or -1. */
int g4_tokenize(const g4_vocab *vocab, const char *text, size_t len, unsigned flags, int32_t *out, int cap);

/* Streaming detokenizer: feed ids one at a time, get back only complete UTF-8
 * (a character split over byte tokens is held until it is whole). */
typedef struct g4_detokenizer g4_detokenizer;
enum { G4_DETOK_SKIP_SPECIAL = 1 };  /* drop the text of special tokens */
g4_detokenizer *g4_detokenizer_new(const g4_vocab *vocab, unsigned flags);
void g4_detokenizer_free(g4_detokenizer *d);
/* Appends the text of token id to out[cap]; returns the bytes written (text
 * that does not fit is kept for the next call), or -1 for an invalid id. */
int g4_detokenize(g4_detokenizer *d, int32_t id, char *out, size_t cap);
/* Emits what is held back at the end (an incomplete character becomes U+FFFD);
 * call again until it returns 0 when cap may be smaller than what is held
 * (any cap >= 4 makes progress). */
int g4_detokenize_flush(g4_detokenizer *d, char *out, size_t cap);

/* ---- Chat prompts ------------------------------------------------------------- */

/* The model's chat template: from the GGUF (tokenizer.chat_template) or the HF
 * directory (chat_template.jinja, tokenizer_config.json), else the built-in
 * canonical Gemma 4 template (large or small variant by model size). */
const char *g4_model_chat_template(const g4_model *model);
/* The built-in canonical template; large = 1 for 26B-A4B/31B-style models. */
const char *g4_chat_template_builtin(int large);

typedef struct {
    const char *messages_json;   /* OpenAI-style [{"role", "content", "tool_calls", ...}] */
    const char *tools_json;      /* OpenAI tools [{"type":"function","function":{...}}], or NULL */
    const char *kwargs_json;     /* extra template variables as a JSON object, or NULL */
    int add_generation_prompt;
    int enable_thinking;         /* 1 sets the template variable enable_thinking to true; 0 leaves it
                                    undefined (as HF does without the kwarg); kwargs_json may override */
    const char *bos_token;       /* NULL: "<bos>" */
} g4_chat_request;

/* Renders the request with a Jinja template; returns malloc'd text or NULL
 * (g4_last_error() names the template line and column, or the bad JSON). */
char *g4_chat_render(const char *template_src, const g4_chat_request *req);

/* Renders a chat request and tokenizes it for the model: the template's markup
 * becomes special tokens, while the text of user, system, developer and tool
 * messages stays plain text even where it spells a special token. Returns the
 * number of ids, stored in a malloc'd *ids, or -1. */
int g4_chat_tokenize(const g4_vocab *vocab, const char *template_src, const g4_chat_request *req, int32_t **ids);

/* Renders any Jinja template against a JSON object of variables (diagnostics). */
char *g4_jinja_render(const char *template_src, const char *context_json);

/* ---- Output parsing: generated tokens -> thought, answer, tool calls ----------- */

typedef enum {
    G4_EVENT_THOUGHT,          /* text: a piece of reasoning */
    G4_EVENT_ANSWER,           /* text: a piece of the answer */
    G4_EVENT_TOOL_CALL_START,  /* tool_index, name */
    G4_EVENT_TOOL_CALL_ARGS,   /* tool_index, text: the next piece of the arguments as JSON */
    G4_EVENT_TOOL_CALL_END,    /* tool_index, name, text: the complete arguments JSON (cut: see below) */
    G4_EVENT_STOP,             /* stop: why generation should end */
} g4_event_type;

typedef enum { G4_STOP_NONE, G4_STOP_EOS, G4_STOP_END_OF_TURN, G4_STOP_TOOL_CALLS } g4_stop_reason;

typedef struct {
    g4_event_type type;
    const char *text;          /* not NUL-terminated; len bytes */
    size_t len;
    int tool_index;
    const char *name;          /* NUL-terminated */
    g4_stop_reason stop;
    int cut;                   /* TOOL_CALL_END: the output ended (g4_parser_finish) inside the call,
                                  before <tool_call|>: its arguments are what came, closed */
} g4_event;

typedef void (*g4_event_fn)(const g4_event *event, void *user);

typedef struct g4_parser g4_parser;
/* prompt/n_prompt: the prompt's ids, whose tail decides the starting state
 * (a prompt ending inside an open thought channel starts in reasoning). */
g4_parser *g4_parser_new(const g4_vocab *vocab, const int32_t *prompt, int n_prompt, g4_event_fn fn, void *user);
void g4_parser_free(g4_parser *p);
/* Feeds one generated token; returns 1 once a stop token was seen, else 0. */
int g4_parser_push(g4_parser *p, int32_t id);
/* Ends the output (e.g. at max tokens): flushes held-back text and open calls. */
void g4_parser_finish(g4_parser *p);

/* ---- Sampling ------------------------------------------------------------------ */

typedef struct {
    int32_t token;
    float bias;                /* added to the logit; -INFINITY bans the token */
} g4_logit_bias;

typedef struct {
    float temperature;         /* 0: greedy */
    int top_k;                 /* 0: off */
    float top_p;               /* 1: off */
    float min_p;               /* 0: off */
    float repeat_penalty;      /* 1: off (llama.cpp style, over the last penalty_last_n tokens) */
    float presence_penalty;    /* 0: off (OpenAI style) */
    float frequency_penalty;   /* 0: off */
    int penalty_last_n;        /* tokens the penalties look back over (-1: all) */
    uint64_t seed;             /* the same seed and logits give the same tokens */
    const g4_logit_bias *bias;
    int n_bias;
} g4_sampler_params;

/* Gemma 4's defaults: temperature 1.0, top_k 64, top_p 0.95. */
g4_sampler_params g4_sampler_default_params(void);
/* The model's own defaults (generation_config.json or GGUF general.sampling.*) over
 * g4_sampler_default_params(). */
g4_sampler_params g4_model_sampler_params(const g4_model *model);

typedef struct g4_sampler g4_sampler;
g4_sampler *g4_sampler_new(const g4_sampler_params *params, int vocab_size);
void g4_sampler_free(g4_sampler *s);
/* Picks the next token from logits [vocab_size] (not modified); -1 (error set)
 * when every token is banned (-inf or NaN). A negative temperature is greedy. */
int32_t g4_sampler_sample(g4_sampler *s, const float *logits);
/* The sampler's pick when it needs only the k largest logits (greedy: 1; top_k
 * with no penalties, biases or min_p... every step after top-k then sees only
 * those), else 0: the whole row is needed. */
int g4_sampler_top_k_only(const g4_sampler *s);
/* Picks from the k largest logits, given in descending order (g4_get_top_logits
 * with k >= g4_sampler_top_k_only(s)): the same token g4_sampler_sample would pick
 * from the whole row, with the same random state. */
int32_t g4_sampler_sample_top(g4_sampler *s, const int32_t *ids, const float *vals, int k);
/* Samples batch row i of the context's last g4_decode: through the top-k path when
 * the sampler allows it (no whole row leaves the GPU), else from the whole row. */
int32_t g4_sampler_sample_row(g4_sampler *s, g4_context *ctx, int i);
/* Records a token of the sequence (prompt or generated) for the penalties; ids
 * outside the vocabulary are ignored. */
void g4_sampler_accept(g4_sampler *s, int32_t token);

/* ---- Grammars: constrained decoding (docs/structured-output.md) ------------------
 *
 * A grammar in GBNF (llama.cpp's format, plus token terminals <[N]> by id and
 * <["<|tool_call>"]> by piece) is compiled once; a matcher follows one generation
 * through it and masks the logits of every token that would leave it. Create or
 * reset the matcher where the constraint starts (e.g. after the thought channel). */

typedef struct g4_grammar g4_grammar;

/* Parses GBNF text with start rule `root` (NULL: "root"). Errors name line:column. */
g4_grammar *g4_grammar_parse(const char *gbnf, const char *root);
void g4_grammar_free(g4_grammar *grammar);

/* JSON Schema (draft 2020-12 subset, see the doc) -> GBNF, malloc'd, start rule
 * "root". {"type":"json_object"} is any JSON object. An unsupported feature is an
 * error naming it and its JSON pointer, never an unconstrained output. */
char *g4_grammar_from_json_schema(const char *schema_json);
/* Tools (OpenAI [{"type":"function","function":{name, parameters}}]) -> GBNF for
 * one or more Gemma 4 calls <|tool_call>call:NAME{key:value,...}<tool_call|>, their
 * arguments following each tool's parameter schema; malloc'd, start rule "root". */
char *g4_grammar_from_tools(const char *tools_json);

/* The vocabulary's tokens as a byte trie, built once per vocabulary and shared
 * (read-only) by any number of matchers. The vocabulary must outlive it. */
typedef struct g4_grammar_vocab g4_grammar_vocab;
g4_grammar_vocab *g4_grammar_vocab_new(const g4_vocab *vocab);
void g4_grammar_vocab_free(g4_grammar_vocab *gv);

typedef struct g4_grammar_matcher g4_grammar_matcher;
/* The grammar and gv must outlive the matcher. Fails if a token terminal names no
 * token of the vocabulary. */
g4_grammar_matcher *g4_grammar_matcher_new(const g4_grammar *grammar, const g4_grammar_vocab *gv);
/* A new matcher at the start of m's grammar sharing m's cache of masks (refcounted: either may be
 * freed first). Matchers sharing a cache must be used from one thread at a time. */
g4_grammar_matcher *g4_grammar_matcher_fork(g4_grammar_matcher *m);
void g4_grammar_matcher_free(g4_grammar_matcher *m);
/* Back to the start of the grammar. */
void g4_grammar_matcher_reset(g4_grammar_matcher *m);
/* Advances by one token; -1 (state unchanged) if the grammar does not allow it.
 * An end-of-generation token is allowed only when the grammar is complete. */
int g4_grammar_matcher_accept(g4_grammar_matcher *m, int32_t token);
/* Advances by UTF-8 text (no special tokens); -1 (state unchanged) if not allowed. */
int g4_grammar_matcher_accept_text(g4_grammar_matcher *m, const char *text, size_t len);
/* 1 when what was accepted is a complete sentence of the grammar. */
int g4_grammar_matcher_complete(const g4_grammar_matcher *m);
/* 1 when nothing more can follow (complete, and no token can extend it). */
int g4_grammar_matcher_done(g4_grammar_matcher *m);
/* Sets allowed[vocab_size] to 1 for each token allowed next, 0 else; returns how
 * many are allowed (never 0 for a grammar that compiled: at worst an EOG token). */
int g4_grammar_matcher_mask(g4_grammar_matcher *m, uint8_t *allowed);
/* Sets the logits of disallowed tokens to -INFINITY; returns the number allowed or -1. */
int g4_grammar_matcher_apply(g4_grammar_matcher *m, float *logits);

#ifdef __cplusplus
}
#endif
#endif
