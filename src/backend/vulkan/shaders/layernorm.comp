#version 450
// layernorm.comp — Y[r] = (X[r] − mean) / √(var + 1e-5) · γ + β for each of n rows of d (in place
// allowed).  One workgroup per row; the row is held in registers between the two passes.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer XB { float X[]; };
layout(std430, binding = 1) readonly buffer GB { float G[]; };
layout(std430, binding = 2) readonly buffer BB { float B[]; };
layout(std430, binding = 3) buffer YB { float Y[]; };
layout(push_constant) uniform P { uint n, d, ldx, ldy; } p;
shared float red[256];

float block_sum(float v) {
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) red[t] += red[t + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main() {
    uint row = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    if (row >= p.n) return;
    float v[8]; // d <= 2048
    float s = 0.0;
    for (uint i = 0; i < 8; i++) {
        uint c = t + 256u * i;
        v[i] = c < p.d ? X[row * p.ldx + c] : 0.0;
        s += v[i];
    }
    float mean = block_sum(s) / float(p.d);
    float q = 0.0;
    for (uint i = 0; i < 8; i++) {
        uint c = t + 256u * i;
        if (c < p.d) q += (v[i] - mean) * (v[i] - mean);
    }
    float inv = inversesqrt(block_sum(q) / float(p.d) + 1e-5);
    for (uint i = 0; i < 8; i++) {
        uint c = t + 256u * i;
        if (c < p.d) Y[row * p.ldy + c] = (v[i] - mean) * inv * G[c] + B[c];
    }
}
