/* test_session.c: session files (app/session): the examples in sessions/examples
 * read back as written by hand, round trips keep tools, reasoning and unknown
 * fields, saves are atomic and never replace a file that is not a session,
 * corrupt and foreign files are reported by name and left untouched, lists are
 * ordered by update time, and unsafe names are refused. */
#include "testutil.h"

#include "session/session.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The repository root, from this file's path (CMake compiles it by absolute path). */
static const char *repo_path(const char *rel) {
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ & 3];
    const char *self = __FILE__, *tail = strstr(self, "tests/unit/test_session.c");
    assert_non_null(tail);
    snprintf(b, 4096, "%.*s%s", (int)(tail - self), self, rel);
    return b;
}

/* An empty scratch path (its own buffer: tu_path's slots rotate). */
static const char *fresh_dir(const char *leaf) {
    static char dirs[4][4096];
    static int next;
    char *d = dirs[next++ & 3];
    snprintf(d, 4096, "%s/%s", tu_tmpdir(), leaf);
    tu_system("rm -rf '%s'", d);
    return d;
}

static json_t *msg_by_index(const session *s, size_t i) {
    return json_array_get(s->messages, i);
}

static void test_examples_read_as_written(void **state) {
    char err[512];
    session *s = session_load(repo_path("sessions/examples/hello.json"), err, sizeof err);
    assert_non_null(s);
    assert_string_equal(s->name, "hello");
    assert_string_equal(s->model, "/models/gemma-4-E2B-it-Q4_K_M.gguf");
    assert_null(s->system);
    assert_true(s->settings.temperature == 0.7);
    assert_true(isnan(s->settings.top_p) && isnan(s->settings.min_p));
    assert_int_equal(s->settings.top_k, -1);
    assert_int_equal(s->settings.max_tokens, -1);
    assert_int_equal(s->settings.seed, 42);
    assert_int_equal(s->settings.think, 0);
    assert_int_equal(s->created, 1795766400);  /* 2026-11-27T08:00:00Z */
    assert_int_equal(s->updated, 1795766409);
    assert_int_equal(json_array_size(s->messages), 2);
    assert_string_equal(json_string_value(json_object_get(msg_by_index(s, 1), "content")), "Bonjour !");
    session_free(s);

    s = session_load(repo_path("sessions/examples/weather-tools.json"), err, sizeof err);
    assert_non_null(s);
    assert_int_equal(s->settings.top_k, 64);
    assert_int_equal(s->settings.seed, -1);
    assert_int_equal(s->settings.think, 1);
    assert_string_equal(s->system, "You are a concise assistant. Use the tools when they help.");
    json_t *call = msg_by_index(s, 1);
    assert_true(json_is_null(json_object_get(call, "content")));
    json_t *fn = json_object_get(json_array_get(json_object_get(call, "tool_calls"), 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "arguments")),
                        "{\"city\": \"Paris\", \"unit\": \"celsius\"}");
    json_t *stats = json_object_get(call, "stats");
    assert_int_equal(json_integer_value(json_object_get(stats, "prompt_tokens")), 182);
    assert_string_equal(json_string_value(json_object_get(stats, "finish_reason")), "tool_calls");
    assert_string_equal(json_string_value(json_object_get(msg_by_index(s, 2), "tool_call_id")), "call_1");
    assert_non_null(json_object_get(s->extra, "client"));
    session_free(s);
}

/* The README's example is the example file, and gemma4 writes it back unchanged. */
static void test_readme_example_and_exact_rewrite(void **state) {
    size_t readme_len;
    char *raw = tu_read_file(repo_path("sessions/README.md"), &readme_len);
    assert_non_null(raw);
    char *readme = strndup(raw, readme_len);
    free(raw);
    char *start = strstr(readme, "```json\n");
    assert_non_null(start);
    start += 8;
    char *end = strstr(start, "```");
    assert_non_null(end);
    json_error_t jerr;
    json_t *from_readme = json_loadb(start, (size_t)(end - start), 0, &jerr);
    json_t *from_file = json_load_file(repo_path("sessions/examples/weather-tools.json"), 0, &jerr);
    assert_non_null(from_readme);
    assert_non_null(from_file);
    assert_true(json_equal(from_readme, from_file));

    char err[512];
    session *s = session_load(repo_path("sessions/examples/weather-tools.json"), err, sizeof err);
    assert_non_null(s);
    json_t *doc = session_to_json(s);
    assert_true(json_equal(doc, from_file));
    /* fields in the documented order */
    const char *order[] = {"format", "version", "name", "created", "updated", "model", "settings", "system",
                           "messages", "client"};
    void *it = json_object_iter(doc);
    for (size_t i = 0; i < sizeof order / sizeof *order; i++, it = json_object_iter_next(doc, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), order[i]);
    }
    json_decref(doc);
    session_free(s);
    json_decref(from_file);
    json_decref(from_readme);
    free(readme);
}

