#version 450
// cache_copy.comp — beam reordering on the device: for each pending copy i (dst, src, n_pos),
// positions 0 .. n_pos−1 of slot src are copied to slot dst in one layer's cache.  The copies of
// one step never overlap (their destinations are free slots, their sources live ones).
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer CB { float cache[]; };
layout(std430, binding = 1) readonly buffer NB { uint counts[]; }; // [1] copies
layout(std430, binding = 2) readonly buffer LB { ivec4 copies[]; }; // dst, src, n_pos
layout(push_constant) uniform P { uint d, C; } p;

void main() {
    uint i = gl_WorkGroupID.y;
    if (i >= counts[1]) return;
    uint dst = uint(copies[i].x), src = uint(copies[i].y), n = uint(copies[i].z) * 2u * p.d;
    for (uint j = gl_WorkGroupID.x * 256u + gl_LocalInvocationID.x; j < n; j += gl_NumWorkGroups.x * 256u)
        cache[dst * p.C * 2u * p.d + j] = cache[src * p.C * 2u * p.d + j];
}
