/* test_constraint.c: app/chat/constraint on the real 262144-token vocabulary. Tokens
 * are fed by hand and each mask (chat_constraint_apply on a row of zeros) is compared
 * with an independent matcher of the same grammar: thinking lets <|channel> open
 * first, the thought is free text except the end of the turn and <|tool_call>, the
 * grammar starts when <channel|> closes it (or at once when a prompt ends inside
 * "<|channel>thought\n"); tool_choice auto leaves text free and constrains only the
 * calls the model opens; required / named force calls (one with one_call). Also the
 * plan's errors and the grammar cache (one object per text, LRU eviction). */
#include "testutil.h"

#include "chat/constraint.h"
#include "gemma4.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static g4_vocab *vocab;
static g4_grammar_vocab *ref_gv; /* the reference matchers' trie, apart from the cache's */
static chat_grammar_cache *cache;
static int n_vocab;
static float *logits;
static uint8_t *ref_mask;
static int32_t soc, eoc, stc, etc, eot, eos; /* <|channel> <channel|> <|tool_call> <tool_call|> <turn|> <eos> */

static const char tools_json[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":10},\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},"
    "\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"noop\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";
static const char weather_call[] = "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,unit:<|\"|>celsius<|\"|>}<tool_call|>";
static const char noop_call[] = "<|tool_call>call:noop{}<tool_call|>";
static const char yes_no[] = "root ::= \"yes\" | \"no\"\n";

static int setup(void **state) {
    (void)state;
    if (!tu_shared()) return 0;
    vocab = g4_vocab_load(tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", tu_shared()));
    if (!vocab) return 0;
    n_vocab = g4_vocab_size(vocab);
    ref_gv = g4_grammar_vocab_new(vocab);
    cache = chat_grammar_cache_new(vocab, 8);
    logits = malloc((size_t)n_vocab * sizeof *logits);
    ref_mask = malloc((size_t)n_vocab);
    soc = g4_vocab_find(vocab, "<|channel>");
    eoc = g4_vocab_find(vocab, "<channel|>");
    stc = g4_vocab_find(vocab, "<|tool_call>");
    etc = g4_vocab_find(vocab, "<tool_call|>");
    eot = g4_vocab_find(vocab, "<turn|>");
    eos = g4_vocab_eos(vocab);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    chat_grammar_cache_free(cache);
    g4_grammar_vocab_free(ref_gv);
    g4_vocab_free(vocab);
    free(logits);
    free(ref_mask);
    return 0;
}

static void need_vocab(void) {
    if (!vocab) skip();
    assert_true(n_vocab == 262144 && ref_gv && cache && logits && ref_mask);
    assert_true(soc >= 0 && eoc >= 0 && stc >= 0 && etc >= 0 && eot >= 0 && eos >= 0);
}

/* ---- helpers ---- */

/* The ids of text (special tokens on); returns how many. */
static int tokens(const char *text, int32_t *ids, int cap) {
    int n = g4_tokenize(vocab, text, strlen(text), G4_TOKENIZE_SPECIAL, ids, cap);
    assert_true(n > 0 && n <= cap);
    return n;
}

/* Applies the constraint to zeros; returns how many tokens stay allowed. */
static int apply_zeros(chat_constraint *c) {
    memset(logits, 0, (size_t)n_vocab * sizeof *logits);
    assert_int_equal(chat_constraint_apply(c, logits), 0);
    int n = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (logits[i] == 0) n++;
        else if (logits[i] != -INFINITY) fail_msg("token %d: logit %g is neither kept nor banned", i, logits[i]);
    }
    return n;
}

static bool allowed(int32_t id) {
    return logits[id] == 0;
}

/* A reference matcher of (gbnf, root) on its own trie, advanced by prefix. */
typedef struct {
    g4_grammar *g;
    g4_grammar_matcher *m;
} ref_matcher;

static ref_matcher ref_new(const char *gbnf, const char *root) {
    ref_matcher r = {g4_grammar_parse(gbnf, root), NULL};
    assert_non_null(r.g);
    r.m = g4_grammar_matcher_new(r.g, ref_gv);
    assert_non_null(r.m);
    return r;
}

static void ref_free(ref_matcher *r) {
    g4_grammar_matcher_free(r->m);
    g4_grammar_free(r->g);
}

/* The mask after apply_zeros must be the reference mask plus the extra tokens
 * (-1: none), and nothing else. */
static void expect_mask(const ref_matcher *r, int32_t extra1, int32_t extra2, const char *where) {
    int n_ref = g4_grammar_matcher_mask(r->m, ref_mask);
    assert_true(n_ref > 0);
    int want = n_ref;
    if (extra1 >= 0 && !ref_mask[extra1]) ref_mask[extra1] = 1, want++;
    if (extra2 >= 0 && !ref_mask[extra2]) ref_mask[extra2] = 1, want++;
    int got = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (allowed(i) != (ref_mask[i] != 0))
            fail_msg("%s: token %d (%s) is %s", where, i, g4_vocab_piece(vocab, i), allowed(i) ? "allowed" : "banned");
        got += allowed(i);
    }
    assert_int_equal(got, want);
}

