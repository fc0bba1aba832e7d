/* test_tokenizer.c: the tokenizer against the reference ids of the shared fixtures
 * (llama.cpp's vocab test cases and golden.jsonl, both 100% exact), round trips
 * through the streaming detokenizer, special-token safety of untrusted text, byte
 * fallback and invalid UTF-8, long runs (with a timing printout), tokenizer.json
 * loading checked against the GGUF, and malformed vocab files of every kind. */
#include "testutil.h"
#include "ggufimage.h"

#include "gemma4.h"
#include "model/gguf.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static g4_vocab *real;   /* the real Gemma 4 vocab, or NULL without ../shared */

static const char *vocab_path(void) {
    return tu_shared() ? tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", tu_shared()) : NULL;
}

static int setup(void **state) {
    (void)state;
    if (vocab_path() && !(real = g4_vocab_load(vocab_path()))) {
        fprintf(stderr, "loading %s: %s\n", vocab_path(), g4_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    g4_vocab_free(real);
    return 0;
}

#define NEED_REAL() do { if (!real) { skip(); } } while (0)

/* Tokenizes into a malloc'd array (sized by a first counting call). */
static int32_t *tok(const g4_vocab *v, const char *text, size_t len, unsigned flags, int *n) {
    *n = g4_tokenize(v, text, len, flags, NULL, 0);
    if (*n < 0) fail_msg("g4_tokenize: %s", g4_last_error());
    int32_t *ids = malloc((size_t)(*n ? *n : 1) * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(g4_tokenize(v, text, len, flags, ids, *n), *n);
    return ids;
}

static void assert_ids(const int32_t *got, int n_got, const int32_t *want, int n_want, const char *what) {
    if (n_got == n_want && (n_got == 0 || memcmp(got, want, (size_t)n_got * sizeof *got) == 0)) return;
    fprintf(stderr, "%s:\n  want", what);
    for (int i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
    fprintf(stderr, "\n  got ");
    for (int i = 0; i < n_got; i++) fprintf(stderr, " %d", got[i]);
    fprintf(stderr, "\n");
    fail();
}

/* Detokenizes one id at a time into a buffer of `cap` bytes per call; malloc'd result. */
static char *detok(const g4_vocab *v, const int32_t *ids, int n, unsigned flags, size_t cap, size_t *len) {
    g4_detokenizer *d = g4_detokenizer_new(v, flags);
    assert_non_null(d);
    size_t size = 64, o = 0;
    char *s = malloc(size), chunk[256];
    assert_true(cap <= sizeof chunk);
    for (int i = 0; i <= n; i++) {
        for (;;) {
            int k = i < n ? g4_detokenize(d, ids[i], chunk, cap) : g4_detokenize_flush(d, chunk, cap);
            assert_in_range(k, 0, (int)cap);
            if (o + (size_t)k + 1 > size) s = realloc(s, size = 2 * (o + (size_t)k + 1));
            memcpy(s + o, chunk, (size_t)k);
            o += (size_t)k;
            if (i < n || k == 0) break;   /* flush until nothing is left */
        }
    }
    g4_detokenizer_free(d);
    s[o] = '\0';
    *len = o;
    return s;
}

/* Tokenize, check against want (if given), then detokenize with small buffers. */
static void check_text(const g4_vocab *v, const char *text, size_t len, unsigned flags,
                       const int32_t *want, int n_want, const char *what) {
    int n;
    int32_t *ids = tok(v, text, len, flags, &n);
    if (want) assert_ids(ids, n, want, n_want, what);
    static const size_t caps[] = {4, 7, 256};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        size_t out_len;
        char *out = detok(v, ids, n, 0, caps[c], &out_len);
        if (out_len != len || memcmp(out, text, len) != 0) fail_msg("%s: round trip (cap %zu) gave '%s'", what, caps[c], out);
        free(out);
    }
    free(ids);
}

/* ---- the shared fixtures ---------------------------------------------------------- */

/* llama.cpp's test-tokenizer-0 format: cases split by "\n__ggml_vocab_test__\n", one
 * line of space-separated ids per case in .out (no BOS, special text not parsed). */
static void test_vocab_cases(void **state) {
    (void)state;
    NEED_REAL();
    size_t n_inp, n_out;
    char *inp = tu_read_file(tu_path("%s.inp", vocab_path()), &n_inp);
    char *out = tu_read_file(tu_path("%s.out", vocab_path()), &n_out);
    assert_non_null(inp);
    assert_non_null(out);
    inp = realloc(inp, n_inp + 1);
    inp[n_inp] = '\0';
    out = realloc(out, n_out + 1);
    out[n_out] = '\0';
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = out;
    int cases = 0;
    for (;;) {
        char *end = strstr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        int32_t want[1024];
        int n_want = 0;
        for (char *q = line, *e; *q; q = e) {
            long id = strtol(q, &e, 10);
            if (e == q) break;
            want[n_want++] = (int32_t)id;
        }
        char what[64];
        snprintf(what, sizeof what, "vocab case %d", cases);
        check_text(real, p, len, 0, want, n_want, what);
        cases++;
        line = eol + 1;
        if (!end) break;
        p = end + strlen(sep);
    }
    assert_int_equal(*line, '\0');   /* as many cases as lines */
    printf("vocab .inp/.out: %d/%d cases exact\n", cases, cases);
    free(inp);
    free(out);
}

static void test_golden_jsonl(void **state) {
    (void)state;
    NEED_REAL();
    FILE *f = fopen(tu_path("%s/fixtures/tokenizer/golden.jsonl", tu_shared()), "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int cases = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, JSON_ALLOW_NUL, &err);
        assert_non_null(j);
        json_t *text = json_object_get(j, "text"), *ids = json_object_get(j, "ids");
        int32_t *want = malloc((json_array_size(ids) + 1) * sizeof *want);
        for (size_t i = 0; i < json_array_size(ids); i++) want[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        char what[64];
        snprintf(what, sizeof what, "golden.jsonl line %d", cases + 1);
        check_text(real, json_string_value(text), json_string_length(text), G4_TOKENIZE_SPECIAL, want, (int)json_array_size(ids), what);
        free(want);
        json_decref(j);
        cases++;
    }
    free(line);
    fclose(f);
    assert_int_equal(cases, 299);
    printf("golden.jsonl: %d/%d lines exact\n", cases, cases);
}

/* The protocol notes' examples (gemma4-chat-protocol.md §1.7), checked with the real vocab. */
static void test_protocol_examples(void **state) {
    (void)state;
    NEED_REAL();
    int n;
    int32_t *ids = tok(real, "Hello,", 6, G4_TOKENIZE_ADD_BOS, &n);
    assert_ids(ids, n, (const int32_t[]){2, 9259, 236764}, 3, "<bos>Hello,");
    free(ids);
    ids = tok(real, "<bos>Hello,", 11, G4_TOKENIZE_SPECIAL, &n);
    assert_ids(ids, n, (const int32_t[]){2, 9259, 236764}, 3, "<bos> as text");
    free(ids);
    check_text(real, "two  spaces", 11, 0, (const int32_t[]){13498, 138, 35220}, 3, "two spaces");
    check_text(real, "\n\n\n\n", 4, 0, (const int32_t[]){110}, 1, "four newlines");
    check_text(real, "x\x01y", 3, 0, (const int32_t[]){236781, 249732, 236762}, 3, "U+0001");
    const char *call = "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:1}<tool_call|><|tool_response>";
    check_text(real, call, strlen(call), G4_TOKENIZE_SPECIAL,
               (const int32_t[]){48, 6639, 236787, 828, 236779, 19323, 236782, 13319, 236787, 52, 50429, 52, 236764,
                                 14356, 236787, 236770, 236783, 49, 50}, 19, "tool call");
}

/* ---- accessors ---------------------------------------------------------------------- */

static void test_accessors(void **state) {
    (void)state;
    NEED_REAL();
    assert_int_equal(g4_vocab_size(real), 262144);
    assert_int_equal(g4_vocab_bos(real), 2);
    assert_int_equal(g4_vocab_eos(real), 1);
    assert_int_equal(g4_vocab_find(real, "<|turn>"), 105);
    assert_int_equal(g4_vocab_find(real, "<turn|>"), 106);
    assert_int_equal(g4_vocab_find(real, "<|\"|>"), 52);
    assert_int_equal(g4_vocab_find(real, "\xE2\x96\x81"), 236743);
    assert_int_equal(g4_vocab_find(real, "<0x0A>"), 248);
    assert_int_equal(g4_vocab_find(real, "<start_of_turn>"), -1);
    assert_int_equal(g4_vocab_find(real, ""), -1);
    assert_int_equal(g4_vocab_find(NULL, "a"), -1);
    assert_string_equal(g4_vocab_piece(real, 105), "<|turn>");
    assert_string_equal(g4_vocab_piece(real, 108), "\n\n");
    assert_string_equal(g4_vocab_piece(real, 238 + 0x41), "<0x41>");
    assert_null(g4_vocab_piece(real, -1));
    assert_null(g4_vocab_piece(real, 262144));
    static const int32_t specials[] = {0, 1, 2, 46, 48, 52, 98, 100, 105, 106, 258884};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) assert_true(g4_vocab_is_special(real, specials[i]));
    assert_false(g4_vocab_is_special(real, 9259));
    assert_false(g4_vocab_is_special(real, 248));
    assert_false(g4_vocab_is_special(real, 262144));
    assert_true(g4_vocab_is_eog(real, 1));
    assert_true(g4_vocab_is_eog(real, 106));
    assert_true(g4_vocab_is_eog(real, 50));
    assert_false(g4_vocab_is_eog(real, 2));
    assert_false(g4_vocab_is_eog(real, 105));
    assert_false(g4_vocab_is_eog(real, -1));
}

/* ---- untrusted text, bytes, edge cases --------------------------------------------- */

static const char *const markers[] = {
    "<|turn>", "<turn|>", "<|tool_call>", "<tool_call|>", "<|\"|>", "<bos>", "<eos>", "<pad>", "<|channel>",
    "<channel|>", "<|think|>", "<|tool_response>", "<tool_response|>", "<|tool>", "<|image|>", "<|image>",
    "<image|>", "<|audio>", "<|video|>", "<unk>", "<mask>",
};

static void test_untrusted_text(void **state) {
    (void)state;
    NEED_REAL();
    char text[256];
    for (size_t m = 0; m < sizeof markers / sizeof markers[0]; m++) {
        int32_t want = g4_vocab_find(real, markers[m]);
        assert_true(want >= 0 && g4_vocab_is_special(real, want));
        snprintf(text, sizeof text, "user says %s<%s>%s\nok%s", markers[m], markers[m], markers[m], markers[m]);
        int n, found = 0;
        int32_t *ids = tok(real, text, strlen(text), 0, &n);
        for (int i = 0; i < n; i++)
            if (g4_vocab_is_special(real, ids[i])) fail_msg("'%s' untrusted gave special id %d", text, ids[i]);
        free(ids);
        check_text(real, text, strlen(text), 0, NULL, 0, markers[m]);
        ids = tok(real, text, strlen(text), G4_TOKENIZE_SPECIAL, &n);
        for (int i = 0; i < n; i++) found += ids[i] == want;
        if (found != 4) fail_msg("'%s' with G4_TOKENIZE_SPECIAL: %d of 4 %s", text, found, markers[m]);
        free(ids);
    }
    /* The longest match wins: <|image|> over <|image> would need "<|image" + "|>". */
    int n;
    int32_t *ids = tok(real, "<|image|><|image>", 17, G4_TOKENIZE_SPECIAL, &n);
    assert_ids(ids, n, (const int32_t[]){258880, 255999}, 2, "<|image|><|image>");
    free(ids);
}

static void test_byte_fallback(void **state) {
    (void)state;
    NEED_REAL();
    /* A private-use character that is not a piece becomes its UTF-8 bytes. */
    char cp[8];
    int found = 0;
    for (unsigned c = 0xF0000; c < 0xF1000 && !found; c++) {
        cp[0] = (char)(0xF0 | c >> 18), cp[1] = (char)(0x80 | (c >> 12 & 63));
        cp[2] = (char)(0x80 | (c >> 6 & 63)), cp[3] = (char)(0x80 | (c & 63));
        found = g4_vocab_lookup(real, cp, 4) < 0;
    }
    assert_true(found);
    int32_t want[4];
    for (int i = 0; i < 4; i++) want[i] = 238 + (unsigned char)cp[i];
    check_text(real, cp, 4, 0, want, 4, "unknown character");

    /* Invalid UTF-8: byte tokens carry the exact bytes; the detokenizer shows U+FFFD. */
    static const char bad[] = "a\xff b\xc3(\xe2\x82\xed\xa0\x80\xf4\x90\x80\x80z\xc3";
    size_t len = sizeof bad - 1;
    int n;
    int32_t *ids = tok(real, bad, len, G4_TOKENIZE_SPECIAL, &n);
    char raw[64];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        const char *p = g4_vocab_piece(real, ids[i]);
        if (real->type[ids[i]] == G4_TOK_BYTE) raw[o++] = (char)real->byte_val[ids[i]];
        else
            for (; *p; p++) {
                if (!strncmp(p, "\xE2\x96\x81", 3)) raw[o++] = ' ', p += 2;
                else raw[o++] = *p;
            }
    }
    assert_int_equal(o, len);
    assert_memory_equal(raw, bad, len);
    static const char shown[] = "a\xEF\xBF\xBD b\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD";
    for (size_t cap = 4; cap < 40; cap += 7) {
        size_t out_len;
        char *out = detok(real, ids, n, 0, cap, &out_len);
        assert_int_equal(out_len, sizeof shown - 1);
        assert_memory_equal(out, shown, out_len);
        free(out);
    }
    free(ids);
}

static void test_empty_and_cap(void **state) {
    (void)state;
    NEED_REAL();
    int32_t out[8] = {-7, -7, -7, -7, -7, -7, -7, -7};
    assert_int_equal(g4_tokenize(real, "", 0, 0, out, 8), 0);
    assert_int_equal(g4_tokenize(real, NULL, 0, G4_TOKENIZE_SPECIAL, NULL, 0), 0);
    assert_int_equal(g4_tokenize(real, NULL, 0, G4_TOKENIZE_ADD_BOS, out, 8), 1);
    assert_int_equal(out[0], 2);
    /* cap smaller than the result: the total is returned, only cap ids written */
    assert_int_equal(g4_tokenize(real, "Hello, world!", 13, 0, out, 2), 4);
    assert_int_equal(out[0], 9259);
    assert_int_equal(out[1], 236764);
    assert_int_equal(out[2], -7);
    assert_int_equal(g4_tokenize(real, "Hello, world!", 13, 0, NULL, 0), 4);
    /* bad arguments are errors, not crashes */
    assert_int_equal(g4_tokenize(NULL, "a", 1, 0, out, 8), -1);
    assert_int_equal(g4_tokenize(real, NULL, 3, 0, out, 8), -1);
    assert_int_equal(g4_tokenize(real, "a", 1, 0, NULL, 8), -1);
    assert_int_equal(g4_tokenize(real, "a", 1, 0, out, -1), -1);
    /* a text that is only special tokens, and one with NUL bytes */
    check_text(real, "<|turn><turn|>", 14, G4_TOKENIZE_SPECIAL, (const int32_t[]){105, 106}, 2, "only specials");
    check_text(real, "a\0b\0", 4, 0, NULL, 0, "NUL bytes");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Long runs must not go quadratic; 1 MB of text is timed (printed, not asserted). */
static void test_long_runs(void **state) {
    (void)state;
    NEED_REAL();
    size_t n = 300000;
    char *s = malloc(1 << 20);
    static const char fill[] = {'x', ' ', '\n', '\t'};
    for (size_t f = 0; f < sizeof fill; f++) {
        memset(s, fill[f], n);
        char what[32];
        snprintf(what, sizeof what, "run of 0x%02X", fill[f]);
        check_text(real, s, n, 0, NULL, 0, what);
    }
    /* 1 MB of ordinary text (the golden texts over and over), then the same without newlines */
    FILE *f = fopen(tu_path("%s/fixtures/tokenizer/golden.jsonl", tu_shared()), "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, len = 0;
    while (len < (1 << 20)) {
        if (getline(&line, &cap, f) <= 0) {
            rewind(f);
            continue;
        }
        json_t *j = json_loads(line, JSON_ALLOW_NUL, NULL);
        json_t *t = json_object_get(j, "text");
        size_t k = json_string_length(t);
        if (k > (1u << 20) - len) k = (1u << 20) - len;
        memcpy(s + len, json_string_value(t), k);
        len += k;
        json_decref(j);
    }
    free(line);
    fclose(f);
    while (len > 0 && ((unsigned char)s[len - 1] & 0xC0) == 0x80) len--;   /* whole characters */
    if ((unsigned char)s[len - 1] >= 0xC0) len--;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            for (size_t i = 0; i < len; i++)
                if (s[i] == '\n') s[i] = ' ';
        double t0 = now();
        int n_ids;
        int32_t *ids = tok(real, s, len, G4_TOKENIZE_SPECIAL, &n_ids);   /* two passes: count, then store */
        double t1 = now();
        printf("tokenize %.2f MB %s: %d ids, %.1f ms per pass (%.1f MB/s)\n", len / 1048576.0,
               pass ? "without newlines" : "of golden texts", n_ids, (t1 - t0) * 500, len / 1048576.0 / ((t1 - t0) / 2));
        size_t out_len;
        char *out = detok(real, ids, n_ids, 0, 256, &out_len);
        assert_int_equal(out_len, len);
        assert_memory_equal(out, s, len);
        free(out);
        /* cutting runs into words is exact: merging whole runs gives the same ids */
        real->split_words = false;
        int n_whole;
        int32_t *whole = tok(real, s, len, G4_TOKENIZE_SPECIAL, &n_whole);
        real->split_words = true;
        assert_ids(whole, n_whole, ids, n_ids, "whole runs vs words");
        free(whole);
        free(ids);
    }
    free(s);
    assert_int_equal(real->n_joiners, 1);   /* ">" of ">▁</" */
    assert_int_equal(real->joiner[0], '>');
    static const char joined[] = "<a>  </a> > </b>\n> </ >  </";
    check_text(real, joined, sizeof joined - 1, 0, NULL, 0, "joined spaces");
    int n_j;
    int32_t *j = tok(real, "x> </", 5, 0, &n_j);
    assert_ids(j, n_j, (const int32_t[]){236781, g4_vocab_find(real, ">\xE2\x96\x81</")}, 2, "x> </");
    free(j);
}

/* ---- the detokenizer ------------------------------------------------------------------ */

static void test_detokenizer(void **state) {
    (void)state;
    NEED_REAL();
    const int32_t turn[] = {105, 2364, 107, 10979, 106};
    size_t len;
    char *s = detok(real, turn, 5, G4_DETOK_SKIP_SPECIAL, 256, &len);
    assert_string_equal(s, "user\nHi");
    free(s);
    s = detok(real, turn, 5, 0, 4, &len);
    assert_string_equal(s, "<|turn>user\nHi<turn|>");
    free(s);

    /* "€" as three byte tokens: held back until whole, never split by a small buffer */
    g4_detokenizer *d = g4_detokenizer_new(real, 0);
    assert_non_null(d);
    char out[16];
    assert_int_equal(g4_detokenize(d, 238 + 0xE2, out, sizeof out), 0);
    assert_int_equal(g4_detokenize(d, 238 + 0x82, out, sizeof out), 0);
    assert_int_equal(g4_detokenize(d, 238 + 0xAC, out, 2), 0);   /* does not fit: kept */
    assert_int_equal(g4_detokenize(d, 9259, out, 3), 3);          /* "€" now, "Hello" waits */
    assert_memory_equal(out, "\xE2\x82\xAC", 3);
    assert_int_equal(g4_detokenize(d, -1, out, sizeof out), -1);  /* invalid ids are errors */
    assert_non_null(strstr(g4_last_error(), "out of range"));
    assert_int_equal(g4_detokenize(d, 262144, out, sizeof out), -1);
    assert_int_equal(g4_detokenize_flush(d, out, sizeof out), 5);
    assert_memory_equal(out, "Hello", 5);
    /* an incomplete character at the end becomes U+FFFD */
    assert_int_equal(g4_detokenize(d, 238 + 0xF0, out, sizeof out), 0);
    assert_int_equal(g4_detokenize(d, 238 + 0x9F, out, sizeof out), 0);
    assert_int_equal(g4_detokenize_flush(d, out, sizeof out), 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    assert_int_equal(g4_detokenize_flush(d, out, sizeof out), 0);
    /* a broken sequence: one U+FFFD, then the byte that broke it starts afresh */
    assert_int_equal(g4_detokenize(d, 238 + 0xE2, out, sizeof out), 0);
    assert_int_equal(g4_detokenize(d, 236743, out, sizeof out), 4);
    assert_memory_equal(out, "\xEF\xBF\xBD ", 4);
    g4_detokenizer_free(d);
    assert_null(g4_detokenizer_new(NULL, 0));
    g4_detokenizer_free(NULL);
}

/* ---- synthetic vocab GGUFs: the algorithms in miniature, and every defect ------------- */

/* Pieces of the synthetic vocab: 4 named + 3 special + 256 bytes + text pieces. */
static const char *const syn_text[] = {"a", "b", "c", "ab", "bc", "abc", "\xE2\x96\x81", "\342\226\201a", "\n", "\n\n", "x"};
static const float syn_score[] = {-10, -10, -10, -1, -0.5f, -2, -10, -3, -10, -4, -10};
static const char *const syn_merges[] = {"a b", "ab c", "\xE2\x96\x81 a", "\n \n", "b c"};
#define SYN_N (7 + 256 + (int)(sizeof syn_text / sizeof syn_text[0]))
#define SYN_TEXT0 (7 + 256)

enum defect {
    D_NONE, D_SPM, D_SPM_NOPREFIX, D_BAD_TYPE, D_TYPE_COUNT, D_BYTE_PIECE, D_DUP_PIECE, D_BOS_RANGE, D_MODEL,
    D_NO_MODEL, D_NO_TOKENS, D_TOKENS_INT, D_NO_MERGES, D_MERGES_INT, D_SCORES_COUNT, D_NAN_SCORE, D_TYPE_STR,
};

static void build_syn(tg_buf *w, enum defect d) {
    int n_kv = 6 - (d == D_NO_MODEL) - (d == D_NO_TOKENS) - (d == D_NO_MERGES) + (d == D_SPM_NOPREFIX);
    tg_header(w, 3, 0, (uint64_t)n_kv);
    if (d != D_NO_MODEL) {
        tg_kv_str(w, "tokenizer.ggml.model", d == D_MODEL ? "bert" : d == D_SPM || d == D_SPM_NOPREFIX ? "llama" : "gemma4");
    }
    if (d == D_SPM_NOPREFIX) {
        tg_key(w, "tokenizer.ggml.add_space_prefix", G4_GGUF_BOOL);
        tg_u8(w, 0);
    }
    if (d == D_TOKENS_INT) {
        tg_arr(w, "tokenizer.ggml.tokens", G4_GGUF_INT32, SYN_N);
        for (int i = 0; i < SYN_N; i++) tg_u32(w, 0);
    } else if (d != D_NO_TOKENS) {
        tg_arr(w, "tokenizer.ggml.tokens", G4_GGUF_STRING, SYN_N);
        static const char *const named[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|\"|>"};
        for (int i = 0; i < 7; i++) tg_str(w, named[i]);
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            if (d == D_BYTE_PIECE && b == 7) strcpy(name, "<0xZZ>");
            tg_str(w, name);
        }
        for (int i = 0; i < SYN_N - SYN_TEXT0; i++) tg_str(w, d == D_DUP_PIECE && i == 2 ? "a" : syn_text[i]);
    }
    int n_types = d == D_TYPE_COUNT ? SYN_N - 1 : SYN_N;
    if (d == D_TYPE_STR) {
        tg_arr(w, "tokenizer.ggml.token_type", G4_GGUF_STRING, (uint64_t)n_types);
        for (int i = 0; i < n_types; i++) tg_str(w, "1");
    } else {
        tg_arr(w, "tokenizer.ggml.token_type", G4_GGUF_INT32, (uint64_t)n_types);
        for (int i = 0; i < n_types; i++) {
            int t = i < 6 ? G4_TOK_CONTROL : i < 7 ? G4_TOK_USER_DEFINED : i < SYN_TEXT0 ? G4_TOK_BYTE : G4_TOK_NORMAL;
            if (d == D_BAD_TYPE && i == 9) t = 9;
            tg_u32(w, (uint32_t)t);
        }
    }
    int n_scores = d == D_SCORES_COUNT ? 3 : SYN_N;
    tg_arr(w, "tokenizer.ggml.scores", G4_GGUF_FLOAT32, (uint64_t)n_scores);
    for (int i = 0; i < n_scores; i++) {
        float f = i < 7 ? -1000.0f : i < SYN_TEXT0 ? 0.0f : syn_score[i - SYN_TEXT0];
        if (d == D_NAN_SCORE && i == 8) f = 0.0f / 0.0f;
        tg_f32(w, f);
    }
    if (d == D_MERGES_INT) {
        tg_arr(w, "tokenizer.ggml.merges", G4_GGUF_INT32, 1);
        tg_u32(w, 0);
    } else if (d != D_NO_MERGES) {
        size_t n = sizeof syn_merges / sizeof syn_merges[0];
        tg_arr(w, "tokenizer.ggml.merges", G4_GGUF_STRING, n + 3);
        for (size_t i = 0; i < n; i++) tg_str(w, syn_merges[i]);
        tg_str(w, "nospace");   /* malformed or unknown merges are skipped, as llama.cpp never uses them */
        tg_str(w, "a zz");
        tg_str(w, "a b");
    }
    tg_kv_u32(w, "tokenizer.ggml.bos_token_id", d == D_BOS_RANGE ? SYN_N : 2);
    tg_pad_to(w, 32);
}

/* Builds the synthetic vocab (NULL on a defect, with the error checked). */
static g4_vocab *syn_vocab(enum defect d, const char *words) {
    tg_buf w = {0};
    build_syn(&w, d);
    g4_gguf g;
    if (g4_gguf_parse(&g, w.p, w.n) != 0) fail_msg("synthetic GGUF does not parse: %s", g4_last_error());
    g4_vocab *v = g4_vocab_from_gguf(&g);
    g4_gguf_close(&g);
    tg_free(&w);
    if (words) {
        if (v || !strstr(g4_last_error(), words)) fail_msg("defect %d: expected an error with '%s', got '%s'", d, words, g4_last_error());
        assert_null(strchr(g4_last_error(), '\n'));
        printf("  rejected: %s\n", g4_last_error());
    } else if (!v) {
        fail_msg("synthetic vocab: %s", g4_last_error());
    }
    return v;
}

#define T(i) (SYN_TEXT0 + (i))   /* id of syn_text[i] */

static void expect(const g4_vocab *v, const char *text, unsigned flags, const int32_t *want, int n_want) {
    check_text(v, text, strlen(text), flags, want, n_want, text);
}

static void test_synthetic_bpe(void **state) {
    (void)state;
    g4_vocab *v = syn_vocab(D_NONE, NULL);
    assert_int_equal(g4_vocab_size(v), SYN_N);
    assert_int_equal(v->n_merges, 5);
    /* "a b" (rank 0) beats "b c" (rank 4); then "ab c"; ties go leftmost */
    expect(v, "abc", 0, (const int32_t[]){T(5)}, 1);
    expect(v, "abc ab\n\n\nx", 0, (const int32_t[]){T(5), T(6), T(3), T(9), T(8), T(10)}, 6);
    expect(v, " a", 0, (const int32_t[]){T(7)}, 1);
    expect(v, "bc", 0, (const int32_t[]){T(4)}, 1);
    expect(v, "zq", 0, (const int32_t[]){7 + 'z', 7 + 'q'}, 2);
    expect(v, "<|turn>a<turn|>", G4_TOKENIZE_SPECIAL, (const int32_t[]){4, T(0), 5}, 3);
    expect(v, "<|\"|>", G4_TOKENIZE_SPECIAL, (const int32_t[]){6}, 1);
    expect(v, "<|\"|>", 0, (const int32_t[]){7 + '<', 7 + '|', 7 + '"', 7 + '|', 7 + '>'}, 5);
    assert_int_equal(g4_vocab_bos(v), 2);
    assert_int_equal(g4_vocab_eos(v), 1);   /* found by piece */
    assert_true(g4_vocab_is_eog(v, 5));
    assert_false(g4_vocab_is_eog(v, 4));
    g4_vocab_free(v);
}

static void test_synthetic_spm(void **state) {
    (void)state;
    /* SentencePiece: the pair whose merged piece scores highest goes first: "bc" (-0.5) then "abc" */
    g4_vocab *v = syn_vocab(D_SPM_NOPREFIX, NULL);
    int n;
    int32_t *ids = tok(v, "abc", 3, 0, &n);
    assert_ids(ids, n, (const int32_t[]){T(5)}, 1, "spm abc");
    free(ids);
    ids = tok(v, "xab", 3, 0, &n);
    assert_ids(ids, n, (const int32_t[]){T(10), T(3)}, 2, "spm xab");
    free(ids);
    g4_vocab_free(v);
    /* with the default space prefix: "▁abc" -> "▁" "abc" ("▁a" scores lower than "bc") */
    v = syn_vocab(D_SPM, NULL);
    ids = tok(v, "abc", 3, 0, &n);
    assert_ids(ids, n, (const int32_t[]){T(6), T(5)}, 2, "spm ▁abc");
    free(ids);
    ids = tok(v, "a<|turn>a", 9, G4_TOKENIZE_SPECIAL | G4_TOKENIZE_ADD_BOS, &n);
    assert_ids(ids, n, (const int32_t[]){2, T(7), 4, T(7)}, 4, "spm prefix after a special");
    free(ids);
    g4_vocab_free(v);
}

static void test_gguf_defects(void **state) {
    (void)state;
    syn_vocab(D_BAD_TYPE, "invalid token type 9");
    syn_vocab(D_TYPE_STR, "holds strings");
    syn_vocab(D_TYPE_COUNT, "token_type has");
    syn_vocab(D_BYTE_PIECE, "byte token");
    syn_vocab(D_DUP_PIECE, "duplicate piece 'a'");
    syn_vocab(D_BOS_RANGE, "out of range");
    syn_vocab(D_MODEL, "unsupported tokenizer model 'bert'");
    syn_vocab(D_NO_MODEL, "tokenizer.ggml.model is missing");
    syn_vocab(D_NO_TOKENS, "tokenizer.ggml.tokens is missing");
    syn_vocab(D_TOKENS_INT, "not an array of strings");
    syn_vocab(D_NO_MERGES, "tokenizer.ggml.merges is missing");
    syn_vocab(D_MERGES_INT, "not an array of strings");
    syn_vocab(D_SCORES_COUNT, "scores has 3 entries");
    syn_vocab(D_NAN_SCORE, "NaN");

    /* through g4_vocab_load: the path is named */
    const char *path = tu_path("%s/syn-bad.gguf", tu_tmpdir());
    tg_buf w = {0};
    build_syn(&w, D_BAD_TYPE);
    assert_int_equal(tu_write_file(path, w.p, w.n), 0);
    tg_free(&w);
    assert_null(g4_vocab_load(path));
    assert_non_null(strstr(g4_last_error(), path));
    assert_non_null(strstr(g4_last_error(), "invalid token type"));
    assert_null(g4_vocab_load(tu_path("%s/nonexistent.gguf", tu_tmpdir())));
    assert_true(g4_last_error()[0] != '\0');
    assert_int_equal(tu_write_file(path, "GGUF\3\0\0\0garbage", 15), 0);
    assert_null(g4_vocab_load(path));
    assert_null(g4_vocab_load(NULL));
    /* a model GGUF whose vocab was cut to 512 pieces loads too */
    if (tu_shared()) {
        g4_vocab *v = g4_vocab_load(tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared()));
        if (!v) fail_msg("dense-tiny: %s", g4_last_error());
        assert_int_equal(g4_vocab_size(v), 512);
        assert_int_equal(g4_vocab_bos(v), 2);
        check_text(v, "<|turn>user\n", 12, G4_TOKENIZE_SPECIAL, NULL, 0, "dense-tiny vocab");
        g4_vocab_free(v);
    }
}

/* ---- tokenizer.json ---------------------------------------------------------------- */

/* Writes DIR/tokenizer.json for the tokens/types/merges of a GGUF (merges as "a b"
 * strings, or as ["a", "b"] pairs), in the layout HF uses. */
static void write_hf_from_gguf(const g4_gguf *g, const char *dir, int pairs) {
    const g4_gguf_kv *tokens = g4_gguf_find(g, "tokenizer.ggml.tokens");
    const g4_gguf_kv *types = g4_gguf_find(g, "tokenizer.ggml.token_type");
    const g4_gguf_kv *merges = g4_gguf_find(g, "tokenizer.ggml.merges");
    json_t *vocab = json_object(), *added = json_array(), *mlist = json_array();
    for (uint64_t i = 0; i < tokens->arr_n; i++) {
        int64_t t;
        assert_int_equal(g4_gguf_arr_get_i64(types, i, &t), 1);
        json_t *piece = json_stringn(tokens->arr_str[i], (size_t)tokens->arr_str_len[i]);
        json_object_set_new(vocab, json_string_value(piece), json_integer((json_int_t)i));
        if (t == G4_TOK_CONTROL || t == G4_TOK_USER_DEFINED)
            json_array_append_new(added, json_pack("{s:I,s:O,s:b,s:b,s:b,s:b,s:b}", "id", (json_int_t)i, "content", piece,
                                                   "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
                                                   "special", t == G4_TOK_CONTROL));
        json_decref(piece);
    }
    for (uint64_t i = 0; i < merges->arr_n; i++) {
        const char *m = merges->arr_str[i];
        size_t n = (size_t)merges->arr_str_len[i];
        const char *sp = memchr(m + 1, ' ', n - 1);
        if (!pairs || !sp) json_array_append_new(mlist, json_stringn(m, n));
        else json_array_append_new(mlist, json_pack("[s#,s#]", m, (int)(sp - m), sp + 1, (int)(n - (size_t)(sp - m) - 1)));
    }
    json_t *root = json_pack("{s:s,s:o,s:o,s:{s:s,s:n,s:b,s:s,s:o,s:o}}", "version", "1.0", "added_tokens", added,
                             "normalizer", json_pack("{s:s}", "type", "Replace"), "model", "type", "BPE", "dropout",
                             "byte_fallback", 1, "unk_token", "<unk>", "vocab", vocab, "merges", mlist);
    assert_non_null(root);
    assert_int_equal(json_dump_file(root, tu_path("%s/tokenizer.json", dir), JSON_COMPACT), 0);
    json_decref(root);
    json_t *cfg = json_pack("{s:{s:s},s:s,s:s}", "bos_token", "content", "<bos>", "eos_token", "<eos>", "pad_token", "<pad>");
    assert_int_equal(json_dump_file(cfg, tu_path("%s/tokenizer_config.json", dir), 0), 0);
    json_decref(cfg);
}

static void test_hf_synthetic(void **state) {
    (void)state;
    tg_buf w = {0};
    build_syn(&w, D_NONE);
    g4_gguf g;
    assert_int_equal(g4_gguf_parse(&g, w.p, w.n), 0);
    const char *dir = tu_path("%s/hf-syn", tu_tmpdir());
    tu_system("mkdir -p '%s'", dir);
    write_hf_from_gguf(&g, dir, 1);
    g4_vocab *gv = g4_vocab_from_gguf(&g), *hv = g4_vocab_load(dir);
    g4_gguf_close(&g);
    tg_free(&w);
    if (!hv) fail_msg("tokenizer.json: %s", g4_last_error());
    assert_int_equal(g4_vocab_size(hv), SYN_N);
    assert_int_equal(hv->n_merges, 5);
    assert_int_equal(g4_vocab_bos(hv), 2);
    assert_true(g4_vocab_is_special(hv, 4));
    assert_true(g4_vocab_is_special(hv, 6));
    assert_int_equal(hv->type[7 + 'A'], G4_TOK_BYTE);
    static const char *const texts[] = {"abc ab\n\n\nx", " a bc", "zq\xff", "<|turn>a<turn|><|\"|>"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int n1, n2;
        int32_t *a = tok(gv, texts[i], strlen(texts[i]), G4_TOKENIZE_SPECIAL, &n1);
        int32_t *b = tok(hv, texts[i], strlen(texts[i]), G4_TOKENIZE_SPECIAL, &n2);
        assert_ids(b, n2, a, n1, texts[i]);
        free(a);
        free(b);
    }
    g4_vocab_free(gv);
    g4_vocab_free(hv);
}

/* The real vocab converted to tokenizer.json gives the same ids as the GGUF. */
static void test_hf_real(void **state) {
    (void)state;
    NEED_REAL();
    g4_gguf g;
    assert_int_equal(g4_gguf_open(&g, vocab_path()), 0);
    const char *dir = tu_path("%s/hf-real", tu_tmpdir());
    tu_system("mkdir -p '%s'", dir);
    write_hf_from_gguf(&g, dir, 0);
    g4_gguf_close(&g);
    double t0 = now();
    g4_vocab *hv = g4_vocab_from_hf_dir(dir);
    if (!hv) fail_msg("tokenizer.json: %s", g4_last_error());
    printf("tokenizer.json of 262144 pieces loaded in %.0f ms\n", (now() - t0) * 1e3);
    assert_int_equal(g4_vocab_size(hv), 262144);
    assert_int_equal(hv->n_merges, real->n_merges);
    assert_int_equal(g4_vocab_bos(hv), 2);
    assert_int_equal(g4_vocab_eos(hv), 1);
    for (int32_t id = 0; id < 262144; id++)
        if (g4_vocab_is_special(hv, id) != g4_vocab_is_special(real, id) || g4_vocab_is_eog(hv, id) != g4_vocab_is_eog(real, id) ||
            strcmp(g4_vocab_piece(hv, id), g4_vocab_piece(real, id)) != 0)
            fail_msg("token %d differs", id);
    FILE *f = fopen(tu_path("%s/fixtures/tokenizer/golden.jsonl", tu_shared()), "r");
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, JSON_ALLOW_NUL, NULL);
        json_t *t = json_object_get(j, "text");
        int n1, n2;
        int32_t *a = tok(real, json_string_value(t), json_string_length(t), G4_TOKENIZE_SPECIAL, &n1);
        int32_t *b = tok(hv, json_string_value(t), json_string_length(t), G4_TOKENIZE_SPECIAL, &n2);
        assert_ids(b, n2, a, n1, json_string_value(t));
        free(a);
        free(b);
        json_decref(j);
    }
    free(line);
    fclose(f);
    g4_vocab_free(hv);
}

