/* test_parse.c: the output parser (gemma4.h "Output parsing") and its Gemma
 * arguments -> JSON converter (text/parse.h).
 *
 * Converter tests need nothing. Parser tests load the real Gemma 4 vocab from
 * ../shared and build token streams by tokenizing model output written out as
 * text with special tokens parsed. Each case runs under several tokenizations of
 * the same text (whole, re-tokenized in 1/2/3/5-character pieces so the label and
 * values split across tokens, and one byte token per byte so UTF-8 arrives in
 * pieces); all must give the expected thought, answer, tool calls (JSON compared
 * exactly) and stop reason. Expected values are written from
 * shared/docs/gemma4-chat-protocol.md §3 and the behaviour documented in parse.c. */
#include "testutil.h"

#include "gemma4.h"
#include "text/parse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Q "<|\"|>"  /* the string delimiter token, in model-output text */

/* ---- converter ------------------------------------------------------------- */

static const struct {
    const char *args, *json;
} convert_cases[] = {
    {"{city:" Q "Paris" Q ",days:1}", "{\"city\": \"Paris\", \"days\": 1}"},
    {"{city:" Q "Paris" Q ",days:1,flag:true,opts:{a:null,b:[1," Q "x" Q "]}}",
     "{\"city\": \"Paris\", \"days\": 1, \"flag\": true, \"opts\": {\"a\": null, \"b\": [1, \"x\"]}}"},
    {"{}", "{}"},
    {"", "{}"},
    {"{ a : 1 , b : [ 1 , 2 ] }", "{\"a\": 1, \"b\": [1, 2]}"},
    {"{\n  a: 1,\n  b: 2\n}", "{\"a\": 1, \"b\": 2}"},
    /* strings are verbatim: quotes, braces, backslashes, control characters, unicode */
    {"{s:" Q "he said \"hi\" {x} [y] a:b, c\\d" Q "}", "{\"s\": \"he said \\\"hi\\\" {x} [y] a:b, c\\\\d\"}"},
    {"{s:" Q "l1\nl2\r\tend\x01\x1f\x7f" Q "}", "{\"s\": \"l1\\nl2\\r\\tend\\u0001\\u001f\x7f\"}"},
    {"{s:" Q "\b\f" Q "}", "{\"s\": \"\\b\\f\"}"},
    {"{s:" Q "é 日本 😀" Q "}", "{\"s\": \"é 日本 😀\"}"},
    {"{s:" Q "bad \xff\xc3 end" Q "}", "{\"s\": \"bad \xEF\xBF\xBD\xEF\xBF\xBD end\"}"},
    {"{s:" Q Q "}", "{\"s\": \"\"}"},
    /* bare values */
    {"{a:true,b:false,c:null,d:True,e:False,f:none,g:NIL,h:Nil}",
     "{\"a\": true, \"b\": false, \"c\": null, \"d\": true, \"e\": false, \"f\": null, \"g\": null, \"h\": null}"},
    {"{a:42,b:-1,c:3.5,d:1.50,e:-0,f:1e3,g:2.5E-3,h:0}",
     "{\"a\": 42, \"b\": -1, \"c\": 3.5, \"d\": 1.50, \"e\": -0, \"f\": 1e3, \"g\": 2.5E-3, \"h\": 0}"},
    {"{a:01,b:1.,c:+5,d:.5,e:0x10,f:NaN,g:hello world}",
     "{\"a\": \"01\", \"b\": \"1.\", \"c\": \"+5\", \"d\": \".5\", \"e\": \"0x10\", \"f\": \"NaN\", \"g\": \"hello world\"}"},
    {"{a:,b:1}", "{\"a\": null, \"b\": 1}"},
    {"{a:}", "{\"a\": null}"},
    {"{a: 7 \n}", "{\"a\": 7}"},
    /* keys */
    {"{" Q "quoted key" Q ":1," Q "a:b" Q ":2}", "{\"quoted key\": 1, \"a:b\": 2}"},
    {"{user-id:1,meta.version:2,x_y:3}", "{\"user-id\": 1, \"meta.version\": 2, \"x_y\": 3}"},
    {"{k\"q:1}", "{\"k\\\"q\": 1}"},
    {"{a:1,a:2}", "{\"a\": 1, \"a\": 2}"},
    /* nesting */
    {"{a:{b:{c:[[1,[2]],{d:[]}]}},e:[{},{f:" Q "g" Q "}]}",
     "{\"a\": {\"b\": {\"c\": [[1, [2]], {\"d\": []}]}}, \"e\": [{}, {\"f\": \"g\"}]}"},
    {"{a:[1,,2,]}", "{\"a\": [1, 2]}"},
    {"{a:[" Q "x" Q "," Q "y" Q "]}", "{\"a\": [\"x\", \"y\"]}"},
    /* malformed: best effort, always valid JSON */
    {"{a:tru", "{\"a\": \"tru\"}"},
    {"{a:108.", "{\"a\": \"108.\"}"},
    {"{a:" Q "unterminated", "{\"a\": \"unterminated\"}"},
    {"{a:[1,{b:", "{\"a\": [1, {\"b\": null}]}"},
    {"{a", "{}"},
    {"{a:1,b", "{\"a\": 1}"},
    {"{a:{b:[1,2}", "{\"a\": {\"b\": [1, 2]}}"},
    {"{a:1]}", "{\"a\": 1}"},
    {"{a:1}},b:2}", "{\"a\": 1}"},
    {"{a:" Q "x" Q "junk" Q "y" Q ",b:2}", "{\"a\": \"x\", \"b\": 2}"},
    {"{a:1" Q ",b:2}", "{\"a\": 1, \"b\": 2}"},
    {"junk{a:1}", "{\"a\": 1}"},
};

static size_t utf8_char_len(const char *s, size_t n);

