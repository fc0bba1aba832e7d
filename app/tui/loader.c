/* loader.c: switching models without blocking the UI: resolves a hub id (which may download)
 * and opens the chat engine on a thread; a pipe becomes readable when it is done. */
#include "tui/loader.h"

#include "hub/hub.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tui_loader {
    pthread_t thread;
    int pipe[2];
    char *model, *path, *err;
    chat_engine_params params;
    chat_engine *engine;
};

static void *load(void *arg) {
    tui_loader *l = arg;
    const char *path = l->model;
    if (hub_is_model_id(l->model)) {
        hub_options opt;
        hub_options_default(&opt);
        opt.progress = HUB_PROGRESS_NONE; /* no progress lines over the UI */
        l->path = hub_resolve(l->model, &opt, &l->err);
        path = l->path;
    }
    if (path) l->engine = chat_engine_open(path, &l->params, &l->err);
    char done = 1;
    ssize_t rc = write(l->pipe[1], &done, 1);
    (void)rc; /* the reader also joins the thread, so a failed write only delays it */
    return NULL;
}

tui_loader *tui_loader_start(const char *model, const chat_engine_params *params) {
    tui_loader *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->params = *params;
    if (!(l->model = strdup(model)) || pipe(l->pipe)) {
        free(l->model), free(l);
        return NULL;
    }
    if (pthread_create(&l->thread, NULL, load, l)) {
        close(l->pipe[0]), close(l->pipe[1]), free(l->model), free(l);
        return NULL;
    }
    return l;
}

int tui_loader_fd(const tui_loader *l) { return l->pipe[0]; }

chat_engine *tui_loader_finish(tui_loader *l, char **err) {
    pthread_join(l->thread, NULL);
    chat_engine *e = l->engine;
    *err = e ? NULL : (l->err ? l->err : strdup("the model could not be opened"));
    if (e) free(l->err);
    close(l->pipe[0]), close(l->pipe[1]);
    free(l->model), free(l->path), free(l);
    return e;
}
