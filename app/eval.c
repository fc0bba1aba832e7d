/* eval.c: `gemma4 eval`, the engine diagnostics the tests rely on: logits of
 * every position, chunked evaluation, greedy continuation (design.md). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *tokens, *logits_out;
    int batch, greedy, ctx, threads;
    cli_device device;
} eval_opts;

static int parse(int argc, char **argv, eval_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int dev = cli_device_flag(&o->device, argc, argv, &i);
        if (dev < 0) return -1;
        if (dev) continue;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v, i++;
        else if (!strcmp(a, "--tokens")) o->tokens = v, i++;
        else if (!strcmp(a, "--logits")) o->logits_out = v, i++;
        else if (!strcmp(a, "--batch")) { if ((o->batch = cli_parse_int(a, v, 1, 1 << 20)) < 0) return -1; i++; }
        else if (!strcmp(a, "--greedy")) { if ((o->greedy = cli_parse_int(a, v, 0, 1 << 20)) < 0) return -1; i++; }
        else if (!strcmp(a, "--ctx")) { if ((o->ctx = cli_parse_int(a, v, 1, 1 << 30)) < 0) return -1; i++; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((o->threads = cli_parse_int(a, v, 0, 4096)) < 0) return -1; i++; }
        else return cli_fail("eval: unknown option '%s'", a), -1;
        if (!v) return cli_fail("eval: %s needs a value", a), -1;
    }
    if (!o->model) return cli_fail("eval: -m MODEL is required"), -1;
    if (!o->tokens) return cli_fail("eval: --tokens IDS is required"), -1;
    return 0;
}

int cmd_eval(int argc, char **argv) {
    eval_opts o = {.device = CLI_DEVICE_DEFAULT};
    if (parse(argc, argv, &o)) return 2;
    int32_t *ids = NULL;
    int n = cli_parse_tokens(o.tokens, &ids);
    if (n < 0) return 2;

    int status = 1;
    FILE *out = NULL;
    int8_t *want = NULL;
    g4_context *ctx = NULL;
    g4_model *model = g4_model_load(o.model);
    if (!model) { cli_fail("%s", g4_last_error()); goto done; }
    g4_model_info info;
    g4_model_get_info(model, &info);

    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = o.ctx ? o.ctx : n + o.greedy;
    if (o.batch) cp.n_ubatch = o.batch;
    cp.n_threads = o.threads;
    cp.n_gpu_layers = cli_device_layers(&o.device);
    cp.gpu_device = o.device.device;
    if (!(ctx = g4_context_new(model, &cp))) { cli_fail("%s", g4_last_error()); goto done; }
    if (o.logits_out && !(out = fopen(o.logits_out, "wb"))) { cli_fail("cannot write %s", o.logits_out); goto done; }
    if (!(want = malloc((size_t)n))) goto done;

    /* The prompt in chunks of --batch tokens (all at once by default). */
    int chunk = o.batch ? o.batch : n, last_row = 0;
    for (int start = 0; start < n; start += chunk) {
        int cnt = n - start < chunk ? n - start : chunk;
        for (int i = 0; i < cnt; i++) want[i] = o.logits_out || start + i == n - 1;
        g4_batch b = {.n_tokens = cnt, .token = ids + start, .logits = want};
        if (g4_decode(ctx, &b)) { cli_fail("%s", g4_last_error()); goto done; }
        if (out)
            for (int i = 0; i < cnt; i++)
                if (fwrite(g4_get_logits(ctx, i), sizeof(float), (size_t)info.vocab_size, out) != (size_t)info.vocab_size) {
                    cli_fail("writing %s failed", o.logits_out);
                    goto done;
                }
        last_row = cnt - 1;
    }
    if (o.greedy) {
        int32_t next = g4_argmax(g4_get_logits(ctx, last_row), info.vocab_size);
        for (int k = 0; k < o.greedy; k++) {
            printf(k ? ",%d" : "%d", next);
            if (k + 1 == o.greedy) break;
            g4_batch b = {.n_tokens = 1, .token = &next};
            if (g4_decode(ctx, &b)) { putchar('\n'); cli_fail("%s", g4_last_error()); goto done; }
            next = g4_argmax(g4_get_logits(ctx, 0), info.vocab_size);
        }
        putchar('\n');
    }
    status = 0;
done:
    if (out && fclose(out) != 0 && status == 0) status = cli_fail("writing %s failed", o.logits_out);
    free(want);
    free(ids);
    g4_context_free(ctx);
    g4_model_free(model);
    return status;
}
