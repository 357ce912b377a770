#version 450
// step.comp — a decoder step's rules on the logits of each sequence (backend/step.h), one
// workgroup per sequence: suppression and timestamp masks, the timestamp probability test,
// inverse-CDF draws, log-softmax and the k best candidates.  Only the candidates leave the device.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer LB { float L[]; };                 // [n][V], masked in place
layout(std430, binding = 1) readonly buffer MB { uint mask_bits[]; }; // [V/32] always suppressed
layout(std430, binding = 2) readonly buffer SB { ivec4 seq[]; };      // [2n]: n, last, penult, last_ts | n_draws, draw_off
layout(std430, binding = 3) readonly buffer UB { float u[]; };        // draw uniforms
layout(std430, binding = 4) writeonly buffer OB { uint outw[]; };     // row: k tok, k lp, report; then draws
// the rules, shared by every sequence of the step (a buffer, so that a recorded step serves any)
layout(std430, binding = 5) readonly buffer RB {
    uint V, k, n_rows;
    int eot, blank, suppress_blank, tb, no_ts, max_init, report_id;
    float temperature;
} p;
shared float redv[256];
shared int redi[256];
shared float chunk_sum[256];

const float NEG_INF = -1.0 / 0.0;

float block_max(float v) {
    uint t = gl_LocalInvocationID.x;
    redv[t] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) redv[t] = max(redv[t], redv[t + s]);
        barrier();
    }
    float r = redv[0];
    barrier();
    return r;
}

float block_sum(float v) {
    uint t = gl_LocalInvocationID.x;
    redv[t] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) redv[t] += redv[t + s];
        barrier();
    }
    float r = redv[0];
    barrier();
    return r;
}

// The best (value, id) with (value, id) after (pv, pid) in the order "larger value, then lower id".
void block_best(inout float v, inout int id) {
    uint t = gl_LocalInvocationID.x;
    redv[t] = v;
    redi[t] = id;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (t < s) {
            float ov = redv[t + s];
            int oi = redi[t + s];
            if (oi >= 0 && (redi[t] < 0 || ov > redv[t] || (ov == redv[t] && oi < redi[t]))) {
                redv[t] = ov;
                redi[t] = oi;
            }
        }
        barrier();
    }
    v = redv[0];
    id = redi[0];
    barrier();
}

void sync_row() {
    memoryBarrierBuffer();
    barrier();
}

float row_max(uint row, uint lo, uint hi) {
    float m = NEG_INF;
    for (uint i = lo + gl_LocalInvocationID.x; i < hi; i += 256u) m = max(m, L[row + i]);
    return block_max(m);
}

float row_sum_exp(uint row, uint lo, uint hi, float mx, float inv_t) {
    float s = 0.0;
    for (uint i = lo + gl_LocalInvocationID.x; i < hi; i += 256u) {
        float x = L[row + i];
        if (x != NEG_INF) s += exp((x - mx) * inv_t);
    }
    return block_sum(s);
}

// true when token i is masked for a sequence in state (n, last, penultimate, last timestamp)
bool masked(uint i, ivec4 st) {
    int n = st.x, last = st.y, ts_last = st.w;
    int ii = int(i);
    if ((mask_bits[i >> 5] & (1u << (i & 31u))) != 0u) return true;
    if (n == 0 && p.suppress_blank != 0 && (ii == p.blank || ii == p.eot)) return true;
    if (p.tb < 0) return false;
    if (ii == p.no_ts) return true;
    if (n == 0) return ii < p.tb || (p.max_init >= 0 && ii > p.max_init);
    bool m = false;
    if (last >= p.tb) {
        int pen = n >= 2 ? st.z : last;
        if (pen >= p.tb) m = m || ii >= p.tb;
        else m = m || ii < p.eot;
    }
    // never below the last timestamp; after text, not equal to it either (a segment ends above its start)
    if (ts_last >= p.tb && ii >= p.tb && (ii < ts_last || (last < p.tb && ii == ts_last))) m = true;
    return m;
}

