/* test_grammar.c: the GBNF parser (every construct, and errors with line:column),
 * the matcher accepting and refusing texts, token terminals, and the masks on the
 * real 262144-token vocabulary checked token by token against the matcher itself
 * (in strings, escapes, numbers, enums, patterns, bounded repetitions, between
 * token terminals, and with more states than the mask walker keeps), masks along a
 * document against fresh matchers, forks sharing a cache; the Gemma 4 tool-call
 * grammar accepting the protocol doc's example call. */
#include "testutil.h"

#include "gemma4.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static g4_vocab *real_vocab;
static g4_grammar_vocab *real_gv;

static int setup_vocab(void **state) {
    (void)state;
    if (!tu_shared()) return 0;
    real_vocab = g4_vocab_load(tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", tu_shared()));
    if (real_vocab) real_gv = g4_grammar_vocab_new(real_vocab);
    return 0;
}

static int teardown_vocab(void **state) {
    (void)state;
    g4_grammar_vocab_free(real_gv);
    g4_vocab_free(real_vocab);
    return 0;
}

/* 1 if the whole text is a sentence of the grammar, 0 if refused or incomplete. */
static int matches(const char *gbnf, const char *text) {
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    if (!g) { fail_msg("grammar did not parse: %s", g4_last_error()); return -1; }
    int ok = 0;
    if (real_gv) {
        g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
        assert_non_null(m);
        ok = g4_grammar_matcher_accept_text(m, text, strlen(text)) == 0 && g4_grammar_matcher_complete(m);
        g4_grammar_matcher_free(m);
    } else {
        skip();
    }
    g4_grammar_free(g);
    return ok;
}

static void test_literals_classes(void **state) {
    (void)state;
    if (!real_gv) skip();
    const char *g = "root ::= \"ab\" [0-9x-z] [^\\n\"] \"\\x41\\u00e9\" .\n";
    assert_int_equal(matches(g, "ab5qAé!"), 1);
    assert_int_equal(matches(g, "abyqAéж"), 1);
    assert_int_equal(matches(g, "ab5\nAé!"), 0);   /* negated class */
    assert_int_equal(matches(g, "abaqAé!"), 0);    /* outside the ranges */
    assert_int_equal(matches(g, "ab5qAé"), 0);     /* incomplete */
    assert_int_equal(matches(g, "ab5qAé!!"), 0);   /* too long */
}

static void test_repetitions(void **state) {
    (void)state;
    if (!real_gv) skip();
    const char *g = "root ::= \"a\"? b* (\"c\" | \"d\")+ e{2} f{1,3} g{2,}\n"
                    "b ::= \"b\"\ne ::= \"e\"\nf ::= \"f\"\ng ::= \"g\"\n";
    assert_int_equal(matches(g, "abbcdceefgg"), 1);
    assert_int_equal(matches(g, "ceefffggg"), 1);
    assert_int_equal(matches(g, "eefgg"), 0);        /* + needs one */
    assert_int_equal(matches(g, "ceffgg"), 0);       /* {2} */
    assert_int_equal(matches(g, "ceeffffgg"), 0);    /* {1,3} */
    assert_int_equal(matches(g, "ceefg"), 0);        /* {2,} */
    assert_int_equal(matches(g, "aacefgg"), 0);
}

static void test_multiline_comments(void **state) {
    (void)state;
    if (!real_gv) skip();
    const char *g = "# a list\nroot ::=\n  \"[\" (\n    item (\",\" item)*  # items\n  )? \"]\"\n"
                    "item ::= [a-z]+\n  | num\nnum ::= [0-9]+\n";
    assert_int_equal(matches(g, "[ab,12,c]"), 1);
    assert_int_equal(matches(g, "[]"), 1);
    assert_int_equal(matches(g, "[ab,]"), 0);
    assert_int_equal(matches(g, "[a1]"), 0);
}

static void expect_error(const char *gbnf, const char *needle) {
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    if (g) { g4_grammar_free(g); fail_msg("grammar parsed but should fail with '%s': %s", needle, gbnf); }
    if (!strstr(g4_last_error(), needle)) fail_msg("error '%s' lacks '%s'", g4_last_error(), needle);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("root ::= \"abc", "1:10: unterminated string literal");
    expect_error("root ::= [a-", "unterminated character class");
    expect_error("root ::= foo\n", "undefined rule foo");
    expect_error("root ::= \"a\"\nroot ::= \"b\"\n", "2:1: rule defined twice");
    expect_error("root ::= (\"a\"\n", "expected ')'");
    expect_error("root ::= \"a\" )", "unbalanced ')'");
    expect_error("root ::= * \"a\"", "1:10:");
    expect_error("root ::= \"a\"{3,1}", "n < m");
    expect_error("root ::= [z-a]", "end before its start");
    expect_error("root ::= \"\\q\"", "unknown escape");
    expect_error("root ::= x\nx ::= x \"a\" | \"b\"\n", "left-recursive");
    expect_error("root ::= \"a\" root\n", "can never finish");
    expect_error("root ::= a* \"x\"\na ::= \"b\"?\n", "left-recursive");
    expect_error("start ::= \"a\"\n", "no rule named root");
    expect_error("", "empty grammar");
    expect_error("root ::= \"a\"{20000}", "above 10000");
    expect_error("root ::= []", "matches nothing");
    expect_error("root := \"a\"", "expected ::=");
    expect_error("root ::= <[abc]>", "expected a token id");
    expect_error("root ::= [^\\x00-\\U0010FFFF]", "matches no character");
    expect_error("root ::= [\\uD800-\\uDFFF]", "matches no character");
}

/* The mask's count agrees with its entries. */
static void check_mask_consistent(g4_grammar_matcher *m, uint8_t *allowed, int n_vocab) {
    int n = g4_grammar_matcher_mask(m, allowed);
    assert_true(n > 0);
    int counted = 0;
    for (int i = 0; i < n_vocab; i++) counted += allowed[i];
    assert_int_equal(counted, n);
}

static void test_mask_real_vocab(void **state) {
    (void)state;
    if (!real_gv) skip();
    g4_grammar *g = g4_grammar_parse("root ::= \"{\\\"n\\\": \" [1-9] [0-9]{0,3} \"}\"\n", NULL);
    assert_non_null(g);
    int nv = g4_vocab_size(real_vocab);
    assert_int_equal(nv, 262144);
    uint8_t *allowed = malloc((size_t)nv);
    assert_non_null(allowed);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    check_mask_consistent(m, allowed, nv);
    /* independent check: a token is allowed iff its text is a prefix-continuation */
    const char *target = "{\"n\": 42}";
    int32_t brace = g4_vocab_find(real_vocab, "{");
    assert_true(brace >= 0);
    assert_int_equal(allowed[brace], 1);
    int32_t a = g4_vocab_find(real_vocab, "a");
    assert_int_equal(allowed[a], 0);
    int eos = g4_vocab_eos(real_vocab);
    assert_int_equal(allowed[eos], 0);
    for (int i = 0; i < nv; i++) {
        if (!allowed[i]) continue;
        /* every allowed token spells a prefix of some sentence: {"n": D... */
        g4_grammar_matcher *t = g4_grammar_matcher_new(g, real_gv);
        assert_int_equal(g4_grammar_matcher_accept(t, i), 0);
        g4_grammar_matcher_free(t);
    }
    /* a sample of refused tokens is refused by accept */
    for (int i = 0; i < nv; i += 101) {
        if (allowed[i]) continue;
        g4_grammar_matcher *t = g4_grammar_matcher_new(g, real_gv);
        assert_int_equal(g4_grammar_matcher_accept(t, i), -1);
        g4_grammar_matcher_free(t);
    }
    /* walk the target by tokens of the real tokenizer, masks allowing each */
    int32_t ids[32];
    int n = g4_tokenize(real_vocab, target, strlen(target), 0, ids, 32);
    assert_true(n > 0 && n < 32);
    for (int k = 0; k < n; k++) {
        assert_true(g4_grammar_matcher_mask(m, allowed) > 0);
        assert_int_equal(allowed[ids[k]], 1);
        assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    }
    assert_true(g4_grammar_matcher_complete(m));
    assert_true(g4_grammar_matcher_mask(m, allowed) > 0);
    assert_int_equal(allowed[eos], 1);
    assert_int_equal(allowed[brace], 0);
    float *logits = malloc((size_t)nv * sizeof *logits);
    for (int i = 0; i < nv; i++) logits[i] = 1.0f;
    assert_true(g4_grammar_matcher_apply(m, logits) > 0);
    assert_true(isinf(logits[brace]) && logits[eos] == 1.0f);
    assert_int_equal(g4_grammar_matcher_accept(m, eos), 0);
    assert_true(g4_grammar_matcher_done(m));
    /* reset: back to the start */
    g4_grammar_matcher_reset(m);
    assert_false(g4_grammar_matcher_complete(m));
    assert_int_equal(g4_grammar_matcher_accept(m, eos), -1);
    assert_int_equal(g4_grammar_matcher_accept_text(m, "{\"n\": 0", 7), -1);   /* [1-9] first */
    assert_int_equal(g4_grammar_matcher_accept_text(m, "{\"n\": 7}", 8), 0);
    assert_true(g4_grammar_matcher_complete(m));
    free(logits);
    free(allowed);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
}

/* The matcher for g after prefix text and then the tokens of `special` (read with
 * special tokens on; NULL: none). */
static g4_grammar_matcher *matcher_at(g4_grammar_matcher *m, const char *prefix, const int32_t *ids, int n) {
    g4_grammar_matcher_reset(m);
    assert_int_equal(g4_grammar_matcher_accept_text(m, prefix, strlen(prefix)), 0);
    for (int k = 0; k < n; k++) assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    return m;
}

/* After prefix (text, then the tokens of special), the mask allows exactly the
 * tokens accept() takes, over the whole vocabulary (this covers the subtrees the
 * mask allows without walking them and the bytes it takes without a state step). */
static void check_mask_exact_special(const char *gbnf, const char *prefix, const char *special) {
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    if (!g) fail_msg("%s", g4_last_error());
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    int32_t ids[64];
    int n_ids = special ? g4_tokenize(real_vocab, special, strlen(special), G4_TOKENIZE_SPECIAL, ids, 64) : 0;
    assert_true(n_ids >= 0 && n_ids <= 64);
    int nv = g4_vocab_size(real_vocab);
    uint8_t *allowed = malloc((size_t)nv);
    int n = g4_grammar_matcher_mask(matcher_at(m, prefix, ids, n_ids), allowed);
    assert_true(n > 0);
    int agree = 0;
    for (int i = 0; i < nv; i++) {
        int took = g4_grammar_matcher_accept(matcher_at(m, prefix, ids, n_ids), i) == 0;
        if (took != allowed[i])
            fail_msg("token %d '%s': mask %d, accept %d (after '%s' '%s', grammar %s)", i, g4_vocab_piece(real_vocab, i),
                     allowed[i], took, prefix, special ? special : "", gbnf);
        agree += took;
    }
    assert_int_equal(agree, n);
    free(allowed);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
}

static void check_mask_exact(const char *gbnf, const char *prefix) { check_mask_exact_special(gbnf, prefix, NULL); }

static void test_mask_exact(void **state) {
    (void)state;
    if (!real_gv) skip();
    char *gbnf = g4_grammar_from_json_schema("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\"}},\"required\":[\"s\"]}");
    assert_non_null(gbnf);
    check_mask_exact(gbnf, "{\"s\": \"ab");       /* inside a free string */
    check_mask_exact(gbnf, "{");                  /* before a key */
    free(gbnf);
    check_mask_exact("root ::= [a-z ]* \".\"\n", "ab c");          /* ASCII loop, no non-ASCII */
    check_mask_exact("root ::= [^x]{0,30} \"x\"\n", "\xc3\xa9");      /* non-ASCII allowed, bounded */
    check_mask_exact("root ::= [^x]* \"x\"\n", "\xc3\xa9");           /* non-ASCII loop */
    check_mask_exact("root ::= ([^\\\\x\\u00e9] | \"\\\\\" [a-z])* \"x\"\n", "q");  /* loop missing one non-ASCII code point */
}

/* The states of JSON values: strings (first token, after a backslash, inside \u,
 * inside a character), numbers and literals. */
static void test_mask_exact_json(void **state) {
    (void)state;
    if (!real_gv) skip();
    char *gbnf = g4_grammar_from_json_schema("{\"type\":\"json_object\"}");
    assert_non_null(gbnf);
    check_mask_exact(gbnf, "{\"a\": \"");          /* the first token of a free string */
    check_mask_exact(gbnf, "{\"a\": \"x\\");       /* after a backslash */
    check_mask_exact(gbnf, "{\"a\": \"\\u0");      /* inside \u */
    check_mask_exact(gbnf, "{\"a\": \"\xe6\x97");  /* inside a character of a string */
    check_mask_exact(gbnf, "{\"a\": 12");          /* integer digits */
    check_mask_exact(gbnf, "{\"a\": -0.5e");       /* exponent */
    check_mask_exact(gbnf, "{\"a\": [tr");         /* a literal */
    free(gbnf);
}

/* Strings that are not free: enum, pattern, bounded repetitions (email). */
static void test_mask_exact_constrained_strings(void **state) {
    (void)state;
    if (!real_gv) skip();
    char *gbnf = g4_grammar_from_json_schema(
        "{\"type\":\"object\",\"properties\":{\"k\":{\"enum\":[\"red\",\"green\",\"grey\"]},"
        "\"p\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-[0-9]+$\"},\"e\":{\"type\":\"string\",\"format\":\"email\"},"
        "\"t\":{\"type\":\"string\",\"maxLength\":5}},\"required\":[\"k\",\"p\",\"e\",\"t\"]}");
    assert_non_null(gbnf);
    check_mask_exact(gbnf, "{\"k\": \"gr");
    check_mask_exact(gbnf, "{\"k\": \"red\", \"p\": \"AB-1");
    check_mask_exact(gbnf, "{\"k\": \"red\", \"p\": \"AB-1\", \"e\": \"ada");
    check_mask_exact(gbnf, "{\"k\": \"red\", \"p\": \"AB-1\", \"e\": \"ada@ex");
    check_mask_exact(gbnf, "{\"k\": \"red\", \"p\": \"AB-1\", \"e\": \"a@bc.de\", \"t\": \"ab");
    free(gbnf);
}

/* Strings between token terminals (Gemma's <|"|>), and a state after one. */
static void test_mask_exact_tool_call(void **state) {
    (void)state;
    if (!real_gv) skip();
    char *gbnf = g4_grammar_from_tools("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                                       "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]");
    assert_non_null(gbnf);
    check_mask_exact_special(gbnf, "", "<|tool_call>call:get_weather{city:<|\"|>");
    check_mask_exact_special(gbnf, "", "<|tool_call>call:get_weather{city:<|\"|>Par");
    check_mask_exact_special(gbnf, "", "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>");
    free(gbnf);
}

/* A grammar with more distinct states in one walk than the mask walker keeps, so
 * that it starts its automaton over mid-walk and between walks: each two-letter
 * start has its own rule, then up to six letters (each count its own state). */
static void test_mask_exact_many_states(void **state) {
    (void)state;
    if (!real_gv) skip();
    size_t cap = 1 << 17, len = 0;
    char *gbnf = malloc(cap);
    assert_non_null(gbnf);
    len += (size_t)snprintf(gbnf, cap, "root ::= ");
    for (char x = 'a'; x <= 'z'; x++) len += (size_t)snprintf(gbnf + len, cap - len, "%s\"%c\" r%c", x > 'a' ? " | " : "", x, x);
    len += (size_t)snprintf(gbnf + len, cap - len, "\n");
    for (char x = 'a'; x <= 'z'; x++) {
        len += (size_t)snprintf(gbnf + len, cap - len, "r%c ::= ", x);
        for (char y = 'a'; y <= 'z'; y++) len += (size_t)snprintf(gbnf + len, cap - len, "%s\"%c\" r%c%c", y > 'a' ? " | " : "", y, x, y);
        len += (size_t)snprintf(gbnf + len, cap - len, "\n");
        for (char y = 'a'; y <= 'z'; y++) len += (size_t)snprintf(gbnf + len, cap - len, "r%c%c ::= [a-z]{0,6} \".\"\n", x, y);
    }
    assert_true(len < cap);
    check_mask_exact(gbnf, "");
    check_mask_exact(gbnf, "co");
    /* the second walk of one matcher (its automaton over the limit) against a fresh one */
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    assert_non_null(g);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv), *fresh = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    assert_non_null(fresh);
    int nv = g4_vocab_size(real_vocab);
    uint8_t *a = malloc((size_t)nv), *b = malloc((size_t)nv);
    assert_true(g4_grammar_matcher_mask(m, a) > 0);
    assert_int_equal(g4_grammar_matcher_accept_text(m, "co", 2), 0);
    assert_int_equal(g4_grammar_matcher_accept_text(fresh, "co", 2), 0);
    assert_int_equal(g4_grammar_matcher_mask(m, a), g4_grammar_matcher_mask(fresh, b));
    assert_memory_equal(a, b, (size_t)nv);
    free(a), free(b);
    g4_grammar_matcher_free(fresh);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    free(gbnf);
}

