/* fuzz_hub.c: libFuzzer target for what the hub client reads from the network
 * and the command line: the repository listing JSON (hub_parse_info), model ids,
 * repository paths, GGUF names and the choice of files from a listing. */
#include "hub/hub_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *err = NULL;

    hub_repo_info info;
    if (hub_parse_info(text, size, &info, &err) == 0) {
        char **names = calloc(info.n + 1, sizeof *names);
        for (size_t i = 0; names && i < info.n; i++) names[i] = info.files[i].name;
        hub_strlist chosen = {0};
        bool sharded;
        if (names) {
            hub_select_checkpoint(names, info.n, "o/m", &chosen, &sharded, &err);
            hub_strlist_free(&chosen);
            hub_select_gguf(names, info.n, "", "o/m", &chosen, &err);
            hub_strlist_free(&chosen);
        }
        free(names);
        hub_repo_info_free(&info);
    }

    /* each line as an id, a path and a GGUF name; all lines as a file list */
    hub_strlist lines = {0};
    for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        hub_id id;
        char q[HUB_NAME_MAX + 1], target[256];
        int part, count;
        hub_parse_id(p, &id);
        if (hub_safe_relpath(p)) hub_link_target(p, "e", target, sizeof target, &err);
        hub_gguf_quant(p, q, sizeof q);
        hub_gguf_split(p, &part, &count);
        hub_strlist_add(&lines, p);
    }
    hub_strlist chosen = {0};
    if (lines.n) hub_select_gguf(lines.v, lines.n, lines.v[0], "o/m", &chosen, &err);
    hub_strlist_free(&chosen);
    hub_strlist_free(&lines);
    free(err);
    free(text);
    return 0;
}
