/* test_config.c: the config file (app/config): every key read with its type and
 * range, quoting and comments, file:line errors that leave the config as it was,
 * a missing file meaning defaults, and numbers read the same in any locale. */
#include "testutil.h"

#include "config/config.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_every_key(void **state) {
    const char *text =
        "# gemma4 settings\n"
        "\n"
        "model = /models/gemma 4/E2B.gguf\n"
        "  theme=gruvbox  \n"
        "temperature = 0.7   # a little cooler\n"
        "top_p = 0.9\r\n"
        "top_k = 40\n"
        "min_p = 0.05\n"
        "max_tokens = 2048\n"
        "seed = 9223372036854775807\n"
        "system = \"You are \\\"terse\\\".\\nAnswer in one line.\\t# not a comment\\\\\"  # a comment\n"
        "think = on\n"
        "threads = 0\n"
        "ctx = 8192";  /* no final newline */
    config c;
    config_init(&c);
    char err[256] = "";
    if (config_parse(&c, text, strlen(text), "cfg", err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(c.model, "/models/gemma 4/E2B.gguf");
    assert_string_equal(c.theme, "gruvbox");
    assert_true(c.temperature == 0.7);
    assert_true(c.top_p == 0.9);
    assert_int_equal(c.top_k, 40);
    assert_true(c.min_p == 0.05);
    assert_int_equal(c.max_tokens, 2048);
    assert_true(c.seed == INT64_MAX);
    assert_string_equal(c.system, "You are \"terse\".\nAnswer in one line.\t# not a comment\\");
    assert_int_equal(c.think, 1);
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.ctx, 8192);
    config_free(&c);
}

static void test_unset_unless_given(void **state) {
    const char *text = "think = false\nseed = random\nsystem = \"\"\n";
    config c;
    config_init(&c);
    char err[256];
    assert_int_equal(config_parse(&c, text, strlen(text), "cfg", err, sizeof err), 0);
    assert_int_equal(c.think, 0);
    assert_int_equal(c.seed, -1);
    assert_string_equal(c.system, "");
    assert_null(c.model);
    assert_null(c.theme);
    assert_true(isnan(c.temperature) && isnan(c.top_p) && isnan(c.min_p));
    assert_int_equal(c.top_k, -1);
    assert_int_equal(c.max_tokens, -1);
    assert_int_equal(c.threads, -1);
    assert_int_equal(c.ctx, -1);
    /* a second parse replaces everything: keys it lacks become unset */
    assert_int_equal(config_parse(&c, "top_k = 0", 9, "cfg", err, sizeof err), 0);
    assert_int_equal(c.top_k, 0);
    assert_int_equal(c.think, -1);
    assert_null(c.system);
    config_free(&c);
}

