#version 450
// kv_store.comp — append each row's K|V (columns d .. 3d of its QKV row) to its cache slot at its
// position: cache[slot][pos][0 .. 2d) (one layer's cache).  Rows past n_rows (params) are padding.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer QB { float QKV[]; };
layout(std430, binding = 1) readonly buffer RB { ivec4 rows[]; };
layout(std430, binding = 2) buffer CB { float cache[]; };
layout(std430, binding = 3) readonly buffer NB { uint counts[]; }; // [0] rows, [1] pending copies
layout(push_constant) uniform P { uint d, C; } p;

void main() {
    uint r = gl_WorkGroupID.y;
    if (r >= counts[0]) return;
    for (uint j = gl_LocalInvocationID.x; j < 2u * p.d; j += 256u)
        cache[(uint(rows[r].z) * p.C + uint(rows[r].y)) * 2u * p.d + j] = QKV[r * 3u * p.d + p.d + j];
}
