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
    bad |= add(&b, "# HELP gemma4_request_seconds_total Time spent answering requests.\n"
                   "# TYPE gemma4_request_seconds_total counter\ngemma4_request_seconds_total %.6f\n",
               (double)atomic_load(&m->request_micros) * 1e-6);
    srv_sched_stats st = {0};
    if (sched) srv_sched_get_stats(sched, &st);
    bad |= add(&b, "# HELP gemma4_model_loaded 1 once the model %s serves requests.\n# TYPE gemma4_model_loaded gauge\n"
                   "gemma4_model_loaded %d\n",
               model_name ? model_name : "", sched != NULL);
    bad |= add(&b, "# HELP gemma4_slots Sequences decoded together (--parallel).\n# TYPE gemma4_slots gauge\ngemma4_slots %d\n",
               st.slots);
    bad |= add(&b, "# HELP gemma4_slots_busy Slots running a request.\n# TYPE gemma4_slots_busy gauge\ngemma4_slots_busy %d\n",
               st.slots_busy);
    bad |= add(&b, "# HELP gemma4_requests_waiting Requests queued for a slot.\n# TYPE gemma4_requests_waiting gauge\n"
                   "gemma4_requests_waiting %d\n",
               st.queued);
    bad |= add(&b, "# HELP gemma4_prompt_tokens_total Prompt tokens of admitted requests.\n"
                   "# TYPE gemma4_prompt_tokens_total counter\ngemma4_prompt_tokens_total %llu\n",
               (unsigned long long)st.prompt_tokens);
    bad |= add(&b, "# HELP gemma4_prompt_tokens_cached_total Prompt tokens reused from a slot's cache.\n"
                   "# TYPE gemma4_prompt_tokens_cached_total counter\ngemma4_prompt_tokens_cached_total %llu\n",
               (unsigned long long)st.cached_tokens);
    bad |= add(&b, "# HELP gemma4_generation_tokens_total Tokens generated.\n"
                   "# TYPE gemma4_generation_tokens_total counter\ngemma4_generation_tokens_total %llu\n",
               (unsigned long long)st.generated_tokens);
    bad |= add(&b, "# HELP gemma4_decode_steps_total Batched decode steps.\n"
                   "# TYPE gemma4_decode_steps_total counter\ngemma4_decode_steps_total %llu\n",
               (unsigned long long)st.steps);
    bad |= add(&b, "# HELP gemma4_decode_seconds_total Time spent in decode steps.\n"
                   "# TYPE gemma4_decode_seconds_total counter\ngemma4_decode_seconds_total %.6f\n",
               st.busy_seconds);
    bad |= add(&b, "# HELP gemma4_requests_finished_total Generation jobs (choices) finished.\n"
                   "# TYPE gemma4_requests_finished_total counter\ngemma4_requests_finished_total %llu\n",
               (unsigned long long)st.requests_done);
    if (bad) {
        srv_buf_free(&b);
        return NULL;
    }
    return b.data;
}