/* Feeds text's tokens to the constraint (each must be allowed by its mask and
 * accepted) and to the reference matcher, if any. */
static void feed(chat_constraint *c, ref_matcher *r, const char *text) {
    int32_t ids[128];
    int n = tokens(text, ids, 128);
    for (int k = 0; k < n; k++) {
        apply_zeros(c);
        if (!allowed(ids[k])) fail_msg("'%s': token %d (%s) at %d is banned", text, ids[k], g4_vocab_piece(vocab, ids[k]), k);
        if (chat_constraint_accept(c, ids[k])) fail_msg("'%s': token %d at %d refused", text, ids[k], k);
        if (r) assert_int_equal(g4_grammar_matcher_accept(r->m, ids[k]), 0);
    }
}

/* Feeds text's tokens without masks; returns the index of the first refused one, or -1. */
static int feed_until_refused(chat_constraint *c, const char *text) {
    int32_t ids[128];
    int n = tokens(text, ids, 128);
    for (int k = 0; k < n; k++)
        if (chat_constraint_accept(c, ids[k])) return k;
    return -1;
}

/* The planned grammars of spec, from the cache, and a constraint over them. */
typedef struct {
    chat_constraint_plan plan;
    chat_constraint *c;
} planned;

static planned make(const chat_constraint_spec *spec, const char *prompt, bool thinking) {
    planned p;
    char err[256] = "";
    if (chat_constraint_plan_make(spec, &p.plan, err, sizeof err) != 1) fail_msg("plan: %s", err);
    chat_grammar *answer = NULL, *call = NULL;
    if (p.plan.answer_gbnf) assert_non_null(answer = chat_grammar_get(cache, p.plan.answer_gbnf, p.plan.answer_root, err, sizeof err));
    if (p.plan.call_gbnf) assert_non_null(call = chat_grammar_get(cache, p.plan.call_gbnf, p.plan.call_root, err, sizeof err));
    int32_t ids[256];
    int n = prompt ? tokens(prompt, ids, 256) : 0;
    p.c = chat_constraint_new(answer, call, vocab, ids, n, thinking, err, sizeof err);
    if (!p.c) fail_msg("constraint: %s", err);
    chat_grammar_release(answer); /* the constraint keeps its own references */
    chat_grammar_release(call);
    return p;
}

static void unmake(planned *p) {
    chat_constraint_free(p->c);
    chat_constraint_plan_free(&p->plan);
}

static const char prompt_closed[] = "<bos><|turn>user\nHi<turn|>\n<|turn>model\n";
static const char prompt_in_thought[] = "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n";
static const char prompt_thought_done[] = "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\nok<channel|>";

