/* test_agent_toolbox.c: loading tool scripts (app/agent/toolbox.c): a directory
 * of good and broken scripts (syntax error, no name, bad parameters, run not a
 * function, endless loop and error at load) loads the good ones and names each
 * broken file once; later directories replace tools by name; the OpenAI tools
 * JSON of a selection; calls with bad arguments; the approval policy (policy.c). */
#include "testutil.h"

#include "agent/agent.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GOOD_TOOL(name, extra)                                                                                   \
    "return { name = '" name "', description = 'the " name " tool',\n"                                         \
    "  parameters = { type = 'object', properties = { path = { type = 'string' } }, required = { 'path' } },\n" \
    "  " extra "\n"                                                                                              \
    "  run = function(args, ctx) return '" name ":' .. tostring(args.path) end }\n"

typedef struct {
    char lines[32][1024];
    int count;
} warnings;

static void collect(const char *line, void *user) {
    warnings *w = user;
    if (w->count < 32) snprintf(w->lines[w->count++], sizeof w->lines[0], "%s", line);
}

static void put(const char *dir, const char *file, const char *text) {
    assert_int_equal(tu_write_file(tu_path("%s/%s", dir, file), text, strlen(text)), 0);
}

/* The warning line about file (exactly one). */
static const char *warning_for(const warnings *w, const char *dir, const char *file) {
    const char *found = NULL;
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/%s: ", dir, file);
    for (int i = 0; i < w->count; i++) {
        if (strncmp(w->lines[i], prefix, strlen(prefix)) == 0) {
            if (found) fail_msg("two warnings for %s", file);
            found = w->lines[i] + strlen(prefix);
        }
    }
    if (!found) fail_msg("no warning for %s", file);
    return found;
}

static char first_dir[512], second_dir[512];

static agent_toolbox *load_fixture(warnings *w, const agent_limits *limits) {
    snprintf(first_dir, sizeof first_dir, "%s/tools1", tu_tmpdir());
    snprintf(second_dir, sizeof second_dir, "%s/tools2", tu_tmpdir());
    mkdir(first_dir, 0755);
    mkdir(second_dir, 0755);
    put(first_dir, "read.lua", GOOD_TOOL("read_file", ""));
    put(first_dir, "write.lua", GOOD_TOOL("write_file", "writes = true,"));
    put(first_dir, "shell.lua", GOOD_TOOL("run_shell", "executes = true,"));
    put(first_dir, "same.lua", GOOD_TOOL("same", ""));
    put(first_dir, "syntax.lua", "return { name = 'broken' ");
    put(first_dir, "noname.lua", "return { description = 'x', parameters = { type = 'object' }, run = function() end }");
    put(first_dir, "badname.lua", "return { name = 'has space', description = 'x', parameters = { type = 'object' }, run = function() end }");
    put(first_dir, "badparams.lua", "return { name = 'p', description = 'x', parameters = { type = 'string' }, run = function() end }");
    put(first_dir, "badprops.lua", "return { name = 'q', description = 'x', parameters = { type = 'object', properties = { 1, 2 } }, run = function() end }");
    put(first_dir, "notfunc.lua", "return { name = 'n', description = 'x', parameters = { type = 'object' }, run = 5 }");
    put(first_dir, "loop.lua", "while true do end");
    put(first_dir, "err.lua", "error('broken at load')");
    put(first_dir, "nottable.lua", "return 'a string'");
    put(first_dir, "badflag.lua", "return { name = 'f', description = 'x', parameters = { type = 'object' }, writes = 'yes', run = function() end }");
    put(first_dir, "notes.txt", "not a script");
    put(second_dir, "same2.lua",
        "return { name = 'same', description = 'the second same', parameters = { type = 'object', properties = json.empty_object },"
        " run = function() return 'second' end }");
    const char *dirs[] = {first_dir, tu_path("%s/missing-dir", tu_tmpdir()), second_dir, NULL};
    return agent_toolbox_load(dirs, limits, collect, w);
}

