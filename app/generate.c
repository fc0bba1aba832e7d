/* generate.c: one-shot generation. `gemma4 -m MODEL -p TEXT` renders TEXT as a
 * user turn with the model's chat template, samples the reply and streams it:
 * the answer to stdout, the thinking to stderr (or nowhere), tool calls as JSON
 * lines. `--tokens IDS` skips the text layer and prints greedy token ids. */
#include "cli.h"
#include "hub/hub.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *model, *tokens, *prompt, *system, *template_file;
    int n_predict, n_ctx, threads;
    bool think, hide_thinking, raw;
    g4_sampler_params sampling;
    bool set_temp, set_top_k, set_top_p, set_min_p, set_repeat, set_seed;
} gen_opts;

static int parse_float(const char *opt, const char *v, float lo, float hi, float *out) {
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(d >= lo && d <= hi)) return cli_fail("%s needs a number in [%g, %g]", opt, lo, hi), -1;
    *out = (float)d;
    return 0;
}

static int parse(int argc, char **argv, gen_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1; /* takes a value */
        if (!strcmp(a, "--think")) o->think = true, used = 0;
        else if (!strcmp(a, "--hide-thinking")) o->hide_thinking = true, used = 0;
        else if (!strcmp(a, "--raw")) o->raw = true, used = 0;
        else if (!v) return cli_fail("%s needs a value (see gemma4 --help)", a), -1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokens")) o->tokens = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--chat-template")) o->template_file = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((o->n_predict = cli_parse_int(a, v, 1, 1 << 24)) < 0) return -1; }
        else if (!strcmp(a, "--ctx")) { if ((o->n_ctx = cli_parse_int(a, v, 1, 1 << 30)) < 0) return -1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((o->threads = cli_parse_int(a, v, 0, 4096)) < 0) return -1; }
        else if (!strcmp(a, "--temp")) { if (parse_float(a, v, 0, 100, &o->sampling.temperature)) return -1; o->set_temp = true; }
        else if (!strcmp(a, "--top-p")) { if (parse_float(a, v, 0.001f, 1, &o->sampling.top_p)) return -1; o->set_top_p = true; }
        else if (!strcmp(a, "--min-p")) { if (parse_float(a, v, 0, 1, &o->sampling.min_p)) return -1; o->set_min_p = true; }
        else if (!strcmp(a, "--repeat-penalty")) { if (parse_float(a, v, 0.01f, 100, &o->sampling.repeat_penalty)) return -1; o->set_repeat = true; }
        else if (!strcmp(a, "--top-k")) { if ((o->sampling.top_k = cli_parse_int(a, v, 0, 1 << 24)) < 0) return -1; o->set_top_k = true; }
        else if (!strcmp(a, "--seed")) { int s = cli_parse_int(a, v, 0, 2147483647); if (s < 0) return -1; o->sampling.seed = (uint64_t)s; o->set_seed = true; }
        else return cli_fail("unknown option '%s' (see gemma4 --help)", a), -1;
        i += used;
    }
    if (!o->model) return cli_fail("-m MODEL is required"), -1;
    if (!o->prompt && !o->tokens) return cli_fail("give a prompt with -p TEXT (or --tokens IDS)"), -1;
    return 0;
}

/* Reads all of stdin (for -p -). */
static char *read_stdin(void) {
    char *text = NULL, buf[65536];
    size_t len = 0, n;
    FILE *out = open_memstream(&text, &len);
    while (out && (n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, out);
    if (out) fclose(out);
    return text;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL, buf[65536];
    size_t len = 0, n;
    FILE *out = open_memstream(&text, &len);
    while (out && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, out);
    if (out) fclose(out);
    fclose(f);
    return text;
}

/* The prompt's ids: the chat template around a system and a user message, or raw. */
static int prompt_ids(const gen_opts *o, g4_model *model, const char *text, int32_t **ids) {
    const g4_vocab *vocab = g4_model_vocab(model);
    if (o->raw) {
        int n = g4_tokenize(vocab, text, strlen(text), G4_TOKENIZE_ADD_BOS | G4_TOKENIZE_SPECIAL, NULL, 0);
        if (n < 0 || !(*ids = malloc(((size_t)n + 1) * sizeof **ids))) return -1;
        return g4_tokenize(vocab, text, strlen(text), G4_TOKENIZE_ADD_BOS | G4_TOKENIZE_SPECIAL, *ids, n);
    }
    char *tpl_owned = NULL;
    const char *tpl = g4_model_chat_template(model);
    if (o->template_file && !(tpl = tpl_owned = read_file(o->template_file)))
        return cli_fail("cannot read the chat template %s", o->template_file), -1;
    json_t *msgs = json_array();
    if (o->system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", o->system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", text));
    char *messages = json_dumps(msgs, JSON_COMPACT);
    json_decref(msgs);
    g4_chat_request req = {.messages_json = messages, .add_generation_prompt = 1, .enable_thinking = o->think};
    int n = messages ? g4_chat_tokenize(vocab, tpl, &req, ids) : -1;
    if (n < 0) cli_fail("%s", g4_last_error());
    free(messages);
    free(tpl_owned);
    return n;
}

typedef struct {
    bool show_thinking, in_thought;
    int n_tool_calls;
} printer;

