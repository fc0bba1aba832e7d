/* vocab.c: the tokenizer of a generated GGUF. Reads the tokenizer.* keys of a
 * vocab GGUF (normally the real Gemma 4 one) and cuts them to the model's vocab
 * size the way the shared fixtures were made: the first N tokens, scores and
 * types, and only the merges whose two parts and result are among those N
 * pieces. Values are kept as byte ranges of the mapped file and written back
 * verbatim. Without a file, a small synthetic tokenizer is built the same way. */
#include "gen.h"
#include "base/mapfile.h"

#include <stdlib.h>
#include <string.h>

enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 };

typedef struct {
    const unsigned char *p;
    size_t n;
} seg;

/* One key-value pair: written as key, type, [array type, count], then the segments. */
typedef struct {
    const unsigned char *key;
    size_t key_len;
    uint32_t type, arr_type;
    uint64_t arr_n;
    seg *segs;
    size_t n_segs;
} vkv;

struct gen_vocab {
    g4_mapped_file file;     /* the vocab GGUF, or ... */
    unsigned char *image;    /* ... a synthetic image in memory */
    vkv *kv;
    size_t n_kv;
};

/* ---- bounds-checked reading ------------------------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
    int bad;
} reader;

static const unsigned char *take(reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

static uint64_t get_u(reader *r, size_t n) {
    const unsigned char *q = take(r, n);
    uint64_t v = 0;
    for (size_t i = 0; q && i < n; i++) v |= (uint64_t)q[i] << (8 * i);
    return v;
}

static size_t scalar_size(uint32_t t) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < sizeof sz / sizeof sz[0] ? sz[t] : 0;
}

/* Skips one string; returns its bytes and length. */
static const unsigned char *get_str(reader *r, uint64_t *len) {
    *len = get_u(r, 8);
    return take(r, *len > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)*len);
}

/* Skips n elements of type t (no nested arrays in a tokenizer). */
static void skip_elems(reader *r, uint32_t t, uint64_t n) {
    if (t == T_STR) {
        for (uint64_t i = 0; i < n && !r->bad; i++) {
            uint64_t len;
            get_str(r, &len);
        }
        return;
    }
    size_t sz = scalar_size(t);
    if (sz == 0 || n > SIZE_MAX / sz) r->bad = 1;
    else take(r, (size_t)n * sz);
}

/* ---- merges filter -------------------------------------------------------------- */

typedef struct {
    const unsigned char **p;
    uint64_t *len;
    size_t mask;
} piece_set;

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}

static int set_init(piece_set *s, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    s->p = calloc(cap, sizeof *s->p);
    s->len = calloc(cap, sizeof *s->len);
    s->mask = cap - 1;
    return s->p && s->len ? 0 : -1;
}

static void set_free(piece_set *s) {
    free(s->p);
    free(s->len);
}

static void set_add(piece_set *s, const unsigned char *p, uint64_t n) {
    size_t i = hash_bytes(p, n) & s->mask;
    while (s->p[i]) {
        if (s->len[i] == n && memcmp(s->p[i], p, n) == 0) return;
        i = (i + 1) & s->mask;
    }
    s->p[i] = p;
    s->len[i] = n;
}

static int set_has(const piece_set *s, const unsigned char *p, uint64_t n) {
    size_t i = hash_bytes(p, n) & s->mask;
    while (s->p[i]) {
        if (s->len[i] == n && memcmp(s->p[i], p, n) == 0) return 1;
        i = (i + 1) & s->mask;
    }
    return 0;
}

/* A merge "left right" (split at the first space after the first byte, as
 * llama.cpp does) is kept iff left, right and left+right are all pieces. */
static int merge_kept(const piece_set *s, const unsigned char *m, uint64_t n, unsigned char *tmp) {
    const unsigned char *sp = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;
    if (!sp) return 0;
    size_t a = (size_t)(sp - m), b = n - a - 1;
    if (!set_has(s, m, a) || !set_has(s, sp + 1, b)) return 0;
    memcpy(tmp, m, a);
    memcpy(tmp + a, sp + 1, b);
    return set_has(s, tmp, a + b);
}

/* ---- loading -------------------------------------------------------------------- */

static int key_is(const vkv *kv, const char *name) {
    return kv->key_len == strlen(name) && memcmp(kv->key, name, kv->key_len) == 0;
}

