/* generate.c: non-interactive use. `gemma4 -m MODEL -p TEXT` (or the prompt on
 * stdin: `-p -`, or no -p when stdin is not a terminal) sends TEXT as a user turn
 * through the chat engine (app/chat/) and streams the reply: the answer to
 * stdout, the thinking to stderr with --show-thinking, tool calls as JSON lines.
 * The exit status says how it ended (docs/usage.md): 0 answered, 1 error,
 * 2 usage, 3 max tokens or a full context, 130 interrupted (SIGINT cancels the
 * generation cleanly). `--json-schema FILE` / `--grammar FILE` constrain the
 * answer; `--tools-json FILE` offers tools and `--tool-choice` can force a call
 * (docs/structured-output.md). `--tools all|NAME,...` runs the agent loop
 * (app/agent, docs/agent.md): the model's calls go to Lua tool scripts, approved
 * by the policy (--yes, --allow, --deny), one line each on stderr, until it
 * answers. `--tokens IDS` skips the text layer and prints greedy ids. */
#include "cli.h"
#include "agent/setup.h"
#include "chat/chat.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_ANSWERED = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_TRUNCATED = 3, EXIT_INTERRUPTED = 130 };

typedef struct {
    const char *model, *tokens, *prompt, *system, *template_file;
    const char *schema_file, *grammar_file, *tools_file, *tool_choice;
    int n_predict, n_ctx, threads;
    cli_device device;
    bool think, show_thinking, raw, stats;
    chat_settings settings;
    const char *tools;            /* the agent: --tools all|NAME,... */
    agent_flags agent;            /* its flags (agent/setup.h) */
} gen_opts;

static int parse_float(const char *opt, const char *v, float lo, float hi, float *out) {
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(d >= lo && d <= hi)) return cli_fail("%s needs a number in [%g, %g]", opt, lo, hi), -1;
    *out = (float)d;
    return 0;
}

static int parse(int argc, char **argv, gen_opts *o) {
    chat_settings *s = &o->settings;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1, taken; /* takes a value */
        char *err;
        int dev = cli_device_flag(&o->device, argc, argv, &i);
        if (dev < 0) return -1;
        if (dev) continue;
        if (!strcmp(a, "--think")) o->think = true, used = 0;
        else if (!strcmp(a, "--show-thinking")) o->show_thinking = true, used = 0;
        else if (!strcmp(a, "--hide-thinking")) used = 0; /* the default now; accepted for old scripts */
        else if (!strcmp(a, "--raw")) o->raw = true, used = 0;
        else if (!strcmp(a, "--stats")) o->stats = true, used = 0;
        else if (!strcmp(a, "--json-schema")) o->schema_file = v;
        else if (!strcmp(a, "--grammar")) o->grammar_file = v;
        else if (!strcmp(a, "--tools-json")) o->tools_file = v;
        else if (!strcmp(a, "--tool-choice")) o->tool_choice = v;
        else if (!strcmp(a, "--no-parallel-tool-calls")) s->parallel_tool_calls = 0, used = 0;
        else if (!strcmp(a, "--tools")) o->tools = v;
        else if ((taken = agent_flags_take(&o->agent, a, v, &err)) != 0) {
            if (taken < 0) return cli_fail("%s", err ? err : "out of memory"), free(err), -1;
            used = taken - 1;
        }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokens")) o->tokens = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--chat-template")) o->template_file = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((o->n_predict = cli_parse_int(a, v, 1, 1 << 24)) < 0) return -1; }
        else if (!strcmp(a, "--ctx")) { if ((o->n_ctx = cli_parse_int(a, v, 1, 1 << 30)) < 0) return -1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((o->threads = cli_parse_int(a, v, 0, 4096)) < 0) return -1; }
        else if (!strcmp(a, "--temp")) { if (parse_float(a, v, 0, 100, &s->temperature)) return -1; }
        else if (!strcmp(a, "--top-p")) { if (parse_float(a, v, 0.001f, 1, &s->top_p)) return -1; }
        else if (!strcmp(a, "--min-p")) { if (parse_float(a, v, 0, 1, &s->min_p)) return -1; }
        else if (!strcmp(a, "--repeat-penalty")) { if (parse_float(a, v, 0.01f, 100, &s->repeat_penalty)) return -1; }
        else if (!strcmp(a, "--top-k")) { if ((s->top_k = cli_parse_int(a, v, 0, 1 << 24)) < 0) return -1; }
        else if (!strcmp(a, "--seed")) { int seed = cli_parse_int(a, v, 0, 2147483647); if (seed < 0) return -1; s->seed = seed; }
        else return cli_fail("unknown option '%s' (see gemma4 --help)", a), -1;
        if (used && !v) return cli_fail("%s needs a value (see gemma4 --help)", a), -1; /* numbers said so already */
        i += used;
    }
    if (!o->model) return cli_fail("-m MODEL is required"), -1;
    if (o->schema_file && o->grammar_file) return cli_fail("give --json-schema or --grammar, not both"), -1;
    if (o->tools && o->tools_file)
        return cli_fail("give --tools (tools the app runs) or --tools-json (tools you run), not both"), -1;
    if (o->agent.given && !o->tools)
        return cli_fail("--tools-dir, --yes, --allow, --deny, --workspace, --tool-env, --allow-shell, --max-steps and "
                        "--tool-timeout need --tools all|NAME,..."), -1;
    if (o->tool_choice && !o->tools_file && !o->tools)
        return cli_fail("--tool-choice needs --tools-json FILE or --tools all|NAME,..."), -1;
    if (o->raw && (o->tools_file || o->tools)) return cli_fail("--raw takes no --tools-json or --tools (the prompt is given whole)"), -1;
    const char *tc = o->tool_choice;
    if (!tc || !strcmp(tc, "auto")) s->tool_choice = CHAT_TOOLS_AUTO;
    else if (!strcmp(tc, "none")) s->tool_choice = CHAT_TOOLS_NONE;
    else if (!strcmp(tc, "required")) s->tool_choice = CHAT_TOOLS_REQUIRED;
    else if (*tc) s->tool_choice = CHAT_TOOLS_NAMED, s->tool_name = tc;
    else return cli_fail("--tool-choice takes auto, none, required or a tool's name"), -1;
    return 0;
}

