/* commands.c: the slash commands, one X-macro line each (name, argument, help, whether the
 * argument is a file path for completion), which also produces /help and the completion list;
 * plus the key bindings' help lines. */
#include "tui/ui.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*command_fn)(tui_app *a, const char *arg);

#define TUI_COMMANDS(X)                                                                               \
    X(help, "", "show the commands and keys", false)                                                 \
    X(new, "", "start a new conversation (the current one stays saved)", false)                      \
    X(save, "[NAME]", "save the conversation (under NAME from now on)", false)                       \
    X(load, "NAME", "continue a saved conversation", false)                                          \
    X(sessions, "", "list the saved conversations", false)                                           \
    X(system, "TEXT", "set the system prompt (empty: none)", false)                                  \
    X(think, "on|off", "let the model think before answering", false)                                \
    X(model, "PATH|ID", "switch to another model (loaded in the background)", true)                  \
    X(set, "KEY VALUE", "temperature, top_p, top_k, min_p, max_tokens or seed", false)               \
    X(retry, "", "answer the last message again", false)                                             \
    X(edit, "", "edit the last message; sending it replaces it and answers again", false)            \
    X(copy, "", "copy the last answer to the clipboard (OSC 52)", false)                             \
    X(theme, "NAME", "switch the colour theme", false)                                               \
    X(stats, "", "tokens, speed, context and model", false)                                          \
    X(tools, "", "the tools the model may call and their permissions", false)                       \
    X(quit, "", "exit (the conversation is saved)", false)

#define TUI_KEYS(X)                                                                                   \
    X("Enter", "send (a trailing \\ continues on a new line)")                                     \
    X("Alt-Enter", "new line")                                                                        \
    X("Esc, Ctrl-C", "stop the answer being generated (what was written stays)")                    \
    X("Ctrl-C twice", "quit")                                                                         \
    X("PgUp, PgDn, wheel", "scroll the transcript; End returns to the bottom")                        \
    X("t, Alt-t", "open or close the latest thinking (t on an empty line)")                          \
    X("r, Alt-r", "open or close the latest tool results (r on an empty line)")                      \
    X("y, n, a", "answer \"Run NAME?\": yes, no (also Esc), always for this tool")                  \
    X("Up, Down", "previous and next input (history is kept across runs)")                           \
    X("Tab", "complete commands and file names")

#define DECLARE(name, arg, help, path) static void cmd_##name(tui_app *a, const char *arg_text);
TUI_COMMANDS(DECLARE)
#undef DECLARE

static const struct {
    const char *name, *arg, *help;
    bool takes_path;
    command_fn fn;
} commands[] = {
#define ENTRY(name, arg, help, path) {"/" #name, arg, help, path, cmd_##name},
    TUI_COMMANDS(ENTRY)
#undef ENTRY
};
enum { N_COMMANDS = sizeof commands / sizeof *commands };

const char *tui_command_name(int i) { return i >= 0 && i < N_COMMANDS ? commands[i].name : NULL; }

bool tui_command_takes_path(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return commands[i].takes_path;
    return false;
}

void tui_command(tui_app *a, const char *line) {
    size_t n = strcspn(line, " \t\n");
    const char *arg = line + n;
    arg += strspn(arg, " \t\n");
    char *arg_copy = strdup(arg);
    if (!arg_copy) return;
    for (size_t k = strlen(arg_copy); k > 0 && strchr(" \t\n", arg_copy[k - 1]); k--) arg_copy[k - 1] = 0;
    for (int i = 0; i < N_COMMANDS; i++)
        if (strlen(commands[i].name) == n && !strncmp(commands[i].name, line, n)) {
            commands[i].fn(a, arg_copy);
            free(arg_copy);
            return;
        }
    free(arg_copy);
    tui_note(a, TUI_BLOCK_ERROR, "unknown command %.*s (type /help for the list)", (int)(n > 40 ? 40 : n), line);
}

static bool busy(tui_app *a, const char *what) {
    if (!tui_busy(a) && !a->loader) return false;
    tui_note(a, TUI_BLOCK_ERROR, "%s: busy (press Esc to stop the answer first)", what);
    return true;
}

