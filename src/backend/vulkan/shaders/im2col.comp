#version 450
// im2col.comp — the input of a k=3, pad=1 convolution over time as a matrix: out[t][c·3 + k] =
// src[c][t·stride + k − 1] (src channel-major [C][F]) or src[t·stride + k − 1][c] ([F][C]); zero
// outside 0 .. F−1.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer SB { float src[]; };
layout(std430, binding = 1) writeonly buffer DB { float dst[]; };
layout(push_constant) uniform P { uint C, F, channel_major, stride, T_out; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    uint row = p.C * 3u;
    if (i >= p.T_out * row) return;
    uint t = i / row, ck = i % row, c = ck / 3u, k = ck % 3u;
    int s = int(t * p.stride + k) - 1;
    float v = 0.0;
    if (s >= 0 && uint(s) < p.F) v = p.channel_major != 0u ? src[c * p.F + uint(s)] : src[uint(s) * p.C + c];
    dst[i] = v;
}
