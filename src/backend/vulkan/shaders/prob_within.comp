#version 450
// prob_within.comp — P[i] = softmax(X[i][0 .. limit))[token_i] for n rows of V logits: the
// probability of each next token under the text vocabulary (word alignment).
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer XB { float X[]; };
layout(std430, binding = 1) readonly buffer TB { int token[]; };
layout(std430, binding = 2) writeonly buffer PB { float P_[]; };
layout(push_constant) uniform P { uint n, V, limit; } p;
shared float red[256];

void main() {
    uint r = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    if (r >= p.n) return;
    float m = -1.0 / 0.0;
    for (uint i = t; i < p.limit; i += 256u) m = max(m, X[r * p.V + i]);
    red[t] = m;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) red[t] = max(red[t], red[t + s]);
        barrier();
    }
    m = red[0];
    barrier();
    float sum = 0.0;
    for (uint i = t; i < p.limit; i += 256u) sum += exp(X[r * p.V + i] - m);
    red[t] = sum;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) red[t] += red[t + s];
        barrier();
    }
    if (t == 0u) P_[r] = exp(X[r * p.V + uint(token[r])] - m) / red[0];
}