/* Feeds args one character at a time (the delimiter as one unit) and checks that
 * the JSON only ever grows by appending. */
static char *convert_streaming(const char *args, size_t limit, size_t *len) {
    g4_toolargs ta;
    g4_toolargs_init(&ta, limit);
    assert_non_null(ta.json);
    char *seen = calloc(1, 1);
    size_t seen_len = 0, n = strlen(args);
    for (size_t i = 0; i < n;) {
        if (strncmp(args + i, Q, 5) == 0) g4_toolargs_quote(&ta), i += 5;
        else {
            size_t k = utf8_char_len(args + i, n - i);
            g4_toolargs_feed(&ta, args + i, k);
            i += k;
        }
        assert_true(ta.len >= seen_len);
        assert_memory_equal(ta.json, seen, seen_len);
        seen = realloc(seen, ta.len + 1);
        memcpy(seen, ta.json, ta.len + 1);
        seen_len = ta.len;
    }
    g4_toolargs_finish(&ta);
    assert_true(ta.len >= seen_len);
    assert_memory_equal(ta.json, seen, seen_len);
    assert_int_equal(strlen(ta.json), ta.len);
    free(seen);
    char *json = strdup(ta.json);
    *len = ta.len;
    g4_toolargs_free(&ta);
    return json;
}

static void assert_valid_object(const char *json, size_t len) {
    json_error_t err;
    json_t *v = json_loadb(json, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    if (!v) fail_msg("invalid JSON (%s): %.200s", err.text, json);
    assert_true(json_is_object(v));
    json_decref(v);
}

static void test_convert(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof convert_cases / sizeof *convert_cases; i++) {
        const char *args = convert_cases[i].args, *want = convert_cases[i].json;
        size_t len;
        char *json = g4_toolargs_to_json(args, strlen(args), &len);
        assert_non_null(json);
        if (strcmp(json, want) != 0) fail_msg("case %zu: %s\n got  %s\n want %s", i, args, json, want);
        assert_int_equal(len, strlen(want));
        assert_valid_object(json, len);
        free(json);
        json = convert_streaming(args, 0, &len);
        if (strcmp(json, want) != 0) fail_msg("case %zu streamed: %s\n got  %s\n want %s", i, args, json, want);
        free(json);
    }
}

/* Held-back bare values: "tru" and "108." are not sent before their end is known. */
static void test_convert_withholds_bare_values(void **state) {
    (void)state;
    g4_toolargs ta;
    g4_toolargs_init(&ta, 0);
    g4_toolargs_feed(&ta, "{a:tru", 6);
    assert_string_equal(ta.json, "{\"a\": ");
    g4_toolargs_feed(&ta, "e,b:108.", 8);
    assert_string_equal(ta.json, "{\"a\": true, \"b\": ");
    g4_toolargs_feed(&ta, "5}", 2);
    assert_string_equal(ta.json, "{\"a\": true, \"b\": 108.5}");
    g4_toolargs_finish(&ta);
    assert_string_equal(ta.json, "{\"a\": true, \"b\": 108.5}");
    g4_toolargs_reset(&ta);
    g4_toolargs_feed(&ta, "{s:", 3);
    g4_toolargs_quote(&ta);
    g4_toolargs_feed(&ta, "Par", 3);
    assert_string_equal(ta.json, "{\"s\": \"Par");  /* strings stream as they come */
    g4_toolargs_free(&ta);
}

/* Limits: the JSON never exceeds the cap and stays valid after finish. */
static void test_convert_limits(void **state) {
    (void)state;
    /* a long string, bare value, bare key, nesting of arrays and of objects */
    static const char *heads[] = {"{s:", "{s:", "{", "{a:[", "{a:"};
    static const char *units[] = {"ab\"\n\x01", "x", "k", "[", "{b:"};
    for (size_t h = 0; h < 5; h++) {
        for (size_t limit = 64; limit <= 4096; limit *= 4) {
            g4_toolargs ta;
            g4_toolargs_init(&ta, limit);
            g4_toolargs_feed(&ta, heads[h], strlen(heads[h]));
            if (h == 0) g4_toolargs_quote(&ta);
            for (int i = 0; i < 100000; i++) g4_toolargs_feed(&ta, units[h], strlen(units[h]));
            g4_toolargs_finish(&ta);
            assert_true(ta.len < limit);
            assert_true(ta.truncated);
            assert_valid_object(ta.json, ta.len);
            g4_toolargs_free(&ta);
        }
    }
    /* nesting deeper than G4_TOOLARGS_MAX_DEPTH */
    g4_toolargs ta;
    g4_toolargs_init(&ta, 0);
    g4_toolargs_feed(&ta, "{a:", 3);
    for (int i = 0; i < 1000; i++) g4_toolargs_feed(&ta, "[", 1);
    g4_toolargs_finish(&ta);
    assert_true(ta.truncated);
    assert_valid_object(ta.json, ta.len);
    g4_toolargs_free(&ta);
}

/* ---- parser: harness ------------------------------------------------------- */

static g4_vocab *vocab;

