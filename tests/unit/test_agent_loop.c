/* test_agent_loop.c: the agent loop (app/agent/loop.c) for real: the fixture model
 * dense-tiny (random weights) is forced to call a tool (tool_choice named, so the
 * constrained decoder makes a valid call), Lua tool scripts written here run in the
 * real toolbox, and the checks are on what the loop hands back and what the engine
 * then evaluates: the tool's result is rendered into the next prompt exactly as the
 * chat template renders the history (the engine's held ids equal
 * g4_chat_tokenize of the conversation up to the tool message, whose text holds
 * "<|tool_response>response:NAME{...}<tool_response|>"), the loop ends at the step
 * limit with an error, a denied call gives the model an error result without
 * running, the ask callback decides (yes, no, always), and a cancel stops a tool
 * that never ends. */
#include "testutil.h"

#include "agent/agent.h"
#include "chat/run.h" /* the engine's held ids */
#include "gemma4.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char echo_lua[] =
    "return {\n"
    "  name = 'echo', description = 'Echo a fixed marker.',\n"
    "  parameters = { type = 'object', properties = { text = { type = 'string', enum = { 'hi' } } } },\n"
    "  run = function(args, ctx) return 'marker-7731' end,\n"
    "}\n";
/* writes = true: the policy asks by default */
static const char note_lua[] =
    "return {\n"
    "  name = 'note', description = 'Save a note.', writes = true,\n"
    "  parameters = { type = 'object', properties = { text = { type = 'string', enum = { 'hi' } } } },\n"
    "  run = function(args, ctx) return 'noted' end,\n"
    "}\n";
static const char spin_lua[] =
    "return {\n"
    "  name = 'spin', description = 'Never ends.',\n"
    "  parameters = { type = 'object', properties = { text = { type = 'string', enum = { 'hi' } } } },\n"
    "  run = function(args, ctx) while true do end end,\n"
    "}\n";

typedef struct {
    chat_engine *engine;
    agent_toolbox *tb;
    char *tools_json;
} fixture;

static int setup(void **state) {
    if (!tu_shared()) return 0;
    const char *dir = tu_path("%s/tools", tu_tmpdir());
    if (tu_system("mkdir -p '%s'", dir)) return -1;
    if (tu_write_file(tu_path("%s/echo.lua", dir), echo_lua, strlen(echo_lua)) ||
        tu_write_file(tu_path("%s/note.lua", dir), note_lua, strlen(note_lua)) ||
        tu_write_file(tu_path("%s/spin.lua", dir), spin_lua, strlen(spin_lua)))
        return -1;
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    const char *dirs[] = {dir, NULL};
    agent_limits lim = agent_limits_defaults();
    lim.max_instructions = 1000000000000ull; /* spin ends only by the cancel (or its 30 s) */
    f->tb = agent_toolbox_load(dirs, &lim, NULL, NULL);
    if (!f->tb || agent_toolbox_count(f->tb) != 3) return -1;
    char *err = NULL;
    if (!(f->tools_json = agent_toolbox_tools_json(f->tb, "all", &err))) return -1;
    chat_engine_params ep = {.n_ctx = 2048, .threads = 1};
    f->engine = chat_engine_open(tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared()), &ep, &err);
    if (!f->engine) return fprintf(stderr, "%s\n", err ? err : "?"), -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (!f) return 0;
    chat_engine_close(f->engine);
    free(f->tools_json);
    agent_toolbox_free(f->tb);
    free(f);
    return 0;
}

/* ---- what a run reports ------------------------------------------------------------ */

typedef struct {
    int steps, dones, errors, results, asks;
    char error[512];
    chat_stats step_stats[8];   /* each step's DONE */
    char result_name[8][32], result_content[8][512], result_id[8][40];
    bool result_error[8];
    char asked_name[32], asked_args[256];
    agent_decision answer;      /* what ask answers */
} record;

static void on_chat(const chat_event *ev, void *user) {
    record *r = user;
    if (ev->type == CHAT_EVENT_DONE && r->dones < 8) r->step_stats[r->dones++] = ev->stats;
    if (ev->type == CHAT_EVENT_ERROR) r->errors++, snprintf(r->error, sizeof r->error, "%.*s", (int)ev->len, ev->text);
}

