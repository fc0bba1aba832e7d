/* test_chat_engine.c: the chat runner (app/chat/) on the fixture models
 * (the model.gguf of each shared/fixtures/models/ folder, which carry a 512-token cut of the real
 * tokenizer and a chat template): greedy replies equal the golden float64
 * continuation and a direct g4_decode loop; a second turn evaluates only its new
 * tokens and gives the same reply as a fresh engine; cancel from another thread
 * stops within one token; the asynchronous job delivers every event in order; a
 * full context ends with "context"; bad requests end with one ERROR event; the
 * assistant message built from the events. */
#include "testutil.h"
#include "modelutil.h"

#include "chat/chat.h"
#include "gemma4.h"

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fixtures[] = {"dense-tiny", "dense-bf16", "keqv", "moe", "ple-kvshare"};
enum { N_FIXTURES = sizeof fixtures / sizeof *fixtures };

static const char hello[] = "[{\"role\":\"user\",\"content\":\"Hello, who are you?\"}]";

static const char *model_path(const char *name) { return tu_path("%s/fixtures/models/%s/model.gguf", tu_shared(), name); }

static chat_engine *open_engine(const char *name, int n_ctx) {
    char *err = NULL;
    chat_engine_params p = {.n_ctx = n_ctx, .threads = 1};
    chat_engine *e = chat_engine_open(model_path(name), &p, &err);
    if (!e) fail_msg("chat_engine_open %s: %s", name, err ? err : "?");
    free(err);
    return e;
}

static chat_settings greedy(int max_tokens) {
    chat_settings s = chat_settings_defaults();
    s.temperature = 0;
    s.repeat_penalty = 1;
    s.max_tokens = max_tokens;
    return s;
}

/* ---- recording events ------------------------------------------------------------ */

/* Every event as one line "TYPE index name|id: text" in order, plus the counts. */
typedef struct {
    char *log;
    size_t log_len;
    FILE *out;
    int n_events, n_done, n_error, n_progress;
    int progress_total, progress_last;
    bool progress_ordered;
    chat_stats stats;
    char error[512];
    chat_reply *reply;
} recorder;

static void rec_init(recorder *r) {
    memset(r, 0, sizeof *r);
    r->out = open_memstream(&r->log, &r->log_len);
    r->progress_ordered = true;
    r->reply = chat_reply_new();
    assert_non_null(r->out);
    assert_non_null(r->reply);
}

static void rec_done(recorder *r) {
    fclose(r->out);
    free(r->log);
    chat_reply_free(r->reply);
}

static const char *rec_log(recorder *r) {
    fflush(r->out);
    return r->log;
}

static void record(const chat_event *ev, void *user) {
    recorder *r = user;
    r->n_events++;
    assert_int_equal(chat_reply_add(r->reply, ev), 0);
    switch (ev->type) {
    case CHAT_EVENT_PROGRESS:
        if (r->n_progress++ == 0) r->progress_total = ev->progress_total;
        if (ev->progress_total != r->progress_total || ev->progress_done < r->progress_last) r->progress_ordered = false;
        r->progress_last = ev->progress_done;
        return; /* progress is not part of the compared stream (timing-free anyway) */
    case CHAT_EVENT_DONE:
        r->n_done++;
        r->stats = ev->stats;
        fprintf(r->out, "DONE %s %d\n", chat_finish_name(ev->stats.finish), ev->stats.completion_tokens);
        return;
    case CHAT_EVENT_ERROR:
        r->n_error++;
        snprintf(r->error, sizeof r->error, "%.*s", (int)ev->len, ev->text);
        fprintf(r->out, "ERROR %s\n", r->error);
        return;
    default:
        fprintf(r->out, "%d %d %s|%s: %.*s\n", (int)ev->type, ev->tool_index, ev->tool_name ? ev->tool_name : "",
                ev->tool_id ? ev->tool_id : "", (int)ev->len, ev->text ? ev->text : "");
    }
}

/* ---- greedy replies against independent references -------------------------------- */

