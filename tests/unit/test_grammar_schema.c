/* test_grammar_schema.c: the JSON Schema compiler on 54 schemas written here
 * (objects, required/optional, additionalProperties, enum, const, arrays, prefixItems,
 * anyOf/oneOf, $ref/$defs, recursion, formats, patterns, bounds), each generated under
 * its grammar by the shared tiny random-weight model with temperature 1 and several
 * seeds: every step must leave a legal token, and every output must be complete JSON.
 * With G4_GRAMMAR_DUMP=dir the schemas and outputs are written there, for the e2e test
 * (tests/e2e/grammar_schemas.sh) that validates them with ajv. Also: unsupported
 * features are refused with their name and JSON pointer. */
#include "testutil.h"

#include "gemma4.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_SEEDS 3
#define MAX_TOKENS 1500

static const char *const schemas[] = {
    /* 0 */ "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"]}",
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{\"type\":\"null\"},\"c\":{\"type\":\"number\"}}}",
    "{\"type\":\"string\",\"enum\":[\"red\",\"green\",\"blue\"]}",
    "{\"enum\":[1,\"two\",null,true,{\"x\":[1,2]}]}",
    "{\"const\":{\"version\":2,\"tags\":[\"a\",\"b\"]}}",
    /* 5 */ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":5}",
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":3},\"maxItems\":3}",
    "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\",\"maxLength\":4},{\"type\":\"integer\"},{\"type\":\"boolean\"}],\"items\":false}",
    "{\"type\":\"array\",\"prefixItems\":[{\"const\":\"head\"}],\"items\":{\"type\":\"number\"},\"maxItems\":4}",
    "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":5}]}",
    /* 10 */ "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},\"r\":{\"type\":\"number\",\"minimum\":0}},\"required\":[\"kind\",\"r\"],\"additionalProperties\":false},"
              "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"square\"},\"side\":{\"type\":\"integer\",\"minimum\":1}},\"required\":[\"kind\",\"side\"],\"additionalProperties\":false}]}",
    "{\"$defs\":{\"point\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"}},\"required\":[\"x\",\"y\"]}},"
      "\"type\":\"object\",\"properties\":{\"from\":{\"$ref\":\"#/$defs/point\"},\"to\":{\"$ref\":\"#/$defs/point\"}},\"required\":[\"from\",\"to\"]}",
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},\"required\":[\"v\",\"next\"]}},\"$ref\":\"#/$defs/node\"}",
    "{\"type\":\"string\",\"format\":\"date\"}",
    "{\"type\":\"string\",\"format\":\"time\"}",
    /* 15 */ "{\"type\":\"string\",\"format\":\"date-time\"}",
    "{\"type\":\"string\",\"format\":\"uuid\"}",
    "{\"type\":\"string\",\"format\":\"email\"}",
    "{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-[0-9]{3}$\"}",
    "{\"type\":\"string\",\"pattern\":\"^(foo|bar)+\\\\d?$\"}",
    /* 20 */ "{\"type\":\"string\",\"minLength\":2,\"maxLength\":4}",
    "{\"type\":\"integer\",\"minimum\":-5,\"maximum\":5}",
    "{\"type\":\"integer\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":20}",
    "{\"type\":\"number\",\"minimum\":0,\"maximum\":1}",
    "{\"type\":[\"string\",\"null\"],\"maxLength\":6}",
    /* 25 */ "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1}},\"required\":[\"id\"],\"additionalProperties\":{\"type\":\"boolean\"}}",
    "{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"},\"ac\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3}}",
    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"maxLength\":3}},\"additionalProperties\":false}",
    "{\"type\":\"json_object\"}",
    "{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":6},\"roles\":{\"type\":\"array\",\"items\":{\"enum\":[\"admin\",\"dev\"]},\"maxItems\":2}},\"required\":[\"name\",\"roles\"]}},\"required\":[\"user\"]}",
    /* 30 */ "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\",\"nullable\":true,\"maxLength\":4}},\"required\":[\"p\"]}",
    "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3},\"maxItems\":3},\"maxItems\":3}",
    "{\"type\":\"boolean\"}",
    "{\"type\":\"null\"}",
    "{\"type\":\"number\"}",
    /* 35 */ "{\"type\":\"integer\",\"minimum\":0}",
    "{\"allOf\":[{\"type\":\"string\",\"enum\":[\"only\"]}]}",
    "{\"type\":\"object\",\"properties\":{\"o1\":{\"type\":\"integer\"},\"r1\":{\"type\":\"integer\"},\"o2\":{\"type\":\"boolean\"},\"r2\":{\"type\":\"boolean\"}},\"required\":[\"r1\",\"r2\"]}",
    "{\"definitions\":{\"s\":{\"type\":\"string\",\"maxLength\":3}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/s\"},\"minItems\":1,\"maxItems\":3}",
    "{\"type\":\"object\",\"properties\":{\"when\":{\"type\":\"string\",\"format\":\"date-time\"},\"id\":{\"type\":\"string\",\"format\":\"uuid\"}},\"required\":[\"when\",\"id\"]}",
    /* 40 */ "{\"anyOf\":[{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"maxItems\":2},{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"null\"}},\"required\":[\"k\"],\"additionalProperties\":false}]}",
    "{\"type\":\"string\",\"pattern\":\"^[a-z]+@[a-z]+\\\\.com$\"}",
    "{\"type\":\"string\",\"pattern\":\"ab\"}",
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"format\":\"date\"},\"minItems\":1,\"maxItems\":2}",
    "{\"type\":\"object\",\"properties\":{\"q\\\"uote\":{\"type\":\"integer\"},\"sp ace\":{\"type\":\"boolean\"},\"é\":{\"type\":\"null\"}},\"required\":[\"q\\\"uote\",\"sp ace\",\"é\"]}",
    /* 45 */ "{\"type\":\"string\",\"enum\":[\"a\\\"b\",\"c\\\\d\",\"e\\nf\",\"ü\"]}",
    "{\"type\":\"array\",\"minItems\":1,\"maxItems\":3}",
    "{\"type\":\"object\",\"properties\":{\"v\":{}},\"required\":[\"v\"]}",
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"title\":\"T\",\"description\":\"D\",\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"description\":\"count\",\"default\":1,\"minimum\":0}},\"required\":[\"n\"]}",
    "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"integer\"}],\"minItems\":2,\"items\":{\"type\":\"string\",\"maxLength\":2},\"maxItems\":3}",
    /* 50 */ "{\"type\":\"object\",\"properties\":{\"q\\\"k\":{\"type\":\"boolean\"},\"q\":{\"type\":\"null\"}},\"additionalProperties\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":2}}",
    /* without "type": the types the keywords imply */
    "{\"maxItems\":1}",
    "{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}",
    "{\"maxLength\":2,\"minimum\":0}",
};
#define N_SCHEMAS ((int)(sizeof schemas / sizeof *schemas))