void main() {
    const uint r = gl_WorkGroupID.x, t = gl_LocalInvocationID.x, V = p.V;
    if (r >= p.n_rows) return;
    const uint row = r * V, ow = r * (2u * p.k + 1u);
    const ivec4 st = seq[2u * r], dr = seq[2u * r + 1u];
    // the report (before any mask)
    if (p.report_id >= 0) {
        float mx = row_max(row, 0u, V);
        float s = row_sum_exp(row, 0u, V, mx, 1.0);
        if (t == 0u) outw[ow + 2u * p.k] = floatBitsToUint(L[row + uint(p.report_id)] - mx - log(s));
    } else if (t == 0u) {
        outw[ow + 2u * p.k] = floatBitsToUint(0.0);
    }
    sync_row();
    // masks
    for (uint i = t; i < V; i += 256u)
        if (masked(i, st)) L[row + i] = NEG_INF;
    // the probability test applies unless a timestamp pair just closed
    bool check = p.tb >= 0 && st.x > 0 && (st.y < p.tb || (st.x >= 2 ? st.z : st.y) < p.tb);
    sync_row();
    // timestamps' total probability against the best text token
    if (check) {
        uint tb = uint(p.tb);
        float mx = row_max(row, 0u, V), mt = row_max(row, 0u, tb);
        float ts = row_sum_exp(row, tb, V, mx, 1.0);
        if (ts > 0.0 && log(ts) > mt - mx)
            for (uint i = t; i < tb; i += 256u) L[row + i] = NEG_INF;
        sync_row();
    }
    float mx = row_max(row, 0u, V);
    float lse = mx + log(row_sum_exp(row, 0u, V, mx, 1.0));
    // draws: inverse CDF over softmax(x / T) in token order, one contiguous chunk per thread
    const uint chunk = (V + 255u) / 256u, c0 = t * chunk, c1 = min(V, c0 + chunk);
    const float inv_t = 1.0 / p.temperature;
    for (int d = 0; d < dr.x; d++) {
        float s = 0.0;
        int last_pos = -1;
        for (uint i = c0; i < c1; i++) {
            float x = L[row + i];
            float e = x == NEG_INF ? 0.0 : exp((x - mx) * inv_t);
            if (e > 0.0) { s += e; last_pos = int(i); }
        }
        chunk_sum[t] = s;
        barrier();
        float before = 0.0, total = 0.0;
        for (uint j = 0; j < 256u; j++) {
            if (j < t) before += chunk_sum[j];
            total += chunk_sum[j];
        }
        float target = u[uint(dr.y + d)] * total;
        int found = -1;
        if (s > 0.0 && before < target && before + s >= target) {
            float acc = before;
            for (uint i = c0; i < c1; i++) {
                float x = L[row + i];
                float e = x == NEG_INF ? 0.0 : exp((x - mx) * inv_t);
                if (e <= 0.0) continue;
                acc += e;
                found = int(i);
                if (acc >= target) break;
            }
        }
        // nobody found it (target past the rounded total, or 0): the last positive token
        redi[t] = found;
        barrier();
        int tok = -1;
        for (uint j = 0; j < 256u && tok < 0; j++) tok = redi[j];
        barrier();
        redi[t] = last_pos;
        barrier();
        int last_any = -1;
        for (uint j = 0; j < 256u; j++) last_any = max(last_any, redi[j]);
        barrier();
        if (tok < 0) tok = last_any >= 0 && target > 0.0 ? last_any : -1;
        if (tok < 0) tok = p.eot;
        if (t == 0u) {
            uint base = p.n_rows * (2u * p.k + 1u) + 2u * uint(dr.y + d);
            outw[base] = uint(tok);
            outw[base + 1u] = floatBitsToUint(L[row + uint(tok)] - lse);
        }
        barrier();
    }
    // the k best, best first, ties to the lower id
    float pv = 1.0 / 0.0;
    int pid = -1;
    for (uint j = 0; j < p.k; j++) {
        float bv = NEG_INF;
        int bi = -1;
        for (uint i = t; i < V; i += 256u) {
            float x = L[row + i];
            if (x == NEG_INF) continue;
            if (x < pv || (x == pv && int(i) > pid)) {
                if (bi < 0 || x > bv) { bv = x; bi = int(i); }
            }
        }
        block_best(bv, bi);
        if (t == 0u) {
            outw[ow + j] = uint(bi);
            outw[ow + p.k + j] = floatBitsToUint(bi >= 0 ? bv - lse : NEG_INF);
        }
        pv = bv;
        pid = bi;
        if (bi < 0) pv = NEG_INF;
    }
}