/* Masks along a document from one matcher (its automaton and cache kept across
 * steps) equal those of a fresh matcher at each step. */
static void test_mask_along_document(void **state) {
    (void)state;
    if (!real_gv) skip();
    char *gbnf = g4_grammar_from_json_schema("{\"type\":\"json_object\"}");
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    assert_non_null(g);
    const char *doc = "{\"t\": \"Grüße, \\\"hi\\\" \\u00e9\", \"n\": [1.5e3, -2], \"o\": {\"b\": false, \"s\": \"日本語\"}}";
    int32_t ids[128];
    int n = g4_tokenize(real_vocab, doc, strlen(doc), 0, ids, 128);
    assert_true(n > 0 && n < 128);
    int nv = g4_vocab_size(real_vocab);
    uint8_t *a = malloc((size_t)nv), *b = malloc((size_t)nv);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    for (int k = 0; k < n; k++) {
        g4_grammar_matcher *fresh = g4_grammar_matcher_new(g, real_gv);
        assert_non_null(fresh);
        for (int j = 0; j < k; j++) assert_int_equal(g4_grammar_matcher_accept(fresh, ids[j]), 0);
        int ca = g4_grammar_matcher_mask(m, a), cb = g4_grammar_matcher_mask(fresh, b);
        assert_int_equal(ca, cb);
        if (memcmp(a, b, (size_t)nv) != 0) fail_msg("step %d: masks differ", k);
        assert_true(a[ids[k]]);
        g4_grammar_matcher_free(fresh);
        assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    }
    assert_true(g4_grammar_matcher_complete(m));
    free(a), free(b);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    free(gbnf);
}

