/* model.h — Whisper weights in memory (float32), filled by the CTranslate2 or ggml reader.
 *
 * Linear layers store W as [n_out][n_in] row-major (PyTorch / CTranslate2 order): y = x·Wᵀ + b.
 * Self-attention Q, K, V are fused into one [3d][d] projection (K has no bias: its third is 0),
 * cross-attention K, V into one [2d][d] projection, as CTranslate2 stores them.
 * Convolutions are stored as [d_out][d_in·3] so that conv1d(k=3) is a linear layer over im2col rows. */
#ifndef AM_MODEL_H
#define AM_MODEL_H

#include "amanuensis.h"
#include "text/tokenizer.h"

struct am_backend;

typedef struct am_hparams {
    int n_vocab;
    int n_mels;
    int n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer;
} am_hparams;

typedef struct am_linear {
    float *w; /* [n_out][n_in] */
    float *b; /* [n_out], never NULL (zeros where the model has no bias) */
    int n_out, n_in;
    /* int8 (W8A8) form, set when the model is loaded with AM_PRECISION_INT8 (w is then NULL):
     * q [n_out][n_in] row-major, w[j][k] ≈ q[j][k] · scale[j] (symmetric, per output channel).
     * The backend takes these over when it is created (packing them into its own layout) and
     * releases them: after loading, q and scale are NULL.  NULL in float models. */
    int8_t *q;
    float *scale; /* [n_out] */
} am_linear;

typedef struct am_layernorm {
    float *gamma, *beta; /* [n] */
    int n;
} am_layernorm;

typedef struct am_encoder_layer {
    am_layernorm attn_ln;
    am_linear attn_qkv; /* [3d][d] */
    am_linear attn_out; /* [d][d]  */
    am_layernorm mlp_ln;
    am_linear fc1; /* [4d][d] */
    am_linear fc2; /* [d][4d] */
} am_encoder_layer;

typedef struct am_decoder_layer {
    am_layernorm attn_ln;
    am_linear attn_qkv, attn_out;
    am_layernorm cross_ln;
    am_linear cross_q;  /* [d][d]  */
    am_linear cross_kv; /* [2d][d] */
    am_linear cross_out;
    am_layernorm mlp_ln;
    am_linear fc1, fc2;
} am_decoder_layer;

typedef struct am_weights {
    am_linear conv1;      /* [d][n_mels·3] */
    am_linear conv2;      /* [d][d·3], stride 2 */
    float *enc_pos;       /* [n_audio_ctx][d] */
    am_encoder_layer *enc; /* [n_audio_layer] */
    am_layernorm enc_ln;
    float *tok_emb;       /* [n_vocab][d], also the output projection (tied) */
    float *dec_pos;       /* [n_text_ctx][d] */
    am_decoder_layer *dec; /* [n_text_layer] */
    am_layernorm dec_ln;
    /* int8 models: the vocabulary projection, an int8 copy of tok_emb (b = NULL).  tok_emb is then
     * NULL; float models leave out_proj zeroed. */
    am_linear out_proj;
    /* int8 models from float weights: the token embeddings as IEEE half [n_vocab][d], what the
     * decoder's input reads.  Measured: embedding rows rounded to int8 (7 bits per row) moved the
     * int8 WER on the test set from +0.30 to +1.49 points over f32; half precision keeps the
     * file's f16 values exactly.  NULL for models stored in int8 (rows come from out_proj, as
     * CTranslate2 does) and for float models (tok_emb). */
    uint16_t *tok_emb_f16;
} am_weights;

/* A block of memory owned by the model (freed with it). */
typedef struct am_block {
    struct am_block *next;
    size_t bytes;             /* of the whole block, header included */
    int mapped;               /* 1: its own mmap (large blocks), 0: calloc */
    /* payload follows */
} am_block;

struct am_model {
    am_hparams hp;
    am_weights w;
    am_tokenizer *tok;
    char format[16];          /* "ctranslate2" | "ggml" */
    int alignment_heads[64][2]; /* (layer, head) pairs from config.json, if any */
    int n_alignment_heads;
    am_block *blocks;         /* every weight allocation */
    int precision;            /* AM_PRECISION_F32 | AM_PRECISION_INT8: how linear layers are stored */
    struct am_backend *backend; /* where the model runs: created at load, owns the placed weights */
    struct diar_cache *diar;    /* the diarization networks, loaded by the first transcription that asks
                                 * (diarize/attach.h); freed with the model */
    char backend_warning[256]; /* why `auto` fell back to the CPU ("" when it did not need to) */
};

/* Allocate `n` floats owned by the model (zeroed, 64-byte aligned). NULL on failure.  Blocks of
 * 1 MiB and more get pages of their own (mmap), so that releasing one early (model_release, when a
 * backend has packed it) returns it to the system without moving the C library's allocation
 * thresholds for the rest of the process. */
float *model_alloc_floats(am_model *m, size_t n);
/* Free one block (whatever its kind). */
void model_block_free(am_block *b);

/* Sinusoidal positions laid out [sin | cos], log-timescale increment ln(10000)/(d/2 − 1). */
void model_sinusoids(int n_ctx, int d, float *out);

/* Shape checks shared by both readers: fills hp from the weights, verifies every tensor. */
int model_validate(am_model *m, char *err, size_t err_size);

/* Readers. `path` is a directory (CTranslate2) or a file. */
int model_load_ct2(const char *dir, am_model *m, char *err, size_t err_size);
int model_load_ggml(const char *path, am_model *m, char *err, size_t err_size);

/* quantize.c: int8 (W8A8) weights in the model's neutral form (row-major q, per-row scale).
 * model_quantize_rows is the quantisation rule: per row, scale = max|w| / 127 and
 * q = round_half_even(w / scale) clamped to [-127, 127] (0 for an all-zero row).
 * model_quantize_linear converts l->w (float) into l->q/scale and releases the float copy;
 * model_quantize_int8 does it for every linear layer and the vocabulary projection of a
 * float-loaded model.  model_release frees one model allocation early (NULL: nothing). */
struct am_tensor_table;
void model_quantize_rows(int n, int k, const float *w, int ldw, int8_t *q, int ldq, float *scale);
int model_quantize_linear(am_model *m, am_linear *l);
int model_quantize_int8(am_model *m);
void model_release(am_model *m, void *p);
/* Build the int8 form of a linear layer straight from the tensor table (n_parts tensors stacked by rows,
 * each [rows[i]][n_in], or one [n_out][n_in/3][3] convolution when conv_k3): CTranslate2 int8 tensors are
 * kept as they are (their per-row scales inverted), others are converted to float one part at a time
 * and quantised.  l->n_out, l->n_in must be set; l->w stays NULL. */
int model_fetch_linear_int8(const struct am_tensor_table *tab, am_model *m, am_linear *l, int n_parts,
                            const char *const *names, const int *rows, int conv_k3, char *err, size_t err_size);

/* IEEE half / bfloat16 -> float. */
float model_f16_to_f32(uint16_t h);
uint16_t model_f32_to_f16(float f); /* round to nearest even; overflow → ±inf */
float model_bf16_to_f32(uint16_t h);

#endif
