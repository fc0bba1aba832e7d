/* setup.h: what the front ends (the one-shot CLI, the terminal UI) share to offer
 * tools: the directories tool scripts load from, in order, and one call that loads
 * them, builds the approval policy with the user's overrides and lists the selected
 * tools as OpenAI tools JSON for agent_run. */
#ifndef G4_AGENT_SETUP_H
#define G4_AGENT_SETUP_H

#include "agent/agent.h"

#include <stdbool.h>

typedef struct {
    const char *selection;          /* "all" or NAME,NAME,... */
    const char *const *extra_dirs;  /* --tools-dir, NULL-terminated (NULL: none) */
    const char *const *overrides;   /* "NAME=allow|ask|deny" in order, NULL-terminated (NULL: none) */
    bool yes;                       /* every tool at ask becomes allow */
    const char *env;                /* NAME,NAME,...: the environment variables ctx.env.get may read
                                       (--tool-env, the config's tool_env; NULL: none) */
    agent_limits limits;            /* start from agent_limits_defaults() */
} agent_setup_options;

typedef struct {
    agent_toolbox *toolbox;
    agent_policy *policy;
    char *tools_json;               /* the selected tools (malloc'd) */
} agent_setup;

/* The directories tools load from, in order (a later tool replaces an earlier one of
 * the same name): $G4_TOOLS_DIR when set, else the source tree's tools/lua when it
 * exists, else the installed data dir (PREFIX/share/gemma4/tools); then
 * $XDG_CONFIG_HOME/gemma4/tools (~/.config/gemma4/tools); then extra. A
 * NULL-terminated array of malloc'd strings (agent_setup_dirs_free), or NULL when out
 * of memory. */
char **agent_setup_dirs(const char *const *extra);
void agent_setup_dirs_free(char **dirs);

/* Loads the tools (warn gets one line per script skipped), applies the overrides
 * and --yes, and selects the tools. 0, or -1 with a malloc'd one-line reason in
 * *err (no tools found, an unknown name, a bad override). */
int agent_setup_open(const agent_setup_options *opt, void (*warn)(const char *line, void *user), void *user,
                     agent_setup *out, char **err);
void agent_setup_close(agent_setup *s);

/* Permission overrides in the order given: "NAME=allow|ask|deny" strings, NULL-terminated. */
typedef struct {
    char **items;   /* NULL until the first add */
    int n;
} agent_overrides;

/* Adds "NAME=word" (word: allow, ask or deny) for each name of a comma-separated
 * list (--allow / --deny); 0, or -1 with a malloc'd reason in *err. */
int agent_overrides_add_list(agent_overrides *o, const char *names, const char *word, char **err);
/* Adds one "NAME=word" string as it is (a config line's). 0 or -1 (out of memory). */
int agent_overrides_add(agent_overrides *o, const char *override);
void agent_overrides_free(agent_overrides *o);

/* ---- The agent's command-line flags, shared by the one-shot mode, the chat UI, the
 * server and `gemma4 tools`: --tools-dir DIR (repeatable), --workspace DIR, --tool-env
 * NAMES, --allow NAMES, --deny NAMES, --tool-timeout S, --max-steps N, --yes,
 * --allow-shell. */

enum { AGENT_MAX_TOOL_DIRS = 16 };

typedef struct {
    const char *dirs[AGENT_MAX_TOOL_DIRS + 1]; /* --tools-dir, NULL-terminated */
    int n_dirs;
    agent_overrides overrides;  /* --allow / --deny, in order */
    const char *workspace, *env;
    double timeout_s;           /* 0: the default */
    int max_steps;              /* 0: the default */
    bool yes, allow_shell;
    bool given;                 /* any of these flags */
} agent_flags;

/* Takes arg (with value, the next argument or NULL) when it is one of the flags:
 * returns the arguments used (1 or 2), 0 when arg is none of them, -1 with a
 * malloc'd one-line reason in *err. */
int agent_flags_take(agent_flags *f, const char *arg, const char *value, char **err);
void agent_flags_free(agent_flags *f);
/* agent_setup_open with the flags for the tools `selection`; config (may be NULL)
 * holds overrides that come before the flags' (the config file's tool.NAME lines).
 * A script that cannot load is named on stderr ("gemma4: warning: FILE: why"). */
int agent_flags_setup(const agent_flags *f, const char *selection, const agent_overrides *config, agent_setup *out,
                      char **err);

#endif
