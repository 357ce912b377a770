/* vk_runtime.c — loader, device, buffers, pipelines and command buffers (vk_runtime.h). */
#include "backend/vulkan/vk_runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amanuensis.h"
#include "common/util.h"

static const char *vk_result_name(VkResult r) {
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case VK_ERROR_INITIALIZATION_FAILED: return "initialization failed";
    case VK_ERROR_DEVICE_LOST: return "device lost";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "no compatible Vulkan driver (ICD)";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "a required extension is missing";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "a required feature is missing";
    case VK_TIMEOUT: return "timed out";
    default: return "error";
    }
}

static int vk_status(VkResult r) {
    return r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? AM_E_NOMEM : AM_E_BACKEND;
}

/* ---- loader and instance ------------------------------------------------------------------- */

static int load_loader(vk_ctx *c, char *err, size_t err_size) {
    const char *names[] = {"libvulkan.so.1", "libvulkan.so", "libvulkan.1.dylib", "libMoltenVK.dylib"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !c->lib; i++) c->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!c->lib) return am_fail(err, err_size, AM_E_BACKEND, "vulkan: no Vulkan loader (libvulkan.so.1) on this system");
    c->vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(c->lib, "vkGetInstanceProcAddr");
    if (!c->vkGetInstanceProcAddr)
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: the loader has no vkGetInstanceProcAddr");
    c->vkCreateInstance = (PFN_vkCreateInstance)c->vkGetInstanceProcAddr(NULL, "vkCreateInstance");
    c->vkEnumerateInstanceVersion =
        (PFN_vkEnumerateInstanceVersion)c->vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
    if (!c->vkCreateInstance) return am_fail(err, err_size, AM_E_BACKEND, "vulkan: the loader has no vkCreateInstance");
    return AM_OK;
}

