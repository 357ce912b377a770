#version 450
// quantize.comp — the int8 activations of a W8A8 product (the CPU's rule, gemm_int8.h): each row
// x of X [M][K] gets scale = max|x| / 127 and q = round-half-even(x · 127 / max|x|) in
// [−127, 127], packed four to a word (low byte first) into Q [M][K/4], scales into S [M].
// One subgroup per row.
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer XB { vec4 X4[]; };
layout(std430, binding = 1) writeonly buffer QB { uint Q[]; };
layout(std430, binding = 2) writeonly buffer SB { float S[]; };
layout(push_constant) uniform P { uint M, K, ldx, x_off; } p;

void main() {
    const uint m = gl_WorkGroupID.x + gl_WorkGroupID.y * 65535u, lane = gl_SubgroupInvocationID;
    const uint width = gl_SubgroupSize;
    if (m >= p.M) return;
    const uint base = (p.x_off + m * p.ldx) >> 2, words = p.K >> 2;
    float amax = 0.0;
    for (uint w = lane; w < words; w += width) {
        vec4 a = abs(X4[base + w]);
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    amax = subgroupMax(amax);
    const float inv = amax > 0.0 ? 127.0 / amax : 0.0;
    if (lane == 0u) S[m] = amax / 127.0;
    for (uint w = lane; w < words; w += width) {
        ivec4 q = clamp(ivec4(roundEven(X4[base + w] * inv)), ivec4(-127), ivec4(127));
        Q[m * words + w] = uint(q.x & 255) | uint(q.y & 255) << 8 | uint(q.z & 255) << 16 | uint(q.w & 255) << 24;
    }
}
