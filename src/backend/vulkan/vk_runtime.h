/* vk_runtime.h — the little of Vulkan the backend needs: the loader opened at run time, one
 * device and compute queue, buffers, compute pipelines from embedded SPIR-V, and command buffers
 * recorded once and replayed.
 *
 * The loader (libvulkan.so.1) is opened with dlopen, so a binary built with Vulkan runs on a
 * machine without it (the backend then reports "no Vulkan loader" and `auto` uses the CPU).
 * Every function pointer lives in the vk_ctx: no global state. */
#ifndef AM_VK_RUNTIME_H
#define AM_VK_RUNTIME_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define VK_FUNCS_INSTANCE(X)                                                                                   \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)                        \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkGetPhysicalDeviceMemoryProperties)                         \
    X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceProperties2) X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice)                  \
    X(vkGetDeviceProcAddr)

#define VK_FUNCS_DEVICE(X)                                                                                     \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer)                                \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) \
    X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout)                            \
    X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout)                       \
    X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreateCommandPool) X(vkDestroyCommandPool)            \
    X(vkAllocateCommandBuffers) X(vkFreeCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer)          \
    X(vkCmdBindPipeline) X(vkCmdPushConstants) X(vkCmdPushDescriptorSetKHR) X(vkCmdDispatch)                   \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdFillBuffer) X(vkQueueSubmit) X(vkCreateFence)            \
    X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkDeviceWaitIdle) X(vkCreateQueryPool)            \
    X(vkDestroyQueryPool) X(vkCmdResetQueryPool) X(vkCmdWriteTimestamp) X(vkGetQueryPoolResults)

/* Where commands are recorded and waited for: one per thread of work (a session), since a command
 * pool is used by one thread at a time.  Counts its queue submissions. */
typedef struct vk_stream {
    VkCommandPool pool;
    VkFence fence;
    uint64_t submissions;
} vk_stream;

typedef struct vk_ctx {
    void *lib; /* dlopen handle of the loader */
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    PFN_vkCreateInstance vkCreateInstance;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion;
#define VK_DECLARE(f) PFN_##f f;
    VK_FUNCS_INSTANCE(VK_DECLARE)
    VK_FUNCS_DEVICE(VK_DECLARE)
#undef VK_DECLARE
    VkInstance instance;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    pthread_mutex_t queue_lock; /* the queue is shared by every session's stream */
    pthread_mutex_t copy_lock;  /* the staging stream below */
    vk_stream copies;           /* staged uploads and downloads */
    uint32_t subgroup_size; /* the workgroup size of the subgroup shaders (specialisation constant 0) */
    int has_int_dot;   /* VK_KHR_shader_integer_dot_product: shaderIntegerDotProduct */
    int int_dot_fast;  /* ... and the device says 4x8-bit packed signed dot products are accelerated */
    int lost;          /* 1 after VK_ERROR_DEVICE_LOST: every later call fails */
    /* profiling (AM_VK_PROFILE=1 in the environment): a timestamp after every dispatch of a
     * command, summed per shader and printed to stderr when the context closes */
    VkQueryPool queries;
    int profile;
    double prof_ms[32];
    uint64_t prof_calls[32];
    const char *prof_name[32];
} vk_ctx;

/* Devices the loader reports (0 when there is no loader or no device).  `include_cpu` counts CPU
 * implementations (lavapipe); without it only real GPUs count (what `auto` considers). */
int vk_device_count(int include_cpu);
/* The index of the first real GPU, or -1; *why is a one-line reason when a loader is present but
 * reports no device at all ("" otherwise).  Without a GPU device node (Linux) and without
 * VK_ICD_FILENAMES / VK_DRIVER_FILES in the environment it does not probe: -1, "". */
int vk_first_gpu(char *why, size_t why_size);
/* "name (type, Vulkan x.y)" of device `index` among all devices. */
void vk_device_describe(int index, char *out, size_t size);