static int create_instance(vk_ctx *c, char *err, size_t err_size) {
    uint32_t version = VK_API_VERSION_1_0;
    if (c->vkEnumerateInstanceVersion) c->vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_1)
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: the loader supports Vulkan 1.0 only (1.1 needed)");
    VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "amanuensis", 1, "amanuensis", 1,
                             VK_API_VERSION_1_2};
    VkInstanceCreateInfo ci = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &app, 0, NULL, 0, NULL};
    VkResult r = c->vkCreateInstance(&ci, NULL, &c->instance);
    if (r != VK_SUCCESS)
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: cannot create an instance (%s)", vk_result_name(r));
#define VK_LOAD_INSTANCE(f)                                                                                    \
    if (!(c->f = (PFN_##f)c->vkGetInstanceProcAddr(c->instance, #f)))                                          \
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: the loader lacks %s", #f);
    VK_FUNCS_INSTANCE(VK_LOAD_INSTANCE)
#undef VK_LOAD_INSTANCE
    return AM_OK;
}

/* The instance's physical devices, malloc'd (NULL and *n = 0 when none). */
static VkPhysicalDevice *list_devices(vk_ctx *c, uint32_t *n) {
    *n = 0;
    if (c->vkEnumeratePhysicalDevices(c->instance, n, NULL) != VK_SUCCESS || *n == 0) return NULL;
    VkPhysicalDevice *d = calloc(*n, sizeof *d);
    if (d && c->vkEnumeratePhysicalDevices(c->instance, n, d) != VK_SUCCESS) *n = 0;
    return d;
}

static void close_instance(vk_ctx *c) {
    if (c->instance && c->vkDestroyInstance) c->vkDestroyInstance(c->instance, NULL);
    c->instance = VK_NULL_HANDLE;
    if (c->lib) dlclose(c->lib);
    c->lib = NULL;
}

/* An instance only (for counting and describing devices): 0; -1 without a loader; -2 when the
 * loader cannot make an instance (no driver), with the message in err. */
static int open_instance(vk_ctx *c, char *err, size_t err_size) {
    memset(c, 0, sizeof *c);
    int stage = load_loader(c, err, err_size) != AM_OK ? -1 : create_instance(c, err, err_size) != AM_OK ? -2 : 0;
    if (stage) close_instance(c);
    return stage;
}

static int is_cpu_device(const VkPhysicalDeviceProperties *p) { return p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }

int vk_device_count(int include_cpu) {
    vk_ctx c;
    char err[256];
    if (open_instance(&c, err, sizeof err) != 0) return 0;
    uint32_t n;
    VkPhysicalDevice *d = list_devices(&c, &n);
    int count = 0;
    for (uint32_t i = 0; d && i < n; i++) {
        VkPhysicalDeviceProperties p;
        c.vkGetPhysicalDeviceProperties(d[i], &p);
        if (include_cpu || !is_cpu_device(&p)) count++;
    }
    free(d);
    close_instance(&c);
    return count;
}

/* Whether a GPU can be there at all: on Linux a DRM render node, NVIDIA's or WSL's device node.
 * Probing Vulkan loads every installed driver (Mesa's pull in LLVM: tens of MB that stay
 * resident), which a machine without any such node should not pay for on every model load. */
static int gpu_node_present(void) {
#ifdef __linux__
    const char *nodes[] = {"/dev/dri/renderD128", "/dev/dri/renderD129", "/dev/dri/renderD130", "/dev/nvidia0",
                           "/dev/dxg"};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        if (access(nodes[i], F_OK) == 0) return 1;
    return 0;
#else
    return 1;
#endif
}

int vk_first_gpu(char *why, size_t why_size) {
    vk_ctx c;
    if (why_size) why[0] = 0;
    /* no GPU node and no driver list named in the environment: nothing to probe, nothing to say */
    if (!gpu_node_present() && !getenv("VK_ICD_FILENAMES") && !getenv("VK_DRIVER_FILES")) return -1;
    int stage = open_instance(&c, why, why_size);
    if (stage == -1) { /* no loader: nothing to say */
        if (why_size) why[0] = 0;
        return -1;
    }
    if (stage == -2) return -1; /* a loader without a driver: why says so */
    uint32_t n;
    VkPhysicalDevice *d = list_devices(&c, &n);
    int found = -1;
    for (uint32_t i = 0; d && i < n && found < 0; i++) {
        VkPhysicalDeviceProperties p;
        c.vkGetPhysicalDeviceProperties(d[i], &p);
        if (!is_cpu_device(&p)) found = (int)i;
    }
    if (n == 0) snprintf(why, why_size, "vulkan: no Vulkan device (the loader found no driver)");
    free(d);
    close_instance(&c);
    return found;
}

static const char *device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

void vk_device_describe(int index, char *out, size_t size) {
    vk_ctx c;
    snprintf(out, size, "unavailable");
    if (open_instance(&c, out, size) != 0) return;
    uint32_t n;
    VkPhysicalDevice *d = list_devices(&c, &n);
    if (d && index >= 0 && (uint32_t)index < n) {
        VkPhysicalDeviceProperties p;
        c.vkGetPhysicalDeviceProperties(d[index], &p);
        snprintf(out, size, "%s (%s, Vulkan %u.%u)", p.deviceName, device_type_name(p.deviceType),
                 VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
    }
    free(d);
    close_instance(&c);
}

/* ---- device -------------------------------------------------------------------------------- */

static int has_extension(vk_ctx *c, const char *name) {
    uint32_t n = 0;
    if (c->vkEnumerateDeviceExtensionProperties(c->phys, NULL, &n, NULL) != VK_SUCCESS) return 0;
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
    int found = 0;
    if (e && c->vkEnumerateDeviceExtensionProperties(c->phys, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

static int create_device(vk_ctx *c, char *err, size_t err_size) {
    uint32_t nq = 0;
    c->vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (!q) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    c->vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, q);
    int family = -1;
    for (uint32_t i = 0; i < nq && family < 0; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = (int)i;
    free(q);
    if (family < 0) return am_fail(err, err_size, AM_E_BACKEND, "vulkan: %s has no compute queue", c->props.deviceName);
    c->queue_family = (uint32_t)family;
    if (!has_extension(c, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME))
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: %s lacks %s", c->props.deviceName,
                       VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    const char *exts[2] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME, NULL};
    uint32_t n_exts = 1;
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot = {
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES, NULL, VK_FALSE};
    VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, NULL, {0}};
    if (has_extension(c, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) {
        f2.pNext = &dot;
        c->vkGetPhysicalDeviceFeatures2(c->phys, &f2);
        if (dot.shaderIntegerDotProduct) {
            exts[n_exts++] = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
            c->has_int_dot = 1;
        }
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, NULL, 0, c->queue_family, 1, &prio};
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot_on = {
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES, NULL, VK_TRUE};
    VkDeviceCreateInfo di = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, c->has_int_dot ? &dot_on : NULL, 0, 1, &qi, 0, NULL,
                             n_exts, exts, NULL};
    VkResult r = c->vkCreateDevice(c->phys, &di, NULL, &c->dev);
    if (r != VK_SUCCESS)
        return am_fail(err, err_size, vk_status(r), "vulkan: cannot create a device on %s (%s)", c->props.deviceName,
                       vk_result_name(r));
#define VK_LOAD_DEVICE(f)                                                                                      \
    if (!(c->f = (PFN_##f)c->vkGetDeviceProcAddr(c->dev, #f)))                                                 \
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: the driver lacks %s", #f);
    VK_FUNCS_DEVICE(VK_LOAD_DEVICE)
#undef VK_LOAD_DEVICE
    c->vkGetDeviceQueue(c->dev, c->queue_family, 0, &c->queue);
    int rc = vk_stream_create(c, &c->copies, err, err_size);
    if (rc != AM_OK) return rc;
    const char *prof = getenv("AM_VK_PROFILE");
    if (prof && *prof && strcmp(prof, "0") && c->props.limits.timestampComputeAndGraphics) {
        VkQueryPoolCreateInfo qi2 = {VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, NULL, 0, VK_QUERY_TYPE_TIMESTAMP,
                                     VK_PROFILE_MAX + 1, 0};
        c->profile = c->vkCreateQueryPool(c->dev, &qi2, NULL, &c->queries) == VK_SUCCESS;
    }
    return AM_OK;
}

int vk_ctx_open(int index, vk_ctx **out, char *err, size_t err_size) {
    *out = NULL;
    vk_ctx *c = calloc(1, sizeof *c);
    if (!c) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    pthread_mutex_init(&c->queue_lock, NULL);
    pthread_mutex_init(&c->copy_lock, NULL);
    int rc = load_loader(c, err, err_size);
    if (rc == AM_OK) rc = create_instance(c, err, err_size);
    if (rc == AM_OK) {
        uint32_t n;
        VkPhysicalDevice *d = list_devices(c, &n);
        if (n == 0)
            rc = am_fail(err, err_size, AM_E_BACKEND, "vulkan: no Vulkan device (the loader found no driver)");
        else if (index < 0 || (uint32_t)index >= n)
            rc = am_fail(err, err_size, AM_E_INVALID_ARG, "vulkan: no device %d (this machine has %u)", index, n);
        else
            c->phys = d[index];
        free(d);
    }
    if (rc == AM_OK) {
        c->vkGetPhysicalDeviceProperties(c->phys, &c->props);
        c->vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem);
        if (c->props.apiVersion < VK_API_VERSION_1_1)
            rc = am_fail(err, err_size, AM_E_BACKEND, "vulkan: %s supports Vulkan 1.0 only", c->props.deviceName);
    }
    if (rc == AM_OK) { /* the subgroup shaders need subgroup sums in compute shaders, 4 to 64 lanes */
        VkPhysicalDeviceSubgroupProperties sg = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, NULL, 0, 0, 0, 0};
        VkPhysicalDeviceProperties2 p2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &sg, {0}};
        c->vkGetPhysicalDeviceProperties2(c->phys, &p2);
        c->subgroup_size = sg.subgroupSize;
        if (!(sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
            !(sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) || sg.subgroupSize < 4 ||
            sg.subgroupSize > 64 || (sg.subgroupSize & (sg.subgroupSize - 1)))
            rc = am_fail(err, err_size, AM_E_BACKEND, "vulkan: %s lacks subgroup arithmetic in compute shaders",
                         c->props.deviceName);
    }
    if (rc == AM_OK) rc = create_device(c, err, err_size);
    if (rc != AM_OK) {
        vk_ctx_close(c);
        return rc;
    }
    *out = c;
    return AM_OK;
}

static void print_profile(const vk_ctx *c) {
    double total = 0;
    for (int i = 0; i < 32; i++) total += c->prof_ms[i];
    fprintf(stderr, "vulkan profile (%s): %.1f ms in shaders\n", c->props.deviceName, total);
    for (int i = 0; i < 32; i++)
        if (c->prof_calls[i])
            fprintf(stderr, "  %-12s %10.1f ms %5.1f%% %8llu dispatches\n", c->prof_name[i], c->prof_ms[i],
                    total > 0 ? 100.0 * c->prof_ms[i] / total : 0.0, (unsigned long long)c->prof_calls[i]);
}

void vk_ctx_close(vk_ctx *c) {
    if (!c) return;
    if (c->profile) print_profile(c);
    if (c->dev) {
        if (c->vkDeviceWaitIdle) c->vkDeviceWaitIdle(c->dev);
        if (c->queries) c->vkDestroyQueryPool(c->dev, c->queries, NULL);
        vk_stream_destroy(c, &c->copies);
        c->vkDestroyDevice(c->dev, NULL);
    }
    close_instance(c);
    pthread_mutex_destroy(&c->queue_lock);
    pthread_mutex_destroy(&c->copy_lock);
    free(c);
}

int vk_stream_create(vk_ctx *c, vk_stream *st, char *err, size_t err_size) {
    memset(st, 0, sizeof *st);
    VkCommandPoolCreateInfo pi = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, NULL,
                                  VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, c->queue_family};
    VkFenceCreateInfo fi = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, NULL, 0};
    if (c->vkCreateCommandPool(c->dev, &pi, NULL, &st->pool) != VK_SUCCESS ||
        c->vkCreateFence(c->dev, &fi, NULL, &st->fence) != VK_SUCCESS) {
        vk_stream_destroy(c, st);
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: cannot create a command pool");
    }
    return AM_OK;
}

void vk_stream_destroy(vk_ctx *c, vk_stream *st) {
    if (st->fence) c->vkDestroyFence(c->dev, st->fence, NULL);
    if (st->pool) c->vkDestroyCommandPool(c->dev, st->pool, NULL);
    memset(st, 0, sizeof *st);
}

/* ---- buffers ------------------------------------------------------------------------------- */

static int find_memory(const vk_ctx *c, uint32_t type_bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags *got) {
    for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++)
        if ((type_bits & (1u << i)) && (c->mem.memoryTypes[i].propertyFlags & want) == want) {
            *got = c->mem.memoryTypes[i].propertyFlags;
            return (int)i;
        }
    return -1;
}

int vk_buf_create(vk_ctx *c, size_t size, vk_buf_kind kind, vk_buf *b, char *err, size_t err_size) {
    memset(b, 0, sizeof *b);
    b->size = size ? size : 16;
    VkBufferCreateInfo bi = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, NULL, 0, b->size,
                             VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             VK_SHARING_MODE_EXCLUSIVE, 0, NULL};
    VkResult r = c->vkCreateBuffer(c->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) return am_fail(err, err_size, vk_status(r), "vulkan: cannot create a buffer of %zu bytes (%s)", size, vk_result_name(r));
    VkMemoryRequirements req;
    c->vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
    VkMemoryPropertyFlags got = 0;
    int type = kind == VK_BUF_HOST
                   ? find_memory(c, req.memoryTypeBits,
                                 VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                     VK_MEMORY_PROPERTY_HOST_CACHED_BIT, &got)
                   : find_memory(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, &got);
    if (type < 0 && kind == VK_BUF_HOST)
        type = find_memory(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                           &got);
    if (type < 0) type = find_memory(c, req.memoryTypeBits, 0, &got);
    if (type < 0) {
        vk_buf_destroy(c, b);
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: no memory type for a buffer");
    }
    VkMemoryAllocateInfo ai = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, NULL, req.size, (uint32_t)type};
    r = c->vkAllocateMemory(c->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        vk_buf_destroy(c, b);
        return am_fail(err, err_size, vk_status(r), "vulkan: cannot allocate %zu bytes of device memory (%s)", size,
                       vk_result_name(r));
    }
    c->vkBindBufferMemory(c->dev, b->buf, b->mem, 0);
    if ((got & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (got & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) &&
        c->vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map) != VK_SUCCESS)
        b->map = NULL;
    return AM_OK;
}