/* [{"role":"system",...}, {"role":"user","content":TEXT}] as JSON (malloc'd). */
static char *messages_json(const char *system, const char *text) {
    json_t *msgs = json_array();
    if (system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", text));
    char *out = json_array_size(msgs) == (system ? 2u : 1u) ? json_dumps(msgs, JSON_COMPACT) : NULL;
    json_decref(msgs);
    if (!out) cli_fail("the prompt is not valid UTF-8");
    return out;
}

/* Streams a reply to the terminal and remembers how it ended. */
typedef struct {
    bool show_thinking, in_thought, wrote_answer, ok;
    bool agent;          /* --tools: calls and results go to stderr, one line each */
    int n_tool_calls;
    chat_stats stats;
} printer;

/* Writes at most max bytes of text (cut at a character boundary) on one line:
 * line breaks and tabs become spaces. */
static void put_one_line(FILE *f, const char *text, size_t len, size_t max) {
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--;
    }
    for (size_t i = 0; i < len; i++) fputc(text[i] == '\n' || text[i] == '\r' || text[i] == '\t' ? ' ' : text[i], f);
}

static void on_event(const chat_event *e, void *user) {
    printer *p = user;
    switch (e->type) {
    case CHAT_EVENT_THOUGHT:
        if (p->show_thinking) fwrite(e->text, 1, e->len, stderr), p->in_thought = true;
        break;
    case CHAT_EVENT_ANSWER:
        if (p->in_thought) fputs("\n\n", stderr), p->in_thought = false;
        fwrite(e->text, 1, e->len, stdout);
        fflush(stdout);
        p->wrote_answer = true;
        break;
    case CHAT_EVENT_TOOL_CALL_END: {
        if (e->cut) { /* the reply ended inside it: not a call */
            fprintf(stderr, "%sgemma4: the call to %s was cut off before it was complete\n", p->wrote_answer ? "\n" : "",
                    e->tool_name);
            break;
        }
        if (p->agent) {
            if (p->in_thought) fputs("\n\n", stderr), p->in_thought = false;
            if (p->wrote_answer) putchar('\n'), fflush(stdout), p->wrote_answer = false;
            fprintf(stderr, "→ %s ", e->tool_name);
            put_one_line(stderr, e->text, e->len, 2000);
            fputc('\n', stderr);
            p->n_tool_calls++;
            break;
        }
        json_t *args = json_loadb(e->text, e->len, 0, NULL);
        json_t *call = json_pack("{s:s, s:o*}", "tool_call", e->tool_name, "arguments", args);
        char *line = call ? json_dumps(call, JSON_COMPACT) : NULL;
        if (line) printf("%s%s\n", p->wrote_answer && !p->n_tool_calls ? "\n" : "", line), p->n_tool_calls++;
        fflush(stdout);
        free(line);
        json_decref(call);
        break;
    }
    case CHAT_EVENT_DONE:
        p->stats = e->stats;
        p->ok = true;
        break;
    case CHAT_EVENT_ERROR:
        if (p->in_thought) fputc('\n', stderr), p->in_thought = false;
        if (p->wrote_answer) putchar('\n'), fflush(stdout);
        cli_fail("%.*s", (int)e->len, e->text);
        break;
    default:
        break;
    }
}

