#version 450
// attention.comp — O[r][h] = softmax(q_r,h · Kᵀ / √64) · V for one query row r and head h per
// workgroup (one subgroup; head size 64, each lane holds 64 / subgroup-size of its dimensions),
// keys visited once with an online softmax: the decoder's attention (the encoder's, over T keys for
// T queries, is done as two products in matmul.comp).  Keys of row r, by mode:
//   1 cross-attention: the T rows of the row's window (rows[r].w · T ...);
//   2 decoder self-attention: positions 0 .. pos of the row's cache slot (rows[r].z · C ...).
// K and V are column blocks (k_col, v_col) of rows of kv_ld floats.  Mode 1 can also write the
// scaled scores of chosen heads (capture map: index per layer·H + head, or −1).
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer QB { float Q[]; };
layout(std430, binding = 1) readonly buffer KVB { float KV[]; };
layout(std430, binding = 2) writeonly buffer OB { float O[]; };
layout(std430, binding = 3) readonly buffer RB { ivec4 rows[]; }; // token, pos, slot, window
layout(std430, binding = 4) writeonly buffer CB { float cap[]; };
layout(std430, binding = 5) readonly buffer MB { int cap_map[]; };
layout(push_constant) uniform P {
    uint n_rows, mode, n_keys, group_keys, q_ld, q_col, kv_ld, k_col, v_col, o_ld, layer, n_heads, capture;
    float scale;
} p;

const uint MAX_PER_LANE = 16u; // subgroups of 4 lanes or more

void main() {
    const uint r = gl_WorkGroupID.x, h = gl_WorkGroupID.y, lane = gl_SubgroupInvocationID, width = gl_SubgroupSize;
    const uint per = 64u / width;
    if (r >= p.n_rows) return;
    uint base = 0u, n = p.n_keys;
    if (p.mode == 1u) base = uint(rows[r].w) * p.group_keys;
    if (p.mode == 2u) { base = uint(rows[r].z) * p.group_keys; n = uint(rows[r].y) + 1u; }
    float q[MAX_PER_LANE], o[MAX_PER_LANE];
    for (uint e = 0; e < per; e++) {
        q[e] = Q[r * p.q_ld + p.q_col + h * 64u + e * width + lane] * p.scale;
        o[e] = 0.0;
    }
    int c = (p.capture != 0u && p.mode == 1u) ? cap_map[p.layer * p.n_heads + h] : -1;
    float mx = -1.0 / 0.0, sum = 0.0;
    for (uint j = 0; j < n; j++) {
        uint kr = (base + j) * p.kv_ld + h * 64u + lane;
        float part = 0.0;
        for (uint e = 0; e < per; e++) part += q[e] * KV[kr + p.k_col + e * width];
        float s = subgroupAdd(part);
        if (c >= 0 && lane == 0u) cap[(uint(c) * p.n_rows + r) * p.n_keys + j] = s;
        float m2 = max(mx, s);
        float corr = exp(mx - m2), w = exp(s - m2);
        sum = sum * corr + w;
        for (uint e = 0; e < per; e++) o[e] = o[e] * corr + w * KV[kr + p.v_col + e * width];
        mx = m2;
    }
    for (uint e = 0; e < per; e++) O[r * p.o_ld + h * 64u + e * width + lane] = o[e] / sum;
}
