/* test_grammar_bench.c: a micro-benchmark of grammar masks on the real 262144-token
 * vocabulary. For three schemas it walks a valid document token by token (the real
 * tokenizer's ids), computing the mask before each token, and prints the time per
 * token with a fresh matcher (no cached masks) and after a reset (cached), next to
 * the forward time per token of the shared tiny model. It checks that each mask
 * allows the document's next token and refuses an impossible one. */
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

static const struct {
    const char *name, *schema, *doc;
} cases[] = {
    {"person", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\",\"minimum\":0},"
               "\"email\":{\"type\":\"string\",\"format\":\"email\"}},\"required\":[\"name\",\"age\",\"email\"]}",
     "{\"name\": \"Ada Lovelace, the first programmer\", \"age\": 36, \"email\": \"ada@example.org\"}"},
    {"orders", "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
               "\"qty\":{\"type\":\"integer\",\"minimum\":1},\"status\":{\"enum\":[\"open\",\"shipped\",\"closed\"]}},\"required\":[\"id\",\"qty\",\"status\"]}}",
     "[{\"id\": \"123e4567-e89b-12d3-a456-426614174000\", \"qty\": 2, \"status\": \"open\"}, "
     "{\"id\": \"00000000-0000-0000-0000-000000000001\", \"qty\": 10, \"status\": \"shipped\"}]"},
    {"any-json", "{\"type\":\"json_object\"}",
     "{\"title\": \"Structured output\", \"tags\": [\"json\", \"grammar\"], \"score\": 0.93, \"meta\": {\"ok\": true, \"n\": null}}"},
};

static void test_mask_speed(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    g4_vocab *vocab = g4_vocab_load(tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", tu_shared()));
    assert_non_null(vocab);
    double t0 = now_ms();
    g4_grammar_vocab *gv = g4_grammar_vocab_new(vocab);
    assert_non_null(gv);
    print_message("token trie of %d tokens built in %.1f ms\n", g4_vocab_size(vocab), now_ms() - t0);
    int nv = g4_vocab_size(vocab);
    uint8_t *allowed = malloc((size_t)nv);
    int32_t ids[512];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char *gbnf = g4_grammar_from_json_schema(cases[c].schema);
        assert_non_null(gbnf);
        g4_grammar *g = g4_grammar_parse(gbnf, NULL);
        assert_non_null(g);
        g4_grammar_matcher *m = g4_grammar_matcher_new(g, gv);
        assert_non_null(m);
        int n = g4_tokenize(vocab, cases[c].doc, strlen(cases[c].doc), 0, ids, 512);
        assert_true(n > 0 && n < 512);
        double cold = 0, warm = 0, worst = 0;
        for (int pass = 0; pass < 2; pass++) {
            g4_grammar_matcher_reset(m);
            for (int k = 0; k < n; k++) {
                double a = now_ms();
                int count = g4_grammar_matcher_mask(m, allowed);
                double t = now_ms() - a;
                if (pass == 0) { cold += t; if (t > worst) worst = t; }
                else warm += t;
                assert_true(count > 0);
                if (!allowed[ids[k]]) fail_msg("%s: token %d '%s' (%d of %d) refused", cases[c].name, ids[k], g4_vocab_piece(vocab, ids[k]), k, n);
                assert_int_equal(allowed[g4_vocab_find(vocab, "<|tool_call>")], 0);
                assert_int_equal(g4_grammar_matcher_accept(m, ids[k]), 0);
            }
            assert_true(g4_grammar_matcher_complete(m));
        }
        print_message("%-9s %3d tokens: mask %.3f ms/token uncached (worst %.2f ms), %.3f ms/token cached\n",
                      cases[c].name, n, cold / n, worst, warm / n);
        g4_grammar_matcher_free(m);
        g4_grammar_free(g);
        free(gbnf);
    }
    /* the forward pass of the shared tiny model, for scale */
    g4_model *model = g4_model_load(tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared()));
    if (model) {
        g4_context_params cp = g4_context_default_params();
        cp.n_ctx = 256, cp.n_threads = 1;
        g4_context *ctx = g4_context_new(model, &cp);
        assert_non_null(ctx);
        double a = now_ms();
        int32_t tok = 2;
        for (int k = 0; k < 64; k++) {
            g4_batch b = {.n_tokens = 1, .token = &tok};
            assert_int_equal(g4_decode(ctx, &b), 0);
        }
        print_message("forward pass of the tiny model (dense-tiny, 512 tokens): %.3f ms/token\n", (now_ms() - a) / 64);
        g4_context_free(ctx);
        g4_model_free(model);
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
