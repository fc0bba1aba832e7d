/* serve.c: `gemma4 -m MODEL --serve [options]`: the OpenAI-compatible HTTP server
 * (app/server/). Parses the flags, binds first (so /health answers 503 while the
 * model loads), loads the model, starts the scheduler, then waits for SIGTERM or
 * SIGINT: new requests get 503, running ones may finish for --shutdown-timeout
 * seconds, the rest end with finish_reason "abort", and the server exits 0. With
 * --server-tools the Lua toolbox loads after the model and chat requests run it
 * (app/server/toolloop.c). */
#include "agent/setup.h"
#include "chat/chat.h"
#include "cli.h"
#include "server/server.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { DEFAULT_CTX = 8192, MAX_KEY_BYTES = 4096 };

static const char serve_usage[] =
    "usage: gemma4 -m MODEL --serve [options]\n"
    "  --host ADDR             address to bind (default 127.0.0.1)\n"
    "  --port N                port (default 8000; 0: any free port, printed on stderr)\n"
    "  --api-key KEY           require \"Authorization: Bearer KEY\" on every route but /health\n"
    "  --api-key-file FILE     the key from a file (first line); env GEMMA4_API_KEY also works\n"
    "  --insecure              allow a non-loopback --host without a key\n"
    "  --cors-origin ORIGIN    send CORS headers for ORIGIN ('*': any); off by default\n"
    "  --served-model-name N   the model name clients use (default: the file name)\n"
    "  --parallel N            requests decoded together (default 4)\n"
    "  --queue N               requests waiting for a slot before 429 (default 64)\n"
    "  --ctx N                 context tokens per request (default: the model's, at most 8192)\n"
    "  --max-tokens N          the largest max_tokens a request may ask for (default: --ctx)\n"
    "  --prompt-chunk N        prompt tokens evaluated per step (default 256)\n"
    "  --max-body BYTES        request body limit (default 8388608)\n"
    "  --timeout S             idle connection and body-upload timeout (default 30)\n"
    "  --max-connections N     open connections at most (default 256)\n"
    "  --shutdown-timeout S    on SIGTERM, seconds running requests may finish (default 30)\n"
    "  --chat-template FILE    a Jinja chat template instead of the model's\n"
    "  -t, --threads N         CPU threads (default 0: one per online core)\n"
    "  --gpu-layers N|all      decoder layers on the GPU (default: all when there is one)\n"
    "  --device I              which GPU (default 0)   --cpu   run on the CPU only\n"
    "server-side tools (off by default: tool calls go back to the client):\n"
    "  --server-tools all|NAME,...  run these Lua tools on the server for chat requests\n"
    "  --tools-dir DIR         also load the tools in DIR (repeatable)\n"
    "  --workspace DIR         the tools' files stay inside DIR (default: the current directory)\n"
    "  --tool-env NAME,...     environment variables the tools may read (default none)\n"
    "  --allow-shell           tools may run commands\n"
    "  --tool-timeout S        seconds a tool call may run (default 30)\n"
    "  --max-steps N           generations per request (default 8)\n"
    "  --yes                   run the tools that ask for approval (nobody can be asked on a server)\n"
    "  --allow NAME,...        run these tools although they ask for approval\n"
    "  --deny NAME,...         never run these tools\n";

typedef struct {
    const char *model, *key_file, *template_file, *served_name;
    srv_http_params http;
    srv_sched_params sched;
    cli_device device;
    int max_tokens, shutdown_timeout;
    const char *server_tools;     /* --server-tools all|NAME,... */
    agent_flags agent;            /* its flags (agent/setup.h) */
} serve_opts;

/* --server-tools and the agent's flags; 1 (or 2 with its value) when a was one of them. */
static int parse_tool_flag(serve_opts *o, const char *a, const char *v) {
    if (!strcmp(a, "--server-tools")) {
        if (!v) return cli_fail("--server-tools needs a value (see gemma4 --serve --help)"), -1;
        o->server_tools = v;
        return 2;
    }
    char *err = NULL;
    int taken = agent_flags_take(&o->agent, a, v, &err);
    if (taken < 0) cli_fail("%s", err ? err : "out of memory");
    free(err);
    return taken;
}

