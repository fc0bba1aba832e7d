/* tools_cmd.c: `gemma4 tools`, the tool scripts as the agent sees them (docs/tools.md):
 *   gemma4 tools [list] [--tools-dir DIR]...        each tool with its permission and
 *                                                   description; broken scripts warned about
 *   gemma4 tools run NAME [ARGS_JSON | -] [--workspace DIR] [--allow-shell]
 *                        [--tool-timeout S] [--tool-env NAME,...] (the agent's flags)
 * `run` calls one tool in its sandbox, as the agent loop would, and prints what the
 * model would see: exit 0, or 1 when the call failed (its error JSON is printed too). */
#include "cli.h"
#include "agent/setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *permission_name(agent_permission p) {
    return p == AGENT_ALLOW ? "allow" : p == AGENT_ASK ? "ask" : "deny";
}

static int usage_error(const char *msg) {
    cli_fail("%s (usage: gemma4 tools [list] | gemma4 tools run NAME [ARGS_JSON|-] [--workspace DIR] "
             "[--allow-shell] [--tool-timeout S] [--tool-env NAME,...] [--tools-dir DIR])", msg);
    return 2;
}


/* `tools list` / `tools run` once the arguments are read. */
static int tools_command(const agent_flags *flags, const char *const *positional, int n_pos) {
    const char *verb = n_pos ? positional[0] : "list";
    bool run = !strcmp(verb, "run");
    if (!run && (strcmp(verb, "list") || n_pos > 1)) return usage_error("unknown tools command");
    if (run && n_pos < 2) return usage_error("tools run needs a tool's name");
    agent_setup s;
    char *err = NULL;
    if (agent_flags_setup(flags, "all", NULL, &s, &err)) {
        cli_fail("%s", err ? err : "out of memory");
        free(err);
        return 1;
    }
    int status = 0;
    if (!run) {
        for (int i = 0; i < agent_toolbox_count(s.toolbox); i++) {
            const char *name = agent_toolbox_name(s.toolbox, i), *desc = agent_toolbox_description(s.toolbox, i);
            printf("%-14s %-5s %.*s\n", name, permission_name(agent_policy_get(s.policy, name)),
                   (int)strcspn(desc, "\n"), desc);
        }
    } else if (agent_toolbox_find(s.toolbox, positional[1]) < 0) {
        status = cli_fail("no tool named '%s' (gemma4 tools lists them)", positional[1]);
    } else {
        char *args = NULL;
        if (n_pos < 3) args = strdup("{}");
        else if (!strcmp(positional[2], "-")) args = cli_read_stream(stdin, "the arguments from stdin");
        else args = strdup(positional[2]);
        if (!args) {
            status = 1;
        } else {
            agent_result r;
            agent_toolbox_run(s.toolbox, positional[1], args, NULL, &r);
            fputs(r.content ? r.content : "", stdout);
            if (r.content && r.content[0] && r.content[strlen(r.content) - 1] != '\n') putchar('\n');
            if (r.truncated) fprintf(stderr, "gemma4: the result was cut at %zu bytes\n", agent_limits_defaults().max_result);
            status = r.is_error ? 1 : 0;
            agent_result_free(&r);
            free(args);
        }
    }
    agent_setup_close(&s);
    return status;
}

int cmd_tools(int argc, char **argv) {
    agent_flags flags = {0};
    const char *positional[3] = {0};
    int n_pos = 0, status = -1;
    for (int i = 1; i < argc && status < 0; i++) {
        char *err = NULL;
        int taken = agent_flags_take(&flags, argv[i], i + 1 < argc ? argv[i + 1] : NULL, &err);
        if (taken < 0) status = usage_error(err ? err : "out of memory");
        else if (taken) i += taken - 1;
        else if (argv[i][0] == '-' && strcmp(argv[i], "-")) status = usage_error("unknown option");
        else if (n_pos == 3) status = usage_error("too many arguments");
        else positional[n_pos++] = argv[i];
        free(err);
    }
    if (status < 0) status = tools_command(&flags, positional, n_pos);
    agent_flags_free(&flags);
    return status;
}
