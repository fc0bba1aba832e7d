/* test_chat.c: chat prompts against the golden renders in
 * shared/fixtures/chat/golden.jsonl (made with Python jinja2 the way Hugging
 * Face's apply_chat_template renders), byte for byte, for all four templates;
 * the built-in canonical templates against the fixture files; tool-call
 * arguments given as JSON strings; and bad requests, which must fail cleanly. */
#include "testutil.h"

#include "gemma4.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of member key of obj as JSON, or NULL when it is absent. */
static char *member_json(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* Renders one golden line; returns 1 if it matches (or fails where the line records an error). */
static int check_golden_line(const char *shared, json_t *line, int lineno) {
    const char *name = json_string_value(json_object_get(line, "template"));
    const char *label = json_string_value(json_object_get(line, "case"));
    json_t *expected = json_object_get(line, "expected"), *kwargs = json_object_get(line, "kwargs");
    if (!name || !label) {
        print_message("golden line %d: no template or case name\n", lineno);
        return 0;
    }
    size_t size = 0;
    char *tpl = tu_read_file(tu_path("%s/fixtures/chat/templates/%s.jinja", shared, name), &size);
    if (!tpl) {
        print_message("golden line %d: cannot read template %s\n", lineno, name);
        return 0;
    }
    char *src = malloc(size + 1);
    assert_non_null(src);
    memcpy(src, tpl, size);
    src[size] = '\0';
    free(tpl);

    char *messages = member_json(line, "messages"), *tools = member_json(line, "tools"),
         *kw = member_json(line, "kwargs");
    json_t *bos = json_object_get(line, "bos_token");
    g4_chat_request req = {
        .messages_json = messages,
        .tools_json = tools,
        .kwargs_json = kw,
        .add_generation_prompt = json_is_true(json_object_get(kwargs, "add_generation_prompt")),
        .enable_thinking = json_is_true(json_object_get(kwargs, "enable_thinking")),
        .bos_token = json_string_value(bos),
    };
    char *got = g4_chat_render(src, &req);
    int ok;
    if (json_is_string(expected)) {
        ok = got && !strcmp(got, json_string_value(expected));
        if (!ok) {
            print_message("golden %s/%s: mismatch\n  want: %s\n  got:  %s%s\n", name, label, json_string_value(expected),
                          got ? got : "(error) ", got ? "" : g4_last_error());
        }
    } else { /* the line records an error: rendering must fail too */
        ok = got == NULL;
        if (!ok) print_message("golden %s/%s: expected an error, got output\n", name, label);
    }
    free(got);
    free(messages);
    free(tools);
    free(kw);
    free(src);
    return ok;
}

static void test_golden(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) {
        print_message("skip: ../shared is absent\n");
        skip();
    }
    FILE *f = fopen(tu_path("%s/fixtures/chat/golden.jsonl", shared), "r");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int total = 0, passed = 0;
    while ((len = getline(&buf, &cap, f)) > 0) {
        json_error_t err;
        json_t *line = json_loadb(buf, (size_t)len, 0, &err);
        if (!line) {
            print_message("golden line %d: %s\n", total + 1, err.text);
            total++;
            continue;
        }
        total++;
        passed += check_golden_line(shared, line, total);
        json_decref(line);
    }
    free(buf);
    fclose(f);
    print_message("golden chat renders: %d/%d passed\n", passed, total);
    assert_int_equal(total, 72);
    assert_int_equal(passed, total);
}

static void test_builtin_templates(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) skip();
    static const char *const names[2] = {"gemma-4-canonical-small", "gemma-4-canonical-large"};
    for (int large = 0; large < 2; large++) {
        size_t size;
        char *want = tu_read_file(tu_path("%s/fixtures/chat/templates/%s.jinja", shared, names[large]), &size);
        assert_non_null(want);
        const char *got = g4_chat_template_builtin(large);
        assert_non_null(got);
        assert_int_equal(strlen(got), size);
        assert_memory_equal(got, want, size);
        free(want);
    }
}

static const char *const weather_tools =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";

