#version 450
// softmax.comp — each of n rows of length len, in place: x = exp(x − max) / Σ exp(x − max).
// One subgroup per row.
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer XB { float X[]; };
layout(push_constant) uniform P { uint n, len; } p;

void main() {
    uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * 65535u, lane = gl_SubgroupInvocationID, w = gl_SubgroupSize;
    if (r >= p.n) return;
    uint base = r * p.len;
    float m = -1.0 / 0.0;
    for (uint i = lane; i < p.len; i += w) m = max(m, X[base + i]);
    m = subgroupMax(m);
    float s = 0.0;
    for (uint i = lane; i < p.len; i += w) {
        float e = exp(X[base + i] - m);
        X[base + i] = e;
        s += e;
    }
    float inv = 1.0 / subgroupAdd(s);
    for (uint i = lane; i < p.len; i += w) X[base + i] *= inv;
}
