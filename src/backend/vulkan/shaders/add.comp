#version 450
// add.comp — Y[i] += A[i] for i < n (the encoder's positions).
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer AB { float A[]; };
layout(std430, binding = 1) buffer YB { float Y[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (i < p.n) Y[i] += A[i];
}