static void cmd_help(tui_app *a, const char *arg) {
    (void)arg;
    tui_buf b = {0};
    char line[256];
    for (int i = 0; i < N_COMMANDS; i++) {
        snprintf(line, sizeof line, "%-10s %-10s %s\n", commands[i].name, commands[i].arg, commands[i].help);
        tui_buf_append(&b, line, strlen(line));
    }
#define KEY_LINE(key, help) snprintf(line, sizeof line, "%-21s %s\n", key, help), tui_buf_append(&b, line, strlen(line));
    TUI_KEYS(KEY_LINE)
#undef KEY_LINE
    if (b.len && b.s[b.len - 1] == '\n') b.s[--b.len] = 0;
    tui_note(a, TUI_BLOCK_NOTE, "%s", b.s ? b.s : "");
    tui_buf_free(&b);
}

static void cmd_new(tui_app *a, const char *arg) {
    (void)arg;
    if (busy(a, "/new")) return;
    tui_persist_new(a);
    tui_transcript_clear(&a->transcript);
    tui_note(a, TUI_BLOCK_NOTE, "new conversation");
}

static void cmd_save(tui_app *a, const char *arg) { tui_persist_save(a, *arg ? arg : NULL); }

static void cmd_load(tui_app *a, const char *arg) {
    if (!*arg) { tui_note(a, TUI_BLOCK_ERROR, "/load needs a session name (see /sessions)"); return; }
    if (busy(a, "/load")) return;
    tui_persist_load(a, arg);
}

static void cmd_sessions(tui_app *a, const char *arg) {
    (void)arg;
    tui_persist_list(a);
}

static void cmd_system(tui_app *a, const char *arg) {
    free(a->system);
    a->system = *arg ? strdup(arg) : NULL;
    tui_persist_set_settings(a);
    tui_note(a, TUI_BLOCK_NOTE, *arg ? "system prompt set" : "system prompt cleared");
}

static void cmd_think(tui_app *a, const char *arg) {
    if (!strcmp(arg, "on")) a->think = true;
    else if (!strcmp(arg, "off")) a->think = false;
    else if (!*arg) a->think = !a->think;
    else { tui_note(a, TUI_BLOCK_ERROR, "/think takes on or off"); return; }
    tui_persist_set_settings(a);
    tui_note(a, TUI_BLOCK_NOTE, "thinking %s", a->think ? "on" : "off");
}

static void cmd_model(tui_app *a, const char *arg) {
    if (!*arg) { tui_note(a, TUI_BLOCK_NOTE, "model: %s", a->model_label); return; }
    tui_model_switch(a, arg);
}

static bool parse_number(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end || errno || !(d >= lo && d <= hi)) return false;
    *out = d;
    return true;
}

static void cmd_set(tui_app *a, const char *arg) {
    char key[32];
    size_t n = strcspn(arg, " ");
    const char *value = arg + n + strspn(arg + n, " ");
    double d;
    if (n == 0 || n >= sizeof key || !*value) {
        tui_note(a, TUI_BLOCK_ERROR, "usage: /set temperature|top_p|top_k|min_p|max_tokens|seed VALUE");
        return;
    }
    memcpy(key, arg, n), key[n] = 0;
    chat_settings *s = &a->settings;
    bool ok = true;
    if (!strcmp(key, "temperature") && (ok = parse_number(value, 0, 100, &d))) s->temperature = (float)d;
    else if (!strcmp(key, "top_p") && (ok = parse_number(value, 0.001, 1, &d))) s->top_p = (float)d;
    else if (!strcmp(key, "min_p") && (ok = parse_number(value, 0, 1, &d))) s->min_p = (float)d;
    else if (!strcmp(key, "top_k") && (ok = parse_number(value, 0, 1 << 24, &d) && d == floor(d))) s->top_k = (int)d;
    else if (!strcmp(key, "max_tokens") && (ok = parse_number(value, 1, 1 << 24, &d) && d == floor(d))) s->max_tokens = (int)d;
    else if (!strcmp(key, "seed") && (ok = parse_number(value, 0, 9007199254740992.0, &d) && d == floor(d))) s->seed = (int64_t)d;
    else if (ok) { tui_note(a, TUI_BLOCK_ERROR, "/set: unknown setting %s", key); return; }
    if (!ok) { tui_note(a, TUI_BLOCK_ERROR, "/set %s: '%s' is not a valid value", key, value); return; }
    tui_persist_set_settings(a);
    tui_note(a, TUI_BLOCK_NOTE, "%s = %s", key, value);
}

