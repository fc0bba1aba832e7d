/* test_server_scheduler.c: the server's continuous-batching scheduler
 * (app/server/scheduler.c) on a fixture model (with its 512-token tokenizer):
 * greedy completions run together give the text the single-sequence chat engine
 * (app/chat/, an independent path) gives for each; a cancelled stream ends with
 * "abort" and frees its slot; a full queue answers 429; a follow-up prompt reuses
 * its slot's cached prefix. */
#include "testutil.h"
#include "chat/chat.h"
#include "server/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *model_path(void) { return tu_path("%s/fixtures/models/ple-kvshare/model.gguf", tu_shared()); }

/* A completion request for prompt ids (copied) with greedy decoding. */
static srv_stream *completion(const int32_t *ids, int n, int max_tokens) {
    srv_request r;
    memset(&r, 0, sizeof r);
    r.kind = SRV_COMPLETION;
    r.temperature = 0;
    r.top_p = 1;
    r.min_p = 0;
    r.top_k = -1;
    r.seed = 1;
    r.n = 1;
    r.max_tokens = max_tokens;
    int32_t *copy = malloc((size_t)n * sizeof *copy);
    memcpy(copy, ids, (size_t)n * sizeof *copy);
    return srv_stream_new(&r, copy, n, 1);
}

/* Collects a stream's text until DONE; returns the DONE event (caller frees). */
static srv_event *drain(srv_stream *s, char *text, size_t cap) {
    text[0] = '\0';
    for (int waited = 0; waited < 600; waited++) {
        srv_event *ev = srv_stream_pop(s, 100);
        if (!ev) continue;
        if (ev->type == SRV_EV_CONTENT) strncat(text, ev->text, cap - strlen(text) - 1);
        if (ev->type == SRV_EV_DONE || ev->type == SRV_EV_ERROR) return ev;
        srv_event_free(ev);
    }
    fail_msg("the stream did not finish");
    return NULL;
}

static void ignore_event(const chat_event *ev, void *user) {
    (void)ev;
    (void)user;
}

static srv_sched *open_sched(g4_model *m, int slots, int queue) {
    char err[256];
    srv_sched_params p = {.n_slots = slots, .n_ctx = 512, .queue_limit = queue, .prompt_chunk = 16, .threads = 1};
    srv_sched *s = srv_sched_new(m, &p, err, sizeof err);
    if (!s) fail_msg("srv_sched_new: %s", err);
    return s;
}

static void test_batched_equals_alone(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    /* the reference: each prompt alone through the chat engine */
    char *err = NULL;
    chat_engine_params ep = {.n_ctx = 512, .threads = 1};
    chat_engine *e = chat_engine_open(model_path(), &ep, &err);
    if (!e) fail_msg("chat_engine_open: %s", err);
    const g4_vocab *v = g4_model_vocab(chat_engine_model(e));
    enum { N = 4, MAX = 20 };
    const char *prompts[N] = {"Once upon a time", "The weather today", "In a hole in the ground", "Hello"};
    int32_t ids[N][64];
    int n[N];
    char want[N][4096];
    for (int i = 0; i < N; i++) {
        n[i] = g4_tokenize(v, prompts[i], strlen(prompts[i]), G4_TOKENIZE_ADD_BOS, ids[i], 64);
        assert_true(n[i] > 1 && n[i] <= 64);
        chat_settings s = chat_settings_defaults();
        s.temperature = 0;
        s.repeat_penalty = 1;
        s.max_tokens = MAX;
        assert_int_equal(chat_engine_generate_ids(e, ids[i], n[i], &s, ignore_event, NULL), 0);
        int nt;
        const int32_t *toks = chat_engine_completion_tokens(e, &nt);
        g4_detokenizer *d = g4_detokenizer_new(v, G4_DETOK_SKIP_SPECIAL);
        size_t off = 0;
        for (int k = 0; k < nt && !g4_vocab_is_eog(v, toks[k]); k++) {
            int w = g4_detokenize(d, toks[k], want[i] + off, sizeof want[i] - off - 1);
            if (w > 0) off += (size_t)w;
        }
        int w;
        while ((w = g4_detokenize_flush(d, want[i] + off, sizeof want[i] - off - 1)) > 0) off += (size_t)w;
        want[i][off] = '\0';
        g4_detokenizer_free(d);
    }
    size_t total = 0;
    for (int i = 0; i < N; i++) total += strlen(want[i]);
    assert_true(total > 0); /* the comparison below is not of empty texts */
    chat_engine_close(e);

    g4_model *m = g4_model_load(model_path());
    assert_non_null(m);
    srv_sched *sched = open_sched(m, 3, 8); /* 4 requests on 3 slots: one waits, then joins */
    srv_stream *st[N];
    srv_error er;
    for (int i = 0; i < N; i++) {
        st[i] = completion(ids[i], n[i], MAX);
        assert_int_equal(srv_sched_submit(sched, st[i], &er), 0);
    }
    for (int i = 0; i < N; i++) {
        char got[4096];
        srv_event *done = drain(st[i], got, sizeof got);
        assert_int_equal(done->type, SRV_EV_DONE);
        assert_int_equal(done->prompt_tokens, n[i]);
        if (strcmp(got, want[i])) fail_msg("prompt %d: batched '%s', alone '%s'", i, got, want[i]);
        srv_event_free(done);
        srv_stream_unref(st[i]);
    }
    srv_sched_free(sched);
    g4_model_free(m);
}

