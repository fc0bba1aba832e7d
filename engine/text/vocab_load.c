/* vocab_load.c: builds a g4_vocab from a GGUF's tokenizer.ggml.* keys or an HF
 * tokenizer.json, validating everything (the file is untrusted input), and the
 * small g4_vocab_* accessors. A vocab owns copies of all it keeps: pieces in one
 * NUL-separated text block, hash tables for piece -> id and (left, right) -> merge
 * rank, the special tokens grouped by first byte for longest-match cutting. */
#include "tokenizer.h"
#include "../base/error.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TOKENS (1 << 22)
#define MAX_MERGES (1 << 23)
#define MAX_PIECE_BYTES (1 << 16)

/* A piece shown in an error message: printable ASCII kept, the rest as \xNN, cut short. */
static const char *show(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", c);
    }
    if (o + 8 >= cap) o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = '\0';
    return buf;
}
#define SHOW(s, n) show((s), (n), (char[64]){0}, 64)

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static uint32_t table_size(size_t n) {
    uint32_t size = 16;
    while (size < 2 * n) size <<= 1;
    return size;
}

int32_t g4_vocab_lookup(const g4_vocab *v, const char *s, size_t len) {
    uint32_t i = hash_bytes(s, len) & v->piece_mask;
    for (;;) {
        int32_t id = v->piece_slot[i];
        if (id < 0) return -1;
        if (v->len[id] == len && memcmp(v->text + v->off[id], s, len) == 0) return id;
        i = (i + 1) & v->piece_mask;
    }
}

/* ---- building: pieces and types first, then merges, then the derived tables ---- */

/* What a loader gathered, indexed by id; the strings may point into the file. */
typedef struct {
    int n;
    const char **piece;
    size_t *piece_len;
    uint8_t *type;              /* [n] */
    float *score;               /* [n] or NULL */
    enum g4_vocab_algo algo;
    bool split_newlines, add_space_prefix;
    int64_t bos, eos, unk, pad; /* -1: look the usual piece up */
} vocab_spec;

static int spec_alloc(vocab_spec *s, int64_t n) {
    if (n < 1 || n > MAX_TOKENS) return g4_error("vocabulary of %lld tokens (expected 1..%d)", (long long)n, MAX_TOKENS);
    s->n = (int)n;
    s->piece = calloc((size_t)n, sizeof *s->piece);
    s->piece_len = calloc((size_t)n, sizeof *s->piece_len);
    s->type = calloc((size_t)n, 1);
    if (!s->piece || !s->piece_len || !s->type) return g4_error("out of memory for %lld tokens", (long long)n);
    s->bos = s->eos = s->unk = s->pad = -1;
    return 0;
}

static void spec_free(vocab_spec *s) {
    free(s->piece);
    free(s->piece_len);
    free(s->type);
    free(s->score);
}

void g4_vocab_free(g4_vocab *v) {
    if (!v) return;
    free(v->text);
    free(v->off);
    free(v->len);
    free(v->type);
    free(v->byte_val);
    free(v->spm_rank);
    free(v->piece_slot);
    free(v->merge);
    free(v->special);
    free(v);
}

/* "<0xAB>" -> 0xAB, or -1. */
static int parse_byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Sort keys carry all they compare (qsort has no context argument, and loads may
 * run on several threads at once). */
typedef struct {
    uint32_t first, len;   /* special tokens: first byte, then longest first */
    float score;           /* SPM: highest score first */
    int32_t id;
} sort_key;