static void test_string_arguments(void **state) {
    (void)state;
    const char *messages =
        "[{\"role\":\"user\",\"content\":\"Weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\", \\\"days\\\": 2}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"18C\"}]";
    g4_chat_request req = {.messages_json = messages, .tools_json = weather_tools, .add_generation_prompt = 1};
    char *got = g4_chat_render(g4_chat_template_builtin(0), &req);
    assert_non_null(got);
    const char *want = "<bos><|turn>system\n<|tool>declaration:get_weather{description:<|\"|>Weather<|\"|>,"
                       "parameters:{properties:{city:{type:<|\"|>STRING<|\"|>}},required:[<|\"|>city<|\"|>],"
                       "type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n<|turn>user\nWeather?<turn|>\n<|turn>model\n"
                       "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:2}<tool_call|>"
                       "<|tool_response>response:get_weather{value:<|\"|>18C<|\"|>}<tool_response|>";
    assert_string_equal(got, want);
    free(got);

    /* the same call with an object renders the same prompt */
    const char *as_object =
        "[{\"role\":\"user\",\"content\":\"Weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"days\":2}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"18C\"}]";
    req.messages_json = as_object;
    got = g4_chat_render(g4_chat_template_builtin(0), &req);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void expect_failure(const char *tpl, const g4_chat_request *req, const char *part) {
    char *got = g4_chat_render(tpl, req);
    if (got) print_message("expected an error containing '%s', got: %s\n", part, got);
    assert_null(got);
    const char *err = g4_last_error();
    if (!strstr(err, part)) print_message("error '%s' lacks '%s'\n", err, part);
    assert_non_null(strstr(err, part));
    assert_null(strchr(err, '\n'));
}

static void test_bad_requests(void **state) {
    (void)state;
    const char *tpl = g4_chat_template_builtin(1);
    g4_chat_request req = {
        .messages_json = "[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{oops\"}}]}]"};
    expect_failure(tpl, &req, "messages[0].tool_calls[0].function.arguments: invalid JSON");
    req.messages_json = "[{\"role\":\"user\",\"content\":\"hi\"}";
    expect_failure(tpl, &req, "messages: invalid JSON at line 1");
    req.messages_json = "{\"role\":\"user\"}";
    expect_failure(tpl, &req, "messages: expected a JSON array");
    req.messages_json = "[\"hello\"]";
    expect_failure(tpl, &req, "messages[0]: expected a JSON object");
    req.messages_json = "[{\"role\":\"user\",\"content\":\"hi\"}]";
    req.tools_json = "{\"type\":\"function\"}";
    expect_failure(tpl, &req, "tools: expected a JSON array");
    req.tools_json = NULL;
    req.kwargs_json = "[1]";
    expect_failure(tpl, &req, "kwargs: expected a JSON object");
    req.kwargs_json = NULL;
    req.messages_json = NULL;
    expect_failure(tpl, &req, "no messages");
    /* the canonical template refuses arguments that are not a mapping */
    req.messages_json = "[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"[1, 2]\"}}]}]";
    expect_failure(tpl, &req, "arguments must be a mapping");
    const char *err = g4_last_error();
    assert_int_equal(strncmp(err, "template:", 9), 0);
    /* a broken template */
    req.messages_json = "[]";
    expect_failure("{% for m in messages %}", &req, "template:1:24: Unexpected end of template");
}

static void test_variables(void **state) {
    (void)state;
    const char *tpl = "{{ bos_token }}|{{ messages | length }}|{{ tools }}|{{ add_generation_prompt }}|"
                      "{{ enable_thinking is defined }}|{{ extra | default('-') }}";
    g4_chat_request req = {.messages_json = "[{\"role\":\"user\",\"content\":\"x\"}]"};
    char *got = g4_chat_render(tpl, &req);
    assert_non_null(got);
    assert_string_equal(got, "<bos>|1|None|False|False|-");
    free(got);
    req.bos_token = "<s>";
    req.enable_thinking = 1;
    req.add_generation_prompt = 1;
    req.kwargs_json = "{\"extra\": 7, \"add_generation_prompt\": false}";
    got = g4_chat_render(tpl, &req);
    assert_non_null(got);
    assert_string_equal(got, "<s>|1|None|False|True|7");
    free(got);

    /* the canonical large template with thinking off ends with the empty thought channel */
    req = (g4_chat_request){.messages_json = "[{\"role\":\"user\",\"content\":\" Hi! \"}]", .add_generation_prompt = 1};
    got = g4_chat_render(g4_chat_template_builtin(1), &req);
    assert_non_null(got);
    assert_string_equal(got, "<bos><|turn>user\nHi!<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
    free(got);
    req.enable_thinking = 1;
    got = g4_chat_render(g4_chat_template_builtin(1), &req);
    assert_non_null(got);
    assert_string_equal(got, "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nHi!<turn|>\n<|turn>model\n");
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_builtin_templates),
        cmocka_unit_test(test_string_arguments),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
