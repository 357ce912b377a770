/* backend.c — the backends this build has, chosen by name, and sessions on them (backend.h). */
#include "backend/backend.h"

#include <stdio.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "model/model.h"
#ifdef AM_HAVE_VULKAN
#include "backend/vulkan/vk_backend.h"
#endif

/* Each backend: its name, how many devices it sees now, a description of one, and its creator. */
typedef struct backend_entry {
    const char *name;
    int (*device_count)(void);
    void (*describe)(int device, char *out, size_t size);
    am_backend *(*create)(am_model *m, int device, int *status, char *err, size_t err_size);
    /* GPU backends: the device `auto` uses (-1: none, with a reason in why when one is worth a
     * warning); NULL for the CPU */
    int (*auto_device)(char *why, size_t why_size);
} backend_entry;

static int cpu_device_count(void) { return 1; }

static void cpu_describe(int device, char *out, size_t size) {
    (void)device;
    snprintf(out, size, "%d threads, int8 kernels %s", am_cpu_count(), backend_cpu_kernels());
}

static am_backend *cpu_create(am_model *m, int device, int *status, char *err, size_t err_size) {
    if (device != 0) {
        *status = AM_E_INVALID_ARG;
        am_fail(err, err_size, AM_E_INVALID_ARG, "backend cpu has one device (0), not %d", device);
        return NULL;
    }
    return backend_cpu_create(m, status, err, err_size);
}

#ifdef AM_HAVE_VULKAN
static int vulkan_device_count(void) { return backend_vulkan_device_count(1); }

static am_backend *vulkan_create(am_model *m, int device, int *status, char *err, size_t err_size) {
    return backend_vulkan_create(m, device, status, err, err_size);
}
#endif

/* in the order `auto` tries them: GPUs first, the CPU last */
static const backend_entry backends[] = {
#ifdef AM_HAVE_VULKAN
    {"vulkan", vulkan_device_count, backend_vulkan_describe, vulkan_create, backend_vulkan_first_gpu},
#endif
    {"cpu", cpu_device_count, cpu_describe, cpu_create, NULL},
};
#define N_BACKENDS ((int)(sizeof backends / sizeof backends[0]))

static const backend_entry *find(const char *name) {
    for (int i = 0; i < N_BACKENDS; i++)
        if (!strcmp(backends[i].name, name)) return &backends[i];
    return NULL;
}

int am_backend_count(void) { return N_BACKENDS; }

const char *am_backend_name(int index) { return index >= 0 && index < N_BACKENDS ? backends[index].name : NULL; }

int am_backend_device_count(const char *name) {
    const backend_entry *e = name ? find(name) : NULL;
    return e ? e->device_count() : 0;
}

am_status am_backend_device_describe(const char *name, int device, char *out, size_t out_size) {
    const backend_entry *e = name ? find(name) : NULL;
    if (out && out_size) out[0] = 0;
    if (!e || !out || device < 0 || device >= e->device_count()) return AM_E_INVALID_ARG;
    e->describe(device, out, out_size);
    return AM_OK;
}

/* "auto": the first GPU backend with a device that comes up, else the CPU (*warning says why a
 * GPU that is there, or a Vulkan loader without devices, was not used). */
static am_backend *create_auto(am_model *m, int *status, char *err, size_t err_size, char *warning,
                               size_t warning_size) {
    for (int i = 0; i < N_BACKENDS; i++) {
        const backend_entry *e = &backends[i];
        if (!e->auto_device) continue;
        char why[256] = "";
        int device = e->auto_device(why, sizeof why);
        if (device < 0) {
            if (why[0] && warning && !warning[0]) snprintf(warning, warning_size, "%s; running on the CPU", why);
            continue;
        }
        char gpu_err[256] = "";
        am_backend *b = e->create(m, device, status, gpu_err, sizeof gpu_err);
        if (b) {
            b->device = device;
            return b;
        }
        if (warning) snprintf(warning, warning_size, "%s; running on the CPU", gpu_err);
    }
    am_backend *b = cpu_create(m, 0, status, err, err_size);
    if (b) b->device = 0;
    return b;
}

am_backend *backend_create(const char *name, int device, am_model *m, int *status, char *err, size_t err_size,
                           char *warning, size_t warning_size) {
    if (warning && warning_size) warning[0] = 0;
    if (!name || !*name || !strcmp(name, "auto")) return create_auto(m, status, err, err_size, warning, warning_size);
    const backend_entry *e = find(name);
    if (!e) {
        char names[256] = "";
        for (int i = 0; i < N_BACKENDS; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", backends[i].name);
        *status = AM_E_INVALID_ARG;
        am_fail(err, err_size, AM_E_INVALID_ARG, "unknown backend '%s' (this build has: %s, auto)", name, names);
        return NULL;
    }
    if (device < 0) {
        *status = AM_E_INVALID_ARG;
        am_fail(err, err_size, AM_E_INVALID_ARG, "device index %d is negative", device);
        return NULL;
    }
    am_backend *b = e->create(m, device, status, err, err_size);
    if (b) b->device = device;
    return b;
}

void backend_destroy(am_backend *b) {
    if (b) b->ops->destroy(b);
}

am_session *session_create(am_backend *b, const am_session_config *cfg, int *status, char *err, size_t err_size) {
    if (!b || !cfg || cfg->max_seqs < 1 || cfg->max_windows < 1 || cfg->max_seqs > 4096 || cfg->max_windows > 256) {
        *status = AM_E_INVALID_ARG;
        am_fail(err, err_size, AM_E_INVALID_ARG, "backend: bad session sizes (%d sequences, %d windows)",
                cfg ? cfg->max_seqs : 0, cfg ? cfg->max_windows : 0);
        return NULL;
    }
    *status = AM_OK;
    am_session *s = b->ops->session_create(b, cfg, status, err, err_size);
    if (!s && *status == AM_OK) {
        *status = AM_E_BACKEND;
        am_fail(err, err_size, AM_E_BACKEND, "backend %s: cannot create a session", b->name);
    }
    return s;
}

void session_destroy(am_session *s) {
    if (s) s->backend->ops->session_destroy(s);
}
