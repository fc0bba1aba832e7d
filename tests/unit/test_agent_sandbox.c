/* test_agent_sandbox.c: the tool sandbox (app/agent/sandbox.c through
 * agent_toolbox_run): the removed globals stay out of reach, bytecode cannot be
 * loaded, memory bombs end at max_memory, endless loops end at the instruction
 * limit, at the deadline and on cancel (within 100 ms), results are cut with the
 * marker, errors become {"error", "tool"} results, and the process goes on. */
#include "testutil.h"

#include "agent/agent.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A toolbox of one tool "t" whose run(args, ctx) has the given body. */
static agent_toolbox *tool_with_body(const char *body, const agent_limits *limits) {
    static int serial;
    const char *dir = tu_path("%s/sandbox%d", tu_tmpdir(), serial++);
    mkdir(dir, 0755);
    char *script = NULL;
    assert_true(asprintf(&script,
                         "return { name = \"t\", description = \"test tool\", parameters = { type = \"object\" },\n"
                         "  run = function(args, ctx)\n%s\nend }\n",
                         body) > 0);
    assert_int_equal(tu_write_file(tu_path("%s/t.lua", dir), script, strlen(script)), 0);
    free(script);
    const char *dirs[] = {dir, NULL};
    agent_toolbox *tb = agent_toolbox_load(dirs, limits, NULL, NULL);
    assert_non_null(tb);
    assert_int_equal(agent_toolbox_count(tb), 1);
    return tb;
}

/* Runs body once; returns the result (the caller frees it). */
static agent_result run_body(const char *body, const agent_limits *limits) {
    agent_toolbox *tb = tool_with_body(body, limits);
    agent_result r;
    agent_toolbox_run(tb, "t", "{}", NULL, &r);
    agent_toolbox_free(tb);
    assert_non_null(r.content);
    return r;
}

/* The "error" text of an error result (checks its shape). */
static char *error_of(const agent_result *r) {
    assert_true(r->is_error);
    json_t *obj = json_loads(r->content, 0, NULL);
    assert_non_null(obj);
    assert_string_equal(json_string_value(json_object_get(obj, "tool")), "t");
    const char *e = json_string_value(json_object_get(obj, "error"));
    assert_non_null(e);
    char *copy = strdup(e);
    json_decref(obj);
    return copy;
}

static void expect_error(const char *body, const char *needle) {
    agent_limits limits = agent_limits_defaults();
    agent_result r = run_body(body, &limits);
    char *e = error_of(&r);
    if (!strstr(e, needle)) fail_msg("body %s: error \"%s\" lacks \"%s\"", body, e, needle);
    free(e);
    agent_result_free(&r);
}

static void expect_content(const char *body, const char *expected) {
    agent_limits limits = agent_limits_defaults();
    agent_result r = run_body(body, &limits);
    if (r.is_error) fail_msg("body %s: unexpected error %s", body, r.content);
    assert_string_equal(r.content, expected);
    agent_result_free(&r);
}

static void test_removed_globals(void **state) {
    expect_error("return os.execute('touch /tmp/g4-escaped')", "global 'os'");
    expect_error("return io.open('/etc/passwd'):read('a')", "global 'io'");
    expect_error("return require('os')", "global 'require'");
    expect_error("return debug.getregistry()", "global 'debug'");
    expect_error("return package.loadlib('libc.so.6', 'system')", "global 'package'");
    expect_error("return dofile('/etc/passwd')", "global 'dofile'");
    expect_error("return loadfile('/etc/passwd')", "global 'loadfile'");
    expect_error("return string.dump(function() end)", "field 'dump'");
    expect_error("return collectgarbage('stop')", "only \"count\"");
    expect_content("return type(getmetatable('').__index.dump)", "nil");
    expect_content("return type(collectgarbage('count'))", "number");
    expect_content("return load('return 6 * 7')()", "42");
    expect_content("return load('return x', 'chunk', 't', { x = 'own env' })()", "own env");
}

