/* fuzz_parse.c: libFuzzer target for the output parser (g4_parser_*) and its
 * arguments -> JSON converter (text/parse.h).
 *
 * The converter always runs on the raw input (the literal <|"|> as the delimiter).
 * When the real vocab is found ($G4_SHARED or ../shared, fixtures/vocab), the
 * input also becomes a token stream: the first byte picks a prompt tail, then each
 * byte below 0xF0 picks a token from a small alphabet of ids that matter to the
 * parser (control tokens, label and header pieces, brackets, byte tokens), and a
 * byte from 0xF0 up takes the next 3 bytes as any id (0xFF: 4 bytes, any int32).
 * Every event is checked: no empty text, text in whole UTF-8 characters, START /
 * ARGS / END in order with the ARGS concatenation equal to END's JSON, which must
 * be valid JSON within the 1 MiB cap, and nothing after STOP. A broken invariant
 * traps. */
#include "gemma4.h"
#include "text/parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks ---------------------------------------------------------------- */

static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0], cp, min;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* A strict JSON validator (RFC 8259), recursion bounded. */
typedef struct {
    const char *s;
    size_t n, i;
} jp;

static void ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static int lit(jp *p, const char *w) {
    size_t k = strlen(w);
    if (p->n - p->i < k || memcmp(p->s + p->i, w, k) != 0) return 0;
    p->i += k;
    return 1;
}

static int digits(jp *p) {
    size_t i0 = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > i0;
}

static int number(jp *p) {
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0') p->i++;
    else if (!(p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9') || !digits(p)) return 0;
    if (p->i < p->n && p->s[p->i] == '.' && (p->i++, !digits(p))) return 0;
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!digits(p)) return 0;
    }
    return 1;
}

static int string(jp *p) {
    if (p->i >= p->n || p->s[p->i] != '"') return 0;
    p->i++;
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') return p->i++, 1;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++p->i >= p->n) return 0;
            char e = p->s[p->i++];
            if (e == 'u') {
                for (int k = 0; k < 4; k++, p->i++)
                    if (p->i >= p->n || !strchr("0123456789abcdefABCDEF", p->s[p->i]) || !p->s[p->i]) return 0;
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return 0;
            }
            continue;
        }
        size_t k = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
        if (!k) return 0;
        p->i += k;
    }
    return 0;
}

static int value(jp *p, int depth) {
    if (depth > 1000) return 0;
    ws(p);
    if (p->i >= p->n) return 0;
    char c = p->s[p->i];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == close) return p->i++, 1;
        for (;;) {
            if (c == '{') {
                ws(p);
                if (!string(p)) return 0;
                ws(p);
                if (p->i >= p->n || p->s[p->i++] != ':') return 0;
            }
            if (!value(p, depth + 1)) return 0;
            ws(p);
            if (p->i >= p->n) return 0;
            if (p->s[p->i] == close) return p->i++, 1;
            if (p->s[p->i++] != ',') return 0;
        }
    }
    if (c == '"') return string(p);
    if (c == 't') return lit(p, "true");
    if (c == 'f') return lit(p, "false");
    if (c == 'n') return lit(p, "null");
    return number(p);
}

static int valid_object(const char *s, size_t n) {
    jp p = {s, n, 0};
    ws(&p);
    if (p.i >= n || s[p.i] != '{') return 0;
    if (!value(&p, 0)) return 0;
    ws(&p);
    return p.i == n;
}

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "fuzz_parse: check failed: %s\n", #x); __builtin_trap(); } } while (0)

/* ---- converter on raw bytes ------------------------------------------------ */

static void fuzz_converter(const uint8_t *data, size_t size) {
    g4_toolargs ta;
    size_t limit = size > 0 ? 64 + (size_t)data[0] * 64 : 0;  /* small caps reach the limits */
    g4_toolargs_init(&ta, limit);
    if (!ta.json) return;
    const char *s = (const char *)data;
    size_t sent = 0;
    char *copy = malloc(ta.limit);
    if (!copy) {
        g4_toolargs_free(&ta);
        return;
    }
    for (size_t i = 1; i < size;) {
        if (size - i >= 5 && memcmp(s + i, "<|\"|>", 5) == 0) {
            g4_toolargs_quote(&ta);
            i += 5;
        } else {
            /* whole characters, as the detokenizer delivers them; a bad byte alone */
            size_t k = utf8_len((const unsigned char *)s + i, size - i);
            if (!k) k = 1;
            if (i + k + 7 < size && (data[i] & 7) == 0) k += data[i + k] & 7;  /* longer pieces */
            while (k > 1 && i + k < size && (data[i + k] & 0xC0) == 0x80) k--;
            g4_toolargs_feed(&ta, s + i, k);
            i += k;
        }
        CHECK(ta.len >= sent && ta.len < ta.limit);
        CHECK(memcmp(copy, ta.json, sent) == 0);  /* only ever appended */
        memcpy(copy + sent, ta.json + sent, ta.len - sent);
        sent = ta.len;
    }
    g4_toolargs_finish(&ta);
    CHECK(ta.len >= sent && ta.len < ta.limit && memcmp(copy, ta.json, sent) == 0);
    CHECK(strlen(ta.json) == ta.len);
    CHECK(valid_object(ta.json, ta.len));
    free(copy);
    g4_toolargs_free(&ta);
}

/* ---- parser on token streams ----------------------------------------------- */

static g4_vocab *vocab;
static int32_t alphabet[240];
static int n_alphabet;

typedef struct {
    int stopped, open, index;
    char name[400];
    char *args;       /* the call's ARGS so far */
    size_t args_len;
} watch;