static int parse(int argc, char **argv, serve_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int n;
#define NEED_VALUE()                                                                                                   \
    do {                                                                                                               \
        if (!v) return cli_fail("%s needs a value (see gemma4 --serve --help)", a), -1;                                \
        i++;                                                                                                           \
    } while (0)
        if (!strcmp(a, "--serve")) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(serve_usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--insecure")) {
            o->http.insecure = true;
            continue;
        }
        if ((n = cli_device_flag(&o->device, argc, argv, &i)) < 0) return -1;
        if (n) continue;
        if ((n = parse_tool_flag(o, a, v)) < 0) return -1;
        if (n) {
            i += n - 1;
            continue;
        }
        NEED_VALUE();
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--host")) o->http.host = v;
        else if (!strcmp(a, "--api-key")) o->http.api_key = v;
        else if (!strcmp(a, "--api-key-file")) o->key_file = v;
        else if (!strcmp(a, "--cors-origin")) o->http.cors_origin = v;
        else if (!strcmp(a, "--served-model-name")) o->served_name = v;
        else if (!strcmp(a, "--chat-template")) o->template_file = v;
        else {
            struct {
                const char *name;
                int lo, hi;
                int *out;
            } ints[] = {
                {"--port", 0, 65535, &o->http.port},
                {"--parallel", 1, 256, &o->sched.n_slots},
                {"--queue", 0, 1 << 20, &o->sched.queue_limit},
                {"--ctx", 2, 1 << 24, &o->sched.n_ctx},
                {"--max-tokens", 1, 1 << 24, &o->max_tokens},
                {"--prompt-chunk", 1, 1 << 16, &o->sched.prompt_chunk},
                {"--timeout", 1, 86400, &o->http.timeout_s},
                {"--max-connections", 1, 1 << 16, &o->http.max_connections},
                {"--shutdown-timeout", 0, 86400, &o->shutdown_timeout},
                {"-t", 0, 4096, &o->sched.threads},
                {"--threads", 0, 4096, &o->sched.threads},
            };
            bool found = false;
            for (size_t k = 0; k < sizeof ints / sizeof *ints && !found; k++) {
                if (strcmp(a, ints[k].name)) continue;
                found = true;
                if ((n = cli_parse_int(a, v, ints[k].lo, ints[k].hi)) < 0) return -1;
                *ints[k].out = n;
            }
            if (!found && !strcmp(a, "--max-body")) {
                char *end;
                unsigned long long b = strtoull(v, &end, 10);
                if (end == v || *end || b < 1024 || b > (1ull << 32))
                    return cli_fail("--max-body needs a byte count in [1024, 4294967296]"), -1;
                o->http.max_body = (size_t)b;
                found = true;
            }
            if (!found) return cli_fail("unknown option '%s' (see gemma4 --serve --help)", a), -1;
        }
#undef NEED_VALUE
    }
    if (!o->model) return cli_fail("no model: give -m MODEL (see gemma4 --serve --help)"), -1;
    if (o->agent.given && !o->server_tools)
        return cli_fail("--tools-dir, --workspace, --tool-env, --allow-shell, --tool-timeout, --max-steps, --yes, --allow "
                        "and --deny need --server-tools all|NAME,..."), -1;
    return 0;
}

/* Reads the first line of a key file into a malloc'd string. */
static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return cli_fail("cannot read --api-key-file %s: %s", path, strerror(errno)), NULL;
    char *line = calloc(1, MAX_KEY_BYTES + 2);
    if (line && !fgets(line, MAX_KEY_BYTES + 2, f)) line[0] = '\0';
    fclose(f);
    if (!line) return cli_fail("out of memory"), NULL;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || strlen(line) > MAX_KEY_BYTES) {
        free(line);
        return cli_fail("--api-key-file %s must hold a key of 1 to %d bytes on its first line", path, MAX_KEY_BYTES), NULL;
    }
    return line;
}

/* --server-tools: loads the toolbox and the policy, and says on stderr what is
 * served and which tools the server will refuse to run. -1 after a message. */
static int load_server_tools(const serve_opts *o, agent_setup *agent, srv_tools *tools) {
    char *err = NULL;
    if (agent_flags_setup(&o->agent, o->server_tools, NULL, agent, &err)) {
        cli_fail("--server-tools: %s", err ? err : "out of memory");
        free(err);
        return -1;
    }
    tools->toolbox = agent->toolbox;
    tools->policy = agent->policy;
    tools->tools_json = agent->tools_json;
    tools->max_steps = o->agent.max_steps ? o->agent.max_steps : 8;
    json_t *list = json_loads(agent->tools_json, 0, NULL);
    size_t i;
    json_t *t;
    fprintf(stderr, "gemma4: server tools (at most %d steps per request):", tools->max_steps);
    json_array_foreach(list, i, t) {
        const char *name = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (!name) continue;
        agent_permission p = agent_policy_get(agent->policy, name);
        fprintf(stderr, " %s%s", name, p == AGENT_ALLOW ? "" : p == AGENT_DENY ? " (denied)" : " (refused: asks; --yes or --allow)");
    }
    fputc('\n', stderr);
    json_decref(list);
    return 0;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread). */