static void test_load_directory(void **state) {
    warnings w = {0};
    agent_limits limits = agent_limits_defaults();
    limits.max_instructions = 1000000;
    agent_toolbox *tb = load_fixture(&w, &limits);
    assert_non_null(tb);
    assert_int_equal(agent_toolbox_count(tb), 4);
    assert_true(agent_toolbox_find(tb, "read_file") >= 0);
    assert_true(agent_toolbox_find(tb, "write_file") >= 0);
    assert_true(agent_toolbox_find(tb, "run_shell") >= 0);
    int same = agent_toolbox_find(tb, "same");
    assert_string_equal(agent_toolbox_description(tb, same), "the second same");
    assert_int_equal(agent_toolbox_find(tb, "broken"), -1);

    assert_int_equal(w.count, 10);
    assert_non_null(strstr(warning_for(&w, first_dir, "syntax.lua"), "syntax.lua:1:"));
    assert_string_equal(warning_for(&w, first_dir, "noname.lua"), "name must be a string");
    assert_string_equal(warning_for(&w, first_dir, "badname.lua"), "name must be 1 to 64 letters, digits, '_' or '-'");
    assert_string_equal(warning_for(&w, first_dir, "badparams.lua"), "parameters must be a JSON schema with type = \"object\"");
    assert_string_equal(warning_for(&w, first_dir, "badprops.lua"), "parameters.properties must be an object (use json.empty_object)");
    assert_string_equal(warning_for(&w, first_dir, "notfunc.lua"), "run must be a function");
    assert_string_equal(warning_for(&w, first_dir, "loop.lua"), "the tool ran past its limit of 1000000 Lua instructions");
    assert_string_equal(warning_for(&w, first_dir, "err.lua"), "err.lua:1: broken at load");
    assert_string_equal(warning_for(&w, first_dir, "nottable.lua"), "the script returns string, not a tool table");
    assert_string_equal(warning_for(&w, first_dir, "badflag.lua"), "writes must be true, false or nil");

    assert_int_equal(agent_toolbox_default_permission(tb, agent_toolbox_find(tb, "read_file")), AGENT_ALLOW);
    assert_int_equal(agent_toolbox_default_permission(tb, agent_toolbox_find(tb, "write_file")), AGENT_ASK);
    assert_int_equal(agent_toolbox_default_permission(tb, agent_toolbox_find(tb, "run_shell")), AGENT_ASK);

    agent_result r;
    agent_toolbox_run(tb, "same", "{}", NULL, &r);
    assert_false(r.is_error);
    assert_string_equal(r.content, "second");
    agent_result_free(&r);
    agent_toolbox_free(tb);
}

static void test_tools_json(void **state) {
    warnings w = {0};
    agent_limits limits = agent_limits_defaults();
    agent_toolbox *tb = load_fixture(&w, &limits);
    char *err = NULL;
    char *text = agent_toolbox_tools_json(tb, "write_file, read_file,write_file", &err);
    assert_non_null(text);
    assert_null(err);
    json_t *got = json_loads(text, 0, NULL);
    json_t *want = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"write_file\",\"description\":\"the write_file tool\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"description\":\"the read_file tool\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}}}]",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) fail_msg("tools JSON: %s", text);
    json_decref(got);
    json_decref(want);
    free(text);

    text = agent_toolbox_tools_json(tb, "all", &err);
    got = json_loads(text, 0, NULL);
    assert_int_equal(json_array_size(got), 4);
    json_t *same_params = json_object_get(json_object_get(json_array_get(got, 1), "function"), "parameters");
    assert_true(json_is_object(json_object_get(same_params, "properties")));
    json_decref(got);
    free(text);

    assert_null(agent_toolbox_tools_json(tb, "read_file,nope", &err));
    assert_string_equal(err, "unknown tool \"nope\" (the tools are: read_file, same, run_shell, write_file)");
    free(err);
    assert_null(agent_toolbox_tools_json(tb, " , ", &err));
    assert_non_null(err);
    free(err);
    agent_toolbox_free(tb);
}

