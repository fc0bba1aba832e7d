/* test_grammar_bench.c: a micro-benchmark of grammar masks on the real 262144-token
 * vocabulary. For three schemas and a tool-call grammar it walks a valid document
 * token by token (the real tokenizer's ids), computing the mask before each token,
 * and prints the time per token with fresh matchers (no cached masks) and after a
 * reset (cached), each step's time the fastest of three runs since the cores may be
 * shared, next to the forward time per token of the shared tiny model, and, when
 * env G4_BENCH_E2B names a GGUF model, its decode time per token. It checks that each
 * mask allows the document's next token and refuses an impossible one. */
#include "testutil.h"

#include "gemma4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define RUNS 3   /* each step's time is its fastest of RUNS runs */

static const struct {
    const char *name, *schema, *tools, *doc;   /* schema or tools; the doc is read with special tokens on */
} cases[] = {
    {"person", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\",\"minimum\":0},"
               "\"email\":{\"type\":\"string\",\"format\":\"email\"}},\"required\":[\"name\",\"age\",\"email\"]}", NULL,
     "{\"name\": \"Ada Lovelace, the first programmer\", \"age\": 36, \"email\": \"ada@example.org\"}"},
    {"orders", "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
               "\"qty\":{\"type\":\"integer\",\"minimum\":1},\"status\":{\"enum\":[\"open\",\"shipped\",\"closed\"]}},\"required\":[\"id\",\"qty\",\"status\"]}}", NULL,
     "[{\"id\": \"123e4567-e89b-12d3-a456-426614174000\", \"qty\": 2, \"status\": \"open\"}, "
     "{\"id\": \"00000000-0000-0000-0000-000000000001\", \"qty\": 10, \"status\": \"shipped\"}]"},
    {"any-json", "{\"type\":\"json_object\"}", NULL,
     "{\"title\": \"Structured output\", \"tags\": [\"json\", \"grammar\"], \"score\": 0.93, \"meta\": {\"ok\": true, \"n\": null}}"},
    {"tool-call", NULL,
     "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
     "{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\",\"minimum\":1},\"units\":{\"enum\":[\"metric\",\"imperial\"]}},"
     "\"required\":[\"city\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\","
     "\"properties\":{\"zone\":{\"type\":\"string\"}}}}}]",
     "<|tool_call>call:get_weather{city:<|\"|>Paris, France<|\"|>,days:3,units:<|\"|>metric<|\"|>}<tool_call|>"},
};

typedef struct {
    double uncached, worst, cached;   /* ms per token: average, worst step, average after a reset */
} mask_times;

/* Walks the document's tokens with m from its start, checking each mask; adds the
 * time of each step to step_ms[k] unless NULL. */
static void walk_document(g4_grammar_matcher *m, g4_vocab *vocab, const int32_t *ids, int n, uint8_t *allowed,
                          double *step_ms, const char *name) {
    int32_t never = g4_vocab_find(vocab, "<|channel>");
    for (int k = 0; k < n; k++) {
        double a = now_ms();
        int count = g4_grammar_matcher_mask(m, allowed);
        double t = now_ms() - a;
        if (step_ms) step_ms[k] = t;
        assert_true(count > 0);
        if (!allowed[ids[k]]) fail_msg("%s: token %d '%s' (%d of %d) refused", name, ids[k], g4_vocab_piece(vocab, ids[k]), k, n);
        assert_int_equal(allowed[never], 0);
        assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
    }
    assert_true(g4_grammar_matcher_complete(m));
}