/* A fork starts at the grammar's start, gives a fresh matcher's masks, moves
 * independently of its parent, and either may be freed first. */
static void test_fork(void **state) {
    (void)state;
    if (!real_gv) skip();
    assert_null(g4_grammar_matcher_fork(NULL));
    char *gbnf = g4_grammar_from_json_schema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                                             "\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"]}");
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    assert_non_null(g);
    const char *doc = "{\"name\": \"Ada\", \"age\": 36}";
    int32_t ids[64];
    int n = g4_tokenize(real_vocab, doc, strlen(doc), 0, ids, 64);
    assert_true(n > 4 && n < 64);
    int nv = g4_vocab_size(real_vocab);
    uint8_t *a = malloc((size_t)nv), *b = malloc((size_t)nv), *before = malloc((size_t)nv);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    g4_grammar_matcher *fresh = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    assert_non_null(fresh);
    for (int k = 0; k < 4; k++) {   /* fills m's cache */
        assert_true(g4_grammar_matcher_mask(m, a) > 0);
        assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    }
    int count_before = g4_grammar_matcher_mask(m, before);
    g4_grammar_matcher *f = g4_grammar_matcher_fork(m);
    assert_non_null(f);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < n; k++) {
            int ca = g4_grammar_matcher_mask(f, a), cb = g4_grammar_matcher_mask(fresh, b);
            assert_int_equal(ca, cb);
            if (memcmp(a, b, (size_t)nv) != 0) fail_msg("pass %d step %d: the fork's mask differs", pass, k);
            assert_int_equal(g4_grammar_matcher_accept(f, ids[k]), 0);
            assert_int_equal(g4_grammar_matcher_accept(fresh, ids[k]), 0);
        }
        assert_true(g4_grammar_matcher_complete(f));
        if (pass == 0) {
            /* the parent did not move, and still works after its fork is freed */
            assert_int_equal(g4_grammar_matcher_mask(m, a), count_before);
            assert_memory_equal(a, before, (size_t)nv);
            g4_grammar_matcher *f2 = g4_grammar_matcher_fork(f);
            assert_non_null(f2);
            g4_grammar_matcher_free(f);
            assert_int_equal(g4_grammar_matcher_accept(f2, ids[0]), 0);
            assert_int_equal(g4_grammar_matcher_accept(m, ids[4]), 0);
            assert_true(g4_grammar_matcher_mask(m, a) > 0);
            /* then the parent is freed first: the fork's shared cache lives on */
            g4_grammar_matcher_free(m);
            g4_grammar_matcher_reset(f2);
            g4_grammar_matcher_reset(fresh);
            f = f2;
        }
    }
    g4_grammar_matcher_free(f);
    g4_grammar_matcher_free(fresh);
    free(a), free(b), free(before);
    g4_grammar_free(g);
    free(gbnf);
}

