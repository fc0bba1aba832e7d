/* fuzz_tokenizer.c: libFuzzer target for the tokenizer. The input is text: it is
 * tokenized with and without special-token parsing, the bytes of the ids must
 * give back the input exactly, untrusted text must never yield a special id, and
 * the streaming detokenizer (with a small buffer) must give the input with each
 * invalid UTF-8 subpart replaced by U+FFFD (checked against a separate decoder
 * here). An input that starts with "GGUF" is instead a vocab file: it must load
 * or fail cleanly, and a loaded vocab must tokenize and detokenize without harm.
 * The vocab is the real one ($G4_SHARED or ../shared), else a small synthetic one. */
#include "model/gguf.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static g4_vocab *vocab;

/* ---- a synthetic vocab, when ../shared is absent -------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} wbuf;

static void put(wbuf *w, const void *d, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = 2 * (w->n + n) + 64;
        if (!(w->p = realloc(w->p, w->cap))) abort();
    }
    memcpy(w->p + w->n, d, n);
    w->n += n;
}

static void put_le(wbuf *w, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) put(w, &(unsigned char){(unsigned char)(v >> 8 * i)}, 1);
}

static void put_str(wbuf *w, const char *s) {
    put_le(w, strlen(s), 8);
    put(w, s, strlen(s));
}

static g4_vocab *synthetic_vocab(void) {
    static const char *const named[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|\"|>", "<|image|>", "<|image>"};
    static const char *const text[] = {"a", "b", "ab", "\xE2\x96\x81", "\342\226\201a", "\n", "\n\n", "<", "|", "\xC3\xA9"};
    static const char *const merges[] = {"a b", "\xE2\x96\x81 a", "\n \n"};
    int n_named = 9, n_text = 10, n = n_named + 256 + n_text;
    wbuf w = {0};
    put(&w, "GGUF", 4);
    put_le(&w, 3, 4);
    put_le(&w, 0, 8);
    put_le(&w, 4, 8);
    put_str(&w, "tokenizer.ggml.model");
    put_le(&w, G4_GGUF_STRING, 4);
    put_str(&w, "gemma4");
    put_str(&w, "tokenizer.ggml.tokens");
    put_le(&w, G4_GGUF_ARRAY, 4);
    put_le(&w, G4_GGUF_STRING, 4);
    put_le(&w, (uint64_t)n, 8);
    for (int i = 0; i < n_named; i++) put_str(&w, named[i]);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        put_str(&w, name);
    }
    for (int i = 0; i < n_text; i++) put_str(&w, text[i]);
    put_str(&w, "tokenizer.ggml.token_type");
    put_le(&w, G4_GGUF_ARRAY, 4);
    put_le(&w, G4_GGUF_INT32, 4);
    put_le(&w, (uint64_t)n, 8);
    for (int i = 0; i < n; i++)
        put_le(&w, i < 6 ? G4_TOK_CONTROL : i < n_named ? G4_TOK_USER_DEFINED : i < n_named + 256 ? G4_TOK_BYTE : G4_TOK_NORMAL, 4);
    put_str(&w, "tokenizer.ggml.merges");
    put_le(&w, G4_GGUF_ARRAY, 4);
    put_le(&w, G4_GGUF_STRING, 4);
    put_le(&w, 3, 8);
    for (int i = 0; i < 3; i++) put_str(&w, merges[i]);
    while (w.n % 32) put(&w, "", 1);
    g4_gguf g;
    if (g4_gguf_parse(&g, w.p, w.n) != 0) abort();
    g4_vocab *v = g4_vocab_from_gguf(&g);
    g4_gguf_close(&g);
    free(w.p);
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *shared = getenv("G4_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", shared && *shared ? shared : "../shared");
    vocab = g4_vocab_load(path);
    if (!vocab) vocab = synthetic_vocab();
    if (!vocab) {
        fprintf(stderr, "fuzz_tokenizer: no vocab: %s\n", g4_last_error());
        abort();
    }
    fprintf(stderr, "fuzz_tokenizer: vocab of %d tokens\n", g4_vocab_size(vocab));
    return 0;
}

/* ---- an independent UTF-8 decoder (maximal subparts -> U+FFFD) --------------------- */

static size_t sanitize(const unsigned char *s, size_t n, unsigned char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        /* expected length and the allowed range of the second byte (Unicode table 3-7) */
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c <= 0x7F) len = 1;
        else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c == 0xED) len = 3, hi = 0x9F;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;
        size_t ok = len ? 1 : 0;
        while (ok && ok < len && i + ok < n && s[i + ok] >= (ok == 1 ? lo : 0x80) && s[i + ok] <= (ok == 1 ? hi : 0xBF)) ok++;
        if (len && ok == len) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += ok ? ok : 1;
        }
    }
    return o;
}

/* ---- the checks ------------------------------------------------------------------- */

static int32_t *tokenize_all(const g4_vocab *v, const char *s, size_t n, unsigned flags, int *count) {
    *count = g4_tokenize(v, s, n, flags, NULL, 0);
    if (*count < 0) return NULL;
    int32_t *ids = malloc((size_t)(*count ? *count : 1) * sizeof *ids);
    if (!ids || g4_tokenize(v, s, n, flags, ids, *count) != *count) abort();
    return ids;
}

