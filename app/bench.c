/* bench.c: `gemma4 bench`, the speed of one model on this machine. Loads the model
 * once, then per run (after one warm-up run) times the prefill of a pseudo-random
 * prompt in one g4_decode, the first greedy token, and the greedy decode of n tokens
 * one at a time; prints the medians over the runs and the peak resident memory.
 * The prompt ids are the ones the peer's `lref bench` uses, so both engines see the
 * same work (tests/bench/run.sh compares them; docs/performance.md). */
#include "cli.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *model;
    int n_prompt, n_gen, threads, reps;
    bool json;
    cli_device device;
    const char *where;  /* g4_context_device */
} bench_opts;

/* One measured run. */
typedef struct {
    double prefill_s;   /* g4_decode of the whole prompt */
    double ttft_s;      /* prefill + picking the first token */
    double decode_s;    /* n_gen single-token g4_decode calls, each followed by argmax */
} bench_run;

static const char bench_usage[] =
    "usage: gemma4 bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--json]\n"
    "  -m, --model MODEL         a .gguf file or a Hugging Face checkpoint directory\n"
    "  -p, --prompt-tokens N     prefill N pseudo-random tokens in one batch (default 512)\n"
    "  -n, --gen-tokens N        then decode N greedy tokens one at a time (default 128)\n"
    "  -t, --threads N           CPU threads (default 0: every core)\n"
    CLI_DEVICE_USAGE
    "  -r, --reps N              measured runs after one warm-up; medians are printed (default 5)\n"
    "  --json                    one JSON object instead of the table\n";

/* Returns 0, 1 after --help, or -1 after a message on stderr. */
static int parse(int argc, char **argv, bench_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { o->json = true; continue; }
        int dev = cli_device_flag(&o->device, argc, argv, &i);
        if (dev < 0) return -1;
        if (dev) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(bench_usage, stdout), 1;
        bool known = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") || !strcmp(a, "--prompt-tokens") ||
                     !strcmp(a, "-n") || !strcmp(a, "--gen-tokens") || !strcmp(a, "-t") || !strcmp(a, "--threads") ||
                     !strcmp(a, "-r") || !strcmp(a, "--reps");
        if (!known) return cli_fail("bench: unknown option '%s' (see gemma4 bench --help)", a), -1;
        if (!v) return cli_fail("bench: %s needs a value", a), -1;
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt-tokens")) { if ((o->n_prompt = cli_parse_int(a, v, 1, 1 << 20)) < 0) return -1; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--gen-tokens")) { if ((o->n_gen = cli_parse_int(a, v, 1, 1 << 20)) < 0) return -1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((o->threads = cli_parse_int(a, v, 0, 4096)) < 0) return -1; }
        else if ((o->reps = cli_parse_int(a, v, 1, 10000)) < 0) return -1;
    }
    if (!o->model) return cli_fail("bench: -m MODEL is required"), -1;
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Peak resident set size of this process in bytes (VmHWM), or -1 if unknown. */
static long long peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n values (sorts v). */
typedef struct { double med, min, max; } stat3;
static stat3 stats(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return (stat3){med, v[0], v[n - 1]};
}

/* Prompt ids as `lref bench` makes them: <bos>=2, then 1000 + (i*7919) % 200000,
 * wrapped into the vocabulary for models with fewer tokens. */
static void make_prompt(int32_t *ids, int n, int vocab) {
    for (int i = 0; i < n; i++) {
        int64_t id = i == 0 ? 2 : 1000 + ((int64_t)i * 7919) % 200000;
        ids[i] = (int32_t)(id % vocab);
    }
}