static const g4_vocab *get_vocab(void) {
    static int tried;
    if (!tried) {
        tried = 1;
        const char *shared = tu_shared();
        if (shared) {
            vocab = g4_vocab_load(tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", shared));
            if (!vocab) fail_msg("g4_vocab_load: %s", g4_last_error());
        }
    }
    if (!vocab) skip();
    return vocab;
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static const char *sb_str(const sbuf *b) { return b->p ? b->p : ""; }

#define MAX_CALLS 8

typedef struct {
    char name[64];
    sbuf args, end;   /* concatenated ARGS; END's text */
    int n_args;       /* ARGS events */
    int ended;
    int cut;          /* END said the output ended inside the call */
} call_rec;

typedef struct {
    sbuf thought, answer;
    int n_thought, n_answer;  /* text events */
    int n_calls;
    call_rec calls[MAX_CALLS];
    int n_stop;
    g4_stop_reason stop;
    char error[256];   /* first broken invariant */
    int open;          /* a call is between START and END */
} capture;

static void broken(capture *c, const char *what) {
    if (!c->error[0]) snprintf(c->error, sizeof c->error, "%s", what);
}

/* Records events and checks the invariants every stream must keep. */
static void on_event(const g4_event *e, void *user) {
    capture *c = user;
    if (c->n_stop) broken(c, "event after STOP");
    switch (e->type) {
    case G4_EVENT_THOUGHT:
    case G4_EVENT_ANSWER:
        if (e->len == 0) broken(c, "empty text event");
        if (c->open) broken(c, "text inside a tool call");
        sb_add(e->type == G4_EVENT_THOUGHT ? &c->thought : &c->answer, e->text, e->len);
        if (e->type == G4_EVENT_THOUGHT) c->n_thought++;
        else c->n_answer++;
        break;
    case G4_EVENT_TOOL_CALL_START:
        if (c->open || e->tool_index != c->n_calls || c->n_calls >= MAX_CALLS) broken(c, "bad START");
        else if (!e->name || !e->name[0]) broken(c, "START without a name");
        else {
            snprintf(c->calls[c->n_calls].name, sizeof c->calls[0].name, "%s", e->name);
            c->n_calls++;
            c->open = 1;
        }
        break;
    case G4_EVENT_TOOL_CALL_ARGS:
        if (!c->open || e->tool_index != c->n_calls - 1) broken(c, "ARGS outside its call");
        else if (e->len == 0) broken(c, "empty ARGS");
        else {
            sb_add(&c->calls[e->tool_index].args, e->text, e->len);
            c->calls[e->tool_index].n_args++;
        }
        break;
    case G4_EVENT_TOOL_CALL_END:
        if (!c->open || e->tool_index != c->n_calls - 1) broken(c, "END outside its call");
        else {
            call_rec *k = &c->calls[e->tool_index];
            if (strcmp(e->name, k->name) != 0) broken(c, "END name differs from START");
            sb_add(&k->end, e->text, e->len);
            if (k->end.n != k->args.n || memcmp(sb_str(&k->end), sb_str(&k->args), k->end.n) != 0)
                broken(c, "concatenated ARGS differ from END");
            k->ended = 1;
            k->cut = e->cut;
            c->open = 0;
        }
        break;
    case G4_EVENT_STOP:
        if (c->open) broken(c, "STOP inside a call");
        c->n_stop++;
        c->stop = e->stop;
        break;
    }
}

static void capture_free(capture *c) {
    free(c->thought.p);
    free(c->answer.p);
    for (int i = 0; i < MAX_CALLS; i++) free(c->calls[i].args.p), free(c->calls[i].end.p);
}

typedef struct {
    int32_t *ids;
    int n, cap;
} idbuf;

static void ids_add(idbuf *b, const int32_t *ids, int n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 16;
        b->ids = realloc(b->ids, sizeof *b->ids * (size_t)b->cap);
    }
    memcpy(b->ids + b->n, ids, sizeof *ids * (size_t)n);
    b->n += n;
}

static void tokenize_into(idbuf *b, const char *text, size_t len, unsigned flags) {
    if (len == 0) return;
    int n = g4_tokenize(vocab, text, len, flags, NULL, 0);
    assert_true(n >= 0);
    int32_t *ids = malloc(sizeof *ids * (size_t)(n + 1));
    assert_int_equal(g4_tokenize(vocab, text, len, flags, ids, n), n);
    ids_add(b, ids, n);
    free(ids);
}

enum { V_WHOLE, V_CHUNK1, V_CHUNK2, V_CHUNK3, V_CHUNK5, V_BYTES, N_VARIANTS };
static const char *variant_names[] = {"whole", "chunks of 1", "chunks of 2", "chunks of 3",
                                      "chunks of 5", "byte tokens"};

static size_t utf8_char_len(const char *s, size_t n) {
    unsigned char c = (unsigned char)s[0];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return k < n ? k : n;
}

/* Text without specials, re-tokenized as the variant asks. */
static void tokenize_run(idbuf *b, const char *s, size_t n, int variant) {
    if (variant == V_WHOLE) {
        tokenize_into(b, s, n, 0);
    } else if (variant == V_BYTES) {
        for (size_t i = 0; i < n; i++) {
            char piece[8];
            snprintf(piece, sizeof piece, "<0x%02X>", (unsigned char)s[i]);
            int32_t id = g4_vocab_find(vocab, piece);
            assert_true(id >= 0);
            ids_add(b, &id, 1);
        }
    } else {
        static const int width[] = {[V_CHUNK1] = 1, [V_CHUNK2] = 2, [V_CHUNK3] = 3, [V_CHUNK5] = 5};
        for (size_t i = 0; i < n;) {
            size_t len = 0;
            for (int c = 0; c < width[variant] && i + len < n; c++) len += utf8_char_len(s + i + len, n - i - len);
            tokenize_into(b, s + i, len, 0);
            i += len;
        }
    }
}

/* Model output as text with specials -> ids: special tokens where the whole-text
 * tokenization has them, the text between tokenized per variant. */
static idbuf tokenize_output(const char *text, int variant) {
    idbuf whole = {0}, out = {0};
    size_t len = strlen(text), at = 0;
    tokenize_into(&whole, text, len, G4_TOKENIZE_SPECIAL);
    for (int i = 0; i < whole.n; i++) {
        int32_t id = whole.ids[i];
        if (!g4_vocab_is_special(vocab, id)) continue;
        const char *piece = g4_vocab_piece(vocab, id);
        const char *hit = strstr(text + at, piece);
        assert_non_null(hit);
        tokenize_run(&out, text + at, (size_t)(hit - (text + at)), variant);
        ids_add(&out, &id, 1);
        at = (size_t)(hit - text) + strlen(piece);
    }
    tokenize_run(&out, text + at, len - at, variant);
    free(whole.ids);
    return out;
}

/* Pushes ids one by one and finishes; checks push's return value. */
static void run_parser(const idbuf *prompt, const int32_t *ids, int n, capture *c) {
    memset(c, 0, sizeof *c);
    g4_parser *p = g4_parser_new(vocab, prompt ? prompt->ids : NULL, prompt ? prompt->n : 0, on_event, c);
    assert_non_null(p);
    int stopped = 0;
    for (int i = 0; i < n; i++) {
        int r = g4_parser_push(p, ids[i]);
        if (stopped && r != 1) broken(c, "push after the stop returned 0");
        if (r == 1 && !c->n_stop) broken(c, "push returned 1 without STOP");
        if (r == 0 && c->n_stop) broken(c, "STOP but push returned 0");
        stopped |= r;
    }
    g4_parser_finish(p);
    g4_parser_finish(p);
    g4_parser_free(p);
    if (c->n_stop > 1) broken(c, "several STOP events");
    if (c->open) broken(c, "a call was left open");
}

typedef struct {
    const char *name;
    const char *prompt;     /* the end of the prompt, or NULL */
    const char *output;     /* what the model generated, specials as text */
    const char *thought;
    const char *answer;
    g4_stop_reason stop;
    const char *calls[4][2];  /* name, arguments JSON */
} parse_case;

static void check_capture(const parse_case *pc, const capture *c, const char *variant) {
    if (c->error[0]) fail_msg("%s [%s]: %s", pc->name, variant, c->error);
    if (strcmp(sb_str(&c->thought), pc->thought) != 0)
        fail_msg("%s [%s]: thought\n got  \"%s\"\n want \"%s\"", pc->name, variant, sb_str(&c->thought), pc->thought);
    if (strcmp(sb_str(&c->answer), pc->answer) != 0)
        fail_msg("%s [%s]: answer\n got  \"%s\"\n want \"%s\"", pc->name, variant, sb_str(&c->answer), pc->answer);
    int want_calls = 0;
    while (want_calls < 4 && pc->calls[want_calls][0]) want_calls++;
    if (c->n_calls != want_calls) fail_msg("%s [%s]: %d calls, want %d", pc->name, variant, c->n_calls, want_calls);
    for (int i = 0; i < want_calls; i++) {
        if (strcmp(c->calls[i].name, pc->calls[i][0]) != 0)
            fail_msg("%s [%s]: call %d is %s, want %s", pc->name, variant, i, c->calls[i].name, pc->calls[i][0]);
        if (strcmp(sb_str(&c->calls[i].end), pc->calls[i][1]) != 0)
            fail_msg("%s [%s]: call %d arguments\n got  %s\n want %s", pc->name, variant, i,
                     sb_str(&c->calls[i].end), pc->calls[i][1]);
        assert_valid_object(c->calls[i].end.p, c->calls[i].end.n);
    }
    if (c->stop != pc->stop) fail_msg("%s [%s]: stop %d, want %d", pc->name, variant, c->stop, pc->stop);
    if ((pc->stop != G4_STOP_NONE) != (c->n_stop == 1)) fail_msg("%s [%s]: STOP events", pc->name, variant);
}

static void test_case(void **state) {
    const parse_case *pc = *state;
    get_vocab();
    idbuf prompt = {0};
    if (pc->prompt) tokenize_into(&prompt, pc->prompt, strlen(pc->prompt), G4_TOKENIZE_SPECIAL);
    for (int v = 0; v < N_VARIANTS; v++) {
        idbuf ids = tokenize_output(pc->output, v);
        capture c;
        run_parser(pc->prompt ? &prompt : NULL, ids.ids, ids.n, &c);
        check_capture(pc, &c, variant_names[v]);
        if (v == V_CHUNK1) {  /* output streams: long texts and arguments arrive in pieces */
            if (c.thought.n > 12 && c.n_thought < 2) fail_msg("%s: thought not streamed", pc->name);
            if (c.answer.n > 12 && c.n_answer < 2) fail_msg("%s: answer not streamed", pc->name);
            for (int i = 0; i < c.n_calls; i++)
                if (c.calls[i].end.n > 16 && c.calls[i].n_args < 3) fail_msg("%s: arguments not streamed", pc->name);
        }
        capture_free(&c);
        free(ids.ids);
    }
    free(prompt.ids);
}

/* ---- parser: cases --------------------------------------------------------- */

#define TC "<|tool_call>"
#define ETC "<tool_call|>"
#define TR "<|tool_response>"
#define CH "<|channel>"
#define ECH "<channel|>"
#define EOT "<turn|>"

static const parse_case cases[] = {
    /* answers */
    {"plain answer", NULL, "The capital of France is Paris." EOT, "", "The capital of France is Paris.",
     G4_STOP_END_OF_TURN, {{0}}},
    {"stop on eos", NULL, "Hello!<eos>", "", "Hello!", G4_STOP_EOS, {{0}}},
    {"no stop token", NULL, "Cut off here", "", "Cut off here", G4_STOP_NONE, {{0}}},
    {"whitespace trimmed at both ends", NULL, "  \n Hello  world,\n\n  again \n\n" EOT, "",
     "Hello  world,\n\n  again", G4_STOP_END_OF_TURN, {{0}}},
    {"unicode answer", NULL, "Ça va? 日本語 😀 ok" EOT, "", "Ça va? 日本語 😀 ok", G4_STOP_END_OF_TURN, {{0}}},
    {"text after the stop is ignored", NULL, "Hi" EOT "more text" CH "x", "", "Hi", G4_STOP_END_OF_TURN, {{0}}},
    {"answer starting like the label", NULL, "Those are apples." EOT, "", "Those are apples.",
     G4_STOP_END_OF_TURN, {{0}}},
    {"answer that is the word thought", NULL, "thought" EOT, "", "thought", G4_STOP_END_OF_TURN, {{0}}},
    {"answer thought then space", NULL, "thought experiments" EOT, "", "thought experiments",
     G4_STOP_END_OF_TURN, {{0}}},
    {"leading turn header", NULL, "<|turn>model\nHello." EOT, "", "Hello.", G4_STOP_END_OF_TURN, {{0}}},
    {"delimiter token in content", NULL, "Use " Q "quotes" Q " here." EOT, "", "Use " Q "quotes" Q " here.",
     G4_STOP_END_OF_TURN, {{0}}},
    {"other specials dropped", NULL, "See <|image|> this<bos>." EOT, "", "See  this.", G4_STOP_END_OF_TURN, {{0}}},
    /* thinking */
    {"thought then answer", NULL, CH "thought\nThe user asks 2+2.\n" ECH "The answer is 4." EOT,
     "The user asks 2+2.", "The answer is 4.", G4_STOP_END_OF_TURN, {{0}}},
    {"answer newlines after the channel trimmed", NULL, CH "thought\nHmm.  \n" ECH "\n\nFour.\n" EOT, "Hmm.",
     "Four.", G4_STOP_END_OF_TURN, {{0}}},
    {"label with extra newlines", NULL, CH "thought\n\n\n  Multi\nline\n\nthought.\n\n" ECH "A" EOT,
     "Multi\nline\n\nthought.", "A", G4_STOP_END_OF_TURN, {{0}}},
    {"label followed by a space", NULL, CH "thought Let me think" ECH "Yes" EOT, "Let me think", "Yes",
     G4_STOP_END_OF_TURN, {{0}}},
    {"label absent", NULL, CH "Let me think." ECH "Yes." EOT, "Let me think.", "Yes.", G4_STOP_END_OF_TURN, {{0}}},
    {"label-like reasoning", NULL, CH "thoughtful reply" ECH "Yes." EOT, "thoughtful reply", "Yes.",
     G4_STOP_END_OF_TURN, {{0}}},
    {"empty thought channel", NULL, CH "thought\n" ECH "Hi there." EOT, "", "Hi there.", G4_STOP_END_OF_TURN, {{0}}},
    {"empty channel without newline", NULL, CH "thought" ECH "Hi" EOT, "", "Hi", G4_STOP_END_OF_TURN, {{0}}},
    {"empty channel, nothing at all", NULL, CH ECH "Hi" EOT, "", "Hi", G4_STOP_END_OF_TURN, {{0}}},
    {"repeated channel openers", NULL, CH CH CH "thought\nA B" ECH "Done" EOT, "A B", "Done",
     G4_STOP_END_OF_TURN, {{0}}},
    {"repeated opener inside reasoning", NULL, CH "thought\nFirst." CH "thought\nSecond." ECH "Answer" EOT,
     "First.\nSecond.", "Answer", G4_STOP_END_OF_TURN, {{0}}},
    {"two channels", NULL, CH "thought\nA\n" ECH "X " CH "thought\nB" ECH "Y" EOT, "A\nB", "X Y",
     G4_STOP_END_OF_TURN, {{0}}},
    {"stray channel close in content", NULL, "Sure." ECH " Here it is." EOT, "", "Sure. Here it is.",
     G4_STOP_END_OF_TURN, {{0}}},
    {"omitted opener (26B)", NULL, "thought\n" ECH "The answer." EOT, "", "The answer.", G4_STOP_END_OF_TURN, {{0}}},
    {"omitted opener with reasoning", NULL, "\nthought\nReasoning here\n" ECH "Answer" EOT, "Reasoning here",
     "Answer", G4_STOP_END_OF_TURN, {{0}}},
    {"turn header then thought", NULL, "<|turn>model\n" CH "thought\nX" ECH "Y" EOT, "X", "Y",
     G4_STOP_END_OF_TURN, {{0}}},
    {"unterminated channel at finish", NULL, CH "thought\nStill going  ", "Still going", "", G4_STOP_NONE, {{0}}},
    {"unterminated channel at stop", NULL, CH "thought\nStill going" EOT, "Still going", "",
     G4_STOP_END_OF_TURN, {{0}}},
    {"dangling opener and blanks at the end", NULL, "Answer." CH "\n  ", "", "Answer.", G4_STOP_NONE, {{0}}},
    {"unicode reasoning", NULL, CH "thought\nこんにちは 😀" ECH "Ça va?" EOT, "こんにちは 😀", "Ça va?",
     G4_STOP_END_OF_TURN, {{0}}},
    /* starting state from the prompt */
    {"prompt ends in an open channel", "<|turn>model\n" CH "thought\n", "Still thinking.\n" ECH "Answer." EOT,
     "Still thinking.", "Answer.", G4_STOP_END_OF_TURN, {{0}}},
    {"prompt ends in a bare opener", "<|turn>model\n" CH, "thought\nX" ECH "Y" EOT, "X", "Y",
     G4_STOP_END_OF_TURN, {{0}}},
    {"prompt ends in half the label", "<|turn>model\n" CH "thou", "ght\nX" ECH "Y" EOT, "X", "Y",
     G4_STOP_END_OF_TURN, {{0}}},
    {"prompt ends in a closed empty channel", "<|turn>model\n" CH "thought\n" ECH, "Answer" EOT, "", "Answer",
     G4_STOP_END_OF_TURN, {{0}}},
    {"prompt ends after a tool response with the thinking cue",
     "<|turn>user\nWeather?<turn|>\n<|turn>model\n" TC "call:w{}" ETC TR "response:w{value:" Q "sun" Q
     "}<tool_response|>" CH "thought\n",
     "It is sunny." ECH "Sunny." EOT, "It is sunny.", "Sunny.", G4_STOP_END_OF_TURN, {{0}}},
    {"prompt ends after a tool response without cue",
     "<|turn>model\n" TC "call:w{}" ETC TR "response:w{value:" Q "sun" Q "}<tool_response|>",
     "Sunny." EOT, "", "Sunny.", G4_STOP_END_OF_TURN, {{0}}},
    {"prompt with an earlier channel", CH "thought\nold" ECH "ans" EOT "\n<|turn>user\nhi" EOT "\n<|turn>model\n",
     "Hello" EOT, "", "Hello", G4_STOP_END_OF_TURN, {{0}}},
    /* tool calls */
    {"single tool call", NULL, TC "call:get_weather{city:" Q "Paris" Q ",days:1}" ETC TR, "", "",
     G4_STOP_TOOL_CALLS, {{"get_weather", "{\"city\": \"Paris\", \"days\": 1}"}}},
    {"spec example", NULL,
     TC "call:get_weather{city:" Q "Paris" Q ",days:1,flag:true,opts:{a:null,b:[1," Q "x" Q "]}}" ETC TR, "", "",
     G4_STOP_TOOL_CALLS,
     {{"get_weather", "{\"city\": \"Paris\", \"days\": 1, \"flag\": true, \"opts\": {\"a\": null, \"b\": [1, \"x\"]}}"}}},
    {"parallel tool calls", NULL,
     TC "call:get_weather{city:" Q "Paris" Q "}" ETC TC "call:get_time{tz:" Q "Europe/Paris" Q ",h24:false}" ETC TR,
     "", "", G4_STOP_TOOL_CALLS,
     {{"get_weather", "{\"city\": \"Paris\"}"}, {"get_time", "{\"tz\": \"Europe/Paris\", \"h24\": false}"}}},
    {"nested values and hard strings", NULL,
     TC "call:search{query:" Q "he said \"hi\" {not: a brace} [x], y:z\nline2 \\ é 日本 😀" Q
     ",filters:{tags:[" Q "a,b" Q "," Q Q "],range:{min:-1.5,max:1e3}}," Q "user-id" Q ":42,meta.version:2,"
     "empty:{},list:[],n:null}" ETC TR,
     "", "", G4_STOP_TOOL_CALLS,
     {{"search", "{\"query\": \"he said \\\"hi\\\" {not: a brace} [x], y:z\\nline2 \\\\ é 日本 😀\", "
                 "\"filters\": {\"tags\": [\"a,b\", \"\"], \"range\": {\"min\": -1.5, \"max\": 1e3}}, "
                 "\"user-id\": 42, \"meta.version\": 2, \"empty\": {}, \"list\": [], \"n\": null}"}}},
    {"multi-line arguments", NULL, TC "call:write{\n  path:" Q "/tmp/a.txt" Q ",\n  text:" Q "line 1\nline 2\n" Q
     "\n}" ETC TR,
     "", "", G4_STOP_TOOL_CALLS, {{"write", "{\"path\": \"/tmp/a.txt\", \"text\": \"line 1\\nline 2\\n\"}"}}},
    {"numbers split across tokens", NULL, TC "call:f{n:108.5,t:true,f:false,m:-12345678901234567890}" ETC TR, "", "",
     G4_STOP_TOOL_CALLS, {{"f", "{\"n\": 108.5, \"t\": true, \"f\": false, \"m\": -12345678901234567890}"}}},
    {"content before a call", NULL, "Let me check.\n" TC "call:f{}" ETC TR, "", "Let me check.",
     G4_STOP_TOOL_CALLS, {{"f", "{}"}}},
    {"content between and after calls", NULL, "A" TC "call:f{x:1}" ETC "\nB\n" TC "call:g{y:2}" ETC "C" EOT, "",
     "A\nB\nC", G4_STOP_END_OF_TURN, {{"f", "{\"x\": 1}"}, {"g", "{\"y\": 2}"}}},
    {"thought then call", NULL, CH "thought\nNeed weather." ECH TC "call:get_weather{city:" Q "Oslo" Q "}" ETC TR,
     "Need weather.", "", G4_STOP_TOOL_CALLS, {{"get_weather", "{\"city\": \"Oslo\"}"}}},
    {"call inside an unclosed channel", NULL, CH "thought\nNeed weather." TC "call:f{}" ETC TR, "Need weather.",
     "", G4_STOP_TOOL_CALLS, {{"f", "{}"}}},
    {"stray channel close before a call (26B)", NULL, "Checking." ECH TC "call:f{a:1}" ETC TR, "", "Checking.",
     G4_STOP_TOOL_CALLS, {{"f", "{\"a\": 1}"}}},
    {"calls without a stop token", NULL, TC "call:f{a:1}" ETC TC "call:g{}" ETC, "", "", G4_STOP_NONE,
     {{"f", "{\"a\": 1}"}, {"g", "{}"}}},
    {"unterminated string at finish", NULL, TC "call:f{a:" Q "unfinished text", "", "", G4_STOP_NONE,
     {{"f", "{\"a\": \"unfinished text\"}"}}},
    {"unterminated call at a stop token", NULL, TC "call:f{a:1,b:[1,2" EOT, "", "", G4_STOP_END_OF_TURN,
     {{"f", "{\"a\": 1, \"b\": [1, 2]}"}}},
    {"call closed by end of turn", NULL, TC "call:f{a:1}" EOT, "", "", G4_STOP_END_OF_TURN, {{"f", "{\"a\": 1}"}}},
    {"incomplete bare value at finish", NULL, TC "call:f{a:tru", "", "", G4_STOP_NONE, {{"f", "{\"a\": \"tru\"}"}}},
    {"key without value at finish", NULL, TC "call:f{a:1,b:", "", "", G4_STOP_NONE,
     {{"f", "{\"a\": 1, \"b\": null}"}}},
    {"next call opens before the close", NULL, TC "call:f{a:" Q "x" TC "call:g{}" ETC TR, "", "",
     G4_STOP_TOOL_CALLS, {{"f", "{\"a\": \"x\"}"}, {"g", "{}"}}},
    {"stray colon before call", NULL, TC ":call:f{a:1}" ETC TR, "", "", G4_STOP_TOOL_CALLS, {{"f", "{\"a\": 1}"}}},
    {"missing call: prefix", NULL, TC "get_time{}" ETC TR, "", "", G4_STOP_TOOL_CALLS, {{"get_time", "{}"}}},
    {"call without arguments", NULL, TC "call:ping" ETC TR, "", "", G4_STOP_TOOL_CALLS, {{"ping", "{}"}}},
    {"call name with dots and dashes", NULL, TC "call:mcp.files-read_v2{p:1}" ETC TR, "", "", G4_STOP_TOOL_CALLS,
     {{"mcp.files-read_v2", "{\"p\": 1}"}}},
    {"parenthesised call is answer text", NULL, TC "call:f(x=1)" ETC " Done" EOT, "", "call:f(x=1) Done",
     G4_STOP_END_OF_TURN, {{0}}},
    {"header with a non-name character", NULL, TC "call é" ETC "!" EOT, "", "call é!", G4_STOP_END_OF_TURN, {{0}}},
    {"header cut off by finish", NULL, "Hi" TC "call:get_w", "", "Hi", G4_STOP_NONE, {{0}}},
    {"delimiters in odd places", NULL, TC "call:" Q "f" Q "{" Q "k" Q ":" Q "x" Q Q ",b:1" Q ",c:" Q "y" Q "}" ETC TR,
     "", "", G4_STOP_TOOL_CALLS, {{"f", "{\"k\": \"x\", \"b\": 1, \"c\": \"y\"}"}}},
    {"quoted keys with colons", NULL, TC "call:f{" Q "a:b" Q ":1,x-y.z:2}" ETC TR, "", "", G4_STOP_TOOL_CALLS,
     {{"f", "{\"a:b\": 1, \"x-y.z\": 2}"}}},
    {"specials inside arguments dropped", NULL, TC "call:f{a:" Q "x" CH "y" ECH Q ",b:1}" ETC TR, "", "",
     G4_STOP_TOOL_CALLS, {{"f", "{\"a\": \"xy\", \"b\": 1}"}}},
    {"text between arguments and close dropped", NULL, TC "call:f{a:1} junk" ETC "ok" EOT, "", "ok",
     G4_STOP_END_OF_TURN, {{"f", "{\"a\": 1}"}}},
    {"stray tool-call close", NULL, "Hi" ETC " there" EOT, "", "Hi there", G4_STOP_END_OF_TURN, {{0}}},
};

/* ---- parser: the rest ------------------------------------------------------ */

static void test_special_ids(void **state) {
    (void)state;
    get_vocab();
    /* the tokenizer must produce the control tokens this file relies on */
    static const char *pieces[] = {"<eos>", "<turn|>", "<|turn>", "<|channel>", "<channel|>", "<|tool_call>",
                                   "<tool_call|>", "<|tool_response>", "<tool_response|>", Q};
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
        int32_t id = g4_vocab_find(vocab, pieces[i]);
        assert_true(id >= 0);
        int32_t got[4];
        assert_int_equal(g4_tokenize(vocab, pieces[i], strlen(pieces[i]), G4_TOKENIZE_SPECIAL, got, 4), 1);
        assert_int_equal(got[0], id);
        assert_true(g4_vocab_is_special(vocab, id));
    }
}

