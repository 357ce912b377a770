#version 450
// matmul.comp — Y[M][N] (+)= α · X[M][K] · Wᵀ (+ bias), optional GELU: every linear layer, and the
// encoder's attention products.  W is [N][K] (row stride ldw) in float32 or half (FMT 0, 1), or
// int8 with a scale per row n (FMT 2: W8A8, X then holds int8 activations four to a word, with
// one scale per row in XS; the sums are exact int32, scaled as the CPU does: float(Σ) · (xs · ws)).
// X (float) and Y are float32 with row strides ldx, ldy; K, ldx, ldw and the offsets are multiples
// of 4 (elements: for int8 X too).
// One subgroup (the workgroup: its size is the device's subgroup size, specialisation constant 0)
// computes a 4×4 block of Y: its lanes split K four at a time (contiguous across lanes), each
// keeps 16 partial sums in float32, and a subgroup sum finishes them.  No shared memory and no
// barriers, which suits CPU implementations (lavapipe) as well as GPUs.
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint FMT = 0u; // the weights' format, one pipeline each (branches fold)
layout(std430, binding = 0) readonly buffer XB { vec4 X4[]; };
layout(std430, binding = 1) readonly buffer WB { uint W[]; };
layout(std430, binding = 2) readonly buffer BB { float B[]; };
layout(std430, binding = 3) buffer YB { float Y[]; };
layout(std430, binding = 4) readonly buffer SB { float S[]; };
layout(std430, binding = 0) readonly buffer XQB { uint XQ[]; }; // FMT 2: the same binding as int8
layout(std430, binding = 5) readonly buffer XSB { float XS[]; };
layout(push_constant) uniform P {
    uint M, N, K, ldx, ldw, ldy, x_off, w_off, y_off, unused, flags; // flags: 1 bias, 2 GELU, 4 accumulate
    float alpha;
    uint x_batch, w_batch, y_batch; // offsets between the products of a batch (workgroup z)
    uint n_blocks;                  // column blocks per workgroup
} p;

// the four weights at element idx (a multiple of 4) of W
vec4 weights4(uint idx) {
    if (FMT == 0u) return uintBitsToFloat(uvec4(W[idx], W[idx + 1u], W[idx + 2u], W[idx + 3u]));
    return vec4(unpackHalf2x16(W[idx >> 1]), unpackHalf2x16(W[(idx >> 1) + 1u]));
}

// Σ of the products of the four int8 pairs packed in a and b
int dot4(uint a, uint b) {
    ivec4 x = ivec4(bitfieldExtract(int(a), 0, 8), bitfieldExtract(int(a), 8, 8), bitfieldExtract(int(a), 16, 8),
                    bitfieldExtract(int(a), 24, 8));
    ivec4 y = ivec4(bitfieldExtract(int(b), 0, 8), bitfieldExtract(int(b), 8, 8), bitfieldExtract(int(b), 16, 8),
                    bitfieldExtract(int(b), 24, 8));
    return x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
}

// GELU(x) = x/2 · (1 + erf(x/√2)); erfc by its Chebyshev fit (|relative error| < 1.2e-7)
float erf_approx(float x) {
    float a = abs(x);
    float t = 1.0 / (1.0 + 0.5 * a);
    float y = 1.0 - t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? y : -y;
}

