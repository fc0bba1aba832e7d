/* chat_ui.c: `gemma4 [-m MODEL] [options]` on a terminal: layers the model's defaults, the
 * config file and the command-line flags, resolves the model (a hub id downloads once), and
 * opens the chat UI (app/tui). */
#include "cli.h"
#include "agent/setup.h"
#include "config/config.h"
#include "tui/tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model `gemma4` chats with when neither -m nor the config names one. */
#define DEFAULT_MODEL_ID "google/gemma-4-E2B-it"

static const char chat_usage[] =
    "usage: gemma4 [-m MODEL] [options]     chat in the terminal UI\n"
    "  -m, --model MODEL       a .gguf file, a Hugging Face directory or a hub id (default: the config's\n"
    "                          model, else " DEFAULT_MODEL_ID ")\n"
    "  --resume [NAME]         continue a saved session (the latest without NAME)\n"
    "  --theme NAME            colour theme (dark, light, high-contrast, gruvbox or your own)\n"
    "  --system TEXT           system prompt\n"
    "  --think, --no-think     let the model think before answering (or not)\n"
    "  --temp T  --top-k K  --top-p P  --min-p P  --seed S  -n N (max tokens per answer)\n"
    "  --ctx N                 context size in tokens   -t, --threads N   CPU threads\n"
    "  --gpu-layers N|all      decoder layers on the GPU (default: all when there is one)\n"
    "  --device I              which GPU (default 0)    --cpu             run on the CPU only\n"
    "  --chat-template FILE    a Jinja chat template instead of the model's\n"
    "  --tools all|NAME,...    let the model call these Lua tools (default: the config's tools); each call\n"
    "                          that needs approval asks (docs/agent.md)\n"
    "  --tools-dir DIR         also load the tools in DIR   --workspace DIR  the tools' files stay inside DIR\n"
    "  --allow-shell           tools may run commands       --max-steps N    generations per message (default 8)\n"
    "  --tool-timeout S        seconds a tool call may run (default 30)\n"
    "  --tool-choice C         auto (default), required or a tool's name: what each message's first reply does\n"
    "  --allow NAME,...        these tools run without asking  --deny NAME,...  these never run\n"
    "  --tool-env NAME,...     environment variables the tools may read (ctx.env.get; default none)\n"
    "  --yes                   no tool asks (those that would run at once); tool.NAME = allow|ask|deny in the\n"
    "                          config sets one tool's permission\n";

static int parse_real(const char *opt, const char *v, double lo, double hi, float *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi)) return cli_fail("%s needs a number in [%g, %g]", opt, lo, hi), -1;
    *out = (float)d;
    return 0;
}

typedef struct {
    const char *model, *theme, *system, *resume, *template_file;
    const char *tools, *tool_choice;
    agent_flags agent;      /* --tools-dir, --workspace, --allow, ... (agent/setup.h) */
    bool resume_latest;
    int think; /* -1 unset */
    int threads, ctx;
    cli_device device;
    chat_settings s;
} chat_flags;

static int parse_flags(int argc, char **argv, chat_flags *f) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int dev = cli_device_flag(&f->device, argc, argv, &i);
        if (dev < 0) return -1;
        if (dev) continue;
        if (!strcmp(a, "--think")) { f->think = 1; continue; }
        if (!strcmp(a, "--no-think")) { f->think = 0; continue; }
        char *err = NULL;
        int taken = agent_flags_take(&f->agent, a, v, &err);
        if (taken < 0) return cli_fail("%s", err ? err : "out of memory"), free(err), -1;
        if (taken) {
            i += taken - 1;
            continue;
        }
        if (!strcmp(a, "--resume")) {
            if (v && v[0] != '-') f->resume = v, i++;
            else f->resume_latest = true;
            continue;
        }
        if (!v) return cli_fail("%s needs a value (see gemma4 --help)", a), -1;
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) f->model = v;
        else if (!strcmp(a, "--theme")) f->theme = v;
        else if (!strcmp(a, "--system")) f->system = v;
        else if (!strcmp(a, "--chat-template")) f->template_file = v;
        else if (!strcmp(a, "--tools")) f->tools = v;
        else if (!strcmp(a, "--tool-choice")) f->tool_choice = v;
        else if (!strcmp(a, "--temp")) { if (parse_real(a, v, 0, 100, &f->s.temperature)) return -1; }
        else if (!strcmp(a, "--top-p")) { if (parse_real(a, v, 0.001, 1, &f->s.top_p)) return -1; }
        else if (!strcmp(a, "--min-p")) { if (parse_real(a, v, 0, 1, &f->s.min_p)) return -1; }
        else if (!strcmp(a, "--top-k")) { if ((f->s.top_k = cli_parse_int(a, v, 0, 1 << 24)) < 0) return -1; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((f->s.max_tokens = cli_parse_int(a, v, 1, 1 << 24)) < 0) return -1; }
        else if (!strcmp(a, "--seed")) { int s = cli_parse_int(a, v, 0, 2147483647); if (s < 0) return -1; f->s.seed = s; }
        else if (!strcmp(a, "--ctx")) { if ((f->ctx = cli_parse_int(a, v, 1, 1 << 30)) < 0) return -1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((f->threads = cli_parse_int(a, v, 0, 4096)) < 0) return -1; }
        else return cli_fail("unknown option '%s'\n%s", a, chat_usage), -1;
    }
    return 0;
}