static void on_event(const g4_event *e, void *user) {
    printer *p = user;
    switch (e->type) {
    case G4_EVENT_THOUGHT:
        if (p->show_thinking) fwrite(e->text, 1, e->len, stderr), p->in_thought = true;
        break;
    case G4_EVENT_ANSWER:
        if (p->in_thought) fputs("\n\n", stderr), p->in_thought = false;
        fwrite(e->text, 1, e->len, stdout);
        fflush(stdout);
        break;
    case G4_EVENT_TOOL_CALL_END: {
        json_t *args = json_loadb(e->text, e->len, 0, NULL);
        json_t *call = json_pack("{s:s, s:o*}", "tool_call", e->name, "arguments", args);
        char *line = call ? json_dumps(call, JSON_COMPACT) : NULL;
        if (line) printf("%s%s\n", p->n_tool_calls++ ? "" : "\n", line);
        free(line);
        json_decref(call);
        break;
    }
    default:
        break;
    }
}

/* Greedy token ids after raw ids: the diagnostic path. */
static int generate_ids(const gen_opts *o, g4_model *model) {
    int32_t *ids = NULL;
    int n = cli_parse_tokens(o->tokens, &ids);
    if (n < 0) return 2;
    g4_model_info info;
    g4_model_get_info(model, &info);
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = o->n_ctx ? o->n_ctx : n + o->n_predict;
    cp.n_threads = o->threads;
    g4_context *ctx = g4_context_new(model, &cp);
    int status = 1;
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
    status = 0;
done:
    g4_context_free(ctx);
    free(ids);
    return status;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o = {.n_predict = 1024};
    if (parse(argc, argv, &o)) return 2;
    char *hub_path = NULL, *hub_err = NULL;
    if (hub_is_model_id(o.model)) {
        hub_options hub;
        hub_options_default(&hub);
        if (!(hub_path = hub_resolve(o.model, &hub, &hub_err))) {
            cli_fail("%s", hub_err);
            free(hub_err);
            return 1;
        }
    }
    g4_model *model = g4_model_load(hub_path ? hub_path : o.model);
    free(hub_path);
    if (!model) return cli_fail("%s", g4_last_error());
    if (o.tokens) {
        int rc = generate_ids(&o, model);
        g4_model_free(model);
        return rc;
    }
    int status = 1;
    char *stdin_text = NULL;
    int32_t *ids = NULL;
    g4_context *ctx = NULL;
    g4_sampler *sampler = NULL;
    g4_parser *parser = NULL;
    if (!g4_model_vocab(model)) { cli_fail("%s has no tokenizer; use --tokens IDS", o.model); goto done; }
    const char *text = o.prompt;
    if (!strcmp(text, "-") && !(text = stdin_text = read_stdin())) { cli_fail("cannot read stdin"); goto done; }
    int n = prompt_ids(&o, model, text, &ids);
    if (n < 0) goto done;

    g4_model_info info;
    g4_model_get_info(model, &info);
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = o.n_ctx ? o.n_ctx : n + o.n_predict;
    if (cp.n_ctx > info.n_ctx_train) cp.n_ctx = info.n_ctx_train;
    cp.n_threads = o.threads;
    if (n >= cp.n_ctx) { cli_fail("the prompt (%d tokens) does not fit the context (%d)", n, cp.n_ctx); goto done; }
    g4_sampler_params sp = g4_model_sampler_params(model);
    if (o.set_temp) sp.temperature = o.sampling.temperature;
    if (o.set_top_k) sp.top_k = o.sampling.top_k;
    if (o.set_top_p) sp.top_p = o.sampling.top_p;
    if (o.set_min_p) sp.min_p = o.sampling.min_p;
    if (o.set_repeat) sp.repeat_penalty = o.sampling.repeat_penalty;
    if (o.set_seed) sp.seed = o.sampling.seed;
    else sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32); /* a new answer each run */
    printer pr = {.show_thinking = !o.hide_thinking};
    if (!(ctx = g4_context_new(model, &cp)) || !(sampler = g4_sampler_new(&sp, info.vocab_size)) ||
        !(parser = g4_parser_new(g4_model_vocab(model), ids, n, on_event, &pr))) {
        cli_fail("%s", g4_last_error());
        goto done;
    }
    for (int i = 0; i < n; i++) g4_sampler_accept(sampler, ids[i]);
    g4_batch b = {.n_tokens = n, .token = ids};
    if (g4_decode(ctx, &b)) { cli_fail("%s", g4_last_error()); goto done; }
    const float *logits = g4_get_logits(ctx, n - 1);
    int made = 0;
    for (; made < o.n_predict && n + made < cp.n_ctx; made++) {
        int32_t next = g4_sampler_sample(sampler, logits);
        if (next < 0) { cli_fail("%s", g4_last_error()); goto done; }
        g4_sampler_accept(sampler, next);
        if (g4_parser_push(parser, next)) break;
        b = (g4_batch){.n_tokens = 1, .token = &next};
        if (g4_decode(ctx, &b)) { cli_fail("%s", g4_last_error()); goto done; }
        logits = g4_get_logits(ctx, 0);
    }
    g4_parser_finish(parser);
    if (pr.in_thought) fputc('\n', stderr);
    putchar('\n');
    status = 0;
done:
    g4_parser_free(parser);
    g4_sampler_free(sampler);
    g4_context_free(ctx);
    free(ids);
    free(stdin_text);
    g4_model_free(model);
    return status;
}
