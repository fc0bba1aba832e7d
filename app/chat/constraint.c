/* constraint.c: structured output for a chat turn (constraint.h): the plan (which
 * grammars a request needs), the cache of compiled grammars, and the constraint
 * that follows one generation through the Gemma 4 turn:
 *
 *   START    the model may open a thought channel (thinking on) or start the answer
 *   THOUGHT  free text, but the turn may not end (nor a call start) before the
 *            channel closes when an answer is required
 *   ANSWER   the answer grammar's mask (when there is one); with tool_choice "auto"
 *            a <|tool_call> may open a call before the answer starts
 *   CALL     the call grammar's mask, from <|tool_call> to <tool_call|>
 *   AFTER    after a call, when an answer grammar exists: another call or the end */
#include "chat/constraint.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && n) vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the plan ---- */

/* tools_json with only the tool called name (malloc'd), or NULL when it has none. */
static char *only_tool(const char *tools_json, const char *name) {
    json_t *tools = json_loads(tools_json, 0, NULL);
    json_t *kept = json_array();
    size_t i;
    json_t *t;
    if (json_is_array(tools))
        json_array_foreach(tools, i, t) {
            json_t *fn = json_object_get(t, "function");
            const char *n = json_string_value(json_object_get(fn ? fn : t, "name"));
            if (n && !strcmp(n, name)) json_array_append(kept, t);
        }
    char *out = kept && json_array_size(kept) ? json_dumps(kept, JSON_COMPACT) : NULL;
    json_decref(kept);
    json_decref(tools);
    return out;
}

/* Checks that gbnf parses with start rule root. */
static int check_gbnf(const char *what, const char *gbnf, const char *root, char *err, size_t n) {
    g4_grammar *g = g4_grammar_parse(gbnf, root);
    if (!g) return failf(err, n, "%s: %s", what, g4_last_error());
    g4_grammar_free(g);
    return 0;
}

int chat_constraint_plan_make(const chat_constraint_spec *s, chat_constraint_plan *p, char *err, size_t n) {
    memset(p, 0, sizeof *p);
    if (s->json_schema && s->grammar) return failf(err, n, "give a JSON schema or a grammar, not both");
    bool tools = s->tools_json != NULL;
    if ((s->tool_choice == CHAT_TOOLS_REQUIRED || s->tool_choice == CHAT_TOOLS_NAMED) && !tools)
        return failf(err, n, "tool_choice \"%s\" needs tools", s->tool_choice == CHAT_TOOLS_NAMED ? "named" : "required");
    if (tools && s->tool_choice == CHAT_TOOLS_NAMED) {
        char *one = only_tool(s->tools_json, s->tool_name ? s->tool_name : "");
        if (!one) return failf(err, n, "tool_choice names '%s', which is not among the tools", s->tool_name ? s->tool_name : "");
        p->answer_gbnf = g4_grammar_from_tools(one);
        free(one);
        p->answer_root = "call";
    } else if (tools && s->tool_choice == CHAT_TOOLS_REQUIRED) {
        p->answer_gbnf = g4_grammar_from_tools(s->tools_json);
        p->answer_root = s->one_call ? "call" : "root";
    } else if (s->json_schema) {
        p->answer_gbnf = g4_grammar_from_json_schema(s->json_schema);
        p->answer_root = "root";
    } else if (s->grammar) {
        if (!(p->answer_gbnf = strdup(s->grammar))) return failf(err, n, "out of memory");
        p->answer_root = "root";
    }
    if (p->answer_root && !p->answer_gbnf) {
        failf(err, n, "%s", g4_last_error());
        chat_constraint_plan_free(p);
        return -1;
    }
    if (p->answer_gbnf && check_gbnf("grammar", p->answer_gbnf, p->answer_root, err, n)) {
        chat_constraint_plan_free(p);
        return -1;
    }
    /* tool_choice auto: the calls the model opens follow their schemas, when every
     * tool's schema compiles (else the calls stay as the model writes them) */
    if (tools && s->tool_choice == CHAT_TOOLS_AUTO) {
        p->call_gbnf = g4_grammar_from_tools(s->tools_json);
        p->call_root = "call";
        if (p->call_gbnf && check_gbnf("tools", p->call_gbnf, "call", NULL, 0)) {
            free(p->call_gbnf);
            p->call_gbnf = NULL;
        }
        if (!p->call_gbnf) p->call_root = NULL;
    }
    return p->answer_gbnf || p->call_gbnf;
}

void chat_constraint_plan_free(chat_constraint_plan *p) {
    if (!p) return;
    free(p->answer_gbnf);
    free(p->call_gbnf);
    memset(p, 0, sizeof *p);
}

/* ---- compiled grammars ---- */

struct chat_grammar {
    chat_grammar_cache *cache;
    int refs;
    char *gbnf, *root;
    g4_grammar *grammar;
    g4_grammar_matcher *first;   /* the first matcher: the others share its masks */
    uint64_t last_use;
};