static int cmp_special(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_score(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Copies the pieces, checks the types, builds the piece table. */
static g4_vocab *vocab_new(const vocab_spec *s, size_t n_merges) {
    g4_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        g4_error("out of memory");
        return NULL;
    }
    v->n = s->n;
    v->algo = s->algo;
    v->split_newlines = s->split_newlines;
    v->add_space_prefix = s->add_space_prefix;
    size_t total = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->piece_len[i] > MAX_PIECE_BYTES) {
            g4_error("token %d: piece of %zu bytes is too long", i, s->piece_len[i]);
            goto fail;
        }
        total += s->piece_len[i] + 1;
    }
    if (total > UINT32_MAX) {
        g4_error("%zu bytes of pieces is too much", total);
        goto fail;
    }
    v->text = malloc(total);
    v->off = malloc((size_t)s->n * sizeof *v->off);
    v->len = malloc((size_t)s->n * sizeof *v->len);
    v->type = malloc((size_t)s->n);
    v->byte_val = calloc((size_t)s->n, 1);
    v->piece_mask = table_size((size_t)s->n) - 1;
    v->piece_slot = malloc(((size_t)v->piece_mask + 1) * sizeof *v->piece_slot);
    if (!v->text || !v->off || !v->len || !v->type || !v->byte_val || !v->piece_slot) {
        g4_error("out of memory for the vocabulary (%zu bytes of pieces)", total);
        goto fail;
    }
    memset(v->piece_slot, 0xff, ((size_t)v->piece_mask + 1) * sizeof *v->piece_slot);
    size_t o = 0;
    for (int i = 0; i < s->n; i++) {
        size_t n = s->piece_len[i];
        if (n) memcpy(v->text + o, s->piece[i], n);
        v->text[o + n] = '\0';
        v->off[i] = (uint32_t)o;
        v->len[i] = (uint32_t)n;
        o += n + 1;
        if (s->type[i] < G4_TOK_NORMAL || s->type[i] > G4_TOK_BYTE) {
            g4_error("token %d '%s': invalid token type %d", i, SHOW(s->piece[i], n), s->type[i]);
            goto fail;
        }
        v->type[i] = s->type[i];
        if (v->type[i] == G4_TOK_BYTE) {
            int b = parse_byte_piece(s->piece[i], n);
            if (b < 0) {
                g4_error("token %d: byte token with piece '%s' (expected <0xXX>)", i, SHOW(s->piece[i], n));
                goto fail;
            }
            v->byte_val[i] = (uint8_t)b;
        }
        if (n == 0) continue;   /* an empty piece can never be matched */
        uint32_t h = hash_bytes(s->piece[i], n) & v->piece_mask;
        while (v->piece_slot[h] >= 0) {
            int32_t j = v->piece_slot[h];
            if (v->len[j] == n && memcmp(v->text + v->off[j], s->piece[i], n) == 0) {
                g4_error("duplicate piece '%s' (tokens %d and %d)", SHOW(s->piece[i], n), j, i);
                goto fail;
            }
            h = (h + 1) & v->piece_mask;
        }
        v->piece_slot[h] = i;
    }
    if (n_merges) {
        v->merge_mask = table_size(n_merges) - 1;
        v->merge = malloc(((size_t)v->merge_mask + 1) * sizeof *v->merge);
        if (!v->merge) {
            g4_error("out of memory for %zu merges", n_merges);
            goto fail;
        }
        memset(v->merge, 0xff, ((size_t)v->merge_mask + 1) * sizeof *v->merge);
    }
    return v;
fail:
    g4_vocab_free(v);
    return NULL;
}

/* Adds the merge "left right" (split at the first space after the first byte, as
 * llama.cpp does) with the next rank. Merges whose parts or result are not
 * pieces can never apply to our symbols and are skipped; a repeated pair keeps
 * its first (lowest) rank. */
static void vocab_add_merge(g4_vocab *v, const char *s, size_t n, int rank, char *scratch) {
    const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
    if (!sp) return;
    size_t ln = (size_t)(sp - s), rn = n - ln - 1;
    int32_t l = g4_vocab_lookup(v, s, ln), r = g4_vocab_lookup(v, sp + 1, rn);
    if (l < 0 || r < 0) return;
    memcpy(scratch, s, ln);
    memcpy(scratch + ln, sp + 1, rn);
    int32_t res = g4_vocab_lookup(v, scratch, ln + rn);
    if (res < 0) return;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & v->merge_mask;
    while (v->merge[i].key != UINT64_MAX) {
        if (v->merge[i].key == key) return;
        i = (i + 1) & v->merge_mask;
    }
    v->merge[i] = (g4_merge_slot){.key = key, .rank = rank, .result = res};
    v->n_merges++;
}

static int check_id(const char *what, int64_t id, int n) {
    if (id < -1 || id >= n) return g4_error("%s token id %lld is out of range (vocabulary of %d)", what, (long long)id, n);
    return 0;
}

static int32_t find_or(const g4_vocab *v, int64_t id, const char *piece) {
    return id >= 0 ? (int32_t)id : g4_vocab_lookup(v, piece, strlen(piece));
}

