/* vk_backend.h — the Vulkan backend's entry points (backend/backend.c registers them). */
#ifndef AM_VK_BACKEND_H
#define AM_VK_BACKEND_H

#include <stddef.h>

struct am_model;
struct am_backend;

/* The backend on Vulkan device `device` (an index among every device the loader reports). */
struct am_backend *backend_vulkan_create(struct am_model *m, int device, int *status, char *err, size_t err_size);
/* Devices the loader reports (include_cpu 0: real GPUs only, what `auto` considers). */
int backend_vulkan_device_count(int include_cpu);
/* The index of the first real GPU, or -1 (*why: a one-line reason when there is a loader but no
 * device at all, "" when there is no loader or only CPU implementations). */
int backend_vulkan_first_gpu(char *why, size_t why_size);
void backend_vulkan_describe(int device, char *out, size_t size);

#endif