/* Greedy token ids after raw ids: the diagnostic path (no tokenizer needed). */
static int generate_ids(const gen_opts *o) {
    int32_t *ids = NULL;
    int n = cli_parse_tokens(o->tokens, &ids);
    if (n < 0) return EXIT_USAGE;
    g4_model *model = g4_model_load(o->model);
    if (!model) {
        free(ids);
        return cli_fail("%s", g4_last_error());
    }
    g4_model_info info;
    g4_model_get_info(model, &info);
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = o->n_ctx ? o->n_ctx : n + o->n_predict;
    cp.n_threads = o->threads;
    cp.n_gpu_layers = cli_device_layers(&o->device);
    cp.gpu_device = o->device.device;
    g4_context *ctx = g4_context_new(model, &cp);
    int status = EXIT_ERROR;
    g4_batch b = {.n_tokens = n, .token = ids};
    if (!ctx || g4_decode(ctx, &b)) { cli_fail("%s", g4_last_error()); goto done; }
    const float *logits = g4_get_logits(ctx, n - 1);
    for (int k = 0; k < o->n_predict; k++) {
        int32_t next = g4_argmax(logits, info.vocab_size);
        printf(k ? ",%d" : "%d", next);
        fflush(stdout);
        if (next == info.eos_id || k + 1 == o->n_predict) break;
        b = (g4_batch){.n_tokens = 1, .token = &next};
        if (g4_decode(ctx, &b)) { putchar('\n'); cli_fail("%s", g4_last_error()); goto done; }
        logits = g4_get_logits(ctx, 0);
    }
    putchar('\n');
    status = EXIT_ANSWERED;
done:
    g4_context_free(ctx);
    g4_model_free(model);
    free(ids);
    return status;
}

/* SIGINT cancels the generation (a second one kills: SA_RESETHAND). */
static chat_engine *volatile interrupt_engine;
static volatile sig_atomic_t interrupted;
static atomic_int agent_cancel; /* the agent loop's cancel flag: stops the generation and the tool calls */

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    atomic_store(&agent_cancel, 1);
    chat_engine *e = interrupt_engine;
    if (e) chat_engine_cancel(e);
}

/* The prompt: -p TEXT, or stdin for -p - or for no -p when stdin is not a
 * terminal. NULL with *status set when there is none. */
static char *prompt_text(const gen_opts *o, int *status) {
    *status = EXIT_USAGE;
    if (o->prompt && strcmp(o->prompt, "-")) return strdup(o->prompt);
    if (!o->prompt && isatty(STDIN_FILENO)) {
        if (isatty(STDOUT_FILENO))
            cli_fail("the interactive chat is not available yet: give a message with -p TEXT (or pipe it to stdin)");
        else
            cli_fail("give a message with -p TEXT or on stdin");
        return NULL;
    }
    char *text = cli_read_stream(stdin, "the prompt from stdin");
    if (!text) *status = EXIT_ERROR;
    else if (!*text) cli_fail("the prompt read from stdin is empty"), free(text), text = NULL;
    return text;
}