static g4_model *model;
static g4_context *ctx;
static const g4_vocab *vocab;
static g4_grammar_vocab *gv;

static int setup(void **state) {
    (void)state;
    if (!tu_shared()) return 0;
    model = g4_model_load(tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared()));
    if (!model) return 0;
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = 2048, cp.n_threads = 1;
    ctx = g4_context_new(model, &cp);
    vocab = g4_model_vocab(model);
    gv = g4_grammar_vocab_new(vocab);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    g4_grammar_vocab_free(gv);
    g4_context_free(ctx);
    g4_model_free(model);
    return 0;
}

/* Generates under the matcher; returns the text (malloc'd) when the model ended it
 * with an end-of-generation token, NULL when it ran to max_tokens. */
static char *generate(g4_grammar_matcher *m, uint64_t seed) {
    g4_sampler_params sp = g4_sampler_default_params();
    sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.seed = seed;
    int nv = g4_vocab_size(vocab);
    g4_sampler *s = g4_sampler_new(&sp, nv);
    float *logits = malloc((size_t)nv * sizeof *logits);
    g4_detokenizer *d = g4_detokenizer_new(vocab, 0);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    assert_true(s && logits && d && text);
    assert_int_equal(g4_seq_truncate(ctx, 0, 0), 0);
    int32_t tok = g4_vocab_bos(vocab);
    int ended = 0;
    for (int step = 0; step < MAX_TOKENS && !ended; step++) {
        g4_batch b = {.n_tokens = 1, .token = &tok};
        assert_int_equal(g4_decode(ctx, &b), 0);
        memcpy(logits, g4_get_logits(ctx, 0), (size_t)nv * sizeof *logits);
        int allowed = g4_grammar_matcher_apply(m, logits);
        if (allowed <= 0) fail_msg("no legal token at step %d: %s", step, g4_last_error());
        tok = g4_sampler_sample(s, logits);
        assert_true(tok >= 0);
        if (g4_grammar_matcher_accept(m, tok) != 0) fail_msg("sampled token %d refused: %s", tok, g4_last_error());
        if (g4_vocab_is_eog(vocab, tok)) { ended = 1; break; }
        if (len + 64 < cap) {
            int n = g4_detokenize(d, tok, text + len, cap - len - 1);
            assert_true(n >= 0);
            len += (size_t)n;
        }
    }
    if (ended) len += (size_t)g4_detokenize_flush(d, text + len, cap - len - 1);
    text[len] = 0;
    g4_detokenizer_free(d);
    free(logits);
    g4_sampler_free(s);
    if (!ended) { free(text); return NULL; }
    return text;
}

