/* test_server_request.c: the server's request validator (app/server/request.c)
 * and stop strings (app/server/stops.c): valid bodies fill every field, each
 * kind of bad body gets its status and names its field, stop strings cut the
 * streamed text exactly once whatever the split. */
#include "testutil.h"
#include "server/server.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const srv_limits lim = {.model_name = "gemma", .vocab_size = 1000, .max_tokens = 512};

static int parse(srv_kind kind, const char *body, srv_request *r, srv_error *e) {
    return srv_request_parse(r, kind, body, strlen(body), &lim, e);
}

static void test_full_chat(void **state) {
    (void)state;
    srv_request r;
    srv_error e;
    const char *body =
        "{\"model\":\"gemma\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello \"},{\"type\":\"text\",\"text\":\"there\"}]}],"
        "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.05,\"max_completion_tokens\":100,\"max_tokens\":7,"
        "\"stop\":[\"END\",\"##\"],\"seed\":42,\"n\":2,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
        "\"logit_bias\":{\"5\":-100,\"7\":3},\"logprobs\":true,\"top_logprobs\":3,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"chat_template_kwargs\":{\"enable_thinking\":true},"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\","
        "\"parallel_tool_calls\":false}";
    assert_int_equal(parse(SRV_CHAT, body, &r, &e), 0);
    assert_float_equal(r.temperature, 0.5, 1e-6);
    assert_float_equal(r.top_p, 0.9, 1e-6);
    assert_int_equal(r.top_k, 40);
    assert_int_equal(r.max_tokens, 100); /* max_completion_tokens wins */
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "##");
    assert_int_equal(r.seed, 42);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.n_bias, 2);
    assert_true(isinf(r.bias[0].bias) || isinf(r.bias[1].bias)); /* -100 bans */
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 3);
    assert_true(r.stream && r.include_usage && r.enable_thinking);
    assert_int_equal(r.tool_choice, CHAT_TOOLS_REQUIRED);
    assert_false(r.parallel_tool_calls);
    assert_non_null(strstr(r.messages_json, "\"Hello there\"")); /* text parts joined */
    assert_non_null(r.tools_json);
    srv_request_free(&r);
}

static void test_defaults_and_named_tool(void **state) {
    (void)state;
    srv_request r;
    srv_error e;
    assert_int_equal(parse(SRV_CHAT,
                           "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                           "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}],"
                           "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}",
                           &r, &e),
                     0);
    assert_true(isnan(r.temperature) && r.top_k == -1 && r.seed == -1 && r.n == 1 && r.max_tokens == 0);
    assert_int_equal(r.tool_choice, CHAT_TOOLS_NAMED);
    assert_string_equal(r.tool_name, "get_weather");
    srv_request_free(&r);
    assert_int_equal(parse(SRV_COMPLETION, "{\"prompt\":[1,2,3],\"logprobs\":2,\"echo\":true}", &r, &e), 0);
    assert_int_equal(r.n_prompt_ids, 3);
    assert_int_equal(r.top_logprobs, 2);
    assert_true(r.logprobs && r.echo);
    srv_request_free(&r);
}

typedef struct {
    srv_kind kind;
    const char *body;
    int status;
    const char *param;
} bad_case;

static void test_bad_bodies(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {SRV_CHAT, "", 400, ""},
        {SRV_CHAT, "{", 400, ""},
        {SRV_CHAT, "[]", 400, ""},
        {SRV_CHAT, "{\"messages\":[]}", 400, "messages"},
        {SRV_CHAT, "{\"messages\":\"hi\"}", 400, "messages"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 400, "messages"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400, "messages"},
        {SRV_CHAT, "{\"model\":\"other\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, "model"},
        {SRV_CHAT, "{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "model"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", 400, "temperature"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"1\"}", 400, "temperature"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", 400, "max_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":513}", 400, "max_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", 400, "max_tokens"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":17}", 400, "n"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"\"]}", 400, "stop"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", 400, "stop"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1000\":1}}", 400, "logit_bias"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"x\":1}}", 400, "logit_bias"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1\":101}}", 400, "logit_bias"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":3}", 400, "top_logprobs"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", 400, "tool_choice"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"sometimes\"}", 400, "tool_choice"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", 400, "tools"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}", 400, "stream"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":[]}", 400, "chat_template_kwargs"},
        {SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"messages\":[]}", 400, ""},
        {SRV_COMPLETION, "{\"prompt\":\"\"}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":[1,-1]}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":[1,1000]}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":{}}", 400, "prompt"},
        {SRV_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":true}", 400, "logprobs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        srv_request r;
        srv_error e = {0};
        if (parse(cases[i].kind, cases[i].body, &r, &e) != -1) fail_msg("case %zu was accepted: %s", i, cases[i].body);
        if (e.status != cases[i].status || strcmp(e.param, cases[i].param))
            fail_msg("case %zu (%s): status %d param '%s', expected %d '%s' (%s)", i, cases[i].body, e.status, e.param,
                     cases[i].status, cases[i].param, e.message);
        char *json = srv_error_json(&e);
        assert_non_null(strstr(json, "\"error\""));
        free(json);
    }
    /* invalid UTF-8 and an embedded NUL */
    static const char utf8[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}";
    srv_request r;
    srv_error e;
    assert_int_equal(srv_request_parse(&r, SRV_CHAT, utf8, sizeof utf8 - 1, &lim, &e), -1);
    assert_int_equal(e.status, 400);
}

/* Feeds text split at every position; the output must be the text before the stop string. */
static void test_stops(void **state) {
    (void)state;
    char *stops[] = {"STOP", "xyz"};
    const char *text = "hello STxSTOP world";
    for (size_t split = 0; split <= strlen(text); split++) {
        srv_stops st;
        srv_stops_init(&st, stops, 2);
        char got[64] = "";
        const char *out;
        size_t n;
        int rc = srv_stops_feed(&st, text, split, &out, &n);
        strncat(got, out, n);
        if (rc == 0) {
            rc = srv_stops_feed(&st, text + split, strlen(text) - split, &out, &n);
            strncat(got, out, n);
        }
        assert_int_equal(rc, 1);
        assert_string_equal(got, "hello STx");
        srv_stops_free(&st);
    }
    /* no stop: a held partial match comes out at the flush */
    srv_stops st;
    srv_stops_init(&st, stops, 2);
    const char *out;
    size_t n;
    assert_int_equal(srv_stops_feed(&st, "abc xy", 6, &out, &n), 0);
    assert_int_equal(n, 4);
    srv_stops_flush(&st, &out, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "xy", 2);
    srv_stops_free(&st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_chat),
        cmocka_unit_test(test_defaults_and_named_tool),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