/* Greedy after the golden prompt (raw ids) equals the float64 reference's continuation. */
static void test_greedy_matches_golden(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    for (int f = 0; f < N_FIXTURES; f++) {
        mu_golden *gold = malloc(sizeof *gold);
        assert_non_null(gold);
        assert_int_equal(mu_read_golden(tu_path("%s/fixtures/models/%s/golden.json", tu_shared(), fixtures[f]), gold), 0);
        chat_engine *e = open_engine(fixtures[f], 256);
        chat_settings s = greedy(gold->n_greedy);
        recorder r;
        rec_init(&r);
        assert_int_equal(chat_engine_generate_ids(e, gold->tokens, gold->n_tokens, &s, record, &r), 0);
        int n;
        const int32_t *got = chat_engine_completion_tokens(e, &n);
        assert_int_equal(r.n_done, 1);
        assert_int_equal(r.stats.completion_tokens, n);
        assert_int_equal(r.stats.prompt_tokens, gold->n_tokens);
        assert_int_equal(r.stats.cached_tokens, 0);
        assert_true(n >= 1 && n <= gold->n_greedy);
        for (int k = 0; k < n; k++)
            if (got[k] != gold->greedy[k]) fail_msg("%s: greedy token %d is %d, golden %d", fixtures[f], k, got[k], gold->greedy[k]);
        /* it stops early only at an end-of-generation token */
        if (n < gold->n_greedy) assert_true(g4_vocab_is_eog(g4_model_vocab(chat_engine_model(e)), got[n - 1]));
        else assert_string_equal(chat_finish_name(r.stats.finish), "length");
        rec_done(&r);
        chat_engine_close(e);
        free(gold);
    }
}

/* A greedy chat reply equals a direct g4_chat_tokenize + g4_decode + g4_argmax loop. */
static void test_greedy_chat_matches_decode_loop(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    enum { MAX = 24 };
    for (int f = 0; f < N_FIXTURES; f++) {
        chat_engine *e = open_engine(fixtures[f], 512);
        const g4_model *m = chat_engine_model(e);
        const g4_vocab *v = g4_model_vocab(m);
        int V = g4_vocab_size(v);
        for (int think = 0; think < 2; think++) {
            /* the reference */
            g4_chat_request req = {.messages_json = hello, .add_generation_prompt = 1, .enable_thinking = think};
            int32_t *ids = NULL;
            int n = g4_chat_tokenize(v, g4_model_chat_template(m), &req, &ids);
            assert_true(n > 0);
            g4_context_params cp = g4_context_default_params();
            cp.n_ctx = 512;
            cp.n_threads = 1;
            g4_context *ctx = g4_context_new((g4_model *)m, &cp);
            assert_non_null(ctx);
            int32_t want[MAX];
            int n_want = 0;
            g4_batch b = {.n_tokens = n, .token = ids};
            assert_int_equal(g4_decode(ctx, &b), 0);
            const float *logits = g4_get_logits(ctx, n - 1);
            while (n_want < MAX) {
                int32_t id = want[n_want++] = g4_argmax(logits, V);
                if (g4_vocab_is_eog(v, id)) break;
                b = (g4_batch){.n_tokens = 1, .token = &id};
                assert_int_equal(g4_decode(ctx, &b), 0);
                logits = g4_get_logits(ctx, 0);
            }
            g4_context_free(ctx);

            /* the engine (the same engine for both turns: the second reuses a prefix) */
            chat_settings s = greedy(MAX);
            s.think = think;
            recorder r;
            rec_init(&r);
            assert_int_equal(chat_engine_generate(e, hello, NULL, &s, record, &r), 0);
            int n_got;
            const int32_t *got = chat_engine_completion_tokens(e, &n_got);
            assert_int_equal(n_got, n_want);
            assert_memory_equal(got, want, (size_t)n_want * sizeof *want);
            assert_int_equal(r.stats.prompt_tokens, n);
            assert_int_equal(r.n_done, 1);
            assert_int_equal(r.n_error, 0);
            rec_done(&r);
            free(ids);
        }
        chat_engine_close(e);
    }
}

/* ---- KV reuse ------------------------------------------------------------------------- */

static size_t common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    size_t i = 0;
    while ((int)i < na && (int)i < nb && a[i] == b[i]) i++;
    return i;
}