struct chat_grammar_cache {
    const g4_vocab *vocab;
    g4_grammar_vocab *gv;        /* built on first use */
    chat_grammar **entries;
    int n, capacity;
    uint64_t clock;
};

chat_grammar_cache *chat_grammar_cache_new(const g4_vocab *vocab, int capacity) {
    chat_grammar_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->vocab = vocab;
    c->capacity = capacity > 0 ? capacity : 1;
    if (!(c->entries = calloc((size_t)c->capacity, sizeof *c->entries))) {
        free(c);
        return NULL;
    }
    return c;
}

void chat_grammar_release(chat_grammar *g) {
    if (!g || --g->refs > 0) return;
    g4_grammar_matcher_free(g->first);
    g4_grammar_free(g->grammar);
    free(g->gbnf);
    free(g->root);
    free(g);
}

void chat_grammar_cache_free(chat_grammar_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) chat_grammar_release(c->entries[i]);
    g4_grammar_vocab_free(c->gv);
    free(c->entries);
    free(c);
}

chat_grammar *chat_grammar_get(chat_grammar_cache *c, const char *gbnf, const char *root, char *err, size_t n) {
    for (int i = 0; i < c->n; i++) {
        chat_grammar *g = c->entries[i];
        if (!strcmp(g->gbnf, gbnf) && !strcmp(g->root, root)) {
            g->last_use = ++c->clock;
            g->refs++;
            return g;
        }
    }
    if (!c->gv && !(c->gv = g4_grammar_vocab_new(c->vocab))) return failf(err, n, "%s", g4_last_error()), NULL;
    chat_grammar *g = calloc(1, sizeof *g);
    if (!g || !(g->gbnf = strdup(gbnf)) || !(g->root = strdup(root))) {
        if (g) free(g->gbnf);
        free(g);
        return failf(err, n, "out of memory"), NULL;
    }
    g->cache = c;
    g->refs = 1;
    if (!(g->grammar = g4_grammar_parse(gbnf, root)) || !(g->first = g4_grammar_matcher_new(g->grammar, c->gv))) {
        failf(err, n, "grammar: %s", g4_last_error());
        chat_grammar_release(g);
        return NULL;
    }
    if (c->n == c->capacity) { /* evict the least recently used */
        int lru = 0;
        for (int i = 1; i < c->n; i++)
            if (c->entries[i]->last_use < c->entries[lru]->last_use) lru = i;
        chat_grammar_release(c->entries[lru]);
        c->entries[lru] = c->entries[--c->n];
    }
    c->entries[c->n++] = g;
    g->refs++; /* the cache's and the caller's */
    g->last_use = ++c->clock;
    return g;
}

/* ---- one generation ---- */

typedef enum { PH_START, PH_THOUGHT, PH_ANSWER, PH_CALL, PH_AFTER } phase;

enum { MAX_EOG = 8 };