/* The raw bytes of the ids, as the tokenizer meant them. */
static size_t raw_bytes(const g4_vocab *v, const int32_t *ids, int n, unsigned char *out) {
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        const char *p = v->text + v->off[ids[i]];
        size_t len = v->len[ids[i]];
        if (v->type[ids[i]] == G4_TOK_BYTE) {
            out[o++] = v->byte_val[ids[i]];
            continue;
        }
        for (size_t k = 0; k < len; k++) {
            bool space = v->type[ids[i]] != G4_TOK_CONTROL && v->type[ids[i]] != G4_TOK_USER_DEFINED &&
                         k + 3 <= len && !memcmp(p + k, "\xE2\x96\x81", 3);
            out[o++] = space ? ' ' : (unsigned char)p[k];
            if (space) k += 2;
        }
    }
    return o;
}

static size_t detokenize_all(const g4_vocab *v, const int32_t *ids, int n, size_t cap, unsigned char *out) {
    g4_detokenizer *d = g4_detokenizer_new(v, 0);
    if (!d) abort();
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int k = g4_detokenize(d, ids[i], (char *)out + o, cap);
        if (k < 0 || (size_t)k > cap) abort();
        o += (size_t)k;
    }
    for (int k; (k = g4_detokenize_flush(d, (char *)out + o, cap)) > 0;) o += (size_t)k;
    g4_detokenizer_free(d);
    return o;
}

static void check_text(const uint8_t *data, size_t size) {
    size_t cap = 4 + size % 13;
    unsigned char *text = malloc(size + 1), *raw = malloc(3 * size + 16), *want = malloc(3 * size + 16),
                  *got = malloc(3 * size + 16);
    if (!text || !raw || !want || !got) abort();
    /* a "▁" in the input is a space to the tokenizer (as in llama.cpp and HF), so
     * it comes back as one */
    size_t n_text = 0;
    for (size_t i = 0; i < size; i++) {
        if (i + 3 <= size && !memcmp(data + i, "\xE2\x96\x81", 3)) {
            text[n_text++] = ' ';
            i += 2;
        } else {
            text[n_text++] = data[i];
        }
    }
    size_t n_want = sanitize(text, n_text, want);
    for (unsigned flags = 0; flags <= G4_TOKENIZE_SPECIAL; flags += G4_TOKENIZE_SPECIAL) {
        int n;
        int32_t *ids = tokenize_all(vocab, (const char *)data, size, flags, &n);
        if (!ids) {
            fprintf(stderr, "tokenize failed: %s\n", g4_last_error());
            abort();
        }
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vocab->n || (!flags && g4_vocab_is_special(vocab, ids[i]))) abort();
        if (raw_bytes(vocab, ids, n, raw) != n_text || memcmp(raw, text, n_text) != 0) abort();
        /* cutting runs into words must change nothing */
        if (vocab->split_words) {
            int n_whole;
            vocab->split_words = false;
            int32_t *whole = tokenize_all(vocab, (const char *)data, size, flags, &n_whole);
            vocab->split_words = true;
            if (!whole || n_whole != n || memcmp(whole, ids, (size_t)n * sizeof *ids) != 0) abort();
            free(whole);
        }
        if (detokenize_all(vocab, ids, n, cap, got) != n_want || memcmp(got, want, n_want) != 0) abort();
        free(ids);
    }
    free(text);
    free(raw);
    free(want);
    free(got);
}

/* A fuzzed vocab file: loads or fails with a message; a loaded one must work. */
static void check_vocab_file(const uint8_t *data, size_t size) {
    g4_gguf g;
    if (g4_gguf_parse(&g, data, size) != 0) return;
    g4_vocab *v = g4_vocab_from_gguf(&g);
    g4_gguf_close(&g);
    if (!v) {
        if (!g4_last_error()[0]) abort();
        return;
    }
    static const char sample[] = "<|turn>user\nab a\xC3\xA9 \xFF\n\n\n<|image|>";
    int n;
    unsigned flags = G4_TOKENIZE_SPECIAL | (g4_vocab_bos(v) >= 0 ? G4_TOKENIZE_ADD_BOS : 0);
    int32_t *ids = tokenize_all(v, sample, sizeof sample - 1, flags, &n);
    if (ids) {
        size_t bytes = 16;
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= v->n) abort();
            bytes += 3 * (size_t)v->len[ids[i]];
        }
        unsigned char *out = malloc(bytes);
        if (!out) abort();
        detokenize_all(v, ids, n, 4, out);
        free(out);
        free(ids);
    }
    for (int32_t id = -1; id <= v->n && id < 1000; id++) {
        g4_vocab_piece(v, id);
        g4_vocab_is_special(v, id);
        g4_vocab_is_eog(v, id);
    }
    g4_vocab_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 4 && !memcmp(data, "GGUF", 4)) check_vocab_file(data, size);
    else check_text(data, size);
    return 0;
}