/* The derived tables: byte tokens, special tokens, named ids, SPM score order. */
static int vocab_finish(g4_vocab *v, const vocab_spec *s) {
    if (check_id("bos", s->bos, v->n) || check_id("eos", s->eos, v->n) ||
        check_id("unknown", s->unk, v->n) || check_id("padding", s->pad, v->n))
        return -1;
    v->bos = find_or(v, s->bos, "<bos>");
    v->eos = find_or(v, s->eos, "<eos>");
    v->unk = find_or(v, s->unk, "<unk>");
    v->pad = find_or(v, s->pad, "<pad>");

    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        v->byte_id[b] = g4_vocab_lookup(v, name, 6);
    }

    /* End of generation: eos, and the end-of-turn / tool-response markers found by piece. */
    static const char *const eog_pieces[] = {"<turn|>", "<|tool_response>", "<end_of_turn>"};
    if (v->eos >= 0) v->eog[v->n_eog++] = v->eos;
    for (size_t i = 0; i < sizeof eog_pieces / sizeof eog_pieces[0]; i++) {
        int32_t id = g4_vocab_lookup(v, eog_pieces[i], strlen(eog_pieces[i]));
        if (id >= 0 && id != v->eos) v->eog[v->n_eog++] = id;
    }

    /* The characters that some piece joins to a following "▁" (">" in ">▁</"). */
    v->split_words = true;
    for (int i = 0; i < v->n && v->split_words; i++) {
        const unsigned char *p = (const unsigned char *)v->text + v->off[i];
        uint32_t prev = G4_SPACE_CODE;
        for (size_t o = 0, n = v->len[i]; o < n;) {
            size_t len = g4_utf8_len(p + o, n - o);
            uint32_t code = g4_utf8_code(p + o, len);
            if (code == G4_SPACE_CODE && prev != G4_SPACE_CODE) {
                int k = 0;
                while (k < v->n_joiners && v->joiner[k] != prev) k++;
                if (k == G4_VOCAB_MAX_JOINERS) {
                    v->split_words = false;   /* too many: merge whole runs */
                    break;
                }
                if (k == v->n_joiners) v->joiner[v->n_joiners++] = prev;
            }
            prev = code;
            o += len ? len : 1;
        }
    }

    sort_key *keys = malloc((size_t)v->n * sizeof *keys);
    v->special = malloc((size_t)v->n * sizeof *v->special);
    if (!keys || !v->special) {
        free(keys);
        return g4_error("out of memory");
    }
    int n_keys = 0;
    for (int i = 0; i < v->n; i++)
        if (v->len[i] && (v->type[i] == G4_TOK_CONTROL || v->type[i] == G4_TOK_USER_DEFINED || v->type[i] == G4_TOK_UNKNOWN))
            keys[n_keys++] = (sort_key){.first = (unsigned char)v->text[v->off[i]], .len = v->len[i], .id = i};
    qsort(keys, (size_t)n_keys, sizeof *keys, cmp_special);
    for (int i = 0; i < n_keys; i++) v->special[i] = keys[i].id;
    v->n_special = n_keys;
    for (int b = 0, k = 0; b <= 256; b++) {
        while (k < n_keys && keys[k].first < (uint32_t)b) k++;
        v->special_start[b] = k;
    }

    if (v->algo == G4_ALGO_SPM) {
        if (!s->score) {
            free(keys);
            return g4_error("a SentencePiece vocabulary needs tokenizer.ggml.scores");
        }
        if (!(v->spm_rank = malloc((size_t)v->n * sizeof *v->spm_rank))) {
            free(keys);
            return g4_error("out of memory");
        }
        for (int i = 0; i < v->n; i++) keys[i] = (sort_key){.score = s->score[i], .id = i};
        qsort(keys, (size_t)v->n, sizeof *keys, cmp_score);
        for (int i = 0, r = 0; i < v->n; i++) {
            if (i > 0 && keys[i].score != keys[i - 1].score) r = i;
            v->spm_rank[keys[i].id] = r;
        }
    }
    free(keys);
    return 0;
}

/* ---- GGUF ---------------------------------------------------------------------- */

/* Finds an array key: 1 (in *out), 0 if absent and optional, -1 with an error. */
static int gguf_array(const g4_gguf *g, const char *key, int n_expected, bool required, const g4_gguf_kv **out) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    *out = NULL;
    if (!kv) return required ? g4_error("%s is missing", key) : 0;
    if (kv->type != G4_GGUF_ARRAY) return g4_error("%s is not an array", key);
    if (n_expected >= 0 && kv->arr_n != (uint64_t)n_expected)
        return g4_error("%s has %llu entries for %d tokens", key, (unsigned long long)kv->arr_n, n_expected);
    *out = kv;
    return 1;
}

