#version 450
// transpose.comp — Y[c][r] = X[r][x_col + c] for r < rows, c < cols (X rows of ldx floats):
// the encoder's K, head by head, as the [64][T] operand of its score product.
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer XB { float X[]; };
layout(std430, binding = 1) writeonly buffer YB { float Y[]; };
layout(push_constant) uniform P { uint rows, cols, ldx, x_col; } p;

void main() {
    uint r = gl_GlobalInvocationID.x, c = gl_GlobalInvocationID.y;
    if (r < p.rows && c < p.cols) Y[c * p.rows + r] = X[r * p.ldx + p.x_col + c];
}
