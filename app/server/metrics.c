/* metrics.c: GET /metrics: request counters by route and status class, summed
 * request time, and the scheduler's gauges and token counters, in the Prometheus
 * text exposition format (names prefixed gemma4_). */
#include "server/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_names[SRV_ROUTE_COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/tokenize", "/detokenize", "other",
};
static const char *const class_names[5] = {"2xx", "4xx", "429", "5xx", "499"};

void srv_metrics_init(srv_metrics *m) {
    for (int r = 0; r < SRV_ROUTE_COUNT; r++)
        for (int c = 0; c < 5; c++) atomic_init(&m->by_route_class[r][c], 0);
    atomic_init(&m->request_micros, 0);
}

void srv_metrics_count(srv_metrics *m, srv_route route, int status, double seconds) {
    if ((int)route < 0 || route >= SRV_ROUTE_COUNT) route = SRV_ROUTE_OTHER;
    int c = status == 499 ? 4 : status == 429 ? 2 : status >= 500 ? 3 : status >= 400 ? 1 : 0;
    atomic_fetch_add(&m->by_route_class[route][c], 1);
    if (seconds > 0) atomic_fetch_add(&m->request_micros, (uint_fast64_t)(seconds * 1e6));
}

/* Appends a formatted line to a growing buffer; -1 when out of memory. */
static int add(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add(srv_buf *b, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    return srv_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

char *srv_metrics_render(srv_metrics *m, srv_sched *sched, const char *model_name) {
    srv_buf b = {0};
    int bad = 0;
    bad |= add(&b, "# HELP gemma4_requests_total HTTP requests answered, by route and status class.\n"
                   "# TYPE gemma4_requests_total counter\n");
    for (int r = 0; r < SRV_ROUTE_COUNT; r++)
        for (int c = 0; c < 5; c++)
            bad |= add(&b, "gemma4_requests_total{route=\"%s\",status=\"%s\"} %llu\n", route_names[r], class_names[c],
                       (unsigned long long)atomic_load(&m->by_route_class[r][c]));
    srv_sched_stats st = {0};
    if (sched) srv_sched_get_stats(sched, &st);
    const struct {
        const char *name, *type, *help;
        double value;
    } series[] = {
        {"request_seconds_total", "counter", "Time spent answering requests.", (double)atomic_load(&m->request_micros) * 1e-6},
        {"slots", "gauge", "Sequences decoded together (--parallel).", st.slots},
        {"slots_busy", "gauge", "Slots running a request.", st.slots_busy},
        {"requests_waiting", "gauge", "Requests queued for a slot.", st.queued},
        {"prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", (double)st.prompt_tokens},
        {"prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache.", (double)st.cached_tokens},
        {"generation_tokens_total", "counter", "Tokens generated.", (double)st.generated_tokens},
        {"decode_steps_total", "counter", "Batched decode steps.", (double)st.steps},
        {"decode_seconds_total", "counter", "Time spent in decode steps.", st.busy_seconds},
        {"requests_finished_total", "counter", "Generation jobs (choices) finished.", (double)st.requests_done},
    };
    bad |= add(&b, "# HELP gemma4_model_loaded 1 once the model %s serves requests.\n# TYPE gemma4_model_loaded gauge\n"
                   "gemma4_model_loaded %d\n",
               model_name ? model_name : "", sched != NULL);
    for (size_t i = 0; i < sizeof series / sizeof *series; i++)
        bad |= add(&b, "# HELP gemma4_%s %s\n# TYPE gemma4_%s %s\ngemma4_%s %.17g\n", series[i].name, series[i].help,
                   series[i].name, series[i].type, series[i].name, series[i].value);
    if (bad) {
        srv_buf_free(&b);
        return NULL;
    }
    return b.data;
}