/* ---- thinking and the answer grammar ---- */

static void test_thinking_then_answer(void **state) {
    (void)state;
    need_vocab();
    chat_constraint_spec spec = {.grammar = yes_no};
    planned p = make(&spec, prompt_closed, true);
    ref_matcher r = ref_new(yes_no, "root");
    /* START: <|channel> or the grammar's first tokens, nothing else */
    apply_zeros(p.c);
    expect_mask(&r, soc, -1, "start");
    assert_false(allowed(eot) || allowed(eos) || allowed(stc) || allowed(eoc));
    /* THOUGHT: free text, but neither the end of the turn nor a call */
    assert_int_equal(chat_constraint_accept(p.c, soc), 0);
    int n = apply_zeros(p.c);
    assert_false(allowed(eot) || allowed(eos) || allowed(stc));
    assert_true(allowed(eoc) && allowed(soc));
    int32_t maybe[8];
    int nm = tokens("maybe later", maybe, 8);
    for (int k = 0; k < nm; k++) assert_true(allowed(maybe[k]));
    assert_true(n >= n_vocab - 8); /* only the end-of-generation tokens and <|tool_call> */
    feed(p.c, NULL, "thought\nLet me weigh it: maybe, maybe not.");
    /* ANSWER after <channel|>: only the grammar, and its refusals stick */
    assert_int_equal(chat_constraint_accept(p.c, eoc), 0);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "after the thought");
    assert_false(allowed(soc) || allowed(eoc) || allowed(maybe[0]));
    assert_int_equal(chat_constraint_accept(p.c, maybe[0]), -1);
    feed(p.c, &r, "yes");
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "after yes");
    assert_true(allowed(eot) && allowed(eos));
    assert_false(allowed(stc));
    assert_int_equal(chat_constraint_accept(p.c, eot), 0);
    assert_true(chat_constraint_mask_seconds(p.c) > 0);
    ref_free(&r);
    unmake(&p);
}

static void test_thinking_off_and_prompt_tails(void **state) {
    (void)state;
    need_vocab();
    chat_constraint_spec spec = {.grammar = yes_no};
    ref_matcher r = ref_new(yes_no, "root");
    /* thinking off: the grammar at once, <|channel> banned */
    planned p = make(&spec, prompt_closed, false);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "thinking off");
    assert_int_equal(chat_constraint_accept(p.c, soc), -1);
    unmake(&p);
    /* a prompt that ends inside "<|channel>thought\n" starts inside the thought */
    p = make(&spec, prompt_in_thought, false);
    apply_zeros(p.c);
    assert_false(allowed(eot) || allowed(eos) || allowed(stc));
    assert_true(allowed(eoc));
    int32_t text[8];
    int nt = tokens("maybe", text, 8);
    assert_true(allowed(text[0]));
    for (int k = 0; k < nt; k++) assert_int_equal(chat_constraint_accept(p.c, text[k]), 0);
    assert_int_equal(chat_constraint_accept(p.c, eoc), 0);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "after the prompt's thought");
    unmake(&p);
    /* a prompt whose thought channel is already closed starts at the answer */
    p = make(&spec, prompt_thought_done, false);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "closed thought in the prompt");
    unmake(&p);
    ref_free(&r);
}

/* ---- tool_choice ---- */

