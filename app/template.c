/* template.c: `gemma4 template --template FILE.jinja --case CASE.json`, the chat
 * template diagnostic (design.md): renders the case's messages, tools, kwargs
 * and bos_token with the template and prints the prompt exactly as rendered. */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JSON text of member key of obj, or NULL when it is absent. */
static char *member_json(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

int cmd_template(int argc, char **argv) {
    const char *template_path = NULL, *case_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--template")) template_path = v, i++;
        else if (!strcmp(a, "--case")) case_path = v, i++;
        else return cli_fail("template: unknown option '%s'", a);
        if (!v) return cli_fail("template: %s needs a value", a);
    }
    if (!template_path || !case_path) return cli_fail("template: --template FILE.jinja and --case CASE.json are required");

    int status = 1;
    char *tpl = NULL, *messages = NULL, *tools = NULL, *kwargs = NULL, *prompt = NULL;
    json_t *c = NULL;
    json_error_t err;
    if (!(tpl = cli_read_file(template_path, "the template"))) goto done;
    if (!(c = json_load_file(case_path, JSON_ALLOW_NUL, &err))) {
        cli_fail("template: %s:%d:%d: %s", case_path, err.line, err.column, err.text);
        goto done;
    }
    if (!json_is_object(c) || !json_is_array(json_object_get(c, "messages"))) {
        cli_fail("template: %s must be a JSON object with a \"messages\" array", case_path);
        goto done;
    }
    json_t *kw = json_object_get(c, "kwargs"), *bos = json_object_get(c, "bos_token");
    if (kw && !json_is_object(kw) && !json_is_null(kw)) {
        cli_fail("template: %s: \"kwargs\" must be an object", case_path);
        goto done;
    }
    if (bos && !json_is_string(bos)) {
        cli_fail("template: %s: \"bos_token\" must be a string", case_path);
        goto done;
    }
    messages = member_json(c, "messages");
    tools = member_json(c, "tools");
    kwargs = member_json(c, "kwargs");
    g4_chat_request req = {
        .messages_json = messages,
        .tools_json = tools,
        .kwargs_json = kwargs,
        .add_generation_prompt = json_is_true(json_object_get(kw, "add_generation_prompt")),
        .enable_thinking = json_is_true(json_object_get(kw, "enable_thinking")),
        .bos_token = bos ? json_string_value(bos) : NULL,
    };
    if (!(prompt = g4_chat_render(tpl, &req))) {
        cli_fail("%s", g4_last_error());
        goto done;
    }
    size_t n = strlen(prompt);
    if (fwrite(prompt, 1, n, stdout) != n || fflush(stdout)) {
        cli_fail("template: writing the prompt failed");
        goto done;
    }
    status = 0;
done:
    free(prompt);
    free(messages);
    free(tools);
    free(kwargs);
    json_decref(c);
    free(tpl);
    return status;
}
