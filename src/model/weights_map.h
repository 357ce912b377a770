/* weights_map.h — how a file format names Whisper's tensors.  Each reader supplies one of these
 * and model_build_weights() (model.c) fetches, checks and widens every tensor through it. */
#ifndef AM_WEIGHTS_MAP_H
#define AM_WEIGHTS_MAP_H

#include <stddef.h>

#include "model/model.h"
#include "model/tensors.h"

/* Per-layer tensors.  For a fused format (CTranslate2) ATTN_Q/ATTN_Q_B name the fused Q|K|V
 * projection and CROSS_K/CROSS_K_B the fused K|V one; the K, V entries are then unused. An entry
 * the format lacks (the key projections have no bias) is written as the empty string. */
enum am_weight_kind {
    AM_W_ATTN_LN_G, AM_W_ATTN_LN_B,
    AM_W_ATTN_Q, AM_W_ATTN_Q_B, AM_W_ATTN_K, AM_W_ATTN_K_B, AM_W_ATTN_V, AM_W_ATTN_V_B,
    AM_W_ATTN_OUT, AM_W_ATTN_OUT_B,
    AM_W_CROSS_LN_G, AM_W_CROSS_LN_B,
    AM_W_CROSS_Q, AM_W_CROSS_Q_B, AM_W_CROSS_K, AM_W_CROSS_K_B, AM_W_CROSS_V, AM_W_CROSS_V_B,
    AM_W_CROSS_OUT, AM_W_CROSS_OUT_B,
    AM_W_MLP_LN_G, AM_W_MLP_LN_B, AM_W_FC1, AM_W_FC1_B, AM_W_FC2, AM_W_FC2_B
};

typedef struct am_weight_names {
    int fused_qkv;
    const char *conv1_w, *conv1_b, *conv2_w, *conv2_b, *enc_pos, *enc_ln_g, *enc_ln_b;
    const char *tok_emb, *dec_pos, *dec_ln_g, *dec_ln_b;
    /* writes the name of tensor `kind` of layer `layer` of the encoder ('e') or decoder ('d') */
    void (*name)(char *out, size_t size, char stack, int layer, int kind);
} am_weight_names;

int model_build_weights(am_model *m, const am_tensor_table *tab, const am_weight_names *names, char *err,
                        size_t err_size);
int model_check_hparams(const am_hparams *hp, char *err, size_t err_size);

#endif
