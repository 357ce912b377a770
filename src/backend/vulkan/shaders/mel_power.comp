#version 450
// mel_power.comp — |X|² of each frame's spectrum: S [n][402] holds (re, im) pairs of 201 bins,
// P [n][204] their powers (the last 3 columns zero, so that K is a multiple of 4 for matmul).
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer SB { vec2 S[]; };
layout(std430, binding = 1) writeonly buffer PB { float P_[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (i >= p.n * 204u) return;
    uint t = i / 204u, f = i % 204u;
    vec2 c = f < 201u ? S[t * 201u + f] : vec2(0.0);
    P_[i] = dot(c, c);
}