static void cmd_retry(tui_app *a, const char *arg) {
    (void)arg;
    tui_retry(a);
}

static void cmd_edit(tui_app *a, const char *arg) {
    (void)arg;
    const char *last = tui_persist_last_user(a);
    if (!last) { tui_note(a, TUI_BLOCK_ERROR, "/edit: there is no message to edit"); return; }
    if (busy(a, "/edit")) return;
    char *copy = strdup(last); /* the input line replaces what /edit was typed over */
    if (!copy) return;
    a->editing_last = true;
    tui_input_set_text(a, copy);
    free(copy);
}

static void cmd_copy(tui_app *a, const char *arg) {
    (void)arg;
    for (int i = a->transcript.n - 1; i >= 0; i--) {
        const tui_block *b = a->transcript.v[i];
        if (b->kind != TUI_BLOCK_ASSISTANT || !b->content.len) continue;
        if (tui_clipboard_copy(b->content.s, b->content.len)) tui_note(a, TUI_BLOCK_ERROR, "/copy: out of memory");
        else tui_note(a, TUI_BLOCK_NOTE, "copied %zu bytes to the clipboard", b->content.len);
        return;
    }
    tui_note(a, TUI_BLOCK_ERROR, "/copy: there is no answer to copy");
}

static void cmd_theme(tui_app *a, const char *arg) {
    char *err = NULL;
    if (!*arg) { tui_note(a, TUI_BLOCK_NOTE, "theme: %s", a->theme_name ? a->theme_name : "dark"); return; }
    if (tui_colors_load(a, arg, &err)) {
        tui_note(a, TUI_BLOCK_ERROR, "/theme: %s", err);
        free(err);
        return;
    }
    tui_transcript_invalidate(&a->transcript);
    tui_layout(a);
    tui_note(a, TUI_BLOCK_NOTE, "theme %s", arg);
}

static void cmd_stats(tui_app *a, const char *arg) {
    (void)arg;
    tui_note(a, TUI_BLOCK_NOTE,
             "model %s\ncontext %d of %d tokens in use\nthis run: %lld prompt tokens (%lld reused from the cache), "
             "%lld generated, last speed %.1f tok/s\nthinking %s",
             a->model_label, a->ctx_used, a->ctx_size, a->total_prompt_tokens, a->total_reused_tokens,
             a->total_completion_tokens, a->tokens_per_second, a->think ? "on" : "off");
}

static void cmd_tools(tui_app *a, const char *arg) {
    (void)arg;
    const agent_setup *t = a->opt.tools;
    if (!t) {
        tui_note(a, TUI_BLOCK_NOTE, "no tools: start with --tools all|NAME,... or set tools = all in the config");
        return;
    }
    json_t *offered = json_loads(t->tools_json, 0, NULL);
    tui_buf b = {0};
    char line[512];
    size_t i;
    json_t *tool;
    json_array_foreach(offered, i, tool) {
        const char *name = json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
        if (!name) continue;
        int k = agent_toolbox_find(t->toolbox, name);
        agent_permission p = agent_policy_get(t->policy, name);
        snprintf(line, sizeof line, "%-16s %-5s  %s\n", name, p == AGENT_ALLOW ? "allow" : p == AGENT_ASK ? "ask" : "deny",
                 k >= 0 ? agent_toolbox_description(t->toolbox, k) : "");
        tui_buf_append(&b, line, strlen(line));
    }
    json_decref(offered);
    if (b.len) b.s[--b.len] = 0;
    tui_note(a, TUI_BLOCK_NOTE, "%s", b.len ? b.s : "no tools");
    tui_buf_free(&b);
}

static void cmd_quit(tui_app *a, const char *arg) {
    (void)arg;
    a->quit = true;
}