/* One run from an empty sequence 0; returns 0 or -1 (error set). */
static int run_once(g4_context *ctx, const int32_t *prompt, const bench_opts *o, int vocab, bench_run *r) {
    if (g4_seq_truncate(ctx, 0, 0)) return -1;
    double t0 = now_s();
    g4_batch b = {.n_tokens = o->n_prompt, .token = prompt};   /* logits for the last token only */
    if (g4_decode(ctx, &b)) return -1;
    double t1 = now_s();
    /* greedy picks read only the best logit (no whole row leaves a GPU) */
    int32_t next;
    float best;
    if (g4_get_top_logits(ctx, o->n_prompt - 1, 1, &next, &best) < 0) return -1;
    double t2 = now_s();
    for (int k = 0; k < o->n_gen; k++) {
        g4_batch one = {.n_tokens = 1, .token = &next};
        if (g4_decode(ctx, &one) || g4_get_top_logits(ctx, 0, 1, &next, &best) < 0) return -1;
    }
    double t3 = now_s();
    r->prefill_s = t1 - t0;
    r->ttft_s = t2 - t0;
    r->decode_s = t3 - t2;
    return 0;
}

static void print_table(const bench_opts *o, const g4_model_info *info, int threads, double load_s,
                        stat3 pf, stat3 dc, stat3 ttft, stat3 tpot, long long rss) {
    const char *base = strrchr(o->model, '/');
    base = base && base[1] ? base + 1 : o->model;
    double params = (double)info->n_params, mib = (double)info->n_bytes / (1024.0 * 1024);
    printf("gemma4 bench: %s (%s %s, %.2f %s params, %.2f %s of weights), loaded in %.0f ms\n", base, info->format,
           info->weight_type, params >= 1e9 ? params / 1e9 : params / 1e6, params >= 1e9 ? "B" : "M",
           mib >= 1024 ? mib / 1024 : mib, mib >= 1024 ? "GiB" : "MiB", load_s * 1e3);
    printf("device: %s\n", o->where);
    printf("prompt %d tokens, generate %d tokens, threads %d, median of %d run%s after 1 warm-up\n\n", o->n_prompt, o->n_gen,
           threads, o->reps, o->reps == 1 ? "" : "s");
    printf("| %-14s | %10s | %10s | %10s |\n", "metric", "median", "min", "max");
    printf("|%s|%s|%s|%s|\n", "----------------", "-----------:", "-----------:", "-----------:");
    printf("| %-14s | %10.2f | %10.2f | %10.2f |\n", "prefill tok/s", pf.med, pf.min, pf.max);
    printf("| %-14s | %10.2f | %10.2f | %10.2f |\n", "decode tok/s", dc.med, dc.min, dc.max);
    printf("| %-14s | %10.1f | %10.1f | %10.1f |\n", "TTFT ms", ttft.med, ttft.min, ttft.max);
    printf("| %-14s | %10.2f | %10.2f | %10.2f |\n", "TPOT ms", tpot.med, tpot.min, tpot.max);
    if (rss >= 0) printf("| %-14s | %10.1f | %10s | %10s |\n", "peak RSS MiB", (double)rss / (1024.0 * 1024), "", "");
    else printf("| %-14s | %10s | %10s | %10s |\n", "peak RSS MiB", "n/a", "", "");
}