static void test_second_turn_reuses_cache(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    for (int f = 0; f < N_FIXTURES; f++) {
        chat_engine *e = open_engine(fixtures[f], 1024);
        const g4_model *m = chat_engine_model(e);
        const g4_vocab *v = g4_model_vocab(m);
        chat_settings s = greedy(12);

        /* turn 1 */
        recorder r1;
        rec_init(&r1);
        assert_int_equal(chat_engine_generate(e, hello, NULL, &s, record, &r1), 0);
        int n1 = r1.stats.prompt_tokens;
        assert_int_equal(r1.stats.cached_tokens, 0);
        assert_int_equal(r1.progress_total, n1);
        assert_int_equal(r1.progress_last, n1);
        assert_true(r1.progress_ordered);
        int n_reply;
        const int32_t *reply_ids = chat_engine_completion_tokens(e, &n_reply);
        /* what sequence 0 holds: the prompt and the reply but its last token (never evaluated) */
        g4_chat_request req1 = {.messages_json = hello, .add_generation_prompt = 1};
        int32_t *p1 = NULL;
        assert_int_equal(g4_chat_tokenize(v, g4_model_chat_template(m), &req1, &p1), n1);
        int n_held = n1 + n_reply - 1;
        int32_t *held = malloc((size_t)n_held * sizeof *held);
        assert_non_null(held);
        memcpy(held, p1, (size_t)n1 * sizeof *held);
        memcpy(held + n1, reply_ids, (size_t)(n_reply - 1) * sizeof *held);
        assert_int_equal(chat_engine_context_used(e), n_held);

        /* turn 2: the conversation with the reply and a new question */
        char *assistant = chat_reply_message_json(r1.reply);
        assert_non_null(assistant);
        char *with_reply = chat_messages_append(hello, assistant);
        assert_non_null(with_reply);
        char *conv2 = chat_messages_append(with_reply, "{\"role\":\"user\",\"content\":\"Tell me more.\"}");
        assert_non_null(conv2);
        g4_chat_request req2 = {.messages_json = conv2, .add_generation_prompt = 1};
        int32_t *p2 = NULL;
        int n2 = g4_chat_tokenize(v, g4_model_chat_template(m), &req2, &p2);
        assert_true(n2 > n1);
        size_t expect_cached = common_prefix(held, n_held, p2, n2);
        /* at least what the two prompts share (the canonical templates end a generation
         * prompt without thinking with an empty thought channel that the rendered
         * history lacks, so the first prompt is not always a prefix of the second) */
        size_t shared = common_prefix(p1, n1, p2, n2);
        assert_true(shared > 0 && expect_cached >= shared);

        recorder r2;
        rec_init(&r2);
        assert_int_equal(chat_engine_generate(e, conv2, NULL, &s, record, &r2), 0);
        assert_int_equal(r2.stats.prompt_tokens, n2);
        assert_int_equal(r2.stats.cached_tokens, (int)expect_cached);
        assert_int_equal(r2.progress_total, n2 - (int)expect_cached); /* only the new tokens are evaluated */
        int n_second;
        const int32_t *second = chat_engine_completion_tokens(e, &n_second);
        int32_t *second_copy = malloc((size_t)n_second * sizeof *second_copy);
        assert_non_null(second_copy);
        memcpy(second_copy, second, (size_t)n_second * sizeof *second_copy);

        /* the same conversation on a fresh engine gives the same reply */
        chat_engine *fresh = open_engine(fixtures[f], 1024);
        recorder r3;
        rec_init(&r3);
        assert_int_equal(chat_engine_generate(fresh, conv2, NULL, &s, record, &r3), 0);
        assert_int_equal(r3.stats.cached_tokens, 0);
        int n_fresh;
        const int32_t *fresh_ids = chat_engine_completion_tokens(fresh, &n_fresh);
        assert_int_equal(n_fresh, n_second);
        assert_memory_equal(fresh_ids, second_copy, (size_t)n_second * sizeof *second_copy);
        assert_string_equal(rec_log(&r3), rec_log(&r2));

        /* /retry: the same conversation again reuses all but the last prompt token */
        recorder r4;
        rec_init(&r4);
        assert_int_equal(chat_engine_generate(e, conv2, NULL, &s, record, &r4), 0);
        assert_int_equal(r4.stats.cached_tokens, n2 - 1);
        assert_string_equal(rec_log(&r4), rec_log(&r2));

        /* /edit of the first message: the reuse ends where the conversations differ */
        static const char edited[] = "[{\"role\":\"user\",\"content\":\"Hello, what are you?\"}]";
        recorder r5;
        rec_init(&r5);
        assert_int_equal(chat_engine_generate(e, edited, NULL, &s, record, &r5), 0);
        assert_true(r5.stats.cached_tokens > 0 && r5.stats.cached_tokens < n1);

        rec_done(&r1), rec_done(&r2), rec_done(&r3), rec_done(&r4), rec_done(&r5);
        chat_engine_close(fresh);
        free(second_copy);
        free(p1), free(p2), free(held);
        free(assistant), free(with_reply), free(conv2);
        chat_engine_close(e);
    }
}