static int gguf_id(const g4_gguf *g, const char *key, int64_t *out) {
    uint32_t u;
    int r = g4_gguf_get_u32(g, key, &u);
    if (r < 0) return -1;
    *out = r ? (int64_t)u : -1;
    return 0;
}

g4_vocab *g4_vocab_from_gguf(const g4_gguf *g) {
    vocab_spec s = {0};
    g4_vocab *v = NULL;
    char model[32];
    int r = g4_gguf_get_str(g, "tokenizer.ggml.model", model, sizeof model);
    if (r == 0) g4_error("no tokenizer: tokenizer.ggml.model is missing");
    if (r <= 0) return NULL;
    if (!strcmp(model, "gemma4")) {
        s.algo = G4_ALGO_BPE;
        s.split_newlines = true;
    } else if (!strcmp(model, "llama")) {
        s.algo = G4_ALGO_SPM;   /* Gemma 2/3: SentencePiece scores */
        s.add_space_prefix = true;
    } else {
        g4_error("unsupported tokenizer model '%s' (expected gemma4 or llama)", SHOW(model, strlen(model)));
        return NULL;
    }
    bool b;
    if ((r = g4_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) < 0) return NULL;
    if (r > 0 && s.algo == G4_ALGO_SPM) s.add_space_prefix = b;

    const g4_gguf_kv *tokens, *types, *scores, *merges;
    if (gguf_array(g, "tokenizer.ggml.tokens", -1, true, &tokens) < 0) return NULL;
    if (tokens->arr_type != G4_GGUF_STRING) {
        g4_error("tokenizer.ggml.tokens is not an array of strings");
        return NULL;
    }
    if (tokens->arr_n > MAX_TOKENS) {
        g4_error("tokenizer.ggml.tokens has %llu entries (at most %d)", (unsigned long long)tokens->arr_n, MAX_TOKENS);
        return NULL;
    }
    if (spec_alloc(&s, (int64_t)tokens->arr_n) < 0) goto done;
    for (int i = 0; i < s.n; i++) {
        s.piece[i] = tokens->arr_str[i];
        s.piece_len[i] = (size_t)tokens->arr_str_len[i];
        s.type[i] = G4_TOK_NORMAL;
    }
    if (gguf_array(g, "tokenizer.ggml.token_type", s.n, false, &types) < 0) goto done;
    for (int i = 0; types && i < s.n; i++) {
        int64_t t;
        if (g4_gguf_arr_get_i64(types, (uint64_t)i, &t) < 0) goto done;
        if (t < G4_TOK_NORMAL || t > G4_TOK_BYTE) {
            g4_error("token %d '%s': invalid token type %lld", i, SHOW(s.piece[i], s.piece_len[i]), (long long)t);
            goto done;
        }
        s.type[i] = (uint8_t)t;
    }
    if (gguf_array(g, "tokenizer.ggml.scores", s.n, false, &scores) < 0) goto done;
    if (scores) {
        if (!(s.score = malloc((size_t)s.n * sizeof *s.score))) {
            g4_error("out of memory");
            goto done;
        }
        for (int i = 0; i < s.n; i++) {
            if (g4_gguf_arr_get_f32(scores, (uint64_t)i, &s.score[i]) < 0) goto done;
            if (isnan(s.score[i])) {
                g4_error("token %d: score is NaN", i);
                goto done;
            }
        }
    }
    if (gguf_array(g, "tokenizer.ggml.merges", -1, s.algo == G4_ALGO_BPE, &merges) < 0) goto done;
    if (merges && merges->arr_type != G4_GGUF_STRING) {
        g4_error("tokenizer.ggml.merges is not an array of strings");
        goto done;
    }
    if (merges && merges->arr_n > MAX_MERGES) {
        g4_error("tokenizer.ggml.merges has %llu entries (at most %d)", (unsigned long long)merges->arr_n, MAX_MERGES);
        goto done;
    }
    if (gguf_id(g, "tokenizer.ggml.bos_token_id", &s.bos) || gguf_id(g, "tokenizer.ggml.eos_token_id", &s.eos) ||
        gguf_id(g, "tokenizer.ggml.unknown_token_id", &s.unk) || gguf_id(g, "tokenizer.ggml.padding_token_id", &s.pad))
        goto done;

    size_t n_merges = s.algo == G4_ALGO_BPE && merges ? (size_t)merges->arr_n : 0;
    if (!(v = vocab_new(&s, n_merges))) goto done;
    if (n_merges) {
        char *scratch = malloc(2 * MAX_PIECE_BYTES + 2);
        if (!scratch) {
            g4_error("out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n_merges; i++) {
            size_t n = (size_t)merges->arr_str_len[i];
            if (n <= 2 * MAX_PIECE_BYTES + 1) vocab_add_merge(v, merges->arr_str[i], n, (int)i, scratch);
        }
        free(scratch);
    }
    if (vocab_finish(v, &s) == 0) goto done;
fail:
    g4_vocab_free(v);
    v = NULL;
done:
    spec_free(&s);
    return v;
}

/* ---- Hugging Face tokenizer.json ------------------------------------------------- */

/* A token name in tokenizer_config.json: "<bos>" or {"content": "<bos>", ...}. */
static const char *config_token(json_t *cfg, const char *key) {
    json_t *t = json_object_get(cfg, key);
    if (json_is_object(t)) t = json_object_get(t, "content");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static int hf_id(const char *what, json_t *j, int64_t *out) {
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) >= MAX_TOKENS)
        return g4_error("%s has an invalid id", what);
    *out = json_integer_value(j);
    return 0;
}

