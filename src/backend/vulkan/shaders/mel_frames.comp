#version 450
// mel_frames.comp — the windowed frames of the log-mel's STFT (frontend/mel.h): frame t holds
// x[t·160 + j − 200] · hann[j] for j < 400, x being the signal with 160 zeros appended (length L)
// and reflected at both ends; frames t0 .. t0 + n − 1 into rows 0 .. n − 1 of F [n][400].
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer XB { float x[]; };
layout(std430, binding = 1) writeonly buffer FB { float F[]; };
layout(push_constant) uniform P { uint t0, n, L; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (i >= p.n * 400u) return;
    uint t = i / 400u, j = i % 400u;
    int s = int((p.t0 + t) * 160u + j) - 200, L = int(p.L);
    if (s < 0) s = -s;                 // reflect (numpy's "reflect": the edge is not repeated)
    if (s >= L) s = 2 * L - 2 - s;
    float v = (s >= 0 && s < L) ? x[s] : 0.0;
    float hann = 0.5 - 0.5 * cos(6.283185307179586 * float(j) / 400.0); // periodic
    F[i] = v * hann;
}