static void test_schemas_generate(void **state) {
    (void)state;
    if (!gv || !ctx) skip();
    const char *dump = getenv("G4_GRAMMAR_DUMP");
    int complete = 0, total = 0;
    for (int i = 0; i < N_SCHEMAS; i++) {
        char *gbnf = g4_grammar_from_json_schema(schemas[i]);
        if (!gbnf) fail_msg("schema %d: %s", i, g4_last_error());
        g4_grammar *g = g4_grammar_parse(gbnf, NULL);
        if (!g) fail_msg("schema %d: %s\n%s", i, g4_last_error(), gbnf);
        g4_grammar_matcher *m = g4_grammar_matcher_new(g, gv);
        assert_non_null(m);
        if (dump) tu_write_file(tu_path("%s/schema_%02d.json", dump, i), schemas[i], strlen(schemas[i]));
        for (int seed = 1; seed <= N_SEEDS; seed++) {
            g4_grammar_matcher_reset(m);
            char *out = generate(m, (uint64_t)(seed * 1000 + i));
            total++;
            if (!out) continue;
            complete++;
            json_error_t err;
            json_t *j = json_loads(out, JSON_DECODE_ANY, &err);
            if (!j) fail_msg("schema %d seed %d: output is not JSON (%s): %s", i, seed, err.text, out);
            json_decref(j);
            if (dump) tu_write_file(tu_path("%s/out_%02d_%d.json", dump, i, seed), out, strlen(out));
            free(out);
        }
        g4_grammar_matcher_free(m);
        g4_grammar_free(g);
        free(gbnf);
    }
    print_message("%d of %d generations complete within %d tokens\n", complete, total, MAX_TOKENS);
    assert_true(complete * 10 >= total * 9);
}

static const char tools_json[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":10},\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]},"
    "\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":4},\"maxItems\":2}},"
    "\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"noop\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";

typedef struct {
    int calls, ends;
    char args[8][4096];
    char names[8][64];
} call_log;

static void on_event(const g4_event *e, void *user) {
    call_log *log = user;
    if (e->type == G4_EVENT_TOOL_CALL_START) log->calls++;
    if (e->type == G4_EVENT_TOOL_CALL_END && log->ends < 8) {
        snprintf(log->names[log->ends], sizeof log->names[0], "%s", e->name);
        snprintf(log->args[log->ends], sizeof log->args[0], "%.*s", (int)e->len, e->text);
        log->ends++;
    }
}

/* Tool calls generated under the tools grammar parse with the engine's output parser
 * into calls of known tools whose arguments follow the parameter schemas (dumped as
 * schema_9T / out_9T_S for ajv: T the tool, S the call). */
static void test_tool_calls_generate(void **state) {
    (void)state;
    if (!gv || !ctx) skip();
    char *gbnf = g4_grammar_from_tools(tools_json);
    if (!gbnf) fail_msg("%s", g4_last_error());
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    if (!g) fail_msg("%s\n%s", g4_last_error(), gbnf);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, gv);
    assert_non_null(m);
    const char *dump = getenv("G4_GRAMMAR_DUMP");
    json_t *tools = json_loads(tools_json, 0, NULL);
    assert_non_null(tools);
    if (dump)
        for (int t = 0; t < 2; t++) {
            char *sch = json_dumps(json_object_get(json_object_get(json_array_get(tools, (size_t)t), "function"), "parameters"), 0);
            tu_write_file(tu_path("%s/schema_%02d.json", dump, 90 + t), sch, strlen(sch));
            free(sch);
        }
    int n_calls = 0, n_out[2] = {0, 0};
    int32_t toks[MAX_TOKENS];
    for (int seed = 1; seed <= 6; seed++) {
        g4_grammar_matcher_reset(m);
        g4_sampler_params sp = g4_sampler_default_params();
        sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.seed = (uint64_t)seed;
        int nv = g4_vocab_size(vocab);
        g4_sampler *s = g4_sampler_new(&sp, nv);
        float *logits = malloc((size_t)nv * sizeof *logits);
        assert_int_equal(g4_seq_truncate(ctx, 0, 0), 0);
        int32_t tok = g4_vocab_bos(vocab);
        int n = 0, ended = 0;
        while (n < MAX_TOKENS && !ended) {
            g4_batch b = {.n_tokens = 1, .token = &tok};
            assert_int_equal(g4_decode(ctx, &b), 0);
            memcpy(logits, g4_get_logits(ctx, 0), (size_t)nv * sizeof *logits);
            if (g4_grammar_matcher_apply(m, logits) <= 0) fail_msg("no legal token: %s", g4_last_error());
            tok = g4_sampler_sample(s, logits);
            assert_int_equal(g4_grammar_matcher_accept(m, tok), 0);
            toks[n++] = tok;
            ended = g4_vocab_is_eog(vocab, tok);
        }
        free(logits);
        g4_sampler_free(s);
        if (!ended) continue;
        call_log log = {0};
        g4_parser *p = g4_parser_new(vocab, NULL, 0, on_event, &log);
        assert_non_null(p);
        for (int k = 0; k < n; k++) g4_parser_push(p, toks[k]);
        g4_parser_finish(p);
        g4_parser_free(p);
        assert_true(log.ends >= 1);
        assert_int_equal(log.calls, log.ends);
        for (int c = 0; c < log.ends; c++) {
            int t = !strcmp(log.names[c], "get_weather") ? 0 : !strcmp(log.names[c], "noop") ? 1 : -1;
            if (t < 0) fail_msg("call of an unknown tool '%s'", log.names[c]);
            json_t *args = json_loads(log.args[c], 0, NULL);
            if (!json_is_object(args)) fail_msg("arguments of %s are not a JSON object: %s", log.names[c], log.args[c]);
            if (t == 0 && !json_is_string(json_object_get(args, "city"))) fail_msg("get_weather without a city: %s", log.args[c]);
            json_decref(args);
            if (dump) tu_write_file(tu_path("%s/out_%02d_%d.json", dump, 90 + t, ++n_out[t]), log.args[c], strlen(log.args[c]));
            n_calls++;
        }
    }
    print_message("%d tool calls generated and parsed\n", n_calls);
    assert_true(n_calls >= 3);
    json_decref(tools);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    free(gbnf);
}