static int hf_set(vocab_spec *s, int64_t id, const char *p, size_t n, uint8_t type) {
    if (s->piece[id] && (s->piece_len[id] != n || memcmp(s->piece[id], p, n) != 0))
        return g4_error("id %lld is both '%s' and '%s'", (long long)id,
                        SHOW(s->piece[id], s->piece_len[id]), SHOW(p, n));
    s->piece[id] = p;
    s->piece_len[id] = n;
    s->type[id] = type;
    return 0;
}

static g4_vocab *hf_build(json_t *root, json_t *cfg) {
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    json_t *type = json_object_get(model, "type");
    if (!json_is_object(model) || !json_is_object(vocab)) {
        g4_error("no model.vocab object");
        return NULL;
    }
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0)) {
        g4_error("model type '%s' is not supported (expected BPE)",
                 json_is_string(type) ? SHOW(json_string_value(type), json_string_length(type)) : "?");
        return NULL;
    }
    if (!json_is_array(merges)) {
        g4_error("no model.merges array");
        return NULL;
    }
    if (added && !json_is_array(added)) {
        g4_error("added_tokens is not an array");
        return NULL;
    }
    if (json_array_size(merges) > MAX_MERGES) {
        g4_error("%zu merges (at most %d)", json_array_size(merges), MAX_MERGES);
        return NULL;
    }

    /* The vocabulary size: one past the largest id. */
    int64_t max_id = -1, id;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (hf_id("a model.vocab entry", val, &id)) return NULL;
        if (id > max_id) max_id = id;
    }
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        if (!json_is_object(a) || !json_is_string(json_object_get(a, "content"))) {
            g4_error("added_tokens[%zu] has no content", i);
            return NULL;
        }
        if (hf_id("an added token", json_object_get(a, "id"), &id)) return NULL;
        if (id > max_id) max_id = id;
    }
    vocab_spec s = {0};
    g4_vocab *v = NULL;
    if (spec_alloc(&s, max_id + 1) < 0) goto done;
    s.algo = G4_ALGO_BPE;
    s.split_newlines = true;
    json_object_foreach(vocab, key, val) {
        size_t n = strlen(key);
        if (hf_set(&s, json_integer_value(val), key, n, parse_byte_piece(key, n) >= 0 ? G4_TOK_BYTE : G4_TOK_NORMAL)) goto done;
    }
    json_array_foreach(added, i, a) {
        json_t *c = json_object_get(a, "content");
        bool special = json_is_true(json_object_get(a, "special"));
        if (hf_set(&s, json_integer_value(json_object_get(a, "id")), json_string_value(c), json_string_length(c),
                   special ? G4_TOK_CONTROL : G4_TOK_USER_DEFINED))
            goto done;
    }
    for (int t = 0; t < s.n; t++)
        if (!s.piece[t]) {
            g4_error("id %d has no piece", t);
            goto done;
        }
    if (!(v = vocab_new(&s, json_array_size(merges)))) goto done;

    char *scratch = malloc(2 * MAX_PIECE_BYTES + 2);
    if (!scratch) {
        g4_error("out of memory");
        goto fail;
    }
    json_array_foreach(merges, i, a) {
        const char *l = NULL, *r = NULL;
        size_t ln = 0, rn = 0;
        if (json_is_string(a)) {   /* "left right" */
            const char *m = json_string_value(a);
            size_t n = json_string_length(a);
            if (n <= 2 * MAX_PIECE_BYTES + 1) vocab_add_merge(v, m, n, (int)i, scratch);
            continue;
        }
        if (json_is_array(a) && json_array_size(a) == 2 && json_is_string(json_array_get(a, 0)) &&
            json_is_string(json_array_get(a, 1))) {   /* ["left", "right"] */
            l = json_string_value(json_array_get(a, 0));
            r = json_string_value(json_array_get(a, 1));
            ln = json_string_length(json_array_get(a, 0));
            rn = json_string_length(json_array_get(a, 1));
        }
        if (!l || ln == 0 || ln > MAX_PIECE_BYTES || rn > MAX_PIECE_BYTES) {
            free(scratch);
            g4_error("merges[%zu] is not a pair of pieces", i);
            goto fail;
        }
        /* Join as "l r" so that one splitting rule serves both forms. */
        char *m = malloc(ln + rn + 1);
        if (!m) {
            free(scratch);
            g4_error("out of memory");
            goto fail;
        }
        memcpy(m, l, ln);
        m[ln] = ' ';
        memcpy(m + ln + 1, r, rn);
        if (!memchr(l + 1, ' ', ln - 1)) vocab_add_merge(v, m, ln + rn + 1, (int)i, scratch);
        free(m);
    }
    free(scratch);

    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    const char *names[4] = {config_token(cfg, "bos_token"), config_token(cfg, "eos_token"), unk ? unk : config_token(cfg, "unk_token"),
                            config_token(cfg, "pad_token")};
    int64_t *ids[4] = {&s.bos, &s.eos, &s.unk, &s.pad};
    for (int k = 0; k < 4; k++)
        if (names[k]) {
            *ids[k] = g4_vocab_lookup(v, names[k], strlen(names[k]));
            if (*ids[k] < 0) {
                g4_error("special token '%s' is not in the vocabulary", SHOW(names[k], strlen(names[k])));
                goto fail;
            }
        }
    if (vocab_finish(v, &s) == 0) goto done;
