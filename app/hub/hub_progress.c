/* hub_progress.c: download progress on stderr: one combined bar redrawn at most
 * ten times a second on a terminal (bytes, percent, speed, ETA, files), plain
 * lines every few seconds otherwise, nothing with --quiet. */
#include "hub/hub_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void hub_format_bytes(double bytes, char *out, size_t cap) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

static void format_eta(double s, char *out, size_t cap) {
    if (!(s >= 0) || s > 99 * 3600) {
        snprintf(out, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

void hub_progress_begin(hub_progress *p, hub_progress_mode mode, const char *label, int n_files,
                        uint64_t total, uint64_t already) {
    if (mode == HUB_PROGRESS_AUTO) mode = isatty(STDERR_FILENO) ? HUB_PROGRESS_BAR : HUB_PROGRESS_LINES;
    *p = (hub_progress){.mode = mode, .total = total, .done = already, .start_done = already, .files_total = n_files};
    p->t_start = p->t_last = now_s();
    if (mode == HUB_PROGRESS_NONE) return;
    char size[32], have[32];
    hub_format_bytes((double)total, size, sizeof size);
    hub_format_bytes((double)already, have, sizeof have);
    if (already) fprintf(stderr, "gemma4: downloading %s: %d file%s, %s (resuming with %s)\n", label, n_files, n_files == 1 ? "" : "s", size, have);
    else fprintf(stderr, "gemma4: downloading %s: %d file%s, %s\n", label, n_files, n_files == 1 ? "" : "s", size);
}

void hub_progress_update(hub_progress *p, uint64_t done, int active, int files_done, bool force) {
    if (p->mode == HUB_PROGRESS_NONE) return;
    double t = now_s();
    double every = p->mode == HUB_PROGRESS_BAR ? 0.1 : 5.0;
    p->done = done;
    p->files_done = files_done;
    p->active = active;
    if (!force && t - p->t_last < every) return;
    p->t_last = t;
    double elapsed = t - p->t_start;
    double speed = elapsed > 0 ? (double)(done - p->start_done) / elapsed : 0;
    double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
    char d[32], tot[32], sp[32], eta[32];
    hub_format_bytes((double)done, d, sizeof d);
    hub_format_bytes((double)p->total, tot, sizeof tot);
    hub_format_bytes(speed, sp, sizeof sp);
    format_eta(speed > 0 ? (double)(p->total - done) / speed : -1, eta, sizeof eta);
    if (p->mode == HUB_PROGRESS_LINES) {
        fprintf(stderr, "gemma4: %s of %s (%.0f%%), %s/s, ETA %s, %d of %d files done\n", d, tot, pct, sp, eta,
                files_done, p->files_total);
        return;
    }
    enum { BAR = 24 };
    char bar[BAR + 1];
    int filled = (int)(pct / 100.0 * BAR);
    for (int i = 0; i < BAR; i++) bar[i] = i < filled ? '#' : '.';
    bar[BAR] = 0;
    char line[256];
    int w = snprintf(line, sizeof line, "\r[%s] %5.1f%%  %s / %s  %s/s  ETA %s  files %d/%d (%d active)", bar, pct, d,
                     tot, sp, eta, files_done, p->files_total, active);
    fputs(line, stderr);
    for (int i = w; i < p->last_width; i++) fputc(' ', stderr);  /* clear what a longer line left */
    p->last_width = w;
    fflush(stderr);
}

void hub_progress_end(hub_progress *p, bool ok) {
    if (p->mode == HUB_PROGRESS_NONE) return;
    if (p->mode == HUB_PROGRESS_BAR && p->last_width) fputc('\n', stderr);
    if (ok) {
        char tot[32];
        hub_format_bytes((double)p->total, tot, sizeof tot);
        fprintf(stderr, "gemma4: downloaded %d file%s (%s) in %.1f s\n", p->files_total, p->files_total == 1 ? "" : "s",
                tot, now_s() - p->t_start);
    }
}