/* ---- cancel ----------------------------------------------------------------------------- */

typedef struct {
    chat_engine *engine;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int request;           /* 1: the generating thread asks for a cancel */
    int cancelled;         /* 1: the other thread has called chat_engine_cancel */
    int tokens_at_cancel;
    int events_after_cancel_tokens; /* text events for tokens sampled after the cancel */
    recorder rec;
} cancel_test;

static void on_cancel_event(const chat_event *ev, void *user) {
    cancel_test *c = user;
    record(ev, &c->rec);
    bool text = ev->type == CHAT_EVENT_ANSWER || ev->type == CHAT_EVENT_THOUGHT;
    if (c->cancelled && text && ev->tokens > c->tokens_at_cancel) c->events_after_cancel_tokens++;
    if (text && ev->tokens >= 4 && !c->request) {
        pthread_mutex_lock(&c->mu);
        c->request = 1;
        c->tokens_at_cancel = ev->tokens;
        pthread_cond_broadcast(&c->cond);
        while (!c->cancelled) pthread_cond_wait(&c->cond, &c->mu);
        pthread_mutex_unlock(&c->mu);
    }
}

static void *cancel_thread(void *arg) {
    cancel_test *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->request) pthread_cond_wait(&c->cond, &c->mu);
    chat_engine_cancel(c->engine);
    c->cancelled = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void test_cancel_from_another_thread(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    cancel_test c = {.engine = open_engine("ple-kvshare", 2048)};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cond, NULL);
    rec_init(&c.rec);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_thread, &c), 0);
    chat_settings s = chat_settings_defaults();
    s.temperature = 1;
    s.top_k = 0;
    s.top_p = 1;
    s.seed = 11;
    s.max_tokens = 1000;
    assert_int_equal(chat_engine_generate(c.engine, hello, NULL, &s, on_cancel_event, &c), 0);
    if (!c.request) { /* the reply ended before 4 tokens: release the thread, then fail */
        pthread_mutex_lock(&c.mu);
        c.request = 1;
        pthread_cond_broadcast(&c.cond);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_join(th, NULL);
    assert_true(c.cancelled);
    assert_int_equal(c.rec.n_done, 1);
    assert_string_equal(chat_finish_name(c.rec.stats.finish), "cancelled");
    /* the cancel came while the token tokens_at_cancel was being parsed: nothing after it is sampled */
    assert_true(c.rec.stats.completion_tokens <= c.tokens_at_cancel + 1);
    assert_int_equal(c.events_after_cancel_tokens, 0);

    /* the cancel applied to that generation only: the next one runs to max_tokens or its end */
    s.max_tokens = 6;
    recorder r;
    rec_init(&r);
    assert_int_equal(chat_engine_generate(c.engine, hello, NULL, &s, record, &r), 0);
    assert_string_not_equal(chat_finish_name(r.stats.finish), "cancelled");
    /* a cancel between generations stops the next one before its first token */
    chat_engine_cancel(c.engine);
    recorder r2;
    rec_init(&r2);
    assert_int_equal(chat_engine_generate(c.engine, hello, NULL, &s, record, &r2), 0);
    assert_string_equal(chat_finish_name(r2.stats.finish), "cancelled");
    assert_int_equal(r2.stats.completion_tokens, 0);

    rec_done(&r), rec_done(&r2), rec_done(&c.rec);
    pthread_cond_destroy(&c.cond);
    pthread_mutex_destroy(&c.mu);
    chat_engine_close(c.engine);
}