/* Parses [buf, buf+size) and keeps the tokenizer.* pairs, cut to n_vocab. */
static int parse(gen_vocab *v, const unsigned char *buf, size_t size, int64_t n_vocab,
                 const char *path) {
    reader r = {buf, buf + size, 0};
    const unsigned char *magic = take(&r, 4);
    uint32_t version = (uint32_t)get_u(&r, 4);
    get_u(&r, 8); /* tensor count: a vocab file has none we need */
    uint64_t n_kv = get_u(&r, 8);
    if (r.bad || memcmp(magic, "GGUF", 4) != 0 || (version != 2 && version != 3) || n_kv > size) {
        fprintf(stderr, "g4gen: %s is not a GGUF v2/v3 file\n", path);
        return -1;
    }
    v->kv = calloc(n_kv ? n_kv : 1, sizeof *v->kv);
    if (!v->kv) return -1;

    const unsigned char *tokens = NULL; /* the tokens array's elements, to build the piece set */
    uint64_t n_tokens = 0;
    for (uint64_t i = 0; i < n_kv && !r.bad; i++) {
        vkv kv = {0};
        uint64_t klen;
        kv.key = get_str(&r, &klen);
        kv.key_len = (size_t)klen;
        kv.type = (uint32_t)get_u(&r, 4);
        const unsigned char *val = r.p;
        if (kv.type == T_ARR) {
            kv.arr_type = (uint32_t)get_u(&r, 4);
            kv.arr_n = get_u(&r, 8);
            val = r.p;
            if (kv.arr_type == T_ARR) r.bad = 1;
            skip_elems(&r, kv.arr_type, kv.arr_n);
        } else {
            skip_elems(&r, kv.type, 1);
        }
        if (r.bad || klen < 10 || memcmp(kv.key, "tokenizer.", 10) != 0) continue;
        kv.segs = malloc(sizeof *kv.segs);
        if (!kv.segs) return -1;
        kv.segs[0] = (seg){val, (size_t)(r.p - val)};
        kv.n_segs = 1;
        if (key_is(&kv, "tokenizer.ggml.tokens")) tokens = val, n_tokens = kv.arr_n;
        v->kv[v->n_kv++] = kv;
    }
    if (r.bad) {
        fprintf(stderr, "g4gen: %s: truncated or malformed GGUF header\n", path);
        return -1;
    }
    if (!tokens) {
        fprintf(stderr, "g4gen: %s has no tokenizer.ggml.tokens\n", path);
        return -1;
    }
    if ((uint64_t)n_vocab > n_tokens) {
        fprintf(stderr, "g4gen: --vocab %lld exceeds the %llu pieces of %s\n", (long long)n_vocab,
                (unsigned long long)n_tokens, path);
        return -1;
    }
    if ((uint64_t)n_vocab == n_tokens) return 0; /* nothing to cut */

    /* the first n_vocab pieces, as a set; cut the per-token arrays to them */
    piece_set set;
    if (set_init(&set, (size_t)n_vocab) != 0) return -1;
    reader t = {tokens, buf + size, 0};
    size_t max_len = 0;
    for (int64_t i = 0; i < n_vocab; i++) {
        uint64_t len;
        const unsigned char *p = get_str(&t, &len);
        set_add(&set, p, len);
        if (len > max_len) max_len = (size_t)len;
    }
    unsigned char *tmp = malloc(2 * max_len + 1);
    int rc = tmp ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < v->n_kv; i++) {
        vkv *kv = &v->kv[i];
        if (kv->type != T_ARR || kv->arr_n != n_tokens) continue;
        if (!key_is(kv, "tokenizer.ggml.tokens") && !key_is(kv, "tokenizer.ggml.scores") &&
            !key_is(kv, "tokenizer.ggml.token_type"))
            continue;
        reader a = {kv->segs[0].p, buf + size, 0};
        skip_elems(&a, kv->arr_type, (uint64_t)n_vocab);
        kv->segs[0].n = (size_t)(a.p - kv->segs[0].p);
        kv->arr_n = (uint64_t)n_vocab;
    }
    for (size_t i = 0; rc == 0 && i < v->n_kv; i++) {
        vkv *kv = &v->kv[i];
        if (!key_is(kv, "tokenizer.ggml.merges") || kv->type != T_ARR || kv->arr_type != T_STR) continue;
        seg *keep = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *keep);
        if (!keep) {
            rc = -1;
            break;
        }
        reader m = {kv->segs[0].p, buf + size, 0};
        size_t n_keep = 0;
        for (uint64_t j = 0; j < kv->arr_n; j++) {
            const unsigned char *start = m.p;
            uint64_t len;
            const unsigned char *p = get_str(&m, &len);
            if (len <= 2 * max_len + 1 && merge_kept(&set, p, len, tmp))
                keep[n_keep++] = (seg){start, (size_t)(m.p - start)};
        }
        free(kv->segs);
        kv->segs = keep;
        kv->n_segs = n_keep;
        kv->arr_n = n_keep;
    }
    free(tmp);
    set_free(&set);
    return rc;
}