static void test_auto_without_answer_grammar(void **state) {
    (void)state;
    need_vocab();
    chat_constraint_spec spec = {.tools_json = tools_json, .tool_choice = CHAT_TOOLS_AUTO};
    planned p = make(&spec, prompt_closed, false);
    assert_null(p.plan.answer_gbnf);
    assert_non_null(p.plan.call_gbnf);
    /* free text, the end of the turn included */
    assert_int_equal(apply_zeros(p.c), n_vocab);
    feed(p.c, NULL, "Let me check.");
    assert_int_equal(apply_zeros(p.c), n_vocab);
    /* <|tool_call> switches to the call grammar */
    ref_matcher r = ref_new(p.plan.call_gbnf, "call");
    assert_int_equal(chat_constraint_accept(p.c, stc), 0);
    assert_int_equal(g4_grammar_matcher_accept(r.m, stc), 0);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "inside the call");
    assert_false(allowed(eot) || allowed(eos));
    feed(p.c, &r, weather_call + strlen("<|tool_call>"));
    assert_true(g4_grammar_matcher_complete(r.m));
    /* after <tool_call|>: free again, and another call follows its schema too */
    assert_int_equal(apply_zeros(p.c), n_vocab);
    feed(p.c, NULL, "Done.");
    assert_int_equal(chat_constraint_accept(p.c, stc), 0);
    int refused = feed_until_refused(p.c, "call:get_weather{unit:<|\"|>kelvin<|\"|>}<tool_call|>");
    assert_true(refused >= 0); /* no city, and kelvin is not a unit */
    ref_free(&r);
    unmake(&p);
}

static void test_auto_with_answer_grammar(void **state) {
    (void)state;
    need_vocab();
    const char *schema = "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}";
    chat_constraint_spec spec = {.json_schema = schema, .tools_json = tools_json, .tool_choice = CHAT_TOOLS_AUTO};
    planned p = make(&spec, prompt_closed, false);
    assert_non_null(p.plan.answer_gbnf);
    assert_non_null(p.plan.call_gbnf);
    ref_matcher answer = ref_new(p.plan.answer_gbnf, "root");
    /* before the answer starts: its grammar or a call */
    apply_zeros(p.c);
    expect_mask(&answer, stc, -1, "answer or call");
    feed(p.c, NULL, weather_call);
    /* after a call: another call or the end, nothing else */
    int n = apply_zeros(p.c);
    assert_true(allowed(stc) && allowed(eot) && allowed(eos));
    assert_false(allowed(etc) || allowed(soc));
    for (int i = 0; i < n_vocab; i++)
        if (allowed(i) && i != stc && !g4_vocab_is_eog(vocab, i)) fail_msg("token %d (%s) allowed after a call", i, g4_vocab_piece(vocab, i));
    assert_true(n >= 3 && n <= 6);
    feed(p.c, NULL, noop_call);
    assert_true(apply_zeros(p.c) == n);
    unmake(&p);
    /* once the answer has started, no call may open */
    p = make(&spec, prompt_closed, false);
    feed(p.c, &answer, "{");
    apply_zeros(p.c);
    expect_mask(&answer, -1, -1, "inside the answer");
    assert_false(allowed(stc));
    assert_int_equal(chat_constraint_accept(p.c, stc), -1);
    ref_free(&answer);
    unmake(&p);
}