void vk_buf_destroy(vk_ctx *c, vk_buf *b) {
    if (b->buf) c->vkDestroyBuffer(c->dev, b->buf, NULL);
    if (b->mem) c->vkFreeMemory(c->dev, b->mem, NULL); /* unmaps too */
    memset(b, 0, sizeof *b);
}

/* Copy between b and a host-visible staging buffer in one submission. */
static int staged_copy(vk_ctx *c, vk_buf *b, size_t offset, void *host, size_t size, int to_device, char *err,
                       size_t err_size) {
    vk_buf st;
    int rc = vk_buf_create(c, size, VK_BUF_HOST, &st, err, err_size);
    if (rc != AM_OK) return rc;
    if (!st.map) {
        vk_buf_destroy(c, &st);
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: no host-visible memory for a staging buffer");
    }
    if (to_device) memcpy(st.map, host, size);
    vk_cmd cmd;
    pthread_mutex_lock(&c->copy_lock);
    rc = vk_cmd_begin(c, &c->copies, &cmd);
    if (rc == AM_OK) {
        VkBufferCopy region = {to_device ? 0 : offset, to_device ? offset : 0, size};
        c->vkCmdCopyBuffer(cmd.cb, to_device ? st.buf : b->buf, to_device ? b->buf : st.buf, 1, &region);
        rc = vk_cmd_end(c, &cmd);
        if (rc == AM_OK) rc = vk_cmd_run(c, &cmd, err, err_size);
        vk_cmd_free(c, &cmd);
    } else {
        am_fail(err, err_size, rc, "vulkan: cannot record a copy");
    }
    pthread_mutex_unlock(&c->copy_lock);
    if (rc == AM_OK && !to_device) memcpy(host, st.map, size);
    vk_buf_destroy(c, &st);
    return rc;
}