void gen_vocab_free(gen_vocab *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n_kv; i++) free(v->kv[i].segs);
    free(v->kv);
    g4_unmap_file(&v->file);
    free(v->image);
    free(v);
}

gen_vocab *gen_vocab_load(const char *path, int64_t n_vocab) {
    gen_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    if (g4_map_file(&v->file, path) != 0) {
        fprintf(stderr, "g4gen: cannot read vocab file %s\n", path);
        free(v);
        return NULL;
    }
    if (parse(v, v->file.data, v->file.size, n_vocab, path) != 0) {
        gen_vocab_free(v);
        return NULL;
    }
    return v;
}

/* Writes a header-only GGUF with a tiny tokenizer into memory and parses it. */
gen_vocab *gen_vocab_synthetic(int64_t n_vocab) {
    static const char *special[] = {"<pad>", "<eos>", "<bos>", "<unk>"};
    char *img = NULL;
    size_t img_size = 0;
    FILE *f = open_memstream(&img, &img_size);
    if (!f) return NULL;
    int rc = gen_put(f, "GGUF", 4) | gen_put_u32(f, 3) | gen_put_u64(f, 0) | gen_put_u64(f, 11);
    rc |= gen_put_str(f, "tokenizer.ggml.model", 20) | gen_put_u32(f, T_STR) | gen_put_str(f, "gemma4", 6);
    rc |= gen_put_str(f, "tokenizer.ggml.tokens", 21) | gen_put_u32(f, T_ARR) | gen_put_u32(f, T_STR);
    rc |= gen_put_u64(f, (uint64_t)n_vocab);
    for (int64_t i = 0; i < n_vocab; i++) {
        char piece[32];
        int n = i < 4 ? snprintf(piece, sizeof piece, "%s", special[i])
                      : snprintf(piece, sizeof piece, "t%lld", (long long)i);
        rc |= gen_put_str(f, piece, (uint64_t)n);
    }
    rc |= gen_put_str(f, "tokenizer.ggml.scores", 21) | gen_put_u32(f, T_ARR) | gen_put_u32(f, T_F32);
    rc |= gen_put_u64(f, (uint64_t)n_vocab);
    for (int64_t i = 0; i < n_vocab; i++) {
        float score = i < 4 ? -1000.0f : 0.0f;
        rc |= gen_put(f, &score, 4);
    }
    rc |= gen_put_str(f, "tokenizer.ggml.token_type", 25) | gen_put_u32(f, T_ARR) | gen_put_u32(f, T_I32);
    rc |= gen_put_u64(f, (uint64_t)n_vocab);
    for (int64_t i = 0; i < n_vocab; i++) rc |= gen_put_u32(f, i < 4 ? 3 : 1); /* control / normal */
    rc |= gen_put_str(f, "tokenizer.ggml.merges", 21) | gen_put_u32(f, T_ARR) | gen_put_u32(f, T_STR);
    rc |= gen_put_u64(f, 0);
    static const char *ids[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    static const uint32_t id_val[] = {2, 1, 3, 0};
    for (int i = 0; i < 4; i++)
        rc |= gen_put_str(f, ids[i], strlen(ids[i])) | gen_put_u32(f, T_U32) | gen_put_u32(f, id_val[i]);
    rc |= gen_put_str(f, "tokenizer.ggml.add_space_prefix", 31) | gen_put_u32(f, T_BOOL) | gen_put(f, "\0", 1);
    rc |= gen_put_str(f, "tokenizer.ggml.add_bos_token", 28) | gen_put_u32(f, T_BOOL) | gen_put(f, "\1", 1);
    if (fclose(f) != 0 || rc != 0) {
        free(img);
        return NULL;
    }
    gen_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        free(img);
        return NULL;
    }
    v->image = (unsigned char *)img;
    if (parse(v, v->image, img_size, n_vocab, "(synthetic vocab)") != 0) {
        gen_vocab_free(v);
        return NULL;
    }
    return v;
}

size_t gen_vocab_n_kv(const gen_vocab *v) { return v->n_kv; }

int gen_vocab_write(const gen_vocab *v, FILE *f) {
    int rc = 0;
    for (size_t i = 0; i < v->n_kv && rc == 0; i++) {
        const vkv *kv = &v->kv[i];
        rc |= gen_put_str(f, (const char *)kv->key, kv->key_len) | gen_put_u32(f, kv->type);
        if (kv->type == T_ARR) rc |= gen_put_u32(f, kv->arr_type) | gen_put_u64(f, kv->arr_n);
        for (size_t s = 0; s < kv->n_segs && rc == 0; s++) rc |= gen_put(f, kv->segs[s].p, kv->segs[s].n);
    }
    return rc;
}
