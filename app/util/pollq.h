/* pollq.h: a FIFO that a worker thread fills and a UI thread drains, with a file
 * descriptor poll() sees readable while items are queued (a non-blocking pipe that
 * holds one byte while the queue is not empty), so the UI waits for the keyboard
 * and the worker at once. Items are the caller's structs whose first member is a
 * pollq_link. Used by the chat job (app/chat/job.c) and the agent job
 * (app/agent/job.c). */
#ifndef G4_POLLQ_H
#define G4_POLLQ_H

#include <pthread.h>

typedef struct pollq_link {
    struct pollq_link *next;
} pollq_link;

typedef struct {
    pthread_mutex_t mu;
    pollq_link *head, *tail;
    int fd[2];
} pollq;

/* 0, or -1 with a malloc'd one-line reason in *err (when err is not NULL). */
int pollq_init(pollq *q, char **err);
/* Frees the items still queued with free_item (may be NULL) and closes the pipe. */
void pollq_destroy(pollq *q, void (*free_item)(pollq_link *item));
/* Any thread: queues item. */
void pollq_push(pollq *q, pollq_link *item);
/* The oldest item, or NULL when none is queued; the caller owns it. */
pollq_link *pollq_pop(pollq *q);
/* Readable while items are queued. */
int pollq_fd(const pollq *q);

#endif