fail:
    g4_vocab_free(v);
    v = NULL;
done:
    spec_free(&s);
    return v;
}

/* Parses a JSON file; NULL with an error, or NULL and no error if it is absent and optional. */
static json_t *load_json(const char *path, bool required) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (required) g4_error("%s: %s", path, strerror(errno));
        else g4_error_clear();
        return NULL;
    }
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!j) g4_error("%s: line %d: %s", path, err.line, err.text);
    return j;
}

g4_vocab *g4_vocab_from_hf_dir(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = load_json(path, false);
    if (!cfg && g4_last_error()[0]) return NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_t *root = load_json(path, true);
    g4_vocab *v = NULL;
    if (root && json_is_object(root)) {
        if (!(v = hf_build(root, cfg))) g4_error_prefix("%s", path);
    } else if (root) {
        g4_error("%s: not a JSON object", path);
    }
    json_decref(root);
    json_decref(cfg);
    return v;
}

/* ---- the public API -------------------------------------------------------------- */

g4_vocab *g4_vocab_load(const char *path) {
    struct stat st;
    g4_error_clear();
    if (!path) {
        g4_error("no vocabulary path");
        return NULL;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return g4_vocab_from_hf_dir(path);
    g4_gguf g;
    if (g4_gguf_open(&g, path) != 0) return NULL;
    g4_vocab *v = g4_vocab_from_gguf(&g);
    if (!v) g4_error_prefix("%s", path);
    g4_gguf_close(&g);
    return v;
}

int g4_vocab_size(const g4_vocab *v) { return v ? v->n : -1; }
int g4_vocab_bos(const g4_vocab *v) { return v ? v->bos : -1; }
int g4_vocab_eos(const g4_vocab *v) { return v ? v->eos : -1; }

int32_t g4_vocab_find(const g4_vocab *v, const char *piece) {
    return v && piece ? g4_vocab_lookup(v, piece, strlen(piece)) : -1;
}

const char *g4_vocab_piece(const g4_vocab *v, int32_t id) {
    return v && id >= 0 && id < v->n ? v->text + v->off[id] : NULL;
}

int g4_vocab_is_special(const g4_vocab *v, int32_t id) {
    return v && id >= 0 && id < v->n && (v->type[id] == G4_TOK_CONTROL || v->type[id] == G4_TOK_USER_DEFINED);
}

int g4_vocab_is_eog(const g4_vocab *v, int32_t id) {
    if (!v || id < 0) return 0;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 1;
    return 0;
}