/* --stats: one line on stderr. */
static void print_stats(const chat_stats *st, bool constrained) {
    double gen = st->total_seconds - st->prompt_seconds;
    fprintf(stderr, "stats: prompt %d tokens (%d cached) in %.3f s, reply %d tokens in %.3f s (%.2f tokens/s)",
            st->prompt_tokens, st->cached_tokens, st->prompt_seconds, st->completion_tokens, gen, st->tokens_per_second);
    if (constrained && st->completion_tokens > 0)
        fprintf(stderr, ", grammar masks %.3f ms/token (%.1f%% of the reply's time)",
                1e3 * st->constraint_seconds / st->completion_tokens, gen > 0 ? 100 * st->constraint_seconds / gen : 0);
    fputc('\n', stderr);
}

/* The agent's events: each tool result as one line on stderr. */
static void on_agent_event(const agent_event *e, void *user) {
    (void)user;
    if (e->type != AGENT_EVENT_TOOL_RESULT) return;
    const char *content = e->result->content ? e->result->content : "";
    fprintf(stderr, "← %s%s: ", e->tool_name, e->result->is_error ? " (error)" : "");
    put_one_line(stderr, content, strlen(content), 200);
    fputc('\n', stderr);
}

/* Headless, a call that needs approval (not given by --yes or --allow) is denied. */
static agent_decision ask_headless(const char *tool_name, const char *arguments_json, void *user) {
    (void)arguments_json, (void)user;
    fprintf(stderr, "gemma4: denied %s (needs approval: --yes or --allow %s)\n", tool_name, tool_name);
    return AGENT_DECIDE_NO;
}

/* Runs the reply; returns the exit status. tools: the --tools-json text or NULL;
 * agent: the loaded tools of --tools, or NULL. */
static int answer(const gen_opts *o, chat_engine *engine, const char *text, const char *tools, const agent_setup *agent) {
    printer pr = {.show_thinking = o->show_thinking};
    chat_settings s = o->settings;
    s.max_tokens = o->n_predict;
    s.think = o->think;
    int rc;
    if (o->raw) {
        const g4_vocab *vocab = g4_model_vocab(chat_engine_model(engine));
        unsigned flags = G4_TOKENIZE_ADD_BOS | G4_TOKENIZE_SPECIAL;
        int n = g4_tokenize(vocab, text, strlen(text), flags, NULL, 0);
        int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
        if (!ids || g4_tokenize(vocab, text, strlen(text), flags, ids, n) != n) {
            free(ids);
            return cli_fail("cannot tokenize the prompt: %s", n < 0 ? g4_last_error() : "out of memory");
        }
        rc = chat_engine_generate_ids(engine, ids, n, &s, on_event, &pr);
        free(ids);
    } else if (agent) {
        pr.agent = true;
        char *messages = messages_json(o->system, text);
        if (!messages) return EXIT_ERROR;
        agent_params ap = {
            .engine = engine,
            .toolbox = agent->toolbox,
            .policy = agent->policy,
            .tools_json = agent->tools_json,
            .settings = s,
            .max_steps = o->agent.max_steps,
            .ask = ask_headless,
            .on_chat_event = on_event,
            .on_agent_event = on_agent_event,
            .user = &pr,
            .cancel = &agent_cancel,
        };
        int finish = agent_run(&ap, &messages);
        free(messages);
        if (finish < 0) {
            if (pr.in_thought) fputc('\n', stderr);
            if (pr.wrote_answer) putchar('\n'), fflush(stdout);
            return EXIT_ERROR;
        }
        pr.stats.finish = (chat_finish)finish; /* the last step's */
        rc = 0;
    } else {
        char *messages = messages_json(o->system, text);
        if (!messages) return EXIT_ERROR;
        rc = chat_engine_generate(engine, messages, tools, &s, on_event, &pr);
        free(messages);
    }
    if (rc || !pr.ok) return EXIT_ERROR;
    if (pr.in_thought) fputc('\n', stderr);
    if (pr.wrote_answer || pr.stats.finish == CHAT_FINISH_CANCELLED) putchar('\n');
    fflush(stdout);
    if (o->stats) print_stats(&pr.stats, s.json_schema || s.grammar || tools || agent);
    switch (pr.stats.finish) {
    case CHAT_FINISH_STOP:
    case CHAT_FINISH_TOOL_CALLS:
        return EXIT_ANSWERED;
    case CHAT_FINISH_LENGTH:
        cli_fail("the reply was cut at %d tokens (-n)", pr.stats.completion_tokens);
        return EXIT_TRUNCATED;
    case CHAT_FINISH_CONTEXT:
        cli_fail("the reply was cut where the context of %d tokens filled up (--ctx)", pr.stats.context_size);
        return EXIT_TRUNCATED;
    case CHAT_FINISH_CANCELLED:
        cli_fail("interrupted after %d tokens", pr.stats.completion_tokens);
        return EXIT_INTERRUPTED;
    }
    return EXIT_ERROR;
}

