/* job.c: chat_engine_generate on a worker thread for UIs (chat_job_*). The
 * worker copies each event (with its text, tool name and id) onto a queue under
 * a mutex; a non-blocking pipe holds one byte while the queue is not empty, so
 * the UI can poll it with the keyboard and drain with chat_job_next. Each job
 * has its own cancel flag, so cancelling a finished job never touches the next. */
#include "chat/run.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct job_node {
    struct job_node *next;
    chat_event ev;      /* text, tool_name and tool_id point into this node's copies */
    char *text, *name, *id;
} job_node;

struct chat_job {
    chat_engine *engine;
    char *messages, *tools;
    chat_settings settings;  /* its strings point to the copies below */
    char *json_schema, *grammar, *tool_name;
    pthread_t thread;
    bool joined;
    int rc;
    atomic_int cancel;
    pthread_mutex_t mu;      /* guards the queue, the pipe's byte and out_of_memory */
    job_node *head, *tail;
    job_node *current;       /* the event chat_job_next returned last (its strings are live) */
    job_node *oom_node;      /* allocated up front: the ERROR queued if a copy fails */
    bool out_of_memory;
    int pipe_fd[2];
};

static void node_free(job_node *n) {
    if (!n) return;
    free(n->text);
    free(n->name);
    free(n->id);
    free(n);
}

/* Queues n (under mu) and makes the pipe readable if the queue was empty. */
static void enqueue_locked(chat_job *job, job_node *n) {
    bool was_empty = !job->head;
    if (job->tail) job->tail->next = n;
    else job->head = n;
    job->tail = n;
    if (was_empty) {
        ssize_t w;
        do w = write(job->pipe_fd[1], "", 1);
        while (w < 0 && errno == EINTR);
    }
}

static char *copy_bytes(const char *s, size_t len) {
    char *c = malloc(len + 1);
    if (c) {
        if (len) memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

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
    pthread_mutex_lock(&job->mu);
    if (!ok) job->out_of_memory = true;
    if (ok && !job->out_of_memory) {
        enqueue_locked(job, n);
        n = NULL;
    }
    pthread_mutex_unlock(&job->mu);
    node_free(n);
}

static void *worker(void *arg) {
    chat_job *job = arg;
    int rc = chat_engine_run(job->engine, job->messages, job->tools, &job->settings, on_event, job, &job->cancel);
    pthread_mutex_lock(&job->mu);
    if (job->out_of_memory) { /* events were lost: end with an error instead of DONE */
        enqueue_locked(job, job->oom_node);
        job->oom_node = NULL;
        rc = -1;
    }
    job->rc = rc;
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

chat_job *chat_job_start(chat_engine *engine, const char *messages_json, const char *tools_json,
                         const chat_settings *settings, char **err) {
    static const char oom_msg[] = "out of memory: part of the reply was lost";
    if (err) *err = NULL;
    chat_job *job = calloc(1, sizeof *job);
    if (!job) goto oom;
    job->pipe_fd[0] = job->pipe_fd[1] = -1;
    job->engine = engine;
    job->settings = settings ? *settings : chat_settings_defaults();
    atomic_init(&job->cancel, 0);
    if (!(job->messages = strdup(messages_json ? messages_json : "null"))) goto oom;
    if (tools_json && !(job->tools = strdup(tools_json))) goto oom;
    if (job->settings.json_schema && !(job->settings.json_schema = job->json_schema = strdup(job->settings.json_schema)))
        goto oom;
    if (job->settings.grammar && !(job->settings.grammar = job->grammar = strdup(job->settings.grammar))) goto oom;
    if (job->settings.tool_name && !(job->settings.tool_name = job->tool_name = strdup(job->settings.tool_name))) goto oom;
    if (!(job->oom_node = calloc(1, sizeof *job->oom_node)) || !(job->oom_node->text = strdup(oom_msg))) goto oom;
    job->oom_node->ev = (chat_event){.type = CHAT_EVENT_ERROR, .text = job->oom_node->text, .len = strlen(oom_msg)};
    if (pipe2(job->pipe_fd, O_NONBLOCK | O_CLOEXEC)) {
        if (err && asprintf(err, "cannot create a pipe for the reply's events: %s", strerror(errno)) < 0) *err = NULL;
        goto fail;
    }
    if (pthread_mutex_init(&job->mu, NULL)) goto oom;
    int e = pthread_create(&job->thread, NULL, worker, job);
    if (e) {
        pthread_mutex_destroy(&job->mu);
        if (err && asprintf(err, "cannot start a thread for the reply: %s", strerror(e)) < 0) *err = NULL;
        goto fail;
    }
    return job;
oom:
    if (err) *err = strdup("out of memory starting a reply");
fail:
    if (job) {
        if (job->pipe_fd[0] >= 0) close(job->pipe_fd[0]), close(job->pipe_fd[1]);
        node_free(job->oom_node);
        free(job->messages);
        free(job->tools);
        free(job->json_schema), free(job->grammar), free(job->tool_name);
        free(job);
    }
    return NULL;
}

int chat_job_fd(const chat_job *job) { return job->pipe_fd[0]; }

int chat_job_next(chat_job *job, chat_event *event) {
    pthread_mutex_lock(&job->mu);
    node_free(job->current);
    job_node *n = job->current = job->head;
    if (n) {
        job->head = n->next;
        if (!job->head) {
            job->tail = NULL;
            char buf[64];
            while (read(job->pipe_fd[0], buf, sizeof buf) > 0) {}
        }
        *event = n->ev;
    }
    pthread_mutex_unlock(&job->mu);
    return n != NULL;
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
    for (job_node *n = job->head, *next; n; n = next) {
        next = n->next;
        node_free(n);
    }
    node_free(job->oom_node);
    pthread_mutex_destroy(&job->mu);
    close(job->pipe_fd[0]);
    close(job->pipe_fd[1]);
    free(job->messages);
    free(job->tools);
    free(job->json_schema), free(job->grammar), free(job->tool_name);
    free(job);
}