static void test_utf8_partial(void **state) {
    (void)state;
    if (!real_gv) skip();
    /* "é" is two bytes: a byte token may stop inside it */
    g4_grammar *g = g4_grammar_parse("root ::= [é-ë]+\n", NULL);
    assert_non_null(g);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    int32_t c3 = g4_vocab_find(real_vocab, "<0xC3>"), a9 = g4_vocab_find(real_vocab, "<0xA9>"), b0 = g4_vocab_find(real_vocab, "<0xB0>");
    assert_true(c3 >= 0 && a9 >= 0 && b0 >= 0);
    assert_int_equal(g4_grammar_matcher_accept(m, c3), 0);
    assert_false(g4_grammar_matcher_complete(m));
    uint8_t *allowed = malloc(262144);
    assert_true(g4_grammar_matcher_mask(m, allowed) > 0);
    assert_int_equal(allowed[a9], 1);
    assert_int_equal(allowed[b0], 0);   /* U+00F0 is outside é-ë */
    assert_int_equal(g4_grammar_matcher_accept(m, a9), 0);
    assert_true(g4_grammar_matcher_complete(m));
    free(allowed);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
}

static void test_token_terminals(void **state) {
    (void)state;
    if (!real_gv) skip();
    g4_grammar *g = g4_grammar_parse("root ::= <[\"<|tool_call>\"]> \"x\" <[52]>\n", NULL);
    assert_non_null(g);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    int32_t tc = g4_vocab_find(real_vocab, "<|tool_call>");
    assert_int_equal(tc, 48);
    /* the text of the token is not the token */
    assert_int_equal(g4_grammar_matcher_accept_text(m, "<|tool_call>", 12), -1);
    uint8_t *allowed = malloc(262144);
    assert_int_equal(g4_grammar_matcher_mask(m, allowed), 1);
    assert_int_equal(allowed[tc], 1);
    assert_int_equal(g4_grammar_matcher_accept(m, tc), 0);
    assert_int_equal(g4_grammar_matcher_accept_text(m, "x", 1), 0);
    assert_int_equal(g4_grammar_matcher_mask(m, allowed), 1);
    assert_int_equal(allowed[52], 1);
    assert_int_equal(g4_grammar_matcher_accept(m, 52), 0);
    assert_true(g4_grammar_matcher_complete(m));
    free(allowed);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    /* an unknown piece is refused when the matcher is made */
    g = g4_grammar_parse("root ::= <[\"<|no_such_token|>\"]>\n", NULL);
    assert_non_null(g);
    assert_null(g4_grammar_matcher_new(g, real_gv));
    assert_non_null(strstr(g4_last_error(), "not a token"));
    g4_grammar_free(g);
}