/* Open the loader, an instance and device `index` with one compute queue.  Returns 0, or an
 * AM_E_* status with a one-line message naming the cause (no loader, no device, ...). */
int vk_ctx_open(int index, vk_ctx **out, char *err, size_t err_size);
void vk_ctx_close(vk_ctx *c);

/* A buffer and its own memory; `map` is set when the memory is host-visible (always for
 * VK_BUF_HOST, and for VK_BUF_DEVICE on devices whose local memory is host-visible). */
typedef enum { VK_BUF_DEVICE = 0, VK_BUF_HOST = 1 } vk_buf_kind;
typedef struct vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem;
    size_t size;
    void *map;
} vk_buf;

/* 0, or AM_E_NOMEM ("out of device memory") / AM_E_BACKEND with a message. */
int vk_buf_create(vk_ctx *c, size_t size, vk_buf_kind kind, vk_buf *b, char *err, size_t err_size);
void vk_buf_destroy(vk_ctx *c, vk_buf *b);
/* Copy host bytes into b at offset (through a staging buffer when b is not mapped). */
int vk_buf_upload(vk_ctx *c, vk_buf *b, size_t offset, const void *data, size_t size, char *err, size_t err_size);
/* Copy b's bytes at offset to host memory (through a staging buffer when b is not mapped). */
int vk_buf_download(vk_ctx *c, vk_buf *b, size_t offset, void *data, size_t size, char *err, size_t err_size);

/* A compute pipeline: n_bindings storage buffers (push descriptors) and push constants. */
#define VK_MAX_BINDINGS 8
#define VK_PUSH_BYTES 128
typedef struct vk_pipe {
    int slot;                /* its profile slot */
    VkPipeline pipe;
    VkPipelineLayout layout;
    VkDescriptorSetLayout dsl;
    int n_bindings;
    const char *name;
} vk_pipe;

/* Specialisation constants: 0 is the subgroup size (the subgroup shaders' workgroup size), 1 is
 * `variant` (e.g. the weight format of matmul.comp). */
int vk_pipe_create(vk_ctx *c, const char *name, const uint32_t *spirv, size_t spirv_bytes, int n_bindings,
                   uint32_t variant, vk_pipe *p, char *err, size_t err_size);
void vk_pipe_destroy(vk_ctx *c, vk_pipe *p);

/* A range of a buffer bound to one binding. */
typedef struct vk_range {
    const vk_buf *b;
    size_t offset, size; /* size 0: to the end of the buffer */
} vk_range;

/* A command buffer being recorded, or recorded and replayed. */
#define VK_PROFILE_MAX 4096 /* dispatches timed per command */
typedef struct vk_cmd {
    vk_stream *st;
    VkCommandBuffer cb;
    int n_dispatches;
    unsigned char *prof_pipe; /* [VK_PROFILE_MAX] the profile slot of each dispatch (profiling only) */
} vk_cmd;

int vk_stream_create(vk_ctx *c, vk_stream *st, char *err, size_t err_size);
void vk_stream_destroy(vk_ctx *c, vk_stream *st);

int vk_cmd_begin(vk_ctx *c, vk_stream *st, vk_cmd *cmd);
/* One dispatch: bind p, its buffers, push constants, then a barrier so the next dispatch sees
 * every write of this one. */
void vk_cmd_dispatch(vk_ctx *c, vk_cmd *cmd, const vk_pipe *p, const vk_range *bind, const void *push,
                     size_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);
/* Fill size bytes of b at offset with a 32-bit value (then a barrier). */
void vk_cmd_fill(vk_ctx *c, vk_cmd *cmd, const vk_buf *b, size_t offset, size_t size, uint32_t value);
int vk_cmd_end(vk_ctx *c, vk_cmd *cmd);
/* Submit and wait: one queue submission.  0, or AM_E_BACKEND with the cause. */
int vk_cmd_run(vk_ctx *c, const vk_cmd *cmd, char *err, size_t err_size);
void vk_cmd_free(vk_ctx *c, vk_cmd *cmd);

#endif