static void expect_refused(const char *schema, const char *what, const char *ptr) {
    char *gbnf = g4_grammar_from_json_schema(schema);
    if (gbnf) { free(gbnf); fail_msg("schema compiled but should be refused: %s", schema); }
    const char *e = g4_last_error();
    if (!strstr(e, what) || !strstr(e, ptr)) fail_msg("error '%s' should name '%s' at '%s'", e, what, ptr);
}

static void test_schemas_refused(void **state) {
    (void)state;
    expect_refused("{\"type\":\"string\",\"pattern\":\"^(?=a)b$\"}", "lookaround", "at /");
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"hostname\"}}}", "format \"hostname\"", "/properties/a");
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\",\"maximum\":7.5}}}", "number minimum/maximum", "/properties/a");
    expect_refused("{\"type\":\"array\",\"items\":{\"not\":{}}}", "keyword \"not\"", "/items");
    expect_refused("{\"type\":\"array\",\"uniqueItems\":true}", "uniqueItems", "at /");
    expect_refused("{\"$ref\":\"https://example.com/s.json\"}", "$ref", "at /");
    expect_refused("{\"anyOf\":[{\"type\":\"integer\",\"multipleOf\":3}]}", "multipleOf", "/anyOf/0");
    expect_refused("{\"type\":\"object\",\"patternProperties\":{\"^x\":{}}}", "patternProperties", "at /");
    expect_refused("{\"type\":\"integer\",\"minimum\":-100000,\"maximum\":100000}", "integer minimum/maximum", "at /");
    expect_refused("{\"type\":\"strin\"}", "type \"strin\"", "at /");
    expect_refused("{\"if\":{},\"then\":{}}", "keyword \"if\"", "at /");
    expect_refused("{\"enum\":[\"abc\"],\"maxLength\":2}", "keyword \"maxLength\" next to enum", "at /");
    expect_refused("{\"anyOf\":[{\"type\":\"string\"}],\"required\":[\"a\"]}", "keyword \"required\" next to anyOf", "at /");
    expect_refused("{\"type\":\"integer\",\"enum\":[1,\"x\"]}", "enum value that does not have", "at /");
    expect_refused("{\"uniqueItems\":true}", "uniqueItems", "at /");
    expect_refused("{\"type\":", "invalid JSON", "line 1");
}

/* The JSON grammar's whitespace is bounded: a long run of spaces is refused. */
static void test_bounded_whitespace(void **state) {
    (void)state;
    if (!gv) skip();
    char *gbnf = g4_grammar_from_json_schema("{\"type\":\"json_object\"}");
    assert_non_null(gbnf);
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    assert_non_null(g);
    g4_grammar_matcher *m = g4_grammar_matcher_new(g, gv);
    assert_int_equal(g4_grammar_matcher_accept_text(m, "{\n  \"a\": 1 }", 12), 0);
    assert_true(g4_grammar_matcher_complete(m));
    g4_grammar_matcher_reset(m);
    assert_int_equal(g4_grammar_matcher_accept_text(m, "{                  ", 19), -1);
    g4_grammar_matcher_free(m);
    g4_grammar_free(g);
    free(gbnf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemas_refused),
        cmocka_unit_test(test_bounded_whitespace),
        cmocka_unit_test(test_schemas_generate),
        cmocka_unit_test(test_tool_calls_generate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