static void test_bad_arguments(void **state) {
    (void)state;
    get_vocab();
    capture c;
    assert_null(g4_parser_new(NULL, NULL, 0, on_event, &c));
    assert_null(g4_parser_new(vocab, NULL, 0, NULL, &c));
    assert_null(g4_parser_new(vocab, NULL, 3, on_event, &c));
    memset(&c, 0, sizeof c);
    int32_t prompt[] = {-5, 1 << 30, 2};
    g4_parser *p = g4_parser_new(vocab, prompt, 3, on_event, &c);
    assert_non_null(p);
    assert_int_equal(g4_parser_push(p, -1), 0);
    assert_int_equal(g4_parser_push(p, 1 << 30), 0);
    assert_int_equal(g4_parser_push(p, g4_vocab_size(vocab)), 0);
    g4_parser_finish(p);
    assert_int_equal(g4_parser_push(p, g4_vocab_find(vocab, "<eos>")), 0);  /* finished: ignored */
    g4_parser_free(p);
    g4_parser_free(NULL);
    assert_int_equal(c.answer.n + c.thought.n + (size_t)c.n_calls + (size_t)c.n_stop, 0);
    capture_free(&c);
}

/* Bytes of an incomplete UTF-8 character before a special token come out as
 * U+FFFD where they were, not glued to later text. */