static void test_round_trip_with_tools_and_reasoning(void **state) {
    const char *dir = fresh_dir("roundtrip/sessions");
    char err[512];
    session *s = session_new("trip", "google/gemma-4-E2B-it", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(session_set_system(s, "Be brief."), 0);
    s->settings.temperature = 0.25;
    s->settings.seed = 1234567890123LL;
    s->settings.think = 1;
    assert_int_equal(session_append(s, session_message_new("user", "Weather in Oslo?\nThanks"), err, sizeof err), 0);

    json_t *a = session_message_new("assistant", NULL);
    json_object_set_new(a, "reasoning", json_string("Need the tool. «ünïcode» 😀"));
    json_object_set_new(a, "tool_calls", json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "id", "c1", "type", "function",
                                                   "function", "name", "weather", "arguments", "{\"city\":\"Oslo\"}"));
    json_object_set_new(a, "x-extension", json_pack("{s:[i,i]}", "kept", 1, 2));
    session_stats st = {.prompt_tokens = 10, .completion_tokens = 5, .thinking_seconds = 0.5, .seconds = 1.25,
                        .tokens_per_second = 4.0, .finish_reason = "tool_calls"};
    assert_int_equal(session_message_set_stats(a, &st), 0);
    assert_int_equal(session_append(s, a, err, sizeof err), 0);
    json_t *tool = session_message_new("tool", "{\"c\": -3}");
    json_object_set_new(tool, "tool_call_id", json_string("c1"));
    json_object_set_new(tool, "name", json_string("weather"));
    assert_int_equal(session_append(s, tool, err, sizeof err), 0);
    /* a reply streaming in: appended once, then replaced */
    assert_int_equal(session_replace_last_assistant(s, session_message_new("assistant", "It is"), err, sizeof err), 0);
    assert_int_equal(session_replace_last_assistant(s, session_message_new("assistant", "It is -3 °C."), err, sizeof err), 0);
    assert_int_equal(json_array_size(s->messages), 4);
    json_object_set_new(s->extra, "ui", json_pack("{s:b}", "pinned", 1));

    assert_int_equal(session_save(s, dir, err, sizeof err), 0);
    session *r = session_load(tu_path("%s/trip.json", dir), err, sizeof err);
    assert_non_null(r);
    json_t *da = session_to_json(s), *db = session_to_json(r);
    assert_true(json_equal(da, db));
    assert_true(r->settings.temperature == 0.25);
    assert_int_equal(r->settings.seed, 1234567890123LL);
    assert_string_equal(r->system, "Be brief.");
    assert_string_equal(json_string_value(json_object_get(msg_by_index(r, 1), "reasoning")),
                        "Need the tool. «ünïcode» 😀");
    json_t *kept = json_pack("{s:[i,i]}", "kept", 1, 2);
    assert_true(json_equal(json_object_get(msg_by_index(r, 1), "x-extension"), kept));
    json_decref(kept);
    json_t *stats = json_object_get(msg_by_index(r, 1), "stats");
    assert_true(json_real_value(json_object_get(stats, "seconds")) == 1.25);
    assert_string_equal(json_string_value(json_object_get(msg_by_index(r, 3), "content")), "It is -3 °C.");
    assert_true(json_is_true(json_object_get(json_object_get(r->extra, "ui"), "pinned")));
    /* the file is mode 0600 and no temporary file is left behind */
    struct stat sb;
    assert_int_equal(stat(tu_path("%s/trip.json", dir), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(tu_system("test -z \"$(ls -A '%s' | grep -v '^trip.json$')\"", dir), 0);
    /* saving again over our own file works */
    assert_int_equal(session_save(r, dir, err, sizeof err), 0);
    json_decref(da);
    json_decref(db);
    session_free(r);
    session_free(s);
}

static void test_bad_messages_refused(void **state) {
    char err[512];
    session *s = session_new("bad", NULL, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(session_append(s, session_message_new("robot", "x"), err, sizeof err), -1);
    assert_non_null(strstr(err, "role"));
    json_t *m = session_message_new("user", "hi");
    json_object_set_new(m, "tool_calls", json_array());
    assert_int_equal(session_append(s, m, err, sizeof err), -1);
    assert_non_null(strstr(err, "only assistant"));
    json_t *t = session_message_new("tool", "r");  /* no tool_call_id */
    assert_int_equal(session_append(s, t, err, sizeof err), -1);
    assert_non_null(strstr(err, "tool_call_id"));
    assert_int_equal(session_replace_last_assistant(s, session_message_new("user", "x"), err, sizeof err), -1);
    assert_int_equal(json_array_size(s->messages), 0);
    session_free(s);
}

/* the example, with one edit: FIND replaced by REPLACE */
static char *example_with(const char *find, const char *replace) {
    size_t n;
    char *raw = tu_read_file(repo_path("sessions/examples/weather-tools.json"), &n);
    assert_non_null(raw);
    char *text = strndup(raw, n);  /* tu_read_file does not add a NUL */
    free(raw);
    char *at = strstr(text, find);
    assert_non_null(at);
    char *out = malloc(n + strlen(replace) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, replace, at + strlen(find));
    free(text);
    return out;
}

static void test_corrupt_and_foreign_untouched(void **state) {
    const char *dir = fresh_dir("corrupt");
    assert_int_equal(mkdir(dir, 0755), 0);
    size_t full_len;
    char *full = tu_read_file(repo_path("sessions/examples/weather-tools.json"), &full_len);
    struct {
        const char *name;
        char *text;
        const char *expect;
    } cases[] = {
        {"badjson", strdup("{\"format\": \"gemma4-session\", \"version\": 1,, }"), "not valid JSON (line 1"},
        {"truncated", strndup(full, full_len / 2), "not valid JSON"},
        {"foreign", strdup("{\"name\": \"foreign\", \"items\": [1, 2, 3]}"), "not a gemma4 session (no \"format\""},
        {"array", strdup("[1, 2]"), "not a gemma4 session"},
        {"newer", example_with("\"version\": 1", "\"version\": 2"), "version 2 is newer"},
        {"args", example_with("\"arguments\": \"{\\\"city\\\": \\\"Paris\\\", \\\"unit\\\": \\\"celsius\\\"}\"",
                              "\"arguments\": {\"city\": \"Paris\"}"),
         "messages[1].tool_calls[0].function.arguments must be a string"},
        {"types", example_with("\"top_k\": 64", "\"top_k\": \"64\""), "settings.top_k must be an integer"},
        {"time", example_with("\"2026-11-28T21:35:01Z\"", "\"yesterday\""), "\"created\" must be an RFC 3339"},
        {"dup", example_with("\"version\": 1,", "\"version\": 1, \"version\": 1,"), "duplicate"},
        {"role", example_with("\"role\": \"tool\"", "\"role\": \"robot\""), "messages[2].role"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = tu_path("%s/%s.json", dir, cases[i].name);
        assert_int_equal(tu_write_file(path, cases[i].text, strlen(cases[i].text)), 0);
        err[0] = '\0';
        assert_null(session_load(path, err, sizeof err));
        if (!strstr(err, path) || !strstr(err, cases[i].expect)) fail_msg("%s: got '%s'", cases[i].name, err);
        /* a session of the same name is not saved over it */
        session *s = session_new(cases[i].name, "m", err, sizeof err);
        assert_non_null(s);
        assert_int_equal(session_save(s, dir, err, sizeof err), -1);
        if (!strstr(err, "not replacing") || !strstr(err, path)) fail_msg("%s: save said '%s'", cases[i].name, err);
        session_free(s);
        size_t n;
        char *now = tu_read_file(path, &n);
        assert_non_null(now);
        assert_int_equal(n, strlen(cases[i].text));
        assert_memory_equal(now, cases[i].text, n);
        free(now);
        free(cases[i].text);
    }
    /* over 64 MiB: refused by size, not read */
    const char *big = tu_path("%s/big.json", dir);
    assert_int_equal(tu_system("truncate -s 67108865 '%s'", big), 0);
    assert_null(session_load(big, err, sizeof err));
    assert_non_null(strstr(err, "over the 64 MiB"));
    free(full);
}

static void test_atomic_save_failures_keep_old_file(void **state) {
    const char *dir = fresh_dir("atomic");
    char err[512];
    session *s = session_new("keep", "m", err, sizeof err);
    assert_non_null(s);
    assert_int_equal(session_append(s, session_message_new("user", "first version"), err, sizeof err), 0);
    assert_int_equal(session_save(s, dir, err, sizeof err), 0);
    const char *path = tu_path("%s/keep.json", dir);
    size_t n0;
    char *before = tu_read_file(path, &n0);
    assert_non_null(before);
    assert_int_equal(session_append(s, session_message_new("user", "second version"), err, sizeof err), 0);

    if (geteuid() != 0) {  /* root writes into read-only directories */
        assert_int_equal(chmod(dir, 0500), 0);
        assert_int_equal(session_save(s, dir, err, sizeof err), -1);
        assert_non_null(strstr(err, dir));
        assert_int_equal(chmod(dir, 0700), 0);
        size_t n1;
        char *after = tu_read_file(path, &n1);
        assert_int_equal(n1, n0);
        assert_memory_equal(after, before, n0);
        free(after);
    }
    /* a target that is a directory is not replaced */
    session *d = session_new("adir", "m", err, sizeof err);
    assert_int_equal(mkdir(tu_path("%s/adir.json", dir), 0700), 0);
    assert_int_equal(tu_write_file(tu_path("%s/adir.json/inside", dir), "x", 1), 0);
    assert_int_equal(session_save(d, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    struct stat sb;
    assert_int_equal(stat(tu_path("%s/adir.json/inside", dir), &sb), 0);
    session_free(d);
    /* the sessions directory itself is a file: nothing is written */
    const char *notdir = tu_path("%s/plainfile", tu_tmpdir());
    assert_int_equal(tu_write_file(notdir, "x", 1), 0);
    assert_int_equal(session_save(s, notdir, err, sizeof err), -1);
    /* no temporary files were left */
    assert_int_equal(tu_system("test -z \"$(ls -A '%s' | grep '^\\.')\"", dir), 0);
    /* and the second version saves fine once the directory is writable */
    assert_int_equal(session_save(s, dir, err, sizeof err), 0);
    session *r = session_load(path, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(json_array_size(r->messages), 2);
    session_free(r);
    session_free(s);
    free(before);
}

static void save_at(const char *dir, const char *name, time_t updated, const char *first_user, int extra_msgs) {
    char err[512];
    session *s = session_new(name, "m", err, sizeof err);
    assert_non_null(s);
    if (first_user) {
        assert_int_equal(session_append(s, session_message_new("system", "sys"), err, sizeof err), 0);
        assert_int_equal(session_append(s, session_message_new("user", first_user), err, sizeof err), 0);
    }
    for (int i = 0; i < extra_msgs; i++)
        assert_int_equal(session_append(s, session_message_new("assistant", "a"), err, sizeof err), 0);
    s->created = 1000;
    s->updated = updated;
    assert_int_equal(session_save(s, dir, err, sizeof err), 0);
    session_free(s);
}

static void test_list_order_titles_and_delete(void **state) {
    const char *dir = fresh_dir("list");
    char err[512];
    session_info *list;
    assert_int_equal(session_list(dir, &list, err, sizeof err), 0);  /* missing directory: empty */

    char long_msg[300];
    memset(long_msg, 'x', sizeof long_msg);
    memcpy(long_msg + 75, "日本語", 9);  /* a character across the cut */
    long_msg[sizeof long_msg - 1] = '\0';
    save_at(dir, "old", 1700000000, "first\nline", 0);
    save_at(dir, "newest", 1800000000, long_msg, 2);
    save_at(dir, "middle", 1750000000, NULL, 0);
    save_at(dir, "tie-b", 1600000000, "b", 0);
    save_at(dir, "tie-a", 1600000000, "a", 0);
    assert_int_equal(tu_write_file(tu_path("%s/broken.json", dir), "{", 1), 0);
    assert_int_equal(tu_write_file(tu_path("%s/.hidden.json", dir), "{}", 2), 0);
    assert_int_equal(tu_write_file(tu_path("%s/notes.txt", dir), "hi", 2), 0);

    ssize_t n = session_list(dir, &list, err, sizeof err);
    assert_int_equal(n, 6);
    const char *order[] = {"newest", "middle", "old", "tie-a", "tie-b", "broken"};
    for (int i = 0; i < 6; i++) assert_string_equal(list[i].name, order[i]);
    assert_int_equal(list[0].updated, 1800000000);
    assert_int_equal(list[0].message_count, 4);
    assert_true(strlen(list[0].title) <= SESSION_TITLE_MAX);
    assert_memory_equal(list[0].title, long_msg, 75);
    assert_string_equal(list[0].title + 75, "\xE2\x80\xA6");  /* 日 would not fit whole */
    assert_string_equal(list[1].title, "");
    assert_string_equal(list[2].title, "first line");
    assert_null(list[0].error);
    assert_non_null(list[5].error);
    assert_non_null(strstr(list[5].error, "broken.json"));
    session_list_free(list, (size_t)n);

    assert_int_equal(session_delete(dir, "old", err, sizeof err), 0);
    assert_int_equal(session_delete(dir, "old", err, sizeof err), -1);
    assert_non_null(strstr(err, "no session named 'old'"));
    assert_int_equal(session_delete(dir, "../list/middle", err, sizeof err), -1);
    assert_int_equal(session_list(dir, &list, err, sizeof err), 5);
    session_list_free(list, 5);
}

static void test_names(void **state) {
    char err[256], name101[102], name100[101];
    memset(name101, 'a', 101);
    name101[101] = '\0';
    memset(name100, 'a', 100);
    name100[100] = '\0';
    const char *bad[] = {"", ".hidden", "a/b", "..", "a..b", "/abs", name101, "bad\xff", "\xc3", "tab\there", "nl\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        if (session_name_check(bad[i], err, sizeof err) != -1) fail_msg("accepted bad name #%zu", i);
        assert_true(err[0] != '\0');
    }
    const char *good[] = {"ok", "2026-11-28-213501", "café 日本 😀", "a.b", name100};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (session_name_check(good[i], err, sizeof err)) fail_msg("refused '%s': %s", good[i], err);
    assert_null(session_new("../escape", "m", err, sizeof err));

    /* auto names: local time, a suffix while taken */
    setenv("TZ", "UTC", 1);
    tzset();
    const char *dir = fresh_dir("auto");
    assert_int_equal(mkdir(dir, 0755), 0);
    char name[SESSION_NAME_MAX + 1];
    time_t when = 1795902901;  /* 2026-11-28T21:55:01Z */
    assert_int_equal(session_auto_name(dir, when, name), 0);
    assert_string_equal(name, "2026-11-28-215501");
    assert_int_equal(tu_write_file(tu_path("%s/%s.json", dir, name), "{}", 2), 0);
    assert_int_equal(session_auto_name(dir, when, name), 0);
    assert_string_equal(name, "2026-11-28-215501-2");

    /* the default directory */
    char path[512];
    setenv("XDG_DATA_HOME", "/data", 1);
    assert_int_equal(session_default_dir(path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/data/gemma4/sessions");
    setenv("XDG_DATA_HOME", "relative", 1);  /* not absolute: ignored, as the XDG spec says */
    setenv("HOME", "/home/u", 1);
    assert_int_equal(session_default_dir(path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/home/u/.local/share/gemma4/sessions");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_read_as_written),
        cmocka_unit_test(test_readme_example_and_exact_rewrite),
        cmocka_unit_test(test_round_trip_with_tools_and_reasoning),
        cmocka_unit_test(test_bad_messages_refused),
        cmocka_unit_test(test_corrupt_and_foreign_untouched),
        cmocka_unit_test(test_atomic_save_failures_keep_old_file),
        cmocka_unit_test(test_list_order_titles_and_delete),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