int vk_buf_upload(vk_ctx *c, vk_buf *b, size_t offset, const void *data, size_t size, char *err, size_t err_size) {
    if (offset + size > b->size) return am_fail(err, err_size, AM_E_INVALID_ARG, "vulkan: upload past a buffer's end");
    if (b->map) {
        memcpy((char *)b->map + offset, data, size);
        return AM_OK;
    }
    return staged_copy(c, b, offset, (void *)data, size, 1, err, err_size);
}

int vk_buf_download(vk_ctx *c, vk_buf *b, size_t offset, void *data, size_t size, char *err, size_t err_size) {
    if (offset + size > b->size) return am_fail(err, err_size, AM_E_INVALID_ARG, "vulkan: download past a buffer's end");
    if (b->map) {
        memcpy(data, (const char *)b->map + offset, size);
        return AM_OK;
    }
    return staged_copy(c, b, offset, data, size, 0, err, err_size);
}

/* ---- pipelines ----------------------------------------------------------------------------- */

int vk_pipe_create(vk_ctx *c, const char *name, const uint32_t *spirv, size_t spirv_bytes, int n_bindings,
                   uint32_t variant, vk_pipe *p, char *err, size_t err_size) {
    memset(p, 0, sizeof *p);
    p->name = name;
    p->n_bindings = n_bindings;
    for (p->slot = 0; p->slot < 31 && c->prof_name[p->slot] && strcmp(c->prof_name[p->slot], name); p->slot++) {}
    c->prof_name[p->slot] = name;
    VkDescriptorSetLayoutBinding bind[VK_MAX_BINDINGS];
    for (int i = 0; i < n_bindings; i++) {
        VkDescriptorSetLayoutBinding b = {(uint32_t)i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT,
                                          NULL};
        bind[i] = b;
    }
    VkDescriptorSetLayoutCreateInfo dli = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, NULL,
                                           VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
                                           (uint32_t)n_bindings, bind};
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES};
    VkShaderModuleCreateInfo si = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, NULL, 0, spirv_bytes, spirv};
    VkShaderModule mod = VK_NULL_HANDLE;
    if (c->vkCreateDescriptorSetLayout(c->dev, &dli, NULL, &p->dsl) != VK_SUCCESS) goto fail;
    VkPipelineLayoutCreateInfo pli = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, NULL, 0, 1, &p->dsl, 1, &pcr};
    if (c->vkCreatePipelineLayout(c->dev, &pli, NULL, &p->layout) != VK_SUCCESS) goto fail;
    if (c->vkCreateShaderModule(c->dev, &si, NULL, &mod) != VK_SUCCESS) goto fail;
    VkSpecializationMapEntry entry[2] = {{0, 0, sizeof(uint32_t)}, {1, sizeof(uint32_t), sizeof(uint32_t)}};
    uint32_t values[2] = {c->subgroup_size, variant};
    VkSpecializationInfo spec = {2, entry, sizeof values, values};
    VkComputePipelineCreateInfo ci = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, NULL, 0,
                                      {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, NULL, 0,
                                       VK_SHADER_STAGE_COMPUTE_BIT, mod, "main", &spec},
                                      p->layout, VK_NULL_HANDLE, 0};
    VkResult r = c->vkCreateComputePipelines(c->dev, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipe);
    c->vkDestroyShaderModule(c->dev, mod, NULL);
    if (r != VK_SUCCESS) goto fail;
    return AM_OK;