static void test_errors_name_file_and_line(void **state) {
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"temprature = 1\n", "my.cfg:1: unknown key 'temprature'"},
        {"# c\n\ntemperature = hot\n", "my.cfg:3: temperature must be a number in [0, 100], not 'hot'"},
        {"temperature = 100.5\n", "my.cfg:1: temperature must be a number"},
        {"temperature = nan\n", "my.cfg:1: temperature must be a number"},
        {"temperature = 0.7x\n", "my.cfg:1: temperature must be a number"},
        {"temperature = \"0.7\"\n", "my.cfg:1: temperature must be a number"},
        {"top_p = 0\n", "my.cfg:1: top_p must be a number in [0.001, 1]"},
        {"top_k = -1\n", "my.cfg:1: top_k must be an integer in [0, 16777216]"},
        {"top_k = 1.5\n", "my.cfg:1: top_k must be an integer"},
        {"max_tokens = 0\n", "my.cfg:1: max_tokens must be an integer in [1, 16777216]"},
        {"threads = 5000\n", "my.cfg:1: threads must be an integer in [0, 4096]"},
        {"ctx = 99999999999999999999\n", "my.cfg:1: ctx must be an integer"},
        {"seed = -5\n", "my.cfg:1: seed must be an integer"},
        {"think = maybe\n", "my.cfg:1: think must be on, off, true or false, not 'maybe'"},
        {"theme = ../x\n", "my.cfg:1: theme must be a name"},
        {"model =\n", "my.cfg:1: no value after '='"},
        {"model = \"\"\n", "my.cfg:1: model cannot be empty"},
        {"top_k = 1\ntop_k = 2\n", "my.cfg:2: top_k is already set on line 1"},
        {"system = \"open\n", "my.cfg:1: the quoted value has no closing '\"'"},
        {"system = \"a\\q\"\n", "my.cfg:1: unknown escape '\\q'"},
        {"system = \"a\" b\n", "my.cfg:1: unexpected text after the closing '\"'"},
        {"just words\n", "my.cfg:1: expected 'key = value'"},
        {"Model = x\n", "my.cfg:1: expected 'key = value'"},
        {"model = \xff\xfe\n", "my.cfg: is not valid UTF-8"},
        {"tool.read_file = maybe\n", "my.cfg:1: tool.read_file must be allow, ask or deny"},
        {"tool. = allow\n", "my.cfg:1: tool.NAME needs a tool name"},
        {"tool.a/b = allow\n", "my.cfg:1: expected 'key = value'"},
        {"tool.x = allow\ntool.x = deny\n", "my.cfg:2: tool.x is already set"},
        {"tool.x = \"allow-it-all-please\"\n", "my.cfg:1: tool.x must be allow, ask or deny"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        config c;
        config_init(&c);
        c.top_k = 7;  /* a value from before must survive the failed parse */
        err[0] = '\0';
        if (config_parse(&c, cases[i].text, strlen(cases[i].text), "my.cfg", err, sizeof err) != -1)
            fail_msg("case %zu accepted", i);
        if (strncmp(err, cases[i].expect, strlen(cases[i].expect)))
            fail_msg("case %zu: got '%s', want '%s...'", i, err, cases[i].expect);
        assert_int_equal(c.top_k, 7);
        config_free(&c);
    }
    config c;
    config_init(&c);
    assert_int_equal(config_parse(&c, "model = a\0b", 11, "my.cfg", err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL"));
}

/* tool.NAME lines become "NAME=value" permission overrides, in file order. */
static void test_tool_permissions(void **state) {
    (void)state;
    const char *text = "tools = all\ntool.write_file = allow\ntool.run_shell = \"deny\"\ntool.web-fetch_2 = ask\n";
    config c;
    config_init(&c);
    char err[256] = "";
    if (config_parse(&c, text, strlen(text), "my.cfg", err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(c.n_tool_permissions, 3);
    assert_string_equal(c.tool_permissions[0], "write_file=allow");
    assert_string_equal(c.tool_permissions[1], "run_shell=deny");
    assert_string_equal(c.tool_permissions[2], "web-fetch_2=ask");
    assert_string_equal(c.tools, "all");
    config_free(&c);
    assert_int_equal(c.n_tool_permissions, 0);
}

static void test_files(void **state) {
    const char *dir = tu_path("%s/cfg", tu_tmpdir());
    tu_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
    config c;
    config_init(&c);
    char err[512], path[4096];
    snprintf(path, sizeof path, "%s/absent", dir);
    assert_int_equal(config_load(&c, path, err, sizeof err), 0);
    assert_null(c.model);
    snprintf(path, sizeof path, "%s/config", dir);
    assert_int_equal(tu_write_file(path, "model = m.gguf\nctx = 0\n", 23), 0);
    assert_int_equal(config_load(&c, path, err, sizeof err), -1);
    char want[4200];
    snprintf(want, sizeof want, "%s:2: ctx must be an integer in [1, 1073741824], not '0'", path);
    assert_string_equal(err, want);
    assert_int_equal(tu_write_file(path, "model = m.gguf\n", 15), 0);
    assert_int_equal(config_load(&c, path, err, sizeof err), 0);
    assert_string_equal(c.model, "m.gguf");
    assert_int_equal(config_load(&c, dir, err, sizeof err), -1);  /* a directory */
    assert_non_null(strstr(err, "not a regular file"));
    config_free(&c);

    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    assert_int_equal(config_default_path(path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/xdg/gemma4/config");
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(config_default_path(path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/home/u/.config/gemma4/config");
}

/* A UI calls setlocale(LC_ALL, ""); a decimal comma locale must not change the file's meaning. */
static void test_numbers_ignore_locale(void **state) {
    const char *locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"};
    for (size_t i = 0; i < sizeof locales / sizeof *locales; i++) {
        if (!setlocale(LC_NUMERIC, locales[i])) continue;
        config c;
        config_init(&c);
        char err[256];
        assert_int_equal(config_parse(&c, "temperature = 0.25", 18, "cfg", err, sizeof err), 0);
        assert_true(c.temperature == 0.25);
        config_free(&c);
    }
    setlocale(LC_NUMERIC, "C");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_unset_unless_given),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_tool_permissions),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_numbers_ignore_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