/* Flags over the config over the model's defaults (unset values stay unset). */
static void layer(const config *c, const chat_flags *f, tui_options *o) {
    chat_settings s = f->s;
    if (isnan(s.temperature) && !isnan(c->temperature)) s.temperature = (float)c->temperature;
    if (isnan(s.top_p) && !isnan(c->top_p)) s.top_p = (float)c->top_p;
    if (isnan(s.min_p) && !isnan(c->min_p)) s.min_p = (float)c->min_p;
    if (s.top_k < 0 && c->top_k >= 0) s.top_k = c->top_k;
    if (s.max_tokens <= 0 && c->max_tokens > 0) s.max_tokens = c->max_tokens;
    if (s.seed == CHAT_SEED_RANDOM && c->seed >= 0) s.seed = c->seed;
    s.think = f->think >= 0 ? f->think : c->think;
    o->settings = s;
    o->model = f->model ? f->model : c->model ? c->model : DEFAULT_MODEL_ID;
    o->theme = f->theme ? f->theme : c->theme;
    o->system = f->system ? f->system : c->system && c->system[0] ? c->system : NULL;
    o->resume = f->resume;
    o->resume_latest = f->resume_latest;
    o->engine.threads = f->threads >= 0 ? f->threads : c->threads >= 0 ? c->threads : 0;
    o->engine.gpu_layers = cli_device_layers(&f->device);
    o->engine.gpu_device = f->device.device;
    o->engine.n_ctx = f->ctx > 0 ? f->ctx : c->ctx > 0 ? c->ctx : 0;
}

/* The tools of --tools or the config's tools = ...; 0 (none wanted: out stays empty) or -1. */
static int load_tools(const chat_flags *f, const config *c, agent_setup *out) {
    const char *selection = f->tools ? f->tools : c->tools;
    if (!selection || !*selection) return 0;
    agent_flags flags = f->agent;
    if (!flags.env) flags.env = c->tool_env;
    /* the config's tool.NAME lines come before --allow / --deny */
    agent_overrides config_lines = {.items = c->tool_permissions, .n = c->n_tool_permissions};
    char *err = NULL;
    if (agent_flags_setup(&flags, selection, &config_lines, out, &err)) {
        cli_fail("%s", err ? err : "out of memory");
        free(err);
        return -1;
    }
    return 0;
}

static int chat_with(chat_flags f);

int cmd_chat(int argc, char **argv) {
    chat_flags f = {.think = -1, .threads = -1, .ctx = -1, .device = CLI_DEVICE_DEFAULT, .s = chat_settings_defaults()};
    f.s.think = -1;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) return fputs(chat_usage, stdout), 0;
    int status = parse_flags(argc, argv, &f) ? 2 : chat_with(f);
    agent_flags_free(&f.agent);
    return status;
}

/* cmd_chat once the flags are parsed. */
static int chat_with(chat_flags f) {
    config c;
    config_init(&c);
    char path[4096], err[1024];
    if (config_default_path(path, sizeof path, err, sizeof err) == 0 && config_load(&c, path, err, sizeof err)) {
        config_free(&c);
        return cli_fail("%s", err);
    }
    if ((f.agent.given || f.tool_choice) && !f.tools && !(c.tools && *c.tools)) {
        config_free(&c);
        return cli_fail("--tools-dir, --workspace, --tool-env, --allow-shell, --max-steps, --tool-timeout, "
                        "--tool-choice, --yes, --allow and --deny need --tools all|NAME,... (or tools = ... in the "
                        "config)"), 2;
    }
    const char *tc = f.tool_choice;
    if (tc && !strcmp(tc, "required")) f.s.tool_choice = CHAT_TOOLS_REQUIRED;
    else if (tc && !strcmp(tc, "none")) f.s.tool_choice = CHAT_TOOLS_NONE;
    else if (tc && *tc && strcmp(tc, "auto")) f.s.tool_choice = CHAT_TOOLS_NAMED, f.s.tool_name = tc;
    else if (tc && !*tc) {
        config_free(&c);
        return cli_fail("--tool-choice takes auto, none, required or a tool's name"), 2;
    }
    tui_options o = {0};
    layer(&c, &f, &o);
    char *template_text = NULL, *resolved = NULL;
    int status = 1;
    agent_setup tools = {0};
    if (load_tools(&f, &c, &tools)) goto out;
    o.tools = tools.toolbox ? &tools : NULL;
    o.max_steps = f.agent.max_steps;
    if (f.template_file && !(template_text = cli_read_file(f.template_file, "the chat template"))) goto out;
    o.engine.chat_template = template_text;
    if (cli_resolve_model(o.model, &resolved)) goto out;
    o.model_path = resolved ? resolved : o.model;
    status = tui_run(&o);
out:
    agent_setup_close(&tools);
    free(resolved), free(template_text);
    config_free(&c);
    return status;
}