static int print_json(const bench_opts *o, const g4_model_info *info, int threads, double load_s,
                      stat3 pf, stat3 dc, stat3 ttft, stat3 tpot, long long rss) {
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(o->model));
    json_object_set_new(j, "format", json_string(info->format));
    json_object_set_new(j, "weight_type", json_string(info->weight_type));
    json_object_set_new(j, "n_params", json_integer((json_int_t)info->n_params));
    json_object_set_new(j, "n_prompt", json_integer(o->n_prompt));
    json_object_set_new(j, "n_gen", json_integer(o->n_gen));
    json_object_set_new(j, "threads", json_integer(threads));
    json_object_set_new(j, "device", json_string(o->where));
    json_object_set_new(j, "reps", json_integer(o->reps));
    json_object_set_new(j, "load_ms", json_real(load_s * 1e3));
    json_object_set_new(j, "prefill_tok_s", json_real(pf.med));
    json_object_set_new(j, "decode_tok_s", json_real(dc.med));
    json_object_set_new(j, "ttft_ms", json_real(ttft.med));
    json_object_set_new(j, "tpot_ms", json_real(tpot.med));
    json_object_set_new(j, "peak_rss_mib", rss >= 0 ? json_real((double)rss / (1024.0 * 1024)) : json_null());
    json_t *mm = json_object();
    json_object_set_new(mm, "prefill_tok_s", json_pack("[ff]", pf.min, pf.max));
    json_object_set_new(mm, "decode_tok_s", json_pack("[ff]", dc.min, dc.max));
    json_object_set_new(mm, "ttft_ms", json_pack("[ff]", ttft.min, ttft.max));
    json_object_set_new(mm, "tpot_ms", json_pack("[ff]", tpot.min, tpot.max));
    json_object_set_new(j, "min_max", mm);
    char *s = json_dumps(j, JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!s) return -1;
    puts(s);
    free(s);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.n_prompt = 512, .n_gen = 128, .threads = 0, .reps = 5, .device = CLI_DEVICE_DEFAULT};
    int rc = parse(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;
    int threads = o.threads;   /* 0 = every core, as the engine takes it */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int threads_shown = threads ? threads : (online > 0 ? (int)online : 1);

    int status = 1;
    int32_t *prompt = NULL;
    g4_context *ctx = NULL;
    bench_run *runs = NULL;
    double *col = NULL;
    double t_load = now_s();
    g4_model *model = g4_model_load(o.model);
    if (!model) { cli_fail("%s", g4_last_error()); goto done; }
    t_load = now_s() - t_load;
    g4_model_info info;
    g4_model_get_info(model, &info);
    if ((long long)o.n_prompt + o.n_gen > info.n_ctx_train) {
        cli_fail("bench: -p %d plus -n %d exceeds the model's context of %d positions", o.n_prompt, o.n_gen, info.n_ctx_train);
        goto done;
    }

    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = o.n_prompt + o.n_gen;
    cp.n_threads = threads;
    cp.n_gpu_layers = cli_device_layers(&o.device);
    cp.gpu_device = o.device.device;
    if (!(ctx = g4_context_new(model, &cp))) { cli_fail("%s", g4_last_error()); goto done; }
    o.where = g4_context_device(ctx);
    prompt = malloc((size_t)o.n_prompt * sizeof *prompt);
    runs = malloc((size_t)o.reps * sizeof *runs);
    col = malloc((size_t)o.reps * sizeof *col);
    if (!prompt || !runs || !col) { cli_fail("out of memory"); goto done; }
    make_prompt(prompt, o.n_prompt, info.vocab_size);

    bool progress = isatty(STDERR_FILENO);
    for (int r = -1; r < o.reps; r++) {   /* r = -1: the warm-up */
        if (progress) fprintf(stderr, "\rgemma4 bench: %s %d/%d ", r < 0 ? "warm-up" : "run", r + 1, o.reps);
        bench_run tmp;
        if (run_once(ctx, prompt, &o, info.vocab_size, r < 0 ? &tmp : &runs[r])) {
            if (progress) fputc('\n', stderr);
            cli_fail("%s", g4_last_error());
            goto done;
        }
    }
    if (progress) fputs("\r\033[K", stderr);

    stat3 pf, dc, ttft, tpot;
    for (int r = 0; r < o.reps; r++) col[r] = o.n_prompt / runs[r].prefill_s;
    pf = stats(col, o.reps);
    for (int r = 0; r < o.reps; r++) col[r] = o.n_gen / runs[r].decode_s;
    dc = stats(col, o.reps);
    for (int r = 0; r < o.reps; r++) col[r] = runs[r].ttft_s * 1e3;
    ttft = stats(col, o.reps);
    for (int r = 0; r < o.reps; r++) col[r] = runs[r].decode_s * 1e3 / o.n_gen;
    tpot = stats(col, o.reps);
    long long rss = peak_rss_bytes();

    if (o.json) {
        if (print_json(&o, &info, threads_shown, t_load, pf, dc, ttft, tpot, rss)) { cli_fail("out of memory"); goto done; }
    } else {
        print_table(&o, &info, threads_shown, t_load, pf, dc, ttft, tpot, rss);
    }
    status = fflush(stdout) == 0 ? 0 : cli_fail("writing the results failed");
done:
    free(col);
    free(runs);
    free(prompt);
    g4_context_free(ctx);
    g4_model_free(model);
    return status;
}