static void test_required_and_named(void **state) {
    (void)state;
    need_vocab();
    /* required, parallel calls allowed: a call first, then another call or the end */
    chat_constraint_spec spec = {.tools_json = tools_json, .tool_choice = CHAT_TOOLS_REQUIRED};
    planned p = make(&spec, prompt_closed, false);
    assert_null(p.plan.call_gbnf);
    assert_string_equal(p.plan.answer_root, "root");
    ref_matcher r = ref_new(p.plan.answer_gbnf, "root");
    assert_int_equal(apply_zeros(p.c), 1);
    assert_true(allowed(stc));
    feed(p.c, &r, weather_call);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "after one of several calls");
    assert_true(allowed(stc) && allowed(eot));
    feed(p.c, &r, noop_call);
    ref_free(&r);
    unmake(&p);
    /* required with one_call: after the call only the end */
    spec.one_call = true;
    p = make(&spec, prompt_closed, true);
    assert_string_equal(p.plan.answer_root, "call");
    r = ref_new(p.plan.answer_gbnf, "call");
    apply_zeros(p.c);
    expect_mask(&r, soc, -1, "one call, thinking on");
    assert_int_equal(chat_constraint_accept(p.c, soc), 0);
    apply_zeros(p.c);
    assert_false(allowed(stc) || allowed(eot)); /* the thought must close before the call */
    assert_int_equal(chat_constraint_accept(p.c, eoc), 0);
    feed(p.c, &r, noop_call);
    apply_zeros(p.c);
    expect_mask(&r, -1, -1, "after the one call");
    assert_false(allowed(stc));
    assert_true(allowed(eot));
    ref_free(&r);
    unmake(&p);
    /* named: only that tool */
    spec = (chat_constraint_spec){.tools_json = tools_json, .tool_choice = CHAT_TOOLS_NAMED, .tool_name = "noop"};
    p = make(&spec, prompt_closed, false);
    assert_null(strstr(p.plan.answer_gbnf, "get_weather"));
    assert_non_null(strstr(p.plan.answer_gbnf, "noop"));
    assert_true(feed_until_refused(p.c, weather_call) > 0);
    unmake(&p);
    p = make(&spec, prompt_closed, false);
    feed(p.c, NULL, noop_call);
    apply_zeros(p.c);
    assert_false(allowed(stc));
    assert_true(allowed(eot));
    unmake(&p);
}

/* ---- the plan ---- */

static void expect_plan_error(const chat_constraint_spec *spec, const char *words) {
    chat_constraint_plan plan;
    char err[256] = "";
    assert_int_equal(chat_constraint_plan_make(spec, &plan, err, sizeof err), -1);
    if (!strstr(err, words)) fail_msg("error '%s' should say '%s'", err, words);
    assert_null(plan.answer_gbnf);
    assert_null(plan.call_gbnf);
}

static void test_plan(void **state) {
    (void)state;
    expect_plan_error(&(chat_constraint_spec){.json_schema = "{\"type\":\"string\"}", .grammar = yes_no}, "not both");
    expect_plan_error(&(chat_constraint_spec){.tools_json = tools_json, .tool_choice = CHAT_TOOLS_NAMED, .tool_name = "fly"},
                      "'fly', which is not among the tools");
    expect_plan_error(&(chat_constraint_spec){.tool_choice = CHAT_TOOLS_REQUIRED}, "tool_choice \"required\" needs tools");
    expect_plan_error(&(chat_constraint_spec){.tool_choice = CHAT_TOOLS_NAMED, .tool_name = "noop"}, "needs tools");
    expect_plan_error(&(chat_constraint_spec){.json_schema = "{\"type\":\"array\",\"uniqueItems\":true}"}, "uniqueItems");
    expect_plan_error(&(chat_constraint_spec){.json_schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}"},
                      "/properties/a");
    expect_plan_error(&(chat_constraint_spec){.grammar = "root ::= missing\n"}, "grammar");
    expect_plan_error(&(chat_constraint_spec){.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                                                            "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"multipleOf\":2}}}}}]",
                                              .tool_choice = CHAT_TOOLS_REQUIRED},
                      "multipleOf");
    /* nothing to constrain: 0 and no grammars */
    chat_constraint_plan plan;
    char err[64];
    assert_int_equal(chat_constraint_plan_make(&(chat_constraint_spec){0}, &plan, err, sizeof err), 0);
    assert_null(plan.answer_gbnf);
    assert_int_equal(chat_constraint_plan_make(&(chat_constraint_spec){.tools_json = tools_json, .tool_choice = CHAT_TOOLS_NONE},
                                               &plan, err, sizeof err), 0);
    /* auto with a tool whose schema does not compile: the calls stay unconstrained */
    assert_int_equal(chat_constraint_plan_make(&(chat_constraint_spec){.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                                                                                     "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}}}]"},
                                               &plan, err, sizeof err), 0);
    assert_null(plan.call_gbnf);
    /* a long expression repeated (an array of objects with an integer range) is no "out of memory" */
    const char *rows = "{\"type\":\"array\",\"maxItems\":3,\"items\":{\"type\":\"object\",\"required\":[\"id\"],"
                       "\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":99}}}}";
    char why[256] = "";
    if (chat_constraint_plan_make(&(chat_constraint_spec){.json_schema = rows}, &plan, why, sizeof why) != 1) fail_msg("%s", why);
    assert_non_null(strstr(plan.answer_gbnf, "\"99\""));
    chat_constraint_plan_free(&plan);
    /* json_object is any object */
    assert_int_equal(chat_constraint_plan_make(&(chat_constraint_spec){.json_schema = "{\"type\":\"json_object\"}"}, &plan, err, sizeof err), 1);
    assert_string_equal(plan.answer_root, "root");
    chat_constraint_plan_free(&plan);
    assert_null(plan.answer_gbnf);
}

