/* policy.c: the approval policy of an agent session: for each tool of a toolbox,
 * allow, ask or deny. Tools start at their script's default (ask when it writes
 * or executes), then overrides from the config file and the command line apply in
 * order ("NAME=allow|ask|deny"), and headless --yes turns every ask into allow.
 * Permissions are atomic: the agent's thread may set one ("always") while the
 * UI's thread reads them. */
#include "agent/agent.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agent_policy {
    const agent_toolbox *toolbox;
    _Atomic agent_permission *permission;  /* one per toolbox index */
    int count;
};

agent_policy *agent_policy_new(const agent_toolbox *tb) {
    agent_policy *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->toolbox = tb;
    p->count = agent_toolbox_count(tb);
    p->permission = calloc((size_t)p->count + 1, sizeof *p->permission);
    if (!p->permission) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < p->count; i++) atomic_init(&p->permission[i], agent_toolbox_default_permission(tb, i));
    return p;
}

void agent_policy_free(agent_policy *p) {
    if (!p) return;
    free(p->permission);
    free(p);
}

int agent_policy_set(agent_policy *p, const char *name, agent_permission perm) {
    int i = agent_toolbox_find(p->toolbox, name);
    if (i < 0 || i >= p->count) return -1;
    atomic_store(&p->permission[i], perm);
    return 0;
}

agent_permission agent_policy_get(const agent_policy *p, const char *name) {
    int i = p ? agent_toolbox_find(p->toolbox, name) : -1;
    return i >= 0 && i < p->count ? atomic_load(&p->permission[i]) : AGENT_DENY;
}

int agent_policy_apply(agent_policy *p, const char *override, char **err) {
    if (err) *err = NULL;
    const char *eq = override ? strchr(override, '=') : NULL;
    char name[128], word[16];
    int n = eq ? (int)(eq - override) : 0;
    const char *why = NULL;
    agent_permission perm = AGENT_DENY;
    if (!eq || n == 0 || n >= (int)sizeof name || strlen(eq + 1) >= sizeof word) {
        why = "is not NAME=allow, NAME=ask or NAME=deny";
    } else {
        memcpy(name, override, (size_t)n);
        name[n] = '\0';
        strcpy(word, eq + 1);
        if (strcmp(word, "allow") == 0) perm = AGENT_ALLOW;
        else if (strcmp(word, "ask") == 0) perm = AGENT_ASK;
        else if (strcmp(word, "deny") == 0) perm = AGENT_DENY;
        else why = "is not NAME=allow, NAME=ask or NAME=deny";
        if (!why && agent_policy_set(p, name, perm) != 0) why = "names no loaded tool";
    }
    if (!why) return 0;
    if (err) {
        const char *shown = override ? override : "(null)";
        size_t len = strlen(shown) + strlen(why) + 4;
        *err = malloc(len);
        if (*err) snprintf(*err, len, "%s %s", shown, why);
    }
    return -1;
}

void agent_policy_allow_asks(agent_policy *p) {
    for (int i = 0; p && i < p->count; i++)
        if (atomic_load(&p->permission[i]) == AGENT_ASK) atomic_store(&p->permission[i], AGENT_ALLOW);
}