static void on_agent(const agent_event *ev, void *user) {
    record *r = user;
    if (ev->type == AGENT_EVENT_STEP) {
        assert_int_equal(ev->step, r->steps + 1);
        r->steps++;
        return;
    }
    assert_int_equal(ev->type, AGENT_EVENT_TOOL_RESULT);
    assert_non_null(ev->result);
    assert_non_null(ev->result->content);
    int i = r->results++;
    if (i >= 8) return;
    snprintf(r->result_name[i], sizeof r->result_name[i], "%s", ev->tool_name);
    snprintf(r->result_id[i], sizeof r->result_id[i], "%s", ev->tool_id);
    snprintf(r->result_content[i], sizeof r->result_content[i], "%s", ev->result->content);
    r->result_error[i] = ev->result->is_error;
}

static agent_decision on_ask(const char *name, const char *args, void *user) {
    record *r = user;
    r->asks++;
    snprintf(r->asked_name, sizeof r->asked_name, "%s", name);
    snprintf(r->asked_args, sizeof r->asked_args, "%s", args);
    return r->answer;
}

/* Parameters that force one call of tool_name on step 1 (random weights: only the
 * constraint makes the model call). */
static agent_params forced(fixture *f, agent_policy *policy, const char *tool_name, int max_steps, record *r) {
    chat_settings s = chat_settings_defaults();
    s.temperature = 0;
    s.max_tokens = 48;
    s.tool_choice = CHAT_TOOLS_NAMED;
    s.tool_name = tool_name;
    s.parallel_tool_calls = 0;
    return (agent_params){.engine = f->engine, .toolbox = f->tb, .policy = policy, .tools_json = f->tools_json,
                          .settings = s, .max_steps = max_steps, .on_chat_event = on_chat, .on_agent_event = on_agent,
                          .user = r};
}

static char *user_message(void) {
    return strdup("[{\"role\":\"user\",\"content\":\"Please echo hello.\"}]");
}

/* The messages array of the JSON text (a new reference). */
static json_t *parse(const char *messages) {
    json_t *m = json_loads(messages, 0, NULL);
    assert_true(json_is_array(m));
    return m;
}