struct chat_constraint {
    chat_grammar *answer, *call;
    g4_grammar_matcher *m_answer, *m_call;
    phase ph;
    bool answer_started;
    int32_t soc, eoc, stc;       /* <|channel> <channel|> <|tool_call> (-1 when absent) */
    int32_t eog[MAX_EOG];
    int n_eog;
    int n_vocab;
    double mask_seconds;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Whether the prompt ends inside an open thought channel: its last structural
 * marker is <|channel> (the post-tool cue "<|channel>thought\n"). */
static bool ends_in_thought(const g4_vocab *v, const int32_t *ids, int n) {
    static const char *const pieces[] = {"<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>",
                                         "<|turn>",    "<turn|>",    "<|tool_response>", "<tool_response|>"};
    enum { N_MARKERS = sizeof pieces / sizeof pieces[0] };
    int32_t markers[N_MARKERS];
    for (int k = 0; k < N_MARKERS; k++) markers[k] = g4_vocab_find(v, pieces[k]);
    for (int i = n - 1; i >= 0; i--)
        for (int k = 0; k < N_MARKERS; k++)
            if (markers[k] >= 0 && ids[i] == markers[k]) return k == 0;
    return false;
}

chat_constraint *chat_constraint_new(chat_grammar *answer, chat_grammar *call, const g4_vocab *vocab,
                                     const int32_t *prompt, int n_prompt, bool thinking, char *err, size_t n) {
    chat_constraint *c = calloc(1, sizeof *c);
    if (!c) return failf(err, n, "out of memory"), NULL;
    c->n_vocab = g4_vocab_size(vocab);
    c->soc = g4_vocab_find(vocab, "<|channel>");
    c->eoc = g4_vocab_find(vocab, "<channel|>");
    c->stc = g4_vocab_find(vocab, "<|tool_call>");
    static const char *const eog_pieces[] = {"<turn|>", "<|tool_response>", "<end_of_turn>", "<eos>"};
    if (g4_vocab_eos(vocab) >= 0) c->eog[c->n_eog++] = g4_vocab_eos(vocab);
    for (size_t i = 0; i < sizeof eog_pieces / sizeof eog_pieces[0]; i++) {
        int32_t id = g4_vocab_find(vocab, eog_pieces[i]);
        if (id >= 0 && id != g4_vocab_eos(vocab) && g4_vocab_is_eog(vocab, id)) c->eog[c->n_eog++] = id;
    }
    if (answer) {
        c->answer = answer, answer->refs++;
        if (!(c->m_answer = g4_grammar_matcher_fork(answer->first))) goto fail;
    }
    if (call) {
        c->call = call, call->refs++;
        if (!(c->m_call = g4_grammar_matcher_fork(call->first))) goto fail;
    }
    c->ph = ends_in_thought(vocab, prompt, n_prompt) ? PH_THOUGHT : thinking && c->soc >= 0 ? PH_START : PH_ANSWER;
    return c;
fail:
    failf(err, n, "grammar: %s", g4_last_error());
    chat_constraint_free(c);
    return NULL;
}

void chat_constraint_free(chat_constraint *c) {
    if (!c) return;
    g4_grammar_matcher_free(c->m_answer);
    g4_grammar_matcher_free(c->m_call);
    chat_grammar_release(c->answer);
    chat_grammar_release(c->call);
    free(c);
}

double chat_constraint_mask_seconds(const chat_constraint *c) {
    return c ? c->mask_seconds : 0;
}

static void ban(float *logits, int32_t id) {
    if (id >= 0) logits[id] = -INFINITY;
}

/* Applies matcher m, keeping the logits of up to two extra tokens (-1: none). */
static int apply_keeping(g4_grammar_matcher *m, float *logits, int32_t keep1, int32_t keep2) {
    float v1 = keep1 >= 0 ? logits[keep1] : 0, v2 = keep2 >= 0 ? logits[keep2] : 0;
    if (g4_grammar_matcher_apply(m, logits) < 0) return -1;
    if (keep1 >= 0) logits[keep1] = v1;
    if (keep2 >= 0) logits[keep2] = v2;
    return 0;
}

bool chat_constraint_masks(const chat_constraint *c) {
    switch (c->ph) {
    case PH_START:
    case PH_ANSWER:
    case PH_THOUGHT: return c->m_answer != NULL;
    case PH_CALL:
    case PH_AFTER: return true;
    }
    return true;
}

int chat_constraint_apply(chat_constraint *c, float *logits) {
    double t0 = now();
    int rc = 0;
    switch (c->ph) {
    case PH_THOUGHT:
        if (c->m_answer) { /* the answer must still come */
            for (int i = 0; i < c->n_eog; i++) ban(logits, c->eog[i]);
            ban(logits, c->stc);
        }
        break;
    case PH_CALL: rc = g4_grammar_matcher_apply(c->m_call, logits) < 0 ? -1 : 0; break;
    case PH_AFTER: { /* another call or the end */
        float v[MAX_EOG + 1];
        for (int i = 0; i < c->n_eog; i++) v[i] = logits[c->eog[i]];
        v[c->n_eog] = c->stc >= 0 ? logits[c->stc] : 0;
        for (int i = 0; i < c->n_vocab; i++) logits[i] = -INFINITY;
        for (int i = 0; i < c->n_eog; i++) logits[c->eog[i]] = v[i];
        if (c->stc >= 0) logits[c->stc] = v[c->n_eog];
        break;
    }
    case PH_START:
    case PH_ANSWER:
        if (c->m_answer)
            rc = apply_keeping(c->m_answer, logits, c->ph == PH_START ? c->soc : -1,
                               c->m_call && !c->answer_started ? c->stc : -1);
        break;
    }
    c->mask_seconds += now() - t0;
    return rc;
}

static int open_call(chat_constraint *c, int32_t token) {
    g4_grammar_matcher_reset(c->m_call);
    if (g4_grammar_matcher_accept(c->m_call, token)) return -1;
    c->ph = PH_CALL;
    return 0;
}

int chat_constraint_accept(chat_constraint *c, int32_t token) {
    switch (c->ph) {
    case PH_START:
        if (token == c->soc) {
            c->ph = PH_THOUGHT;
            return 0;
        }
        c->ph = PH_ANSWER;
        return chat_constraint_accept(c, token);
    case PH_THOUGHT:
        if (token == c->eoc) c->ph = PH_ANSWER;
        else if (token == c->stc && c->m_call && !c->m_answer) return open_call(c, token);
        return 0;
    case PH_ANSWER:
        if (c->m_call && token == c->stc && (!c->m_answer || !c->answer_started)) return open_call(c, token);
        c->answer_started = true;
        return c->m_answer ? g4_grammar_matcher_accept(c->m_answer, token) : 0;
    case PH_CALL:
        if (g4_grammar_matcher_accept(c->m_call, token)) return -1;
        if (g4_grammar_matcher_complete(c->m_call)) c->ph = c->m_answer ? PH_AFTER : PH_ANSWER;
        return 0;
    case PH_AFTER:
        if (token == c->stc) return open_call(c, token);
        return 0;
    }
    return 0;
}
