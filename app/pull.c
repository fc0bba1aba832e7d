/* pull.c: `gemma4 pull ID [--revision REV] [--quiet]`: downloads a model from
 * the Hugging Face hub into the HF cache and prints the local path to load. */
#include "cli.h"
#include "hub/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_pull(int argc, char **argv) {
    hub_options opt;
    hub_options_default(&opt);
    const char *id = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            opt.progress = HUB_PROGRESS_NONE;
        } else if (!strcmp(a, "--revision")) {
            if (i + 1 >= argc) return cli_fail("--revision needs a branch, tag or commit"), 2;
            if (snprintf(opt.revision, sizeof opt.revision, "%s", argv[++i]) >= (int)sizeof opt.revision || !opt.revision[0])
                return cli_fail("--revision '%s' is not a valid revision", argv[i]), 2;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: gemma4 pull ORG/NAME[:QUANT] [--revision REV] [--quiet]\n"
                 "Downloads a model into the Hugging Face cache and prints its local path (see docs/models.md).");
            return 0;
        } else if (a[0] == '-' || id) {
            return cli_fail("unexpected argument '%s' (usage: gemma4 pull ORG/NAME[:QUANT] [--revision REV] [--quiet])", a), 2;
        } else {
            id = a;
        }
    }
    if (!id) return cli_fail("usage: gemma4 pull ORG/NAME[:QUANT] [--revision REV] [--quiet]"), 2;
    char *err = NULL, *path = hub_resolve(id, &opt, &err);
    if (!path) {
        cli_fail("%s", err ? err : "the download failed");
        free(err);
        return 1;
    }
    puts(path);
    free(path);
    return 0;
}
