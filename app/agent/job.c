/* job.c: agent_run on a worker thread (job.h). The worker copies every item (with
 * its strings) onto a pollable queue (util/pollq), so the UI can poll it with the
 * keyboard. An approval question waits on a condition variable until
 * agent_job_answer or a cancel. */
#include "agent/job.h"
#include "util/pollq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    pollq_link link;
    agent_job_item item;       /* its strings point to the copies below */
    char *text, *name, *id, *args, *content;
} node;

struct agent_job {
    agent_params params;
    char *messages, *tools_json, *json_schema, *grammar, *tool_name;
    atomic_int cancel;
    pthread_t thread;
    pthread_mutex_t mu;        /* the question, the history at the end */
    pthread_cond_t answered_cv;
    bool asking, answered;
    agent_decision decision;
    pollq queue;
    node *current;             /* the item agent_job_next returned last (its strings are live) */
};

static void node_free(node *n) {
    if (!n) return;
    free(n->text), free(n->name), free(n->id), free(n->args), free(n->content);
    free(n);
}

static void link_free(pollq_link *l) { node_free((node *)l); }

static char *dup_n(const char *s, size_t len) {
    char *c = malloc(len + 1);
    if (c) memcpy(c, s, len), c[len] = '\0';
    return c;
}

/* Queues n (a copy failed: it is dropped, the UI sees the rest). */
static void push(agent_job *job, node *n, bool ok) {
    if (!ok) {
        node_free(n);
        return;
    }
    pollq_push(&job->queue, &n->link);
}

static void on_chat(const chat_event *ev, void *user) {
    node *n = calloc(1, sizeof *n);
    if (!n) return;
    bool ok = true;
    n->item.type = AGENT_JOB_CHAT;
    n->item.chat = *ev;
    if (ev->text && !(n->item.chat.text = n->text = dup_n(ev->text, ev->len))) ok = false;
    if (ev->tool_name && !(n->item.chat.tool_name = n->name = strdup(ev->tool_name))) ok = false;
    if (ev->tool_id && !(n->item.chat.tool_id = n->id = strdup(ev->tool_id))) ok = false;
    push(user, n, ok);
}

static void on_agent(const agent_event *ev, void *user) {
    node *n = calloc(1, sizeof *n);
    if (!n) return;
    bool ok = true;
    n->item.type = AGENT_JOB_AGENT;
    n->item.agent = *ev;
    n->item.agent.result = NULL;
    if (ev->tool_name && !(n->item.agent.tool_name = n->name = strdup(ev->tool_name))) ok = false;
    if (ev->tool_id && !(n->item.agent.tool_id = n->id = strdup(ev->tool_id))) ok = false;
    if (ev->result) {
        n->item.result = *ev->result;
        if (!(n->item.result.content = n->content = strdup(ev->result->content ? ev->result->content : ""))) ok = false;
        n->item.agent.result = &n->item.result;
    }
    push(user, n, ok);
}

static agent_decision on_ask(const char *tool_name, const char *arguments, void *user) {
    agent_job *job = user;
    node *n = calloc(1, sizeof *n);
    if (!n || !(n->name = strdup(tool_name)) || !(n->args = strdup(arguments))) {
        node_free(n);
        return AGENT_DECIDE_NO;
    }
    n->item = (agent_job_item){.type = AGENT_JOB_ASK, .tool_name = n->name, .arguments = n->args};
    pthread_mutex_lock(&job->mu);
    job->asking = true;
    job->answered = false;
    pthread_mutex_unlock(&job->mu);
    push(job, n, true);
    pthread_mutex_lock(&job->mu);
    while (!job->answered && !atomic_load(&job->cancel)) pthread_cond_wait(&job->answered_cv, &job->mu);
    agent_decision d = job->answered ? job->decision : AGENT_DECIDE_NO;
    job->asking = false;
    pthread_mutex_unlock(&job->mu);
    return d;
}

static void *worker(void *arg) {
    agent_job *job = arg;
    int finish = agent_run(&job->params, &job->messages);
    node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->item = (agent_job_item){.type = AGENT_JOB_END, .finish = finish};
    pthread_mutex_lock(&job->mu);
    n->item.messages = n->content = job->messages; /* the history moves into the item */
    job->messages = NULL;
    pthread_mutex_unlock(&job->mu);
    push(job, n, true);
    return NULL;
}

static bool copy(char **dst, const char **field) {
    if (!*field) return true;
    *dst = strdup(*field);
    *field = *dst;
    return *dst != NULL;
}

agent_job *agent_job_start(const agent_params *params, const char *messages_json, char **err) {
    *err = NULL;
    agent_job *job = calloc(1, sizeof *job);
    if (!job) return *err = strdup("out of memory"), NULL;
    job->params = *params;
    atomic_init(&job->cancel, 0);
    job->params.on_chat_event = on_chat;
    job->params.on_agent_event = on_agent;
    job->params.ask = on_ask;
    job->params.user = job;
    job->params.cancel = &job->cancel;
    bool ok = (job->messages = strdup(messages_json)) && copy(&job->tools_json, &job->params.tools_json) &&
              copy(&job->json_schema, &job->params.settings.json_schema) &&
              copy(&job->grammar, &job->params.settings.grammar) && copy(&job->tool_name, &job->params.settings.tool_name);
    bool queue_ready = false;
    if (!ok) *err = strdup("out of memory starting the agent");
    else ok = queue_ready = pollq_init(&job->queue, err) == 0;
    if (ok) {
        pthread_mutex_init(&job->mu, NULL);
        pthread_cond_init(&job->answered_cv, NULL);
        int e = pthread_create(&job->thread, NULL, worker, job);
        if (!e) return job;
        pthread_cond_destroy(&job->answered_cv);
        pthread_mutex_destroy(&job->mu);
        if (asprintf(err, "cannot start a thread for the agent: %s", strerror(e)) < 0) *err = NULL;
    }
    if (queue_ready) pollq_destroy(&job->queue, link_free);
    free(job->messages), free(job->tools_json), free(job->json_schema), free(job->grammar), free(job->tool_name);
    free(job);
    return NULL;
}

int agent_job_fd(const agent_job *job) { return pollq_fd(&job->queue); }

int agent_job_next(agent_job *job, agent_job_item *item) {
    node_free(job->current);
    job->current = (node *)pollq_pop(&job->queue);
    if (job->current) *item = job->current->item;
    return job->current != NULL;
}

void agent_job_answer(agent_job *job, agent_decision decision) {
    pthread_mutex_lock(&job->mu);
    if (job->asking && !job->answered) {
        job->decision = decision;
        job->answered = true;
        pthread_cond_broadcast(&job->answered_cv);
    }
    pthread_mutex_unlock(&job->mu);
}

void agent_job_cancel(agent_job *job) {
    pthread_mutex_lock(&job->mu);
    atomic_store(&job->cancel, 1);
    pthread_cond_broadcast(&job->answered_cv);
    pthread_mutex_unlock(&job->mu);
}

void agent_job_free(agent_job *job) {
    if (!job) return;
    agent_job_cancel(job);
    pthread_join(job->thread, NULL);
    node_free(job->current);
    pollq_destroy(&job->queue, link_free);
    pthread_cond_destroy(&job->answered_cv);
    pthread_mutex_destroy(&job->mu);
    free(job->messages), free(job->tools_json), free(job->json_schema), free(job->grammar), free(job->tool_name);
    free(job);
}