static mask_times time_case(g4_vocab *vocab, g4_grammar_vocab *gv, size_t c, uint8_t *allowed) {
    char *gbnf = cases[c].schema ? g4_grammar_from_json_schema(cases[c].schema) : g4_grammar_from_tools(cases[c].tools);
    if (!gbnf) fail_msg("%s: %s", cases[c].name, g4_last_error());
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    assert_non_null(g);
    int32_t ids[512];
    int n = g4_tokenize(vocab, cases[c].doc, strlen(cases[c].doc), G4_TOKENIZE_SPECIAL, ids, 512);
    assert_true(n > 0 && n < 512);
    double best[512], t[512];
    g4_grammar_matcher *m = NULL;
    for (int run = 0; run < RUNS; run++) {
        g4_grammar_matcher_free(m);
        m = g4_grammar_matcher_new(g, gv);
        assert_non_null(m);
        walk_document(m, vocab, ids, n, allowed, t, cases[c].name);
        for (int k = 0; k < n; k++) best[k] = run == 0 || t[k] < best[k] ? t[k] : best[k];
    }
    mask_times r = {0};
    for (int k = 0; k < n; k++) {
        r.uncached += best[k] / n;
        if (best[k] > r.worst) r.worst = best[k];
    }
    for (int run = 0; run < RUNS; run++) {
        g4_grammar_matcher_reset(m);
        walk_document(m, vocab, ids, n, allowed, t, cases[c].name);
        for (int k = 0; k < n; k++) best[k] = run == 0 || t[k] < best[k] ? t[k] : best[k];
    }
    for (int k = 0; k < n; k++) r.cached += best[k] / n;
    print_message("%-9s %3d tokens: mask %.3f ms/token uncached (worst %.2f ms), %.3f ms/token cached\n", cases[c].name, n,
                  r.uncached, r.worst, r.cached);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    free(gbnf);
    return r;
}

/* ms per token of n single-token g4_decode calls (after one warm-up), or -1. */
static double decode_ms(const char *path, int n_threads, int n) {
    g4_model *model = g4_model_load(path);
    if (!model) return -1;
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = 256;
    if (n_threads > 0) cp.n_threads = n_threads;
    g4_context *ctx = g4_context_new(model, &cp);
    if (!ctx) { g4_model_free(model); return -1; }
    int32_t tok = 2;
    g4_batch b = {.n_tokens = 1, .token = &tok};
    double a = 0, ms = -1;
    if (g4_decode(ctx, &b) == 0) {
        a = now_ms();
        int k = 0;
        while (k < n && g4_decode(ctx, &b) == 0) k++;
        if (k == n) ms = (now_ms() - a) / n;
    }
    g4_context_free(ctx);
    g4_model_free(model);
    return ms;
}

static void test_mask_speed(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    g4_vocab *vocab = g4_vocab_load(tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", tu_shared()));
    assert_non_null(vocab);
    double t0 = now_ms();
    g4_grammar_vocab *gv = g4_grammar_vocab_new(vocab);
    assert_non_null(gv);
    print_message("token trie of %d tokens built in %.1f ms\n", g4_vocab_size(vocab), now_ms() - t0);
    uint8_t *allowed = malloc((size_t)g4_vocab_size(vocab));
    assert_non_null(allowed);
    double avg = 0, worst = 0;
    size_t n_cases = sizeof cases / sizeof *cases;
    for (size_t c = 0; c < n_cases; c++) {
        mask_times r = time_case(vocab, gv, c, allowed);
        avg += r.uncached / (double)n_cases;
        if (r.worst > worst) worst = r.worst;
    }
    /* the forward pass of the shared tiny model, for scale */
    double tiny = decode_ms(tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared()), 1, 64);
    if (tiny > 0) print_message("forward pass of the tiny model (dense-tiny, 512 tokens): %.3f ms/token\n", tiny);
    const char *e2b = getenv("G4_BENCH_E2B");
    if (e2b && *e2b) {
        double ms = decode_ms(e2b, 0, 8);
        if (ms <= 0) fail_msg("G4_BENCH_E2B: cannot decode with %s: %s", e2b, g4_last_error());
        print_message("E2B decode (%s): %.1f ms/token; uncached mask %.2f%% of it on average, %.2f%% at worst\n", e2b, ms,
                      100 * avg / ms, 100 * worst / ms);
    }
    free(allowed);
    g4_grammar_vocab_free(gv);
    g4_vocab_free(vocab);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
