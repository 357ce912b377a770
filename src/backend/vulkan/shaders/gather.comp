#version 450
// gather.comp — Y[i] = X[index_i] for n rows of d: each sequence's last row before the vocabulary
// projection.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer XB { float X[]; };
layout(std430, binding = 1) readonly buffer IB { int index[]; };
layout(std430, binding = 2) writeonly buffer YB { float Y[]; };
layout(push_constant) uniform P { uint n, d; } p;

void main() {
    uint i = gl_WorkGroupID.y;
    if (i >= p.n) return;
    for (uint c = gl_LocalInvocationID.x; c < p.d; c += 256u) Y[i * p.d + c] = X[uint(index[i]) * p.d + c];
}