static void test_partial_utf8(void **state) {
    (void)state;
    get_vocab();
    int32_t e6 = g4_vocab_find(vocab, "<0xE6>"), x97 = g4_vocab_find(vocab, "<0x97>");
    int32_t a9 = g4_vocab_find(vocab, "<0xA9>"), c3 = g4_vocab_find(vocab, "<0xC3>");
    idbuf ids = tokenize_output(CH "thought\nX", V_WHOLE);
    int32_t more[] = {e6, x97, g4_vocab_find(vocab, ECH), c3, a9, c3};
    ids_add(&ids, more, 6);
    capture c;
    run_parser(NULL, ids.ids, ids.n, &c);
    if (c.error[0]) fail_msg("%s", c.error);
    assert_string_equal(sb_str(&c.thought), "X\xEF\xBF\xBD");
    assert_string_equal(sb_str(&c.answer), "\xC3\xA9\xEF\xBF\xBD");  /* é, then the cut-off byte at finish */
    capture_free(&c);
    free(ids.ids);
}

/* A call the output ends inside of (finish before <tool_call|>) is closed and
 * marked cut; one closed by <tool_call|> or by the stop token is not. */
static void test_cut_call(void **state) {
    (void)state;
    get_vocab();
    static const struct {
        const char *out;
        int cut;
    } outputs[] = {
        {TC "call:f{a:" Q "x", 1},
        {TC "call:f{a:1}" ETC, 0},
        {TC "call:f{a:1}" ETC TC "call:g{b:", 1},
        {TC "call:f{a:1}" TR, 0},
    };
    for (size_t i = 0; i < sizeof outputs / sizeof *outputs; i++) {
        idbuf ids = tokenize_output(outputs[i].out, V_WHOLE);
        capture c;
        run_parser(NULL, ids.ids, ids.n, &c);
        if (c.error[0]) fail_msg("%s: %s", outputs[i].out, c.error);
        assert_true(c.n_calls > 0);
        for (int k = 0; k < c.n_calls; k++) {
            assert_true(c.calls[k].ended);
            assert_int_equal(c.calls[k].cut, k == c.n_calls - 1 ? outputs[i].cut : 0);
        }
        capture_free(&c);
        free(ids.ids);
    }
}