/* ---- the asynchronous job --------------------------------------------------------------- */

/* Drains a job by polling its fd; returns generate's result. */
static int drain_job(chat_job *job, recorder *r) {
    bool last = false;
    while (!last) {
        struct pollfd pfd = {.fd = chat_job_fd(job), .events = POLLIN};
        assert_true(poll(&pfd, 1, 60000) == 1); /* readable within a minute, else the job hangs */
        chat_event ev;
        int got = 0;
        while (chat_job_next(job, &ev)) {
            got++;
            record(&ev, r);
            if (ev.type == CHAT_EVENT_DONE || ev.type == CHAT_EVENT_ERROR) last = true;
        }
        assert_true(got > 0); /* never readable with nothing queued */
    }
    int rc = chat_job_wait(job);
    chat_event ev;
    assert_int_equal(chat_job_next(job, &ev), 0); /* nothing after DONE / ERROR */
    struct pollfd pfd = {.fd = chat_job_fd(job), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0);        /* and the fd is quiet */
    return rc;
}

static void test_job_delivers_every_event_in_order(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    chat_settings s = chat_settings_defaults();
    s.temperature = 2; /* a flat distribution: the random model then says many things */
    s.top_k = 0;
    s.top_p = 1;
    s.seed = 3;
    s.max_tokens = 64;
    s.think = 1;
    chat_engine *a = open_engine("ple-kvshare", 1024), *b = open_engine("ple-kvshare", 1024);
    recorder sync_rec, job_rec;
    rec_init(&sync_rec);
    rec_init(&job_rec);
    assert_int_equal(chat_engine_generate(a, hello, NULL, &s, record, &sync_rec), 0);
    char *err = NULL;
    chat_job *job = chat_job_start(b, hello, NULL, &s, &err);
    assert_non_null(job);
    assert_int_equal(drain_job(job, &job_rec), 0);
    chat_job_free(job);
    if (sync_rec.n_events <= 3) fail_msg("too short a reply to test with:\n%s", rec_log(&sync_rec));
    assert_int_equal(job_rec.n_events, sync_rec.n_events);
    assert_int_equal(job_rec.n_done, 1);
    assert_string_equal(rec_log(&job_rec), rec_log(&sync_rec));
    assert_string_equal(chat_reply_content(job_rec.reply), chat_reply_content(sync_rec.reply));
    assert_string_equal(chat_reply_reasoning(job_rec.reply), chat_reply_reasoning(sync_rec.reply));

    /* a job with bad input ends with its ERROR event; a cancelled job with DONE "cancelled" */
    recorder bad, cancelled;
    rec_init(&bad);
    rec_init(&cancelled);
    job = chat_job_start(b, "[{\"role\":", NULL, &s, &err);
    assert_non_null(job);
    assert_int_equal(drain_job(job, &bad), -1);
    chat_job_free(job);
    assert_int_equal(bad.n_error, 1);
    assert_int_equal(bad.n_events, 1);
    s.max_tokens = 0;
    job = chat_job_start(b, hello, NULL, &s, &err);
    assert_non_null(job);
    chat_job_cancel(job);
    assert_int_equal(drain_job(job, &cancelled), 0);
    chat_job_free(job);
    assert_string_equal(chat_finish_name(cancelled.stats.finish), "cancelled");
    assert_true(cancelled.stats.completion_tokens <= 1);
    /* freeing a job that is still running cancels it */
    job = chat_job_start(b, hello, NULL, &s, &err);
    assert_non_null(job);
    chat_job_free(job);

    rec_done(&sync_rec), rec_done(&job_rec), rec_done(&bad), rec_done(&cancelled);
    chat_engine_close(a);
    chat_engine_close(b);
}

/* ---- a full context, bad requests ---------------------------------------------------------- */