static void expect_call_error(agent_toolbox *tb, const char *name, const char *args, const char *message) {
    agent_result r;
    agent_toolbox_run(tb, name, args, NULL, &r);
    assert_true(r.is_error);
    json_t *obj = json_loads(r.content, 0, NULL);
    assert_non_null(obj);
    assert_string_equal(json_string_value(json_object_get(obj, "tool")), name);
    const char *e = json_string_value(json_object_get(obj, "error"));
    if (!e || strncmp(e, message, strlen(message)) != 0) fail_msg("%s(%s): %s", name, args, r.content);
    json_decref(obj);
    agent_result_free(&r);
}

static void test_run_arguments(void **state) {
    warnings w = {0};
    agent_limits limits = agent_limits_defaults();
    agent_toolbox *tb = load_fixture(&w, &limits);
    expect_call_error(tb, "read_file", "{\"path\": ", "the arguments are not valid JSON: ");
    expect_call_error(tb, "read_file", "[\"a.txt\"]", "the arguments must be a JSON object");
    expect_call_error(tb, "read_file", "\"a.txt\"", "the arguments must be a JSON object");
    expect_call_error(tb, "read_file", "{\"path\": 1, \"path\": 2}", "the arguments are not valid JSON: ");
    expect_call_error(tb, "no_such_tool", "{}", "there is no tool named \"no_such_tool\"");
    agent_result r;
    agent_toolbox_run(tb, "read_file", "{\"path\": \"x\\u00e9\"}", NULL, &r);
    assert_false(r.is_error);
    assert_string_equal(r.content, "read_file:x\xC3\xA9");
    assert_true(r.seconds >= 0 && r.seconds < 5);
    agent_result_free(&r);
    agent_toolbox_run(tb, "read_file", "", NULL, &r);  /* no arguments at all: an empty object */
    assert_string_equal(r.content, "read_file:nil");
    agent_result_free(&r);
    atomic_int cancel;
    atomic_init(&cancel, 1);
    agent_toolbox_run(tb, "read_file", "{}", &cancel, &r);
    assert_true(r.is_error);
    assert_non_null(strstr(r.content, "cancelled"));
    agent_result_free(&r);
    agent_toolbox_free(tb);
}

static void test_policy(void **state) {
    warnings w = {0};
    agent_limits limits = agent_limits_defaults();
    agent_toolbox *tb = load_fixture(&w, &limits);
    agent_policy *p = agent_policy_new(tb);
    assert_int_equal(agent_policy_get(p, "read_file"), AGENT_ALLOW);
    assert_int_equal(agent_policy_get(p, "write_file"), AGENT_ASK);
    assert_int_equal(agent_policy_get(p, "run_shell"), AGENT_ASK);
    assert_int_equal(agent_policy_get(p, "unknown"), AGENT_DENY);
    assert_int_equal(agent_policy_set(p, "unknown", AGENT_ALLOW), -1);
    char *err = NULL;
    assert_int_equal(agent_policy_apply(p, "read_file=deny", &err), 0);
    assert_int_equal(agent_policy_get(p, "read_file"), AGENT_DENY);
    assert_int_equal(agent_policy_apply(p, "run_shell=deny", &err), 0);
    assert_int_equal(agent_policy_apply(p, "read_file=maybe", &err), -1);
    assert_string_equal(err, "read_file=maybe is not NAME=allow, NAME=ask or NAME=deny");
    free(err);
    assert_int_equal(agent_policy_apply(p, "ghost=allow", &err), -1);
    assert_string_equal(err, "ghost=allow names no loaded tool");
    free(err);
    agent_policy_allow_asks(p);
    assert_int_equal(agent_policy_get(p, "write_file"), AGENT_ALLOW);
    assert_int_equal(agent_policy_get(p, "run_shell"), AGENT_DENY);
    assert_int_equal(agent_policy_get(p, "read_file"), AGENT_DENY);
    agent_policy_free(p);
    agent_toolbox_free(tb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_directory),
        cmocka_unit_test(test_tools_json),
        cmocka_unit_test(test_run_arguments),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