static void test_tool_call_grammar(void **state) {
    (void)state;
    if (!real_gv) skip();
    const char *tools =
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"},\"flag\":{\"type\":\"boolean\"},"
        "\"opts\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"type\":\"array\"}}}},"
        "\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"noop\"}}]";
    char *gbnf = g4_grammar_from_tools(tools);
    if (!gbnf) fail_msg("%s", g4_last_error());
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    if (!g) fail_msg("%s\n%s", g4_last_error(), gbnf);
    /* the protocol doc's example, as the real tokenizer reads it (special tokens on) */
    const char *call = "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:1,flag:true,opts:{a:null,b:[1,<|\"|>x<|\"|>]}}<tool_call|>";
    int32_t ids[64];
    int n = g4_tokenize(real_vocab, call, strlen(call), G4_TOKENIZE_SPECIAL, ids, 64);
    assert_true(n > 0 && n <= 64);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, real_gv);
    assert_non_null(m);
    uint8_t *allowed = malloc(262144);
    for (int k = 0; k < n; k++) {
        assert_true(g4_grammar_matcher_mask(m, allowed) > 0);
        if (!allowed[ids[k]]) fail_msg("token %d (%s) at %d refused", ids[k], g4_vocab_piece(real_vocab, ids[k]), k);
        assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    }
    assert_true(g4_grammar_matcher_complete(m));
    /* a second call may follow; a call without the required city may not */
    g4_grammar_matcher_reset(m);
    const char *bad = "<|tool_call>call:get_weather{days:1}<tool_call|>";
    n = g4_tokenize(real_vocab, bad, strlen(bad), G4_TOKENIZE_SPECIAL, ids, 64);
    int refused = 0;
    for (int k = 0; k < n && !refused; k++) refused = g4_grammar_matcher_accept(m, ids[k]) != 0;
    assert_true(refused);
    g4_grammar_matcher_reset(m);
    const char *noop = "<|tool_call>call:noop{}<tool_call|>";
    n = g4_tokenize(real_vocab, noop, strlen(noop), G4_TOKENIZE_SPECIAL, ids, 64);
    for (int k = 0; k < n; k++) assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    assert_true(g4_grammar_matcher_complete(m));
    free(allowed);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    free(gbnf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_literals_classes),
        cmocka_unit_test(test_repetitions),
        cmocka_unit_test(test_multiline_comments),
        cmocka_unit_test(test_mask_real_vocab),
        cmocka_unit_test(test_mask_exact),
        cmocka_unit_test(test_mask_exact_json),
        cmocka_unit_test(test_mask_exact_constrained_strings),
        cmocka_unit_test(test_mask_exact_tool_call),
        cmocka_unit_test(test_mask_exact_many_states),
        cmocka_unit_test(test_mask_along_document),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_utf8_partial),
        cmocka_unit_test(test_token_terminals),
        cmocka_unit_test(test_tool_call_grammar),
    };
    return cmocka_run_group_tests(tests, setup_vocab, teardown_vocab);
}