static void test_full_context_finishes_with_context(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    mu_golden *gold = malloc(sizeof *gold);
    assert_non_null(gold);
    assert_int_equal(mu_read_golden(tu_path("%s/fixtures/models/dense-tiny/golden.json", tu_shared()), gold), 0);
    int n_ctx = gold->n_tokens + 5;
    chat_engine *e = open_engine("dense-tiny", n_ctx);
    assert_int_equal(chat_engine_context_size(e), n_ctx);
    assert_string_equal(chat_engine_model_name(e), "model");
    for (int k = 0; k < 6; k++) assert_false(g4_vocab_is_eog(g4_model_vocab(chat_engine_model(e)), gold->greedy[k]));
    chat_settings s = greedy(0); /* no max_tokens: only the context stops it */
    recorder r;
    rec_init(&r);
    assert_int_equal(chat_engine_generate_ids(e, gold->tokens, gold->n_tokens, &s, record, &r), 0);
    assert_string_equal(chat_finish_name(r.stats.finish), "context");
    assert_int_equal(r.stats.context_used, n_ctx);
    assert_int_equal(r.stats.context_size, n_ctx);
    assert_int_equal(r.stats.completion_tokens, n_ctx - gold->n_tokens + 1); /* the last one is sampled, not evaluated */
    int n;
    const int32_t *ids = chat_engine_completion_tokens(e, &n);
    assert_memory_equal(ids, gold->greedy, (size_t)n * sizeof *ids);

    /* a prompt longer than the context is an error, not a crash */
    recorder r2;
    rec_init(&r2);
    int32_t big[64];
    for (int i = 0; i < 64; i++) big[i] = gold->tokens[i % gold->n_tokens];
    assert_int_equal(chat_engine_generate_ids(e, big, 64, &s, record, &r2), -1);
    assert_int_equal(r2.n_error, 1);
    assert_non_null(strstr(r2.error, "context"));
    rec_done(&r), rec_done(&r2);
    chat_engine_close(e);
    free(gold);
}

static void test_bad_requests_are_errors(void **state) {
    (void)state;
    if (!tu_shared()) { print_message("skip: ../shared is absent (set G4_SHARED)\n"); skip(); }
    chat_engine *e = open_engine("dense-tiny", 256);
    static const struct {
        const char *messages, *tools, *words;
    } cases[] = {
        {"not json", NULL, "messages"},
        {"{\"role\":\"user\"}", NULL, "array"},
        {"[1, 2]", NULL, "messages[0]"},
        {"[{\"content\":\"no role\"}]", NULL, "role"},
        {hello, "{\"type\":\"function\"}", "tools"},
        {hello, "[{\"type\":", "tools"},
        {NULL, NULL, "messages"},
    };
    chat_settings s = greedy(4);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        recorder r;
        rec_init(&r);
        assert_int_equal(chat_engine_generate(e, cases[i].messages, cases[i].tools, &s, record, &r), -1);
        assert_int_equal(r.n_events, 1);
        assert_int_equal(r.n_error, 1);
        if (!strstr(r.error, cases[i].words)) fail_msg("case %zu: '%s' does not mention '%s'", i, r.error, cases[i].words);
        rec_done(&r);
    }
    /* bad settings and token ids */
    chat_settings bad = greedy(4);
    bad.top_p = 2;
    recorder r;
    rec_init(&r);
    assert_int_equal(chat_engine_generate(e, hello, NULL, &bad, record, &r), -1);
    assert_int_equal(r.n_error, 1);
    int32_t ids[] = {2, 100000};
    assert_int_equal(chat_engine_generate_ids(e, ids, 2, &s, record, &r), -1);
    assert_int_equal(r.n_error, 2);
    assert_non_null(strstr(r.error, "vocabulary"));
    /* the engine still works */
    assert_int_equal(chat_engine_generate(e, hello, NULL, &s, record, &r), 0);
    assert_int_equal(r.n_done, 1);
    rec_done(&r);
    chat_engine_close(e);

    /* opening: a missing file, a model without a tokenizer, a context beyond the trained one */
    char *err = NULL;
    chat_engine_params p = {.threads = 1};
    assert_null(chat_engine_open(tu_path("%s/none.gguf", tu_tmpdir()), &p, &err));
    assert_non_null(err);
    free(err);
    assert_null(chat_engine_open(tu_path("%s/fixtures/models/dense-tiny", tu_shared()), &p, &err));
    assert_non_null(strstr(err, "tokenizer"));
    free(err);
    p.n_ctx = 1 << 30;
    assert_null(chat_engine_open(model_path("dense-tiny"), &p, &err));
    assert_non_null(strstr(err, "trained"));
    free(err);
}