static void test_cancel_queue_and_reuse(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    g4_model *m = g4_model_load(model_path());
    assert_non_null(m);
    const g4_vocab *v = g4_model_vocab(m);
    srv_sched *sched = open_sched(m, 1, 0);
    int32_t ids[64];
    int n = g4_tokenize(v, "Tell me a long story", 20, G4_TOKENIZE_ADD_BOS, ids, 64);
    srv_error er;
    srv_stream *longer = completion(ids, n, 400);
    assert_int_equal(srv_sched_submit(sched, longer, &er), 0);
    /* one slot, no queue: the next request is refused while the first runs */
    srv_stream *extra = completion(ids, n, 4);
    srv_event *first = srv_stream_pop(longer, 5000); /* generation has started */
    assert_non_null(first);
    srv_event_free(first);
    assert_int_equal(srv_sched_submit(sched, extra, &er), -1);
    assert_int_equal(er.status, 429);
    srv_stream_unref(extra);
    srv_stream_cancel(longer);
    char text[4096];
    srv_event *done = drain(longer, text, sizeof text);
    assert_int_equal(done->type, SRV_EV_DONE);
    assert_int_equal(done->finish, SRV_FINISH_CANCELLED);
    assert_true(done->completion_tokens < 400);
    srv_event_free(done);
    srv_stream_unref(longer);
    for (int i = 0; i < 100 && srv_sched_load(sched); i++) nanosleep(&(struct timespec){0, 10000000L}, NULL);
    assert_int_equal(srv_sched_load(sched), 0);
    /* a follow-up whose prompt extends the last one reuses the slot's cache */
    srv_stream *a = completion(ids, n, 4);
    assert_int_equal(srv_sched_submit(sched, a, &er), 0);
    srv_event_free(drain(a, text, sizeof text));
    srv_stream_unref(a);
    int32_t more[128];
    memcpy(more, ids, (size_t)n * sizeof *ids);
    int n2 = n + g4_tokenize(v, " and more", 9, 0, more + n, 64);
    srv_stream *b = completion(more, n2, 4);
    assert_int_equal(srv_sched_submit(sched, b, &er), 0);
    done = drain(b, text, sizeof text);
    assert_int_equal(done->type, SRV_EV_DONE);
    assert_int_equal(done->cached_tokens, n);
    srv_event_free(done);
    srv_stream_unref(b);
    srv_sched_free(sched);
    g4_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_equals_alone),
        cmocka_unit_test(test_cancel_queue_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