fail:
    vk_pipe_destroy(c, p);
    return am_fail(err, err_size, AM_E_BACKEND, "vulkan: cannot build the %s shader on %s", name, c->props.deviceName);
}

void vk_pipe_destroy(vk_ctx *c, vk_pipe *p) {
    if (p->pipe) c->vkDestroyPipeline(c->dev, p->pipe, NULL);
    if (p->layout) c->vkDestroyPipelineLayout(c->dev, p->layout, NULL);
    if (p->dsl) c->vkDestroyDescriptorSetLayout(c->dev, p->dsl, NULL);
    memset(p, 0, sizeof *p);
}

/* ---- command buffers ----------------------------------------------------------------------- */

int vk_cmd_begin(vk_ctx *c, vk_stream *st, vk_cmd *cmd) {
    memset(cmd, 0, sizeof *cmd);
    cmd->st = st;
    VkCommandBufferAllocateInfo ai = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, NULL, st->pool,
                                      VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
    if (c->vkAllocateCommandBuffers(c->dev, &ai, &cmd->cb) != VK_SUCCESS) return AM_E_BACKEND;
    VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, NULL, 0, NULL};
    if (c->vkBeginCommandBuffer(cmd->cb, &bi) != VK_SUCCESS) return AM_E_BACKEND;
    if (c->profile) {
        cmd->prof_pipe = calloc(VK_PROFILE_MAX, 1);
        c->vkCmdResetQueryPool(cmd->cb, c->queries, 0, VK_PROFILE_MAX + 1);
        c->vkCmdWriteTimestamp(cmd->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->queries, 0);
    }
    return AM_OK;
}

