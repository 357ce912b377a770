#version 450
// embed.comp — X[r] = E[token_r] + P[pos_r]: the decoder's input rows.  E is [V][d] in float32
// (fmt 0) or half (fmt 1).
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer WB { uint W[]; };
layout(std430, binding = 1) readonly buffer PB { float P_[]; };
layout(std430, binding = 2) readonly buffer RB { ivec4 rows[]; };
layout(std430, binding = 3) writeonly buffer XB { float X[]; };
layout(push_constant) uniform P { uint n_rows, d, fmt; } p;
#include "common.glsl"

void main() {
    uint r = gl_WorkGroupID.y;
    if (r >= p.n_rows) return;
    for (uint c = gl_LocalInvocationID.x; c < p.d; c += 256u)
        X[r * p.d + c] = weight_at(p.fmt, uint(rows[r].x) * p.d + c) + P_[uint(rows[r].y) * p.d + c];
}
