#version 450
// mel_log.comp — the log-mel's last steps (frontend/mel.h) over M [n_frames][n_mels]:
//   pass 0: M = log10(max(M, 1e-10)), and the largest value into the ordered key `top[0]`;
//   pass 1: out[m][t] = (max(M[t][m], top − 8) + 4) / 4, transposed to mel-major.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer MB { float M[]; };
layout(std430, binding = 1) buffer TB { uint top[]; };
layout(std430, binding = 2) writeonly buffer OB { float O[]; };
layout(push_constant) uniform P { uint n_frames, n_mels, pass_; } p;

// float → uint with the same order (negative values reversed below the positive ones)
uint ordered(float v) {
    uint b = floatBitsToUint(v);
    return (b & 0x80000000u) != 0u ? ~b : b | 0x80000000u;
}
float unordered(uint k) { return uintBitsToFloat((k & 0x80000000u) != 0u ? k & 0x7fffffffu : ~k); }

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (i >= p.n_frames * p.n_mels) return;
    if (p.pass_ == 0u) {
        float v = log(max(M[i], 1e-10)) * 0.43429448190325176; // log10
        M[i] = v;
        atomicMax(top[0], ordered(v));
    } else {
        uint t = i / p.n_mels, m = i % p.n_mels;
        O[m * p.n_frames + t] = (max(M[i], unordered(top[0]) - 8.0) + 4.0) / 4.0;
    }
}