/* ---- the grammar cache ---- */

static void test_grammar_cache(void **state) {
    (void)state;
    need_vocab();
    chat_grammar_cache *c = chat_grammar_cache_new(vocab, 2);
    assert_non_null(c);
    char err[256];
    const char *ga = "root ::= \"a\"\n", *gb = "root ::= \"b\"\n", *gc = "root ::= \"c\"\n";
    chat_grammar *held[16];
    int n_held = 0;
#define GET(text, root) (held[n_held++] = chat_grammar_get(c, text, root, err, sizeof err))
    chat_grammar *a = GET(ga, "root");
    assert_non_null(a);
    assert_ptr_equal(GET(ga, "root"), a);
    chat_grammar *b = GET(gb, "root");
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    /* a touched, so c evicts the least recently used: b, not a */
    assert_ptr_equal(GET(ga, "root"), a);
    chat_grammar *cc = GET(gc, "root");
    assert_non_null(cc);
    assert_ptr_equal(GET(ga, "root"), a);
    chat_grammar *b2 = GET(gb, "root"); /* compiled again (evicting cc); our b stays valid */
    assert_non_null(b2);
    assert_ptr_not_equal(b2, b);
    assert_ptr_equal(GET(gb, "root"), b2);
    /* the same text with another start rule is another grammar */
    const char *two = "root ::= x \"y\"\nx ::= \"x\"\n";
    chat_grammar *t1 = GET(two, "root"), *t2 = GET(two, "x");
    assert_true(t1 && t2 && t1 != t2);
    /* an evicted grammar still constrains a generation that holds it */
    chat_constraint *k = chat_constraint_new(b, NULL, vocab, NULL, 0, false, err, sizeof err);
    assert_non_null(k);
    int32_t id_b = g4_vocab_find(vocab, "b"), id_a = g4_vocab_find(vocab, "a");
    assert_true(id_b >= 0 && id_a >= 0);
    int n = apply_zeros(k);
    assert_true(n >= 1 && n <= 2); /* "b" (and its byte token, if the trie keeps one) */
    assert_true(allowed(id_b));
    assert_false(allowed(id_a));
    assert_int_equal(chat_constraint_accept(k, id_a), -1);
    assert_int_equal(chat_constraint_accept(k, id_b), 0);
    chat_constraint_free(k);
    /* a grammar the vocabulary cannot hold is an error with its reason */
    assert_null(GET("root ::= <[\"<|no such token|>\"]>\n", "root"));
    assert_non_null(strstr(err, "grammar"));
#undef GET
    for (int i = 0; i < n_held; i++) chat_grammar_release(held[i]);
    chat_grammar_cache_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_thinking_then_answer),
        cmocka_unit_test(test_thinking_off_and_prompt_tails),
        cmocka_unit_test(test_auto_without_answer_grammar),
        cmocka_unit_test(test_auto_with_answer_grammar),
        cmocka_unit_test(test_required_and_named),
        cmocka_unit_test(test_grammar_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
