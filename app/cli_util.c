/* cli_util.c: helpers the subcommands share: error messages and option values.
 * Built into the app library (CMakeLists.txt), so that the app's modules and
 * their tests use them too. */
#include "cli.h"
#include "hub/hub.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gemma4: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_parse_int(const char *opt, const char *s, int lo, int hi) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        cli_fail("%s needs an integer in [%d, %d], got '%s'", opt, lo, hi, s ? s : "");
        return -1;
    }
    return (int)v;
}

int cli_parse_tokens(const char *s, int32_t **out) {
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(ids);
            cli_fail("--tokens: '%s' is not a comma-separated list of token ids", s);
            return -1;
        }
        if (n == cap) {
            int32_t *r = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!r) { free(ids); return -1; }
            ids = r;
        }
        ids[n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) {
        free(ids);
        cli_fail("--tokens: no token ids given");
        return -1;
    }
    *out = ids;
    return (int)n;
}

int cli_resolve_model(const char *model, char **local) {
    *local = NULL;
    if (!hub_is_model_id(model)) return 0;
    hub_options hub;
    hub_options_default(&hub);
    char *err = NULL;
    if (!(*local = hub_resolve(model, &hub, &err))) {
        cli_fail("%s", err ? err : "out of memory");
        free(err);
        return -1;
    }
    return 0;
}

char *cli_read_stream(FILE *in, const char *what) {
    char *text = NULL, buf[65536];
    size_t len = 0, n;
    FILE *out = open_memstream(&text, &len);
    if (!out) return cli_fail("out of memory reading %s", what), NULL;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    bool bad = ferror(in) || ferror(out);
    if (fclose(out) || bad) {
        free(text);
        return cli_fail("cannot read %s", what), NULL;
    }
    return text;
}

char *cli_read_file(const char *path, const char *what) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail("cannot read %s %s: %s", what, path, strerror(errno)), NULL;
    char *text = cli_read_stream(f, path);
    fclose(f);
    return text;
}

int cli_device_flag(cli_device *d, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--cpu")) {
        d->gpu_layers = 0;
        return 1;
    }
    if (strcmp(a, "--gpu-layers") && strcmp(a, "--device")) return 0;
    if (!v) return cli_fail("%s needs a value", a), -1;
    (*i)++;
    if (!strcmp(a, "--device")) return (d->device = cli_parse_int(a, v, 0, 255)) < 0 ? -1 : 1;
    if (!strcmp(v, "all")) {
        d->gpu_layers = -1;
        return 1;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < 0 || n > 1 << 20)
        return cli_fail("--gpu-layers needs a number of layers (0: none) or 'all', got '%s'", v), -1;
    d->gpu_layers = (int)n;
    return 1;
}

int cli_device_layers(const cli_device *d) {
    if (d->gpu_layers != CLI_GPU_AUTO) return d->gpu_layers;
    return g4_gpu_count() > 0 ? -1 : 0;
}