/* The tools of --tools-json: an OpenAI tools array, or an object holding one
 * under "tools" (a request body); compact JSON, malloc'd, or NULL after an error. */
static char *read_tools(const char *path) {
    char *text = cli_read_file(path, "the tools");
    if (!text) return NULL;
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root) return cli_fail("%s:%d:%d: %s", path, je.line, je.column, je.text), NULL;
    json_t *tools = json_is_object(root) ? json_object_get(root, "tools") : root;
    char *out = NULL;
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        cli_fail("%s: expected a non-empty JSON array of tools (or an object with \"tools\")", path);
    else if (!(out = json_dumps(tools, JSON_COMPACT)))
        cli_fail("out of memory");
    json_decref(root);
    return out;
}

/* --tools: loads the tool scripts, the policy and the selected tools; -1 after a message. */
static int load_tools(const gen_opts *o, agent_setup *out) {
    char *err = NULL;
    if (agent_flags_setup(&o->agent, o->tools, NULL, out, &err)) {
        cli_fail("%s", err ? err : "out of memory");
        free(err);
        return -1;
    }
    return 0;
}

/* The one-shot run once the options are parsed and the model is a local path. */
static int generate(gen_opts o) {
    if (o.tokens) return generate_ids(&o);
    int status;
    char *text = prompt_text(&o, &status);
    if (!text) return status;
    char *tpl = NULL, *err = NULL, *schema = NULL, *grammar = NULL, *tools = NULL;
    if ((o.template_file && !(tpl = cli_read_file(o.template_file, "the chat template"))) ||
        (o.schema_file && !(schema = cli_read_file(o.schema_file, "the JSON schema"))) ||
        (o.grammar_file && !(grammar = cli_read_file(o.grammar_file, "the grammar"))) ||
        (o.tools_file && !(tools = read_tools(o.tools_file)))) {
        free(tpl), free(schema), free(grammar), free(tools);
        free(text);
        return EXIT_ERROR;
    }
    o.settings.json_schema = schema;
    o.settings.grammar = grammar;
    agent_setup agent = {0};
    if (o.tools && load_tools(&o, &agent)) {
        free(tpl), free(schema), free(grammar), free(tools);
        free(text);
        return EXIT_ERROR;
    }
    struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    chat_engine_params ep = {.n_ctx = o.n_ctx, .threads = o.threads, .chat_template = tpl,
                             .gpu_layers = cli_device_layers(&o.device), .gpu_device = o.device.device};
    chat_engine *engine = chat_engine_open(o.model, &ep, &err);
    if (!engine) {
        status = interrupted ? EXIT_INTERRUPTED : cli_fail("%s", err ? err : "out of memory");
    } else {
        interrupt_engine = engine;
        if (interrupted) chat_engine_cancel(engine); /* SIGINT while the model loaded */
        status = answer(&o, engine, text, tools, o.tools ? &agent : NULL);
        interrupt_engine = NULL;
        chat_engine_close(engine);
    }
    signal(SIGINT, SIG_DFL);
    agent_setup_close(&agent);
    free(err);
    free(tpl), free(schema), free(grammar), free(tools);
    free(text);
    return status;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o = {.n_predict = 1024, .settings = chat_settings_defaults(), .device = CLI_DEVICE_DEFAULT};
    int status = EXIT_USAGE;
    char *hub_path = NULL; /* a hub id's local copy, downloaded if missing */
    if (parse(argc, argv, &o)) goto out;
    status = EXIT_ERROR;
    if (cli_resolve_model(o.model, &hub_path)) goto out;
    if (hub_path) o.model = hub_path;
    status = generate(o);
out:
    free(hub_path);
    agent_flags_free(&o.agent);
    return status;
}
