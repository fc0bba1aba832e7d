/* pollq.c: the pollable FIFO of pollq.h. */
#include "util/pollq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pollq_init(pollq *q, char **err) {
    q->head = q->tail = NULL;
    if (pipe2(q->fd, O_NONBLOCK | O_CLOEXEC)) {
        if (err && asprintf(err, "cannot create a pipe for the events: %s", strerror(errno)) < 0) *err = NULL;
        return -1;
    }
    pthread_mutex_init(&q->mu, NULL);
    return 0;
}

void pollq_destroy(pollq *q, void (*free_item)(pollq_link *)) {
    for (pollq_link *it = q->head, *next; it; it = next) {
        next = it->next;
        if (free_item) free_item(it);
    }
    q->head = q->tail = NULL;
    pthread_mutex_destroy(&q->mu);
    close(q->fd[0]);
    close(q->fd[1]);
}

void pollq_push(pollq *q, pollq_link *item) {
    item->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail) {
        q->tail->next = item;
    } else {
        q->head = item;
        ssize_t w;
        do w = write(q->fd[1], "", 1);
        while (w < 0 && errno == EINTR);
    }
    q->tail = item;
    pthread_mutex_unlock(&q->mu);
}

pollq_link *pollq_pop(pollq *q) {
    pthread_mutex_lock(&q->mu);
    pollq_link *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head) {
            q->tail = NULL;
            char buf[64];
            while (read(q->fd[0], buf, sizeof buf) > 0) {}
        }
    }
    pthread_mutex_unlock(&q->mu);
    return it;
}

int pollq_fd(const pollq *q) { return q->fd[0]; }
