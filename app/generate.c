/* generate.c: one-shot generation, `gemma4 -m MODEL --tokens IDS [-n N]`: greedy
 * continuation streamed to stdout as token ids (text prompts need the tokenizer). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *tokens = NULL, *prompt = NULL;
    int n_predict = 128, n_ctx = 0;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_fail("%s needs a value", a), 2;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--tokens")) tokens = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((n_predict = cli_parse_int(a, v, 1, 1 << 24)) < 0) return 2; }
        else if (!strcmp(a, "--ctx")) { if ((n_ctx = cli_parse_int(a, v, 1, 1 << 30)) < 0) return 2; }
        else return cli_fail("unknown option '%s' (see gemma4 --help)", a), 2;
    }
    if (!model_path) return cli_fail("-m MODEL is required"), 2;
    if (prompt && !tokens) return cli_fail("text prompts need the tokenizer, which this build lacks; pass --tokens IDS"), 2;
    if (!tokens) return cli_fail("give a prompt with --tokens IDS"), 2;
    int32_t *ids = NULL;
    int n = cli_parse_tokens(tokens, &ids);
    if (n < 0) return 2;

    int status = 1;
    g4_context *ctx = NULL;
    g4_model *model = g4_model_load(model_path);
    if (!model) { cli_fail("%s", g4_last_error()); goto done; }
    g4_model_info info;
    g4_model_get_info(model, &info);
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = n_ctx ? n_ctx : n + n_predict;
    if (!(ctx = g4_context_new(model, &cp))) { cli_fail("%s", g4_last_error()); goto done; }
    g4_batch b = {.n_tokens = n, .token = ids};
    if (g4_decode(ctx, &b)) { cli_fail("%s", g4_last_error()); goto done; }
    const float *logits = g4_get_logits(ctx, n - 1);
    for (int k = 0; k < n_predict; k++) {
        int32_t next = g4_argmax(logits, info.vocab_size);
        printf(k ? ",%d" : "%d", next);
        fflush(stdout);
        if (next == info.eos_id || k + 1 == n_predict) break;
        b = (g4_batch){.n_tokens = 1, .token = &next};
        if (g4_decode(ctx, &b)) { putchar('\n'); cli_fail("%s", g4_last_error()); goto done; }
        logits = g4_get_logits(ctx, 0);
    }
    putchar('\n');
    status = 0;
done:
    free(ids);
    g4_context_free(ctx);
    g4_model_free(model);
    return status;
}