/* Pushes `head`, then `unit` repeated until about `bytes` of text, then `tail`. */
static void run_hostile(const char *head, const char *unit, size_t bytes, const char *tail, capture *c) {
    idbuf h = tokenize_output(head, V_WHOLE), u = tokenize_output(unit, V_WHOLE), t = tokenize_output(tail, V_WHOLE);
    memset(c, 0, sizeof *c);
    g4_parser *p = g4_parser_new(vocab, NULL, 0, on_event, c);
    assert_non_null(p);
    for (int i = 0; i < h.n; i++) g4_parser_push(p, h.ids[i]);
    for (size_t done = 0; done < bytes; done += strlen(unit))
        for (int i = 0; i < u.n; i++) g4_parser_push(p, u.ids[i]);
    for (int i = 0; i < t.n; i++) g4_parser_push(p, t.ids[i]);
    g4_parser_finish(p);
    g4_parser_free(p);
    free(h.ids), free(u.ids), free(t.ids);
    if (c->error[0]) fail_msg("%s...: %s", head, c->error);
}

/* 2 MiB of arguments without a close: the call ends at finish with valid JSON of
 * at most 1 MiB, and the output after a later close is parsed normally. */
static void test_hostile_arguments(void **state) {
    (void)state;
    get_vocab();
    static const struct {
        const char *head, *unit;
    } runs[] = {
        {TC "call:f{data:" Q, "The quick brown fox \"jumps\" {over} the lazy dog.\n"},
        {TC "call:f{data:", "[["},
        {TC "call:f{data:", "abcdefghijklmnopqrstuvwxyz0123456789"},
        {TC "call:f{", "key_number_one:1,"},
        {TC "call:f{", "a:{"},
        {TC "call:f{a:[", Q "x" Q ","},
    };
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        capture c;
        run_hostile(runs[r].head, runs[r].unit, 2u << 20, "", &c);
        assert_int_equal(c.n_calls, 1);
        assert_true(c.calls[0].ended);
        assert_true(c.calls[0].end.n <= G4_TOOLARGS_MAX_JSON);
        assert_valid_object(c.calls[0].end.p, c.calls[0].end.n);
        capture_free(&c);
    }
    /* after a huge call, parsing goes on: the close, an answer, another call */
    capture c;
    run_hostile(TC "call:f{data:" Q, "0123456789abcdef", 2u << 20,
                Q "}" ETC "Done." TC "call:g{x:1}" ETC TR, &c);
    assert_int_equal(c.n_calls, 2);
    assert_string_equal(sb_str(&c.answer), "Done.");
    assert_string_equal(sb_str(&c.calls[1].end), "{\"x\": 1}");
    assert_int_equal(c.stop, G4_STOP_TOOL_CALLS);
    capture_free(&c);
    /* a long header, long whitespace runs, many openers */
    run_hostile(TC "call:", "abcdefgh", 4096, "{}" ETC, &c);
    assert_int_equal(c.n_calls, 0);
    assert_true(c.answer.n > 0);
    capture_free(&c);
    run_hostile("a", " \n", 1u << 20, "b", &c);
    assert_int_equal(c.answer.n, 2 + (1u << 20));
    capture_free(&c);
    run_hostile("", CH, 1u << 16, "x", &c);
    assert_string_equal(sb_str(&c.thought), "x");
    capture_free(&c);
    run_hostile("", TC, 1u << 16, "call:f{}" ETC, &c);
    assert_int_equal(c.n_calls, 1);
    capture_free(&c);
}

int main(void) {
    size_t n_cases = sizeof cases / sizeof *cases;
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_convert_withholds_bare_values),
        cmocka_unit_test(test_convert_limits),
        cmocka_unit_test(test_special_ids),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_partial_utf8),
        cmocka_unit_test(test_cut_call),
        cmocka_unit_test(test_hostile_arguments),
    };
    size_t n_fixed = sizeof fixed / sizeof *fixed, n = n_fixed + n_cases;
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    if (!tests) return 1;
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < n_cases; i++) {
        tests[n_fixed + i].name = cases[i].name;
        tests[n_fixed + i].test_func = test_case;
        tests[n_fixed + i].initial_state = (void *)&cases[i];
    }
    int rc = _cmocka_run_group_tests("test_parse", tests, n, NULL, NULL);
    free(tests);
    g4_vocab_free(vocab);
    return rc;
}
