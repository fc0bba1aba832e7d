/* job.c: chat_engine_generate on a worker thread for UIs (chat_job_*). The
 * worker copies each event (with its text, tool name and id) onto a pollable
 * queue (util/pollq), so the UI can poll it with the keyboard and drain it with
 * chat_job_next. Each job has its own cancel flag, so cancelling a finished job
 * never touches the next. */
#include "chat/run.h"
#include "util/pollq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job_node {
    pollq_link link;
    chat_event ev;      /* text, tool_name and tool_id point into this node's copies */
    char *text, *name, *id;
} job_node;

struct chat_job {
    chat_engine *engine;
    char *messages, *tools;
    chat_settings settings;  /* its strings point to the copies below */
    char *json_schema, *grammar, *tool_name;
    pthread_t thread;
    bool joined, queue_ready;
    int rc;
    atomic_int cancel;
    pollq queue;
    job_node *current;       /* the event chat_job_next returned last (its strings are live) */
    job_node *oom_node;      /* allocated up front: the ERROR queued if a copy fails */
    atomic_bool out_of_memory;
};

static void node_free(job_node *n) {
    if (!n) return;
    free(n->text);
    free(n->name);
    free(n->id);
    free(n);
}

static void link_free(pollq_link *l) { node_free((job_node *)l); }

static char *copy_bytes(const char *s, size_t len) {
    char *c = malloc(len + 1);
    if (c) {
        if (len) memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

/* Queues a copy of ev; after a copy failed, nothing more (the job ends with an error). */
static void on_event(const chat_event *ev, void *user) {
    chat_job *job = user;
    job_node *n = calloc(1, sizeof *n);
    bool ok = n != NULL;
    if (ok) {
        n->ev = *ev;
        if (ev->text && !(n->text = copy_bytes(ev->text, ev->len))) ok = false;
        if (ev->tool_name && !(n->name = strdup(ev->tool_name))) ok = false;
        if (ev->tool_id && !(n->id = strdup(ev->tool_id))) ok = false;
        n->ev.text = n->text;
        n->ev.tool_name = n->name;
        n->ev.tool_id = n->id;
    }
    if (!ok) atomic_store(&job->out_of_memory, true);
    if (ok && !atomic_load(&job->out_of_memory)) pollq_push(&job->queue, &n->link);
    else node_free(n);
}

static void *worker(void *arg) {
    chat_job *job = arg;
    int rc = chat_engine_run(job->engine, job->messages, job->tools, &job->settings, on_event, job, &job->cancel);
    if (atomic_load(&job->out_of_memory)) { /* events were lost: end with an error instead of DONE */
        pollq_push(&job->queue, &job->oom_node->link);
        job->oom_node = NULL;
        rc = -1;
    }
    job->rc = rc;
    return NULL;
}

/* *dst = a copy of *field, and the field points to it (NULL stays NULL). */
static bool copy(char **dst, const char **field) {
    if (!*field) return true;
    *dst = strdup(*field);
    *field = *dst;
    return *dst != NULL;
}

chat_job *chat_job_start(chat_engine *engine, const char *messages_json, const char *tools_json,
                         const chat_settings *settings, char **err) {
    static const char oom_msg[] = "out of memory: part of the reply was lost";
    if (err) *err = NULL;
    chat_job *job = calloc(1, sizeof *job);
    if (!job) goto oom;
    job->engine = engine;
    job->settings = settings ? *settings : chat_settings_defaults();
    atomic_init(&job->cancel, 0);
    atomic_init(&job->out_of_memory, false);
    if (!(job->messages = strdup(messages_json ? messages_json : "null"))) goto oom;
    if (tools_json && !(job->tools = strdup(tools_json))) goto oom;
    if (!copy(&job->json_schema, &job->settings.json_schema) || !copy(&job->grammar, &job->settings.grammar) ||
        !copy(&job->tool_name, &job->settings.tool_name))
        goto oom;
    if (!(job->oom_node = calloc(1, sizeof *job->oom_node)) || !(job->oom_node->text = strdup(oom_msg))) goto oom;
    job->oom_node->ev = (chat_event){.type = CHAT_EVENT_ERROR, .text = job->oom_node->text, .len = strlen(oom_msg)};
    if (pollq_init(&job->queue, err)) goto fail;
    job->queue_ready = true;
    int e = pthread_create(&job->thread, NULL, worker, job);
    if (e) {
        if (err && asprintf(err, "cannot start a thread for the reply: %s", strerror(e)) < 0) *err = NULL;
        goto fail;
    }
    return job;
oom:
    if (err) *err = strdup("out of memory starting a reply");
fail:
    if (job) {
        if (job->queue_ready) pollq_destroy(&job->queue, link_free);
        node_free(job->oom_node);
        free(job->messages);
        free(job->tools);
        free(job->json_schema), free(job->grammar), free(job->tool_name);
        free(job);
    }
    return NULL;
}

int chat_job_fd(const chat_job *job) { return pollq_fd(&job->queue); }

int chat_job_next(chat_job *job, chat_event *event) {
    node_free(job->current);
    job->current = (job_node *)pollq_pop(&job->queue);
    if (job->current) *event = job->current->ev;
    return job->current != NULL;
}

void chat_job_cancel(chat_job *job) { atomic_store(&job->cancel, 1); }

int chat_job_wait(chat_job *job) {
    if (!job->joined) {
        pthread_join(job->thread, NULL);
        job->joined = true;
    }
    return job->rc;
}

void chat_job_free(chat_job *job) {
    if (!job) return;
    chat_job_cancel(job);
    chat_job_wait(job);
    node_free(job->current);
    pollq_destroy(&job->queue, link_free);
    node_free(job->oom_node);
    free(job->messages);
    free(job->tools);
    free(job->json_schema), free(job->grammar), free(job->tool_name);
    free(job);
}