static void on_event(const g4_event *e, void *user) {
    watch *w = user;
    CHECK(!w->stopped);
    switch (e->type) {
    case G4_EVENT_THOUGHT:
    case G4_EVENT_ANSWER:
        CHECK(e->len > 0 && e->text && !w->open);
        CHECK(valid_utf8(e->text, e->len));
        break;
    case G4_EVENT_TOOL_CALL_START:
        CHECK(!w->open && e->tool_index == w->index && e->name && e->name[0]);
        CHECK(strlen(e->name) < sizeof w->name);
        strcpy(w->name, e->name);
        w->open = 1;
        w->args_len = 0;
        break;
    case G4_EVENT_TOOL_CALL_ARGS:
        CHECK(w->open && e->tool_index == w->index && e->len > 0);
        CHECK(w->args_len + e->len <= G4_TOOLARGS_MAX_JSON);
        memcpy(w->args + w->args_len, e->text, e->len);
        w->args_len += e->len;
        break;
    case G4_EVENT_TOOL_CALL_END:
        CHECK(w->open && e->tool_index == w->index && strcmp(e->name, w->name) == 0);
        CHECK(e->len == w->args_len && memcmp(e->text, w->args, e->len) == 0);
        CHECK(valid_object(e->text, e->len));
        w->open = 0;
        w->index++;
        break;
    case G4_EVENT_STOP:
        CHECK(!w->open && e->stop != G4_STOP_NONE);
        w->stopped = 1;
        break;
    default:
        CHECK(0);
    }
}

static void add_text(const char *text) {
    int32_t ids[64];
    int n = g4_tokenize(vocab, text, strlen(text), G4_TOKENIZE_SPECIAL, ids, 64);
    for (int i = 0; i < n && i < 64 && n_alphabet < (int)(sizeof alphabet / sizeof *alphabet); i++) {
        int dup = 0;
        for (int j = 0; j < n_alphabet; j++) dup |= alphabet[j] == ids[i];
        if (!dup) alphabet[n_alphabet++] = ids[i];
    }
}

static void load_vocab(void) {
    const char *shared = getenv("G4_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", shared ? shared : "../shared");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_parse: %s not found: fuzzing the converter only\n", path);
        return;
    }
    fclose(f);
    vocab = g4_vocab_load(path);
    if (!vocab) return;
    static const char *texts[] = {
        "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>",
        "<|\"|>", "<|turn>", "<turn|>", "<eos>", "<bos>", "<pad>", "<|image|>", "<|think|>", "<|tool>",
        "thought", "thou", "ght", "\n", "\n\n", " ", "  ", "\t", "model", "call", ":", "call:", "get_weather",
        "f", "{", "}", "[", "]", ",", "{}", "[]", "},", "true", "false", "null", "none", "tru", "1", "108",
        ".", "5", "-", "e", "0", "a", "b", "city", "Paris", "x-y.z", "(", ")", "\"", "\\", "é", "日本", "😀",
        "Hello", " world", "The", "answer",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) add_text(texts[i]);
    static const char *bytes[] = {"<0xC3>", "<0xA9>", "<0xE6>", "<0x97>", "<0xF0>", "<0x9F>", "<0xFF>", "<0x0A>",
                                  "<0x00>", "<0x7B>"};
    for (size_t i = 0; i < sizeof bytes / sizeof *bytes; i++) {
        int32_t id = g4_vocab_find(vocab, bytes[i]);
        if (id >= 0 && n_alphabet < (int)(sizeof alphabet / sizeof *alphabet)) alphabet[n_alphabet++] = id;
    }
}

static void fuzz_parser(const uint8_t *data, size_t size) {
    static const char *prompts[] = {
        NULL, "<|turn>model\n", "<|turn>model\n<|channel>", "<|turn>model\n<|channel>thought\n",
        "<|turn>model\n<|channel>thou", "<|channel>thought\n<channel|>", "<tool_response|><|channel>thought\nabc",
        "<|tool_call>call:f{",
    };
    if (size == 0 || n_alphabet == 0) return;
    int32_t prompt[64];
    int n_prompt = 0;
    const char *pt = prompts[data[0] % (sizeof prompts / sizeof *prompts)];
    if (pt) n_prompt = g4_tokenize(vocab, pt, strlen(pt), G4_TOKENIZE_SPECIAL, prompt, 64);
    if (n_prompt < 0 || n_prompt > 64) n_prompt = 0;
    static char *args;  /* one call's ARGS, allocated once */
    if (!args && !(args = malloc(G4_TOOLARGS_MAX_JSON))) return;
    watch w = {0};
    w.args = args;
    g4_parser *p = g4_parser_new(vocab, prompt, n_prompt, on_event, &w);
    CHECK(p != NULL);
    int vocab_size = g4_vocab_size(vocab);
    int stopped = 0;
    for (size_t i = 1; i < size;) {
        uint8_t b = data[i++];
        int32_t id;
        if (b < 0xF0) {
            id = alphabet[b % n_alphabet];
        } else if (b < 0xFF) {
            uint32_t v = 0;
            for (int k = 0; k < 3 && i < size; k++) v = v << 8 | data[i++];
            id = (int32_t)(v % (uint32_t)vocab_size);
        } else {
            uint32_t v = 0;
            for (int k = 0; k < 4 && i < size; k++) v = v << 8 | data[i++];
            id = (int32_t)v;
        }
        int r = g4_parser_push(p, id);
        CHECK(r == w.stopped);
        CHECK(!stopped || r == 1);
        stopped = r;
    }
    g4_parser_finish(p);
    CHECK(!w.open);
    g4_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        init = 1;
        load_vocab();
    }
    fuzz_converter(data, size);
    if (vocab) fuzz_parser(data, size);
    return 0;
}