static const char *str(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* messages[1] is the assistant's call of name and messages[2] its tool message with content. */
static void assert_call_and_result(const json_t *msgs, const char *name, const char *content_part) {
    const json_t *asst = json_array_get(msgs, 1), *tool = json_array_get(msgs, 2);
    assert_string_equal(str(asst, "role"), "assistant");
    const json_t *calls = json_object_get(asst, "tool_calls");
    assert_int_equal(json_array_size(calls), 1);
    const json_t *call = json_array_get(calls, 0);
    assert_string_equal(str(json_object_get(call, "function"), "name"), name);
    assert_string_equal(str(tool, "role"), "tool");
    assert_string_equal(str(tool, "name"), name);
    assert_string_equal(str(tool, "tool_call_id"), str(call, "id"));
    assert_non_null(strstr(str(tool, "content"), content_part));
}

#define NEED_SHARED()                                                                                                  \
    do {                                                                                                               \
        if (!tu_shared()) {                                                                                            \
            print_message("skip: ../shared is absent (set G4_SHARED)\n");                                             \
            skip();                                                                                                    \
        }                                                                                                              \
    } while (0)

/* ---- the tests ---------------------------------------------------------------------- */

/* The forced call runs, its result is what the engine evaluates next (exactly the
 * template's rendering of the history: held ids == g4_chat_tokenize; the text holds
 * want), and the loop ends: an answer, or more calls at the step limit. tail: how
 * the rendered prompt must end (NULL: not checked). */
static void check_rendered(fixture *f, chat_engine *engine, const char *want, const char *tail) {
    agent_policy *policy = agent_policy_new(f->tb);
    record r = {0};
    agent_params p = forced(f, policy, "echo", 2, &r);
    p.engine = engine;
    char *messages = user_message();
    int finish = agent_run(&p, &messages);
    json_t *msgs = parse(messages);

    assert_true(r.results >= 1);
    assert_string_equal(r.result_name[0], "echo");
    assert_false(r.result_error[0]);
    assert_string_equal(r.result_content[0], "marker-7731");
    assert_call_and_result(msgs, "echo", "marker-7731");
    assert_string_equal(r.result_id[0], str(json_array_get(msgs, 2), "tool_call_id"));
    assert_int_equal(r.steps, 2);
    assert_int_equal(r.dones, 2);

    /* step 2's prompt: the history up to the tool message, rendered by the template */
    json_t *upto = json_array();
    for (size_t i = 0; i < 3; i++) json_array_append(upto, json_array_get(msgs, i));
    char *upto_json = json_dumps(upto, JSON_COMPACT);
    g4_chat_request req = {.messages_json = upto_json, .tools_json = f->tools_json, .add_generation_prompt = 1};
    char *text = g4_chat_render(engine->chat_template, &req);
    assert_non_null(text);
    if (!strstr(text, want)) fail_msg("the rendered history lacks %s:\n%s", want, text);
    if (tail) assert_string_equal(text + strlen(text) - strlen(tail), tail);
    int32_t *ids = NULL;
    int n = g4_chat_tokenize(engine->vocab, engine->chat_template, &req, &ids);
    assert_true(n > 0);
    assert_int_equal(r.step_stats[1].prompt_tokens, n);
    assert_true(r.step_stats[1].cached_tokens > 0); /* step 1's prefix is kept */
    assert_true(engine->n_held >= n);
    for (int i = 0; i < n; i++)
        if (engine->held[i] != ids[i]) fail_msg("held token %d is %d, the rendered history has %d", i, engine->held[i], ids[i]);

    /* the step-2 reply: an answer ends the loop; more calls hit the step limit */
    const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    if (finish == -1) {
        assert_non_null(strstr(r.error, "stopped after 2 steps"));
        assert_string_equal(str(last, "role"), "tool");
        assert_non_null(strstr(str(last, "content"), "step limit"));
    } else {
        assert_true(finish == CHAT_FINISH_STOP || finish == CHAT_FINISH_LENGTH);
        assert_string_equal(str(last, "role"), "assistant");
        assert_int_equal(r.errors, 0);
    }
    free(ids);
    free(text);
    free(upto_json);
    json_decref(upto);
    json_decref(msgs);
    free(messages);
    agent_policy_free(policy);
}

/* The fixture's own template puts a tool result in a turn of its own. */
static void test_result_rendered_as_tool_turn(void **state) {
    NEED_SHARED();
    fixture *f = *state;
    check_rendered(f, f->engine, "<tool_call|><turn|>\n<|turn>tool\nmarker-7731<turn|>\n<|turn>model\n", NULL);
}

/* Gemma 4's released template (the built-in small one) continues the model's turn
 * after the result: no new turn is opened. */
static void test_result_rendered_in_model_turn(void **state) {
    NEED_SHARED();
    fixture *f = *state;
    char *err = NULL;
    chat_engine_params ep = {.n_ctx = 2048, .threads = 1, .chat_template = g4_chat_template_builtin(0)};
    chat_engine *e = chat_engine_open(tu_path("%s/fixtures/models/dense-tiny/model.gguf", tu_shared()), &ep, &err);
    if (!e) fail_msg("%s", err ? err : "?");
    check_rendered(f, e, "<tool_call|><|tool_response>response:echo{value:<|\"|>marker-7731<|\"|>}<tool_response|>",
                   "<tool_response|>");
    chat_engine_close(e);
}

/* max_steps 1: the forced call is not run, the model sees why, the loop says it stopped. */
static void test_step_limit(void **state) {
    NEED_SHARED();
    fixture *f = *state;
    agent_policy *policy = agent_policy_new(f->tb);
    record r = {0};
    agent_params p = forced(f, policy, "echo", 1, &r);
    char *messages = user_message();
    assert_int_equal(agent_run(&p, &messages), -1);
    assert_int_equal(r.steps, 1);
    assert_int_equal(r.errors, 1);
    assert_non_null(strstr(r.error, "stopped after 1 step"));
    assert_int_equal(r.results, 1);
    assert_true(r.result_error[0]);
    json_t *msgs = parse(messages);
    assert_int_equal(json_array_size(msgs), 3);
    assert_call_and_result(msgs, "echo", "step limit");
    json_decref(msgs);
    free(messages);
    agent_policy_free(policy);
}

/* A denied tool never runs: the model reads "the user denied this call". */
static void test_denied_call(void **state) {
    NEED_SHARED();
    fixture *f = *state;
    agent_policy *policy = agent_policy_new(f->tb);
    assert_int_equal(agent_policy_set(policy, "echo", AGENT_DENY), 0);
    record r = {0};
    agent_params p = forced(f, policy, "echo", 2, &r);
    char *messages = user_message();
    agent_run(&p, &messages);
    assert_true(r.results >= 1);
    assert_true(r.result_error[0]);
    assert_non_null(strstr(r.result_content[0], "the user denied this call"));
    assert_null(strstr(r.result_content[0], "marker-7731"));
    json_t *msgs = parse(messages);
    assert_call_and_result(msgs, "echo", "the user denied this call");
    json_decref(msgs);
    free(messages);
    agent_policy_free(policy);
}

/* A tool that writes asks; no runs nothing, yes runs it, always also sets the
 * policy to allow; without an ask callback the call is denied. */
static void test_ask_callback(void **state) {
    NEED_SHARED();
    fixture *f = *state;
    const agent_decision answers[] = {AGENT_DECIDE_NO, AGENT_DECIDE_YES, AGENT_DECIDE_ALWAYS};
    const char *expect[] = {"the user denied this call", "noted", "noted"};
    for (int k = 0; k < 3; k++) {
        agent_policy *policy = agent_policy_new(f->tb);
        assert_int_equal(agent_policy_get(policy, "note"), AGENT_ASK);
        record r = {.answer = answers[k]};
        agent_params p = forced(f, policy, "note", 1, &r);
        p.max_steps = 2;
        p.ask = on_ask;
        char *messages = user_message();
        agent_run(&p, &messages);
        assert_true(r.asks >= 1);
        assert_string_equal(r.asked_name, "note");
        json_t *args = json_loads(r.asked_args, 0, NULL);
        assert_true(json_is_object(args)); /* the call's arguments, as JSON */
        json_decref(args);
        assert_string_equal(r.result_name[0], "note");
        assert_non_null(strstr(r.result_content[0], expect[k]));
        assert_int_equal(r.result_error[0], k == 0);
        assert_int_equal(agent_policy_get(policy, "note"), k == 2 ? AGENT_ALLOW : AGENT_ASK);
        if (k == 2) assert_int_equal(r.asks, 1); /* a later call of note in step 2 is not asked again */
        free(messages);
        agent_policy_free(policy);
    }
    /* no ask callback: ask means no */
    agent_policy *policy = agent_policy_new(f->tb);
    record r = {0};
    agent_params p = forced(f, policy, "note", 2, &r);
    char *messages = user_message();
    agent_run(&p, &messages);
    assert_true(r.results >= 1);
    assert_non_null(strstr(r.result_content[0], "the user denied this call"));
    free(messages);
    agent_policy_free(policy);
}

typedef struct {
    atomic_int *flag;
    int delay_ms;
} canceller;

static void *cancel_later(void *arg) {
    canceller *c = arg;
    struct timespec ts = {c->delay_ms / 1000, (long)(c->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(c->flag, 1);
    return NULL;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A cancel stops a tool that never ends (well before its 30 s timeout) and the loop;
 * the history keeps the call with a cancelled result. A cancel before the start
 * stops the first generation. */
static void test_cancel(void **state) {
    NEED_SHARED();
    fixture *f = *state;
    agent_policy *policy = agent_policy_new(f->tb);
    atomic_int cancel;
    atomic_init(&cancel, 0);
    record r = {0};
    agent_params p = forced(f, policy, "spin", 4, &r);
    p.cancel = &cancel;
    char *messages = user_message();
    canceller c = {&cancel, 700};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
    double t0 = seconds_now();
    int finish = agent_run(&p, &messages);
    double took = seconds_now() - t0;
    pthread_join(th, NULL);
    if (finish != CHAT_FINISH_CANCELLED) fail_msg("finish %d, steps %d results %d error %s: %s", finish, r.steps, r.results, r.error, messages);
    assert_true(took < 15);
    assert_int_equal(r.steps, 1);
    assert_int_equal(r.results, 1);
    assert_true(r.result_error[0]);
    assert_non_null(strstr(r.result_content[0], "cancel"));
    json_t *msgs = parse(messages);
    assert_int_equal(json_array_size(msgs), 3);
    assert_call_and_result(msgs, "spin", "cancel");
    json_decref(msgs);
    free(messages);

    /* cancelled before it starts: the generation ends at once, no tool runs */
    record r2 = {0};
    p = forced(f, policy, "echo", 4, &r2);
    p.cancel = &cancel; /* still set */
    messages = user_message();
    assert_int_equal(agent_run(&p, &messages), CHAT_FINISH_CANCELLED);
    assert_int_equal(r2.steps, 1);
    assert_int_equal(r2.results, 0);
    assert_int_equal(r2.step_stats[0].finish, CHAT_FINISH_CANCELLED);
    msgs = parse(messages);
    assert_int_equal(json_array_size(msgs), 1); /* nothing was said */
    json_decref(msgs);
    free(messages);
    agent_policy_free(policy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_rendered_as_tool_turn),
        cmocka_unit_test(test_result_rendered_in_model_turn),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_denied_call),
        cmocka_unit_test(test_ask_callback),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
