/* tokenize.c: `gemma4 tokenize`, the tokenizer diagnostic the tests rely on
 * (design.md): the ids of one text, or of every {"text": ...} line of a JSONL
 * file. Special-token text is parsed, as the reference tools do, unless
 * --untrusted is given. */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *text, *jsonl;
    int no_bos, untrusted;
} tok_opts;

static int parse(int argc, char **argv, tok_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!v) return cli_fail("tokenize: %s needs a value", a), -1;
            o->model = v;
            i++;
        } else if (!strcmp(a, "--jsonl")) {
            if (!v) return cli_fail("tokenize: %s needs a value", a), -1;
            o->jsonl = v;
            i++;
        } else if (!strcmp(a, "--no-bos")) {
            o->no_bos = 1;
        } else if (!strcmp(a, "--untrusted")) {
            o->untrusted = 1;
        } else if (!strcmp(a, "--")) {
            if (i + 2 != argc || o->text) return cli_fail("tokenize: expected one TEXT after --"), -1;
            o->text = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_fail("tokenize: unknown option '%s'", a), -1;
        } else {
            if (o->text) return cli_fail("tokenize: more than one TEXT (quote it)"), -1;
            o->text = a;
        }
    }
    if (!o->model) return cli_fail("tokenize: -m MODEL_OR_VOCAB is required"), -1;
    if (!o->text == !o->jsonl) return cli_fail("tokenize: give either TEXT or --jsonl IN.jsonl"), -1;
    return 0;
}

/* Tokenizes into *ids (grown as needed); returns the count or -1. */
static int tokenize(const g4_vocab *v, const char *text, size_t len, unsigned flags, int32_t **ids, int *cap) {
    int n = g4_tokenize(v, text, len, flags, *ids, *cap);
    if (n > *cap) {
        int32_t *p = realloc(*ids, (size_t)n * sizeof *p);
        if (!p) return cli_fail("tokenize: out of memory"), -1;
        *ids = p;
        *cap = n;
        n = g4_tokenize(v, text, len, flags, *ids, *cap);
    }
    if (n < 0) cli_fail("tokenize: %s", g4_last_error());
    return n;
}

static int run_jsonl(const g4_vocab *v, const char *path, unsigned flags) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return cli_fail("tokenize: cannot read %s", path);
    char *line = NULL;
    size_t line_cap = 0;
    int32_t *ids = NULL;
    int cap = 0, status = 0;
    long lineno = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue;   /* blank line */
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &err);
        json_t *text = json_object_get(j, "text");
        if (!j || !json_is_string(text)) {
            status = cli_fail("tokenize: %s:%ld: %s", path, lineno, j ? "expected an object with a \"text\" string" : err.text);
            json_decref(j);
            break;
        }
        int n = tokenize(v, json_string_value(text), json_string_length(text), flags, &ids, &cap);
        json_decref(j);
        if (n < 0) {
            status = 1;
            break;
        }
        fputs("{\"ids\": [", stdout);
        for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        fputs("]}\n", stdout);
    }
    if (status == 0 && ferror(f)) status = cli_fail("tokenize: error reading %s", path);
    free(line);
    free(ids);
    if (f != stdin) fclose(f);
    return status;
}

int cmd_tokenize(int argc, char **argv) {
    tok_opts o = {0};
    if (parse(argc, argv, &o)) return 2;
    g4_vocab *v = g4_vocab_load(o.model);
    if (!v) return cli_fail("tokenize: %s", g4_last_error());
    unsigned flags = o.untrusted ? 0 : G4_TOKENIZE_SPECIAL;
    int status;
    if (o.jsonl) {
        status = run_jsonl(v, o.jsonl, flags);
    } else {
        int32_t *ids = NULL;
        int cap = 0;
        int n = tokenize(v, o.text, strlen(o.text), flags | (o.no_bos ? 0 : G4_TOKENIZE_ADD_BOS), &ids, &cap);
        status = n < 0;
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        if (n >= 0) putchar('\n');
        free(ids);
    }
    if (status == 0 && (fflush(stdout) != 0 || ferror(stdout))) status = cli_fail("tokenize: error writing the output");
    g4_vocab_free(v);
    return status;
}