static int wait_signal(const sigset_t *set) {
    int sig = 0;
    while (sigwait(set, &sig)) {}
    return sig;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o = {
        .http = {.host = "127.0.0.1", .port = 8000, .max_body = 8u << 20, .timeout_s = 30, .max_connections = 256},
        .sched = {.n_slots = 4, .queue_limit = 64, .prompt_chunk = 256},
        .shutdown_timeout = 30,
        .device = CLI_DEVICE_DEFAULT,
    };
    int rc = parse(argc, argv, &o);
    if (rc) {
        agent_flags_free(&o.agent);
        return rc < 0 ? 2 : 0;
    }
    char *key_owned = NULL, *template_owned = NULL, *hub_path = NULL;
    if (o.key_file && !(key_owned = read_key_file(o.key_file))) {
        agent_flags_free(&o.agent);
        return 1;
    }
    if (key_owned) o.http.api_key = key_owned;
    if (!o.http.api_key) {
        const char *env = getenv("GEMMA4_API_KEY");
        if (env && *env) o.http.api_key = env;
    }
    if (o.template_file && !(template_owned = cli_read_file(o.template_file, "--chat-template"))) {
        free(key_owned);
        agent_flags_free(&o.agent);
        return 1;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any thread starts: only sigwait sees them */
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    g4_model *model = NULL;
    srv_sched *sched = NULL;
    agent_setup agent = {0};
    srv_tools tools = {0};
    srv_http *http = srv_http_start(&o.http, err, sizeof err);
    rc = 1;
    if (!http) {
        cli_fail("%s", err);
        goto done;
    }
    fprintf(stderr, "gemma4: listening on http://%s:%d (loading %s)\n", o.http.host, srv_http_port(http), o.model);
    if (cli_resolve_model(o.model, &hub_path)) goto done;
    const char *path = hub_path ? hub_path : o.model;
    if (!(model = g4_model_load(path))) {
        cli_fail("%s", g4_last_error());
        goto done;
    }
    if (!g4_model_vocab(model)) {
        cli_fail("%s has no tokenizer: use a GGUF with tokenizer.* or a directory with tokenizer.json", path);
        goto done;
    }
    g4_model_info info;
    g4_model_get_info(model, &info);
    int trained = info.n_ctx_train > 0 ? info.n_ctx_train : DEFAULT_CTX;
    if (!o.sched.n_ctx) o.sched.n_ctx = trained < DEFAULT_CTX ? trained : DEFAULT_CTX;
    if (o.sched.n_ctx > trained) {
        cli_fail("--ctx %d exceeds what %s was trained for (%d)", o.sched.n_ctx, path, trained);
        goto done;
    }
    if (!o.max_tokens || o.max_tokens > o.sched.n_ctx) o.max_tokens = o.sched.n_ctx;
    o.sched.gpu_layers = cli_device_layers(&o.device);
    o.sched.gpu_device = o.device.device;
    if (!(sched = srv_sched_new(model, &o.sched, err, sizeof err))) {
        cli_fail("%s", err);
        goto done;
    }
    char name[256];
    if (o.served_name) snprintf(name, sizeof name, "%s", o.served_name);
    else chat_model_name(o.model, name, sizeof name);
    if (o.server_tools) {
        if (load_server_tools(&o, &agent, &tools)) goto done;
        srv_http_set_tools(http, &tools);
    }
    srv_http_ready(http, sched, model, template_owned, name, o.sched.n_ctx, o.max_tokens);
    fprintf(stderr, "gemma4: serving %s on http://%s:%d (%d slots of %d tokens%s)\n", name, o.http.host,
            srv_http_port(http), o.sched.n_slots, o.sched.n_ctx, o.http.api_key ? ", API key required" : "");

    int sig = wait_signal(&sigs);
    fprintf(stderr, "gemma4: %s: finishing %d running requests (at most %d s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            srv_sched_load(sched) + atomic_load(&tools.running), o.shutdown_timeout);
    srv_http_drain(http);
    struct timespec tick = {0, 50 * 1000000L};
    for (int waited = 0; (srv_sched_load(sched) > 0 || atomic_load(&tools.running) > 0) && waited < o.shutdown_timeout * 20;
         waited++) {
        sigset_t pending;
        if (!sigpending(&pending) && (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))) break;
        nanosleep(&tick, NULL);
    }
    atomic_store(&tools.stop, 1); /* running server tools are cancelled: their loops end with "abort" */
    for (int waited = 0; atomic_load(&tools.running) > 0 && waited < 40; waited++) nanosleep(&tick, NULL);
    srv_sched_shutdown(sched);    /* what still runs ends with "abort", streams end with [DONE] */
    srv_http_flush_streams(http, 2000);
    rc = 0;
done:
    srv_http_stop(http);
    agent_setup_close(&agent); /* no request runs a tool any more */
    srv_sched_free(sched);
    g4_model_free(model);
    free(hub_path);
    free(template_owned);
    free(key_owned);
    agent_flags_free(&o.agent);
    return rc;
}