static void hf_expect_error(const char *json, const char *config, const char *words) {
    static int k;
    const char *dir = tu_path("%s/hf-bad%d", tu_tmpdir(), k++);
    tu_system("mkdir -p '%s'", dir);
    if (json) assert_int_equal(tu_write_file(tu_path("%s/tokenizer.json", dir), json, strlen(json)), 0);
    if (config) assert_int_equal(tu_write_file(tu_path("%s/tokenizer_config.json", dir), config, strlen(config)), 0);
    g4_vocab *v = g4_vocab_load(dir);
    if (v || !strstr(g4_last_error(), words))
        fail_msg("expected an error with '%s' for %s, got '%s'", words, json ? json : "(none)", v ? "success" : g4_last_error());
    assert_null(strchr(g4_last_error(), '\n'));
    printf("  rejected: %s\n", g4_last_error());
}

static void test_hf_defects(void **state) {
    (void)state;
#define M(vocab, merges) "{\"model\":{\"type\":\"BPE\",\"vocab\":" vocab ",\"merges\":" merges "}"
    hf_expect_error(NULL, NULL, "tokenizer.json");
    hf_expect_error("{\"model\": {\"vocab\": {\"a\": 0,", NULL, "line 1");
    hf_expect_error("[1, 2]", NULL, "not a JSON object");
    hf_expect_error("{\"model\": {}}", NULL, "no model.vocab");
    hf_expect_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":{},\"merges\":[]}}", NULL, "Unigram");
    hf_expect_error(M("{\"a\":0}", "{}") "}", NULL, "no model.merges");
    hf_expect_error(M("{\"a\":-1}", "[]") "}", NULL, "invalid id");
    hf_expect_error(M("{\"a\":\"0\"}", "[]") "}", NULL, "invalid id");
    hf_expect_error(M("{\"a\":99999999999}", "[]") "}", NULL, "invalid id");
    hf_expect_error(M("{\"a\":0,\"b\":2}", "[]") "}", NULL, "id 1 has no piece");
    hf_expect_error(M("{\"a\":0,\"a\":1}", "[]") "}", NULL, "duplicate");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[]") ",\"added_tokens\":[{\"id\":1,\"content\":\"c\",\"special\":true}]}", NULL,
                    "id 1 is both 'b' and 'c'");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[]") ",\"added_tokens\":[{\"id\":2,\"content\":\"a\",\"special\":true}]}", NULL,
                    "duplicate piece 'a'");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[]") ",\"added_tokens\":[{\"id\":2}]}", NULL, "added_tokens[0] has no content");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[]") ",\"added_tokens\":{}}", NULL, "not an array");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[5]") "}", NULL, "merges[0] is not a pair");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[[\"a\"]]") "}", NULL, "merges[0] is not a pair");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[\"a b\"]") "}", "{\"bos_token\":\"<s>\"}", "'<s>' is not in the vocabulary");
    hf_expect_error(M("{\"a\":0,\"b\":1}", "[\"a b\"]") "}", "{\"bos_token\":", "tokenizer_config.json");
    /* a minimal valid one, for contrast */
    const char *dir = tu_path("%s/hf-ok", tu_tmpdir());
    tu_system("mkdir -p '%s'", dir);
    const char *ok = M("{\"a\":0,\"b\":1,\"ab\":2}", "[[\"a\",\"b\"]]") "}";
    assert_int_equal(tu_write_file(tu_path("%s/tokenizer.json", dir), ok, strlen(ok)), 0);
    g4_vocab *v = g4_vocab_load(dir);
    if (!v) fail_msg("%s", g4_last_error());
    int n;
    int32_t *ids = tok(v, "abab", 4, 0, &n);
    assert_ids(ids, n, (const int32_t[]){2, 2}, 2, "abab");
    free(ids);
    assert_int_equal(g4_vocab_bos(v), -1);
    assert_int_equal(g4_tokenize(v, "a", 1, G4_TOKENIZE_ADD_BOS, NULL, 0), -1);   /* no BOS to add */
    assert_int_equal(g4_tokenize(v, "c", 1, 0, NULL, 0), -1);                     /* no byte token for 'c' */
    assert_non_null(strstr(g4_last_error(), "no token for byte 0x63"));
    g4_vocab_free(v);
#undef M
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_cases),
        cmocka_unit_test(test_golden_jsonl),
        cmocka_unit_test(test_protocol_examples),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_untrusted_text),
        cmocka_unit_test(test_byte_fallback),
        cmocka_unit_test(test_empty_and_cap),
        cmocka_unit_test(test_long_runs),
        cmocka_unit_test(test_detokenizer),
        cmocka_unit_test(test_synthetic_bpe),
        cmocka_unit_test(test_synthetic_spm),
        cmocka_unit_test(test_gguf_defects),
        cmocka_unit_test(test_hf_synthetic),
        cmocka_unit_test(test_hf_real),
        cmocka_unit_test(test_hf_defects),
    };
    if (!tu_shared()) printf("skip: ../shared is absent; only the synthetic-vocab tests run\n");
    return cmocka_run_group_tests(tests, setup, teardown);
}