// Y[m0 .. m0+3][n0 .. n0+3].  Written out without arrays: CPU implementations keep the sums in
// registers only when no loop has to be unrolled for them.
void block(uint m0, uint n0) {
    const uint lane = gl_SubgroupInvocationID, width = gl_SubgroupSize, z = gl_WorkGroupID.z;
    // rows and columns past the edge repeat the last one (computed, never stored)
    const uint xb = p.x_off + z * p.x_batch, wb = p.w_off + z * p.w_batch, lm = p.M - 1u, ln = p.N - 1u;
    const uint x0 = xb + min(m0, lm) * p.ldx, x1 = xb + min(m0 + 1u, lm) * p.ldx;
    const uint x2 = xb + min(m0 + 2u, lm) * p.ldx, x3 = xb + min(m0 + 3u, lm) * p.ldx;
    const uint w0 = wb + min(n0, ln) * p.ldw, w1 = wb + min(n0 + 1u, ln) * p.ldw;
    const uint w2 = wb + min(n0 + 2u, ln) * p.ldw, w3 = wb + min(n0 + 3u, ln) * p.ldw;
    vec4 c0 = vec4(0.0), c1 = vec4(0.0), c2 = vec4(0.0), c3 = vec4(0.0); // column j, rows 0..3
    if (FMT == 2u) { // int8 × int8 → int32, exact
        ivec4 i0 = ivec4(0), i1 = ivec4(0), i2 = ivec4(0), i3 = ivec4(0);
        for (uint k = lane * 4u; k < p.K; k += width * 4u) {
            uint a0 = XQ[(x0 + k) >> 2], a1 = XQ[(x1 + k) >> 2], a2 = XQ[(x2 + k) >> 2], a3 = XQ[(x3 + k) >> 2];
            uint b0 = W[(w0 + k) >> 2], b1 = W[(w1 + k) >> 2], b2 = W[(w2 + k) >> 2], b3 = W[(w3 + k) >> 2];
            i0 += ivec4(dot4(a0, b0), dot4(a1, b0), dot4(a2, b0), dot4(a3, b0));
            i1 += ivec4(dot4(a0, b1), dot4(a1, b1), dot4(a2, b1), dot4(a3, b1));
            i2 += ivec4(dot4(a0, b2), dot4(a1, b2), dot4(a2, b2), dot4(a3, b2));
            i3 += ivec4(dot4(a0, b3), dot4(a1, b3), dot4(a2, b3), dot4(a3, b3));
        }
        i0 = subgroupAdd(i0);
        i1 = subgroupAdd(i1);
        i2 = subgroupAdd(i2);
        i3 = subgroupAdd(i3);
        const uint xr = p.x_off / p.ldx; // the activation scales' row of m0 (x_off is rows · ldx)
        const vec4 xs = vec4(XS[xr + min(m0, lm)], XS[xr + min(m0 + 1u, lm)], XS[xr + min(m0 + 2u, lm)],
                             XS[xr + min(m0 + 3u, lm)]);
        c0 = vec4(i0) * (xs * S[min(n0, ln)]);
        c1 = vec4(i1) * (xs * S[min(n0 + 1u, ln)]);
        c2 = vec4(i2) * (xs * S[min(n0 + 2u, ln)]);
        c3 = vec4(i3) * (xs * S[min(n0 + 3u, ln)]);
    } else {
    for (uint k = lane * 4u; k < p.K; k += width * 4u) {
        vec4 a0 = X4[(x0 + k) >> 2], a1 = X4[(x1 + k) >> 2], a2 = X4[(x2 + k) >> 2], a3 = X4[(x3 + k) >> 2];
        vec4 b0 = weights4(w0 + k), b1 = weights4(w1 + k), b2 = weights4(w2 + k), b3 = weights4(w3 + k);
        c0 += vec4(dot(a0, b0), dot(a1, b0), dot(a2, b0), dot(a3, b0));
        c1 += vec4(dot(a0, b1), dot(a1, b1), dot(a2, b1), dot(a3, b1));
        c2 += vec4(dot(a0, b2), dot(a1, b2), dot(a2, b2), dot(a3, b2));
        c3 += vec4(dot(a0, b3), dot(a1, b3), dot(a2, b3), dot(a3, b3));
    }
    c0 = subgroupAdd(c0);
    c1 = subgroupAdd(c1);
    c2 = subgroupAdd(c2);
    c3 = subgroupAdd(c3);
    }
    if (lane != 0u) return;
    for (uint j = 0; j < 4u; j++) {
        vec4 c = j == 0u ? c0 : j == 1u ? c1 : j == 2u ? c2 : c3;
        uint n = n0 + j;
        if (n >= p.N) break;
        for (uint i = 0; i < 4u; i++) {
            uint m = m0 + i;
            if (m >= p.M) break;
            float v = c[i] * p.alpha;
            if ((p.flags & 1u) != 0u) v += B[n];
            if ((p.flags & 2u) != 0u) v = 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752));
            uint o = p.y_off + z * p.y_batch + m * p.ldy + n;
            if ((p.flags & 4u) != 0u) v += Y[o];
            Y[o] = v;
        }
    }
}

// a workgroup takes n_blocks consecutive column blocks of one row block (fewer, larger
// workgroups: what CPU implementations want)
void main() {
    for (uint b = 0; b < p.n_blocks; b++) {
        uint n0 = (gl_WorkGroupID.x * p.n_blocks + b) * 4u;
        if (n0 >= p.N) break;
        block(gl_WorkGroupID.y * 4u, n0);
    }
}
