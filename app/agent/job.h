/* job.h: agent_run on a worker thread for a UI that polls a file descriptor (the
 * terminal UI): the loop's chat events, agent events, approval questions and its end
 * are queued as items; a question blocks the loop until the UI answers it. */
#ifndef G4_AGENT_JOB_H
#define G4_AGENT_JOB_H

#include "agent/agent.h"

typedef struct agent_job agent_job;

typedef enum {
    AGENT_JOB_CHAT,  /* chat: an event of the chat engine */
    AGENT_JOB_AGENT, /* agent: a step starts or a call's result (agent.result points to result) */
    AGENT_JOB_ASK,   /* tool_name, arguments: answer with agent_job_answer (the loop waits) */
    AGENT_JOB_END,   /* finish (agent_run's result) and messages: the whole history; the last item */
} agent_job_item_type;

typedef struct {
    agent_job_item_type type;
    chat_event chat;
    agent_event agent;
    agent_result result;
    const char *tool_name, *arguments;
    int finish;
    const char *messages;
} agent_job_item;

/* Copies messages_json, the tools JSON and the settings' strings and runs agent_run
 * with params (its callbacks, user and cancel are the job's own) on a thread. NULL
 * with a malloc'd reason in *err when it cannot start. */
agent_job *agent_job_start(const agent_params *params, const char *messages_json, char **err);
/* Readable while items are queued. */
int agent_job_fd(const agent_job *job);
/* The next item: 1 and *item filled (valid until the next call or agent_job_free), or 0. */
int agent_job_next(agent_job *job, agent_job_item *item);
/* Answers the question the loop waits on (no effect when none waits). */
void agent_job_answer(agent_job *job, agent_decision decision);
/* Stops the loop: the generation, the running calls and a question waiting (as no). */
void agent_job_cancel(agent_job *job);
/* Cancels, waits for the thread and frees the job with its undelivered items. */
void agent_job_free(agent_job *job);

#endif