static void barrier(vk_ctx *c, vk_cmd *cmd) {
    VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER, NULL,
                          VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                              VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT};
    c->vkCmdPipelineBarrier(cmd->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                                VK_PIPELINE_STAGE_HOST_BIT,
                            0, 1, &mb, 0, NULL, 0, NULL);
}

void vk_cmd_dispatch(vk_ctx *c, vk_cmd *cmd, const vk_pipe *p, const vk_range *bind, const void *push,
                     size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz) {
    VkDescriptorBufferInfo info[VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (int i = 0; i < p->n_bindings; i++) {
        const vk_range *r = &bind[i];
        size_t size = r->size ? r->size : r->b->size - r->offset;
        VkDescriptorBufferInfo bi = {r->b->buf, r->offset, size};
        info[i] = bi;
        VkWriteDescriptorSet ws = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, NULL, VK_NULL_HANDLE, (uint32_t)i, 0, 1,
                                   VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, NULL, &info[i], NULL};
        w[i] = ws;
    }
    c->vkCmdBindPipeline(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    c->vkCmdPushDescriptorSetKHR(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, (uint32_t)p->n_bindings, w);
    if (push_size) {
        unsigned char pc[VK_PUSH_BYTES] = {0};
        memcpy(pc, push, push_size < VK_PUSH_BYTES ? push_size : VK_PUSH_BYTES);
        c->vkCmdPushConstants(cmd->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES, pc);
    }
    c->vkCmdDispatch(cmd->cb, gx, gy, gz);
    barrier(c, cmd);
    if (c->profile && cmd->prof_pipe && cmd->n_dispatches < VK_PROFILE_MAX) {
        c->vkCmdWriteTimestamp(cmd->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, c->queries,
                               (uint32_t)cmd->n_dispatches + 1);
        cmd->prof_pipe[cmd->n_dispatches] = (unsigned char)p->slot;
    }
    cmd->n_dispatches++;
}

void vk_cmd_fill(vk_ctx *c, vk_cmd *cmd, const vk_buf *b, size_t offset, size_t size, uint32_t value) {
    c->vkCmdFillBuffer(cmd->cb, b->buf, offset, size, value);
    barrier(c, cmd);
}

int vk_cmd_end(vk_ctx *c, vk_cmd *cmd) { return c->vkEndCommandBuffer(cmd->cb) == VK_SUCCESS ? AM_OK : AM_E_BACKEND; }

int vk_cmd_run(vk_ctx *c, const vk_cmd *cmd, char *err, size_t err_size) {
    if (c->lost) return am_fail(err, err_size, AM_E_BACKEND, "vulkan: the device was lost");
    VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO, NULL, 0, NULL, NULL, 1, &cmd->cb, 0, NULL};
    VkFence fence = cmd->st->fence;
    pthread_mutex_lock(&c->queue_lock);
    VkResult r = c->vkQueueSubmit(c->queue, 1, &si, fence);
    pthread_mutex_unlock(&c->queue_lock);
    cmd->st->submissions++;
    if (r == VK_SUCCESS) r = c->vkWaitForFences(c->dev, 1, &fence, VK_TRUE, UINT64_MAX);
    c->vkResetFences(c->dev, 1, &fence);
    if (r == VK_ERROR_DEVICE_LOST) c->lost = 1;
    if (r != VK_SUCCESS)
        return am_fail(err, err_size, vk_status(r), "vulkan: %s: %s", c->props.deviceName, vk_result_name(r));
    if (c->profile && cmd->prof_pipe) { /* dispatch i took stamp[i+1] − stamp[i] (one session at a time) */
        uint32_t n = (uint32_t)(cmd->n_dispatches < VK_PROFILE_MAX ? cmd->n_dispatches : VK_PROFILE_MAX);
        uint64_t *stamp = calloc(n + 1, sizeof *stamp);
        if (stamp && c->vkGetQueryPoolResults(c->dev, c->queries, 0, n + 1, (n + 1) * 8, stamp, 8,
                                              VK_QUERY_RESULT_64_BIT) == VK_SUCCESS)
            for (uint32_t i = 0; i < n; i++) {
                int slot = cmd->prof_pipe[i];
                c->prof_ms[slot] += (double)(stamp[i + 1] - stamp[i]) * c->props.limits.timestampPeriod * 1e-6;
                c->prof_calls[slot]++;
            }
        free(stamp);
    }
    return AM_OK;
}

void vk_cmd_free(vk_ctx *c, vk_cmd *cmd) {
    if (cmd->cb) c->vkFreeCommandBuffers(c->dev, cmd->st->pool, 1, &cmd->cb);
    cmd->cb = VK_NULL_HANDLE;
    free(cmd->prof_pipe);
    cmd->prof_pipe = NULL;
}