static void test_no_bytecode(void **state) {
    /* A real precompiled chunk header and the load modes a script might ask for. */
    expect_content("local f, err = load('\\27LuaT\\0\\25\\147\\13\\10\\26\\10') return err",
                   "attempt to load a binary chunk (mode is 't')");
    expect_content("local f, err = load('\\27Lua', 'x', 'b') return err", "attempt to load a binary chunk (mode is 't')");
    expect_content("local f, err = load('\\27Lua', 'x', 'bt') return err", "attempt to load a binary chunk (mode is 't')");
    expect_content("local parts = { '\\27Lua', '' } local i = 0\n"
                   "local f, err = load(function() i = i + 1 return parts[i] end) return err",
                   "attempt to load a binary chunk (mode is 't')");
}

static void test_memory_bombs(void **state) {
    agent_limits limits = agent_limits_defaults();
    limits.max_memory = 16u << 20;
    const char *bombs[] = {
        "return string.rep('x', 1e10)",
        "return string.rep('x', 1e8)",
        "local t = {} for i = 1, 1e9 do t[i] = i end return #t",
        "local t = {} for i = 1, 1e9 do t[#t + 1] = ('x'):rep(100) .. i end return #t",
        "local s = 'x' while true do s = s .. s end",
        "local t = {} while true do t[#t + 1] = {} end",
    };
    for (size_t i = 0; i < sizeof bombs / sizeof *bombs; i++) {
        double t0 = now_s();
        agent_result r = run_body(bombs[i], &limits);
        char *e = error_of(&r);
        bool refused = strstr(e, "out of memory") || (i == 0 && strstr(e, "resulting string too large"));
        if (!refused) fail_msg("bomb %zu: %s", i, e);
        assert_true(now_s() - t0 < 10);
        free(e);
        agent_result_free(&r);
    }
    /* a script may catch the failure and go on within its limit */
    agent_result r = run_body("local ok, err = pcall(string.rep, 'x', 1e9) return tostring(ok)", &limits);
    assert_false(r.is_error);
    assert_string_equal(r.content, "false");
    agent_result_free(&r);
}

static void test_endless_loops(void **state) {
    agent_limits limits = agent_limits_defaults();
    limits.max_instructions = 2000000;
    double t0 = now_s();
    agent_result r = run_body("while true do end", &limits);
    char *e = error_of(&r);
    assert_non_null(strstr(e, "limit of 2000000 Lua instructions"));
    assert_true(now_s() - t0 < 5);
    free(e);
    agent_result_free(&r);

    /* catching the error does not help: the limit stays hit */
    r = run_body("while true do pcall(function() while true do end end) end", &limits);
    e = error_of(&r);
    assert_non_null(strstr(e, "Lua instructions"));
    free(e);
    agent_result_free(&r);
    r = run_body("for i = 1, 10 do pcall(function() while true do end end) end return 'escaped'", &limits);
    e = error_of(&r);
    assert_non_null(strstr(e, "Lua instructions"));
    free(e);
    agent_result_free(&r);

    limits.max_instructions = UINT64_MAX / 2;
    limits.timeout_s = 0.3;
    t0 = now_s();
    r = run_body("local co = coroutine.wrap(function() while true do end end) co()", &limits);
    e = error_of(&r);
    assert_non_null(strstr(e, "time limit of 0.3 s"));
    double took = now_s() - t0;
    assert_true(took >= 0.25 && took < 2);
    free(e);
    agent_result_free(&r);
}

typedef struct {
    agent_toolbox *tb;
    atomic_int cancel;
    agent_result result;
    double finished;
} cancel_run;

static void *run_in_thread(void *arg) {
    cancel_run *c = arg;
    agent_toolbox_run(c->tb, "t", "{}", &c->cancel, &c->result);
    c->finished = now_s();
    return NULL;
}