/* ---- the assistant message ----------------------------------------------------------------- */

static void test_reply_message(void **state) {
    (void)state;
    chat_reply *r = chat_reply_new();
    assert_non_null(r);
    chat_event evs[] = {
        {.type = CHAT_EVENT_PROGRESS, .progress_done = 1, .progress_total = 1},
        {.type = CHAT_EVENT_THOUGHT, .text = "Let me see.xx", .len = 11},
        {.type = CHAT_EVENT_ANSWER, .text = "It is ", .len = 6},
        {.type = CHAT_EVENT_ANSWER, .text = "\"sunny\"", .len = 7},
        {.type = CHAT_EVENT_TOOL_CALL_BEGIN, .tool_name = "get_weather", .tool_id = "call_1"},
        {.type = CHAT_EVENT_TOOL_CALL_ARGS, .text = "{\"city\":", .len = 8, .tool_id = "call_1"},
        {.type = CHAT_EVENT_TOOL_CALL_END, .text = "{\"city\":\"Paris\"}", .len = 16, .tool_name = "get_weather", .tool_id = "call_1"},
    };
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++) assert_int_equal(chat_reply_add(r, &evs[i]), 0);
    assert_string_equal(chat_reply_content(r), "It is \"sunny\"");
    assert_string_equal(chat_reply_reasoning(r), "Let me see.");
    assert_int_equal(chat_reply_tool_call_count(r), 1);
    char *msg = chat_reply_message_json(r);
    assert_string_equal(msg, "{\"role\":\"assistant\",\"content\":\"It is \\\"sunny\\\"\",\"reasoning\":\"Let me see.\","
                             "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                             "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}");
    /* the canonical template reads it back as an earlier turn: the call and its
     * arguments, the reasoning dropped */
    char *with_msg = chat_messages_append(hello, msg);
    assert_non_null(with_msg);
    char *conv = chat_messages_append(with_msg, "{\"role\":\"user\",\"content\":\"Thanks\"}");
    assert_non_null(conv);
    free(with_msg);
    g4_chat_request req = {.messages_json = conv};
    char *prompt = g4_chat_render(g4_chat_template_builtin(0), &req);
    if (!prompt) fail_msg("render: %s", g4_last_error());
    assert_non_null(strstr(prompt, "call:get_weather{city:<|\"|>Paris<|\"|>}"));
    assert_non_null(strstr(prompt, "It is \"sunny\""));
    assert_null(strstr(prompt, "Let me see."));
    free(prompt);
    free(conv);
    free(msg);
    chat_reply_free(r);

    /* only tool calls: content is null; nothing at all: "" */
    r = chat_reply_new();
    assert_int_equal(chat_reply_add(r, &evs[6]), 0);
    msg = chat_reply_message_json(r);
    assert_non_null(strstr(msg, "\"content\":null"));
    free(msg);
    chat_reply_free(r);
    r = chat_reply_new();
    msg = chat_reply_message_json(r);
    assert_string_equal(msg, "{\"role\":\"assistant\",\"content\":\"\"}");
    free(msg);
    chat_reply_free(r);

    /* appending refuses what is not an array and an object */
    assert_null(chat_messages_append("{}", "{}"));
    assert_null(chat_messages_append("[]", "[]"));
    assert_null(chat_messages_append("[", "{}"));
    char *one = chat_messages_append("[]", "{\"role\":\"user\",\"content\":\"x\"}");
    assert_string_equal(one, "[{\"role\":\"user\",\"content\":\"x\"}]");
    free(one);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_message),
        cmocka_unit_test(test_greedy_matches_golden),
        cmocka_unit_test(test_greedy_chat_matches_decode_loop),
        cmocka_unit_test(test_second_turn_reuses_cache),
        cmocka_unit_test(test_cancel_from_another_thread),
        cmocka_unit_test(test_job_delivers_every_event_in_order),
        cmocka_unit_test(test_full_context_finishes_with_context),
        cmocka_unit_test(test_bad_requests_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
