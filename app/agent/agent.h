/* agent.h: agent workflows — tool calls dispatched to Lua 5.4 scripts
 * (docs/tools.md). Front ends: the terminal UI, the one-shot CLI (--tools), and the
 * server (--server-tools).
 *
 * Reading order: sandbox.c (a fresh, limited Lua state per call: restricted globals,
 * memory cap in the allocator, instruction-count hook with a wall-clock deadline
 * and a cancel flag), host_*.c (the host API the scripts get as `ctx`: fs, http,
 * proc, json, time, env, html), toolbox.c (tool scripts loaded from directories,
 * validated, listed as OpenAI tools, run one call at a time), policy.c (ask / allow /
 * deny per tool), loop.c (the agent loop over the chat engine). */
#ifndef G4_AGENT_H
#define G4_AGENT_H

#include "chat/chat.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Limits and host permissions --------------------------------------------------- */

typedef struct {
    const char *workspace;        /* fs.* and proc.run's cwd are confined to this directory (NULL: the current one) */
    bool allow_proc;              /* proc.run may run commands (off by default) */
    double timeout_s;             /* wall clock per call (default 30) */
    uint64_t max_instructions;    /* Lua VM instructions per call (default 200 million) */
    size_t max_memory;            /* bytes a call's Lua state may allocate (default 64 MiB) */
    size_t max_result;            /* result bytes kept; the rest is cut with a marker (default 64 KiB) */
    size_t max_http_body;         /* bytes of an HTTP response body (default 8 MiB) */
    size_t max_file;              /* bytes fs.read returns / fs.write accepts (default 8 MiB) */
    const char *const *env_allow; /* NULL-terminated names env.get may read (NULL: none) */
} agent_limits;

agent_limits agent_limits_defaults(void);

/* ---- The toolbox: the loaded tool scripts ------------------------------------------- */

typedef struct agent_toolbox agent_toolbox;

typedef enum { AGENT_ALLOW, AGENT_ASK, AGENT_DENY } agent_permission;

/* Loads every *.lua file of each directory in dirs (NULL-terminated; a missing
 * directory is skipped). A script that fails to load or returns a table that breaks
 * the contract is skipped: warn (may be NULL) gets one line naming the file and why.
 * A later directory's tool replaces an earlier one of the same name. limits is copied. */
agent_toolbox *agent_toolbox_load(const char *const *dirs, const agent_limits *limits,
                                  void (*warn)(const char *line, void *user), void *user);
void agent_toolbox_free(agent_toolbox *tb);
int agent_toolbox_count(const agent_toolbox *tb);
const char *agent_toolbox_name(const agent_toolbox *tb, int i);
const char *agent_toolbox_description(const agent_toolbox *tb, int i);
/* The script's default: ask when it declares that it writes or executes, else allow. */
agent_permission agent_toolbox_default_permission(const agent_toolbox *tb, int i);
int agent_toolbox_find(const agent_toolbox *tb, const char *name); /* index or -1 */
/* OpenAI tools JSON ([{"type":"function","function":{name,description,parameters}}])
 * of the selected tools: "all" or a comma-separated list of names (an unknown name
 * is an error in *err, malloc'd). malloc'd; NULL on error. */
char *agent_toolbox_tools_json(const agent_toolbox *tb, const char *selection, char **err);

typedef struct {
    char *content;      /* what the model sees (malloc'd): the tool's result as text (a string
                           return value as is, anything else as JSON), or for an error
                           {"error": "...", "tool": NAME} as JSON */
    bool is_error;      /* the call failed: bad arguments, a Lua error, a limit, denied, cancelled */
    bool truncated;     /* content was cut at max_result (it ends with a marker saying so) */
    double seconds;
} agent_result;

/* Runs one call in a fresh sandbox: arguments (JSON text of an object) -> result.
 * Never fails the process: every failure is an is_error result. cancel (may be NULL)
 * stops the script at its next instruction check or host call. Thread-safe: calls
 * may run concurrently on different threads. */
void agent_toolbox_run(const agent_toolbox *tb, const char *name, const char *arguments_json,
                       const atomic_int *cancel, agent_result *out);
void agent_result_free(agent_result *r);

/* ---- Approval policy ------------------------------------------------------------------ */

typedef struct agent_policy agent_policy;

/* Every tool starts at its script's default; then the overrides, in order:
 * "NAME=allow|ask|deny" strings (config file lines tool.NAME = ..., CLI --allow /
 * --deny). yes: every ask becomes allow (headless --yes). */
agent_policy *agent_policy_new(const agent_toolbox *tb);
void agent_policy_free(agent_policy *p);
int agent_policy_set(agent_policy *p, const char *name, agent_permission perm); /* -1: no such tool */
agent_permission agent_policy_get(const agent_policy *p, const char *name);
/* One "NAME=allow|ask|deny" override; -1 with a malloc'd one-line reason in *err
 * (a malformed string or an unknown tool). */
int agent_policy_apply(agent_policy *p, const char *override, char **err);
/* Headless --yes: every tool at ask becomes allow (deny stays deny). */
void agent_policy_allow_asks(agent_policy *p);

/* ---- The loop ---------------------------------------------------------------------- */

/* Events beyond the chat engine's, for a front end. */
typedef enum {
    AGENT_EVENT_STEP,        /* a new generation starts (step, 1-based) */
    AGENT_EVENT_TOOL_RESULT, /* a call finished: tool_id, tool_name, result */
} agent_event_type;

typedef struct {
    agent_event_type type;
    int step;
    const char *tool_id, *tool_name;
    const agent_result *result;
} agent_event;

typedef enum { AGENT_DECIDE_YES, AGENT_DECIDE_NO, AGENT_DECIDE_ALWAYS } agent_decision;

typedef struct {
    chat_engine *engine;
    const agent_toolbox *toolbox;
    agent_policy *policy;         /* AGENT_DECIDE_ALWAYS sets the tool to allow here */
    const char *tools_json;       /* the tools offered (agent_toolbox_tools_json) */
    chat_settings settings;       /* tool_choice applies to the first step only; later steps use auto */
    int max_steps;                /* generations at most (default 8); then the loop ends with an error event */
    /* ask: called (on the loop's thread) for each call whose permission is ask; NULL: deny */
    agent_decision (*ask)(const char *tool_name, const char *arguments_json, void *user);
    chat_event_fn on_chat_event;  /* every chat event of every step (DONE of each step included) */
    void (*on_agent_event)(const agent_event *event, void *user);
    void *user;
    const atomic_int *cancel;     /* stops the loop: the current generation or tool call ends */
} agent_params;

/* Runs the loop on a conversation: generate; if the reply calls tools, append the
 * assistant message (with its reasoning and tool_calls) and one {"role":"tool",
 * "tool_call_id","name","content"} message per call (in call order; calls of one
 * reply run concurrently), then generate again; until a reply without calls, max_steps,
 * a cancel or an error. *messages_json (malloc'd, replaced) is the whole history at
 * the end, the final assistant message included, also after a cancel or an error.
 * Returns the last step's finish (chat_finish) or -1 after an error. */
int agent_run(const agent_params *params, char **messages_json);

#endif