static void test_cancel(void **state) {
    agent_limits limits = agent_limits_defaults();
    limits.max_instructions = UINT64_MAX / 2;
    cancel_run c = {.tb = tool_with_body("local x = 0 while true do x = x + 1 end", &limits)};
    atomic_init(&c.cancel, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_in_thread, &c), 0);
    struct timespec wait = {0, 200 * 1000 * 1000};
    nanosleep(&wait, NULL);
    double cancelled_at = now_s();
    atomic_store(&c.cancel, 1);
    pthread_join(th, NULL);
    assert_true(c.finished - cancelled_at < 0.1);
    char *e = error_of(&c.result);
    assert_string_equal(e, "the tool call was cancelled");
    free(e);
    agent_result_free(&c.result);
    agent_toolbox_free(c.tb);
}

static void test_results(void **state) {
    agent_limits limits = agent_limits_defaults();
    limits.max_result = 100;
    agent_result r = run_body("return string.rep('a', 1000)", &limits);
    assert_false(r.is_error);
    assert_true(r.truncated);
    char expected[200];
    memset(expected, 'a', 100);
    strcpy(expected + 100, "\n[... truncated 900 bytes]");
    assert_string_equal(r.content, expected);
    agent_result_free(&r);

    /* cut on a character boundary: 'é' is two bytes */
    r = run_body("return string.rep('\\u{e9}', 60)", &limits);
    assert_true(r.truncated);
    assert_int_equal(strstr(r.content, "\n[") - r.content, 100);
    agent_result_free(&r);

    expect_content("return { b = { 1, 2, json.null }, a = 1.5, c = true, d = json.empty_array }",
                   "{\"a\":1.5,\"b\":[1,2,null],\"c\":true,\"d\":[]}");
    expect_content("return 42", "42");
    expect_content("return nil", "null");
    expect_content("return 'bad \\255 byte'", "bad \xEF\xBF\xBD byte");
    expect_error("return function() end", "cannot encode a function");
    expect_error("error('boom')", "t.lua:3: boom");
    expect_error("error({ code = 1 })", "error object of type table");
    expect_error("local t = setmetatable({}, { __index = function(t, k) return t[k] end }) return t.x", "stack overflow");
    /* deep recursion ends at the stack limit or the memory limit, whichever comes first */
    r = run_body("local function f() return f() + 1 end return f()", &limits);
    char *deep = error_of(&r);
    if (!strstr(deep, "stack overflow") && !strstr(deep, "out of memory")) fail_msg("recursion: %s", deep);
    free(deep);
    agent_result_free(&r);

    /* print and ctx.log lines come with an error */
    r = run_body("print('step', 1) ctx.log('step', 2) error('failed')", &limits);
    json_t *obj = json_loads(r.content, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(obj, "log")), "step\t1\nstep\t2\n");
    json_decref(obj);
    agent_result_free(&r);
}

typedef struct {
    agent_toolbox *tb;
    int n;
    agent_result result;
} parallel_run;

static void *run_parallel(void *arg) {
    parallel_run *p = arg;
    char args[64];
    snprintf(args, sizeof args, "{\"n\": %d}", p->n);
    agent_toolbox_run(p->tb, "t", args, NULL, &p->result);
    return NULL;
}

static void test_parallel_calls(void **state) {
    agent_limits limits = agent_limits_defaults();
    agent_toolbox *tb = tool_with_body("local s = 0 for i = 1, args.n do s = s + i end return tostring(s)", &limits);
    parallel_run runs[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        runs[i] = (parallel_run){.tb = tb, .n = 100000 * (i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, run_parallel, &runs[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        long long n = runs[i].n;
        char expected[32];
        snprintf(expected, sizeof expected, "%lld", n * (n + 1) / 2);
        assert_false(runs[i].result.is_error);
        assert_string_equal(runs[i].result.content, expected);
        agent_result_free(&runs[i].result);
    }
    agent_toolbox_free(tb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_removed_globals), cmocka_unit_test(test_no_bytecode),
        cmocka_unit_test(test_memory_bombs),    cmocka_unit_test(test_endless_loops),
        cmocka_unit_test(test_cancel),          cmocka_unit_test(test_results),
        cmocka_unit_test(test_parallel_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
