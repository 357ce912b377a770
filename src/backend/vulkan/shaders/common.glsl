// common.glsl — helpers shared by the compute shaders (included by glslc).

// A weight element from a buffer of 32-bit words in one of three formats:
// 0: float32, 1: IEEE half (two per word, low half first), 2: int8 (four per word, low byte first;
// the caller multiplies by the row's scale).
float weight_at(uint fmt, uint idx) {
    if (fmt == 0u) return uintBitsToFloat(W[idx]);
    if (fmt == 1u) return unpackHalf2x16(W[idx >> 1])[idx & 1u];
    return float(bitfieldExtract(int(W[idx >> 2]), int(8u * (idx & 3u)), 8));
}
