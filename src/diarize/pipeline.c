/* pipeline.c — see pipeline.h. */
#include "diarize/pipeline.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "audio/pcm.h"
#include "backend/cpu/threadpool.h"
#include "common/util.h"
#include "diarize/cluster.h"
#include "diarize/fbank.h"

#define SR 16000
#define FRAME_STEP 270 /* samples between segmentation frames (10 x 3 x 3 x 3) */
#define FRAME_CENTER 495 /* the centre of frame 0's receptive field (991 samples) */
#define K DIAR_LOCAL_SPEAKERS
#define LINK_MIN 25       /* frames (0.4 s) two local speakers share to be linked */
#define LINK_IOU 0.5f     /* and the share of the frames either speaks in */
#define SPLIT_MIN 25      /* frames (0.4 s) of another local speaker that cut a local speaker into pieces */
#define SPLIT_GAP 30      /* and frames (0.5 s) of its silence that do */
#define FILL_GAP 0.2      /* seconds: a shorter pause of a speaker is filled (NIST's rule is 0.3 s) */
#define STRONG_SECONDS 2.0 /* of its speaker alone: an embedding that takes part in the clustering */
#define CLUSTER_MAX 3000 /* embeddings clustered at once: an n x n float matrix (36 MB) */
#define SEG_GROUP 8      /* chunks segmented in one batch (the LSTM's weights read once per frame for all) */

diar_options diar_options_default(void) {
    diar_options o = {2.0f, 0.45f, 0, 0, 0, 0.25f, 1, 3.0f, 5, NULL, NULL};
    return o;
}

/* the samples [*a, *b) of a chunk (chunk-relative, clamped to its `have` real samples) that frame
 * f stands for: FRAME_STEP samples around the centre of its receptive field */
static void frame_span(size_t f, size_t have, size_t *a, size_t *b) {
    size_t c = f * FRAME_STEP + FRAME_CENTER;
    *a = c - FRAME_STEP / 2;
    *b = *a + FRAME_STEP;
    if (*a > have) *a = have;
    if (*b > have) *b = have;
}

/* the embedding of local speaker k of one chunk (its samples chunk[0..have)) in the frames
 * [f0, f1): frames where k is active (alone when `alone`), at most max_frames of them (0: all)
 * taken outward from the middle of [f0, f1), their audio concatenated in time order; returns the
 * samples used (> 0) when made, 0 when too short, < 0 on error.  sel: nf scratch bytes. */
static int embed_speaker(const diar_campplus *m, const float *chunk, size_t have, const uint8_t *act, size_t f0,
                         size_t f1, int k, int alone, size_t min_samples, size_t max_frames, uint8_t *sel, float *buf,
                         float *out, char *err, size_t err_size) {
    size_t got = 0, mid = (f0 + f1) / 2;
    memset(sel + f0, 0, f1 - f0);
    for (size_t i = 0; i < 2 * (f1 - f0) && (!max_frames || got < max_frames); i++) {
        size_t f = i % 2 ? mid + (i + 1) / 2 : mid - i / 2; /* mid, mid + 1, mid - 1, mid + 2, ... */
        if (f < f0 || f >= f1) continue;
        const uint8_t *a = act + f * K;
        if (!a[k] || (alone && a[0] + a[1] + a[2] != 1)) continue;
        sel[f] = 1;
        got++;
    }
    size_t len = 0;
    for (size_t f = f0; f < f1; f++) {
        if (!sel[f]) continue;
        size_t p, q;
        frame_span(f, have, &p, &q);
        memcpy(buf + len, chunk + p, sizeof(float) * (q - p));
        len += q - p;
    }
    if (len < min_samples || len < DIAR_FBANK_WINDOW + 2 * DIAR_FBANK_SHIFT) return 0;
    size_t nfr = diar_fbank_frames(len);
    float *feats = malloc(sizeof(float) * nfr * DIAR_FBANK_BINS);
    if (!feats || diar_fbank(buf, len, feats) != AM_OK) {
        free(feats);
        return am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory");
    }
    diar_fbank_mean_norm(feats, nfr);
    int rc = diar_campplus_embed(m, feats, nfr, out, err, err_size);
    free(feats);
    return rc == AM_OK ? (int)len : rc;
}

/* A piece: the frames [f0, f1) of chunk c in which its local speaker k speaks without a turn of
 * another local speaker or a long pause (see split_pieces). */
typedef struct {
    int c, k, f0, f1;
} piece;

typedef struct {
    const diar_segmenter *seg;
    const diar_campplus *emb;
    const pcm_store *pcm;
    size_t n, nf, min_samples, max_frames, n_chunks;
    const size_t *start;
    uint8_t *act;        /* [chunk][nf][K] */
    const piece *pieces;
    float *embs;         /* [piece][dim] */
    int8_t *has;         /* [piece]: an embedding was made (1), of >= strong_samples of its speaker alone (2) */
    size_t strong_samples;
    float *scratch;      /* per thread: logp [group][nf][7], chunks [group][DIAR_SEG_CHUNK], buf, sel */
    size_t scratch_len;
    int *rc;             /* per chunk */
    char (*errs)[160];   /* per thread */
    int group;           /* phase 0: chunks segmented together (diar_seg_forward_chunks) */
    const int *jobs;     /* phase 1: the pieces to embed */
    int phase;
    const atomic_int *cancel; /* set: every later task fails with AM_E_ABORTED */
} run_ctx;

/* the embedding of piece j (of chunk c, its samples `chunk`, its activity in r->act): AM_OK or the
 * failure */
static int embed_piece(run_ctx *r, int j, const float *chunk, float *buf, uint8_t *sel, char *err) {
    const piece *pc = &r->pieces[j];
    size_t c = (size_t)pc->c, have = r->n - r->start[c] < DIAR_SEG_CHUNK ? r->n - r->start[c] : DIAR_SEG_CHUNK;
    const uint8_t *a = r->act + c * r->nf * K;
    float *e = r->embs + (size_t)j * DIAR_CAMPPLUS_DIM;
    int got = embed_speaker(r->emb, chunk, have, a, (size_t)pc->f0, (size_t)pc->f1, pc->k, 1, r->min_samples,
                            r->max_frames, sel, buf, e, err, sizeof r->errs[0]);
    int strong = got >= (int)r->strong_samples;
    if (got == 0)
        got = embed_speaker(r->emb, chunk, have, a, (size_t)pc->f0, (size_t)pc->f1, pc->k, 0, r->min_samples,
                            r->max_frames, sel, buf, e, err, sizeof r->errs[0]);
    if (got < 0) return got;
    r->has[j] = got == 0 ? 0 : strong ? 2 : 1;
    return AM_OK;
}

/* phase 0: task i is the chunks i * group .. (i + 1) * group - 1: their samples read, segmented
 * in one batch and decoded; phase 1: task i is job i, the embedding of one piece */
static void chunk_task(void *p, int i, int thread) {
    run_ctx *r = p;
    const size_t G = r->phase ? 1 : (size_t)r->group;
    float *logp = r->scratch + (size_t)thread * r->scratch_len, *chunks = logp + G * r->nf * DIAR_SEG_CLASSES,
          *buf = chunks + G * DIAR_SEG_CHUNK;
    uint8_t *sel = (uint8_t *)(buf + DIAR_SEG_CHUNK);
    char *err = r->errs[thread];
    size_t c0 = r->phase ? (size_t)r->pieces[r->jobs[i]].c : (size_t)i * G;
    size_t c1 = r->phase ? c0 + 1 : (c0 + G < r->n_chunks ? c0 + G : r->n_chunks);
    /* the chunks' samples (zeros past the end): their whole span at once when it fits, so that
     * overlapping chunks share their sinc filters (diar_seg_forward_chunks); else one by one */
    size_t span = r->start[c1 - 1] - r->start[c0] + DIAR_SEG_CHUNK, at[SEG_GROUP];
    int whole = span <= G * DIAR_SEG_CHUNK, rc = AM_OK;
    if (r->cancel && atomic_load(r->cancel))
        rc = am_fail(err, sizeof r->errs[0], AM_E_ABORTED, "diarization: cancelled");
    for (size_t c = c0; c < c1; c++) at[c - c0] = whole ? r->start[c] - r->start[c0] : (c - c0) * DIAR_SEG_CHUNK;
    for (size_t c = c0; c < c1 && rc == AM_OK && (!whole || c == c0); c++) {
        rc = pcm_store_read(r->pcm, r->start[c], whole ? span : DIAR_SEG_CHUNK, chunks + at[c - c0]);
        if (rc != AM_OK)
            am_fail(err, sizeof r->errs[0], rc, "diarization: cannot read the audio back: %s", pcm_store_error(r->pcm));
    }
    if (rc == AM_OK && r->phase) {
        rc = embed_piece(r, r->jobs[i], chunks, buf, sel, err);
    } else if (rc == AM_OK) {
        rc = diar_seg_forward_chunks(r->seg, chunks, at, (int)(c1 - c0), DIAR_SEG_CHUNK, logp, err, sizeof r->errs[0]);
        for (size_t c = c0; c < c1 && rc == AM_OK; c++) {
            size_t have = r->n - r->start[c] < DIAR_SEG_CHUNK ? r->n - r->start[c] : DIAR_SEG_CHUNK;
            uint8_t *a = r->act + c * r->nf * K;
            diar_powerset_decode(logp + (c - c0) * r->nf * DIAR_SEG_CLASSES, r->nf, a);
            for (size_t f = 0; f < r->nf; f++) /* frames past the end of the audio say nothing */
                if (f * FRAME_STEP + FRAME_CENTER >= have) memset(a + f * K, 0, K);
        }
    }
    if (rc != AM_OK || !r->phase)
        for (size_t c = c0; c < c1; c++) r->rc[c] = rc;
}

/* The pieces of local speaker k of one chunk's activity a[nf][K], appended to *out (*n of *cap):
 * its runs of active frames, cut where another local speaker speaks SPLIT_MIN frames between two
 * of them (a turn of someone else) or where k is silent SPLIT_GAP frames: the segmentation may call
 * two voices that never overlap in the chunk the same local speaker.  Returns 0, or -1 when out of
 * memory. */
static int split_pieces(const uint8_t *a, size_t nf, int c, int k, piece **out, size_t *n, size_t *cap) {
    long start = -1, end = -1; /* the open piece's first frame and the end of its last run */
    int others = 0;            /* frames since `end` where another local speaker speaks */
    for (size_t f = 0; f <= nf; f++) {
        int on = f < nf && a[f * K + k];
        if (f < nf && !on && start >= 0 && (long)f >= end) {
            int o = 0;
            for (int j = 0; j < K; j++) o |= j != k && a[f * K + j];
            others += o;
        }
        if (on && start >= 0 && (others >= SPLIT_MIN || (long)f - end >= SPLIT_GAP)) { /* close the piece */
            if (*n == *cap) {
                piece *t = realloc(*out, sizeof **out * (*cap ? *cap * 2 : 64));
                if (!t) return -1;
                *out = t;
                *cap = *cap ? *cap * 2 : 64;
            }
            (*out)[(*n)++] = (piece){c, k, (int)start, (int)end};
            start = -1;
        }
        if (on) {
            if (start < 0) start = (long)f;
            end = (long)f + 1;
            others = 0;
        }
        if (f == nf && start >= 0) {
            if (*n == *cap) {
                piece *t = realloc(*out, sizeof **out * (*cap ? *cap * 2 : 64));
                if (!t) return -1;
                *out = t;
                *cap = *cap ? *cap * 2 : 64;
            }
            (*out)[(*n)++] = (piece){c, k, (int)start, (int)end};
        }
    }
    return 0;
}

/* The frames piece p (of chunk c) and piece q (of anchor chunk b) are both active on, and either
 * is, where the chunks overlap (frame f of c is frame f - shift of b; shift may be negative). */
static void piece_overlap(const uint8_t *act, size_t nf, const piece *p, const piece *q, long shift, int *both,
                          int *either) {
    const uint8_t *ac = act + (size_t)p->c * nf * K, *ab = act + (size_t)q->c * nf * K;
    *both = *either = 0;
    long lo = shift > 0 ? shift : 0, hi = (long)nf + (shift < 0 ? shift : 0); /* frames of c inside b */
    for (long f = lo; f < hi; f++) {
        long g = f - shift;
        int x = f >= p->f0 && f < p->f1 && ac[f * K + p->k], y = g >= q->f0 && g < q->f1 && ab[g * K + q->k];
        *both += x && y;
        *either += x || y;
    }
}

/* The embeddings' clusters: diar_cluster on the strong ones (has[i] == 2; all when none is), at
 * most CLUSTER_MAX of them (above that one of each run of s, s the smallest that fits); then every
 * embedding given the cluster whose mean direction (cosine) is nearest.  Time and memory stay
 * O(CLUSTER_MAX^2 + n k) on recordings of any length. */
static int cluster_bounded(const float *embs, const int8_t *has, int n, const diar_options *d, int *labels) {
    const int D = DIAR_CAMPPLUS_DIM;
    int n_strong = 0;
    for (int i = 0; i < n; i++) n_strong += has[i] == 2;
    int *cand = malloc(sizeof(int) * (size_t)(n ? n : 1)), nc = 0;
    if (!cand) return AM_E_NOMEM;
    for (int i = 0; i < n; i++)
        if (!n_strong || has[i] == 2) cand[nc++] = i;
    const int s = nc > CLUSTER_MAX ? (nc + CLUSTER_MAX - 1) / CLUSTER_MAX : 1, m = (nc + s - 1) / s;
    float *sub = malloc(sizeof(float) * (size_t)(m ? m : 1) * D);
    int *sl = malloc(sizeof(int) * (size_t)(m ? m : 1)), *pick = malloc(sizeof(int) * (size_t)(m ? m : 1));
    if (!sub || !sl || !pick) {
        free(cand);
        free(sub);
        free(sl);
        free(pick);
        return AM_E_NOMEM;
    }
    /* one of each run of s, at a scrambled place in the run: every s-th would follow the order of
     * the local speakers within chunks (two speakers, s = 2: the same local speaker every time) */
    for (int i = 0; i < m; i++) {
        int j = s == 1 ? i : i * s + (int)(((uint32_t)i * 2654435761u >> 16) % (uint32_t)s);
        pick[i] = cand[j < nc ? j : nc - 1];
        memcpy(sub + (size_t)i * D, embs + (size_t)pick[i] * D, sizeof(float) * D);
    }
    free(cand);
    int k = diar_cluster(sub, m, D, d->threshold, d->num_speakers, d->min_speakers, d->max_speakers, sl);
    double *cen = k > 0 ? calloc((size_t)k * D, sizeof *cen) : NULL;
    if (k > 0 && !cen) k = AM_E_NOMEM;
    for (int i = 0; k > 0 && i < m; i++) { /* the clusters' mean directions */
        const float *e = sub + (size_t)i * D;
        double nn = 0.0;
        for (int j = 0; j < D; j++) nn += (double)e[j] * e[j];
        nn = nn > 0.0 ? 1.0 / sqrt(nn) : 0.0;
        for (int j = 0; j < D; j++) cen[(size_t)sl[i] * D + j] += e[j] * nn;
    }
    for (int c = 0; k > 0 && c < k; c++) {
        double nn = 0.0;
        for (int j = 0; j < D; j++) nn += cen[(size_t)c * D + j] * cen[(size_t)c * D + j];
        nn = nn > 0.0 ? 1.0 / sqrt(nn) : 0.0;
        for (int j = 0; j < D; j++) cen[(size_t)c * D + j] *= nn;
    }
    for (int i = 0; k > 0 && i < n; i++) {
        const float *e = embs + (size_t)i * D;
        int best = 0;
        double bd = -INFINITY;
        for (int c = 0; c < k; c++) {
            double dot = 0.0;
            for (int j = 0; j < D; j++) dot += cen[(size_t)c * D + j] * e[j];
            if (dot > bd) {
                bd = dot;
                best = c;
            }
        }
        labels[i] = best;
    }
    for (int i = 0; k > 0 && i < m; i++) labels[pick[i]] = sl[i]; /* the clustered ones keep their cluster */
    free(cen);
    free(sub);
    free(sl);
    free(pick);
    return k;
}

/* Each piece's global speaker plabel[p]: its embedding's cluster, except that two pieces of one
 * chunk active together (two local speakers at once, LINK_MIN frames) are two speakers: when they
 * got the same cluster, the one less like its mean direction takes its next nearest.  Returns 0, or
 * -1 when out of memory. */
static int apart_coactive(const float *embs, int n_emb, const int *labels, int k, const uint8_t *act, size_t nf,
                          const piece *pieces, const size_t *first, size_t n_chunks, const int *owner, int *plabel) {
    const int D = DIAR_CAMPPLUS_DIM;
    for (size_t p = 0; p < first[n_chunks]; p++) plabel[p] = owner[p] >= 0 ? labels[owner[p]] : -1;
    if (k < 2) return 0;
    double *cen = calloc((size_t)k * D, sizeof *cen), *sim = malloc(sizeof *sim * (size_t)(n_emb ? n_emb : 1) * k);
    if (!cen || !sim) {
        free(cen);
        free(sim);
        return -1;
    }
    for (int i = 0; i < n_emb; i++) { /* the clusters' mean directions, and each embedding's cosine to them */
        const float *e = embs + (size_t)i * D;
        double nn = 0.0;
        for (int j = 0; j < D; j++) nn += (double)e[j] * e[j];
        nn = nn > 0.0 ? 1.0 / sqrt(nn) : 0.0;
        for (int j = 0; j < D; j++) cen[(size_t)labels[i] * D + j] += e[j] * nn;
    }
    for (int c = 0; c < k; c++) {
        double nn = 0.0;
        for (int j = 0; j < D; j++) nn += cen[(size_t)c * D + j] * cen[(size_t)c * D + j];
        nn = nn > 0.0 ? 1.0 / sqrt(nn) : 0.0;
        for (int j = 0; j < D; j++) cen[(size_t)c * D + j] *= nn;
    }
    for (int i = 0; i < n_emb; i++) {
        const float *e = embs + (size_t)i * D;
        double nn = 0.0;
        for (int j = 0; j < D; j++) nn += (double)e[j] * e[j];
        nn = nn > 0.0 ? 1.0 / sqrt(nn) : 0.0;
        for (int c = 0; c < k; c++) {
            double dot = 0.0;
            for (int j = 0; j < D; j++) dot += cen[(size_t)c * D + j] * e[j];
            sim[(size_t)i * k + c] = dot * nn;
        }
    }
    for (size_t c = 0; c < n_chunks; c++) {
        const uint8_t *a = act + c * nf * K;
        for (size_t p = first[c]; p < first[c + 1]; p++)
            for (size_t q = p + 1; q < first[c + 1]; q++) {
                const piece *x = &pieces[p], *y = &pieces[q];
                if (plabel[p] < 0 || plabel[p] != plabel[q] || x->k == y->k) continue;
                int lo = x->f0 > y->f0 ? x->f0 : y->f0, hi = x->f1 < y->f1 ? x->f1 : y->f1, both = 0;
                for (int f = lo; f < hi; f++) both += a[(size_t)f * K + x->k] && a[(size_t)f * K + y->k];
                if (both < LINK_MIN) continue;
                size_t m = sim[(size_t)owner[p] * k + plabel[p]] < sim[(size_t)owner[q] * k + plabel[q]] ? p : q;
                const double *sm = sim + (size_t)owner[m] * k;
                int best = -1;
                for (int s = 0; s < k; s++)
                    if (s != plabel[m] && (best < 0 || sm[s] > sm[best])) best = s;
                plabel[m] = best;
            }
    }
    free(cen);
    free(sim);
    return 0;
}

/* the first failure of a pool run, with the message of the thread that failed; AM_OK when none */
static int pool_failed(const int *rcs, size_t n_chunks, char (*errs)[160], int n_threads, char *err, size_t err_size) {
    for (size_t c = 0; c < n_chunks; c++)
        if (rcs[c] != AM_OK) {
            for (int t = 0; t < n_threads; t++)
                if (errs[t][0]) return am_fail(err, err_size, rcs[c], "%s", errs[t]);
            return am_fail(err, err_size, rcs[c], "diarization failed");
        }
    return AM_OK;
}

int diar_run(const diar_segmenter *seg, const diar_campplus *emb, const float *x, size_t n, const diar_options *o,
             diar_turn **turns, size_t *n_turns, int *n_speakers, char *err, size_t err_size) {
    if (n && !x) return am_fail(err, err_size, AM_E_INVALID_ARG, "diarization: invalid arguments");
    pcm_store *pcm = pcm_store_view(x, n);
    if (!pcm) return am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory");
    int rc = diar_run_pcm(seg, emb, pcm, o, turns, n_turns, n_speakers, err, err_size);
    pcm_store_free(pcm);
    return rc;
}

int diar_run_pcm(const diar_segmenter *seg, const diar_campplus *emb, const pcm_store *pcm, const diar_options *o,
                 diar_turn **turns, size_t *n_turns, int *n_speakers, char *err, size_t err_size) {
    *turns = NULL;
    *n_turns = 0;
    *n_speakers = 0;
    diar_options d = o ? *o : diar_options_default();
    const size_t n = pcm ? pcm_store_size(pcm) : 0;
    if (!seg || !emb || !pcm || !(d.step > 0.0f) || d.max_embed < 0.0f || d.embed_every < 0 || d.num_speakers < 0 || d.min_speakers < 0 ||
        d.max_speakers < 0 || d.n_threads < 0)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "diarization: invalid arguments");
    if (n == 0) return AM_OK;
    /* chunk starts on the frame grid */
    size_t step = (size_t)lroundf(d.step * SR / FRAME_STEP) * FRAME_STEP;
    if (step == 0) step = FRAME_STEP;
    size_t n_chunks = 1;
    if (n > DIAR_SEG_CHUNK) n_chunks = (n - DIAR_SEG_CHUNK + step - 1) / step + 1;
    const size_t nf = diar_seg_frames(DIAR_SEG_CHUNK);
    size_t n_glob = n / FRAME_STEP + nf + 1;
    int n_threads = d.n_threads > 0 ? d.n_threads : 1;
    if ((size_t)n_threads > n_chunks) n_threads = (int)n_chunks;
    /* in the background: n_threads idle-priority workers, the caller joining later (pipeline.h) */
    am_pool *pool = d.foreground ? am_pool_create(n_threads + 1) : n_threads > 1 ? am_pool_create(n_threads) : NULL;
    if (pool && d.foreground) am_pool_set_background(pool); /* (else they compete at normal priority) */
    if (pool) n_threads = am_pool_size(pool);
    else n_threads = 1;
    /* chunks segmented together: up to SEG_GROUP, fewer when that would leave a thread idle */
    size_t group = (n_chunks + (size_t)n_threads - 1) / (size_t)n_threads;
    if (group > SEG_GROUP) group = SEG_GROUP;
    size_t n_groups = (n_chunks + group - 1) / group;
    size_t scratch_len = group * (nf * DIAR_SEG_CLASSES + (size_t)DIAR_SEG_CHUNK) + DIAR_SEG_CHUNK +
                         (nf + sizeof(float) - 1) / sizeof(float);
    size_t *start = malloc(sizeof(size_t) * n_chunks);
    uint8_t *act = malloc((size_t)n_chunks * nf * K);
    float *scratch = malloc(sizeof(float) * scratch_len * (size_t)n_threads);
    int *rcs = malloc(sizeof(int) * n_chunks);
    char(*errs)[160] = calloc((size_t)n_threads, sizeof *errs);
    size_t *first = malloc(sizeof(size_t) * (n_chunks + 1)); /* the pieces of chunk c: first[c] .. first[c + 1] */
    int every = d.embed_every > 0 ? d.embed_every : 1;
    piece *pieces = NULL;
    size_t n_pieces = 0, pieces_cap = 0;
    float *embs = NULL, *score = NULL, *count = NULL, *nspk = NULL;
    int8_t *has = NULL;
    int *owner = NULL, *labels = NULL, *link = NULL, *jobs = NULL, *plabel = NULL;
    diar_turn *out = NULL;
    int rc = AM_OK, n_emb = 0, k_glob = 0;
    if (!start || !act || !scratch || !rcs || !errs || !first) goto oom;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t s0 = c * step;
        if (n > DIAR_SEG_CHUNK && s0 + DIAR_SEG_CHUNK > n) /* the last chunk ends at the end, on the grid */
            s0 = (n - DIAR_SEG_CHUNK) / FRAME_STEP * FRAME_STEP;
        start[c] = s0;
    }
    run_ctx r = {.seg = seg, .emb = emb, .pcm = pcm, .n = n, .nf = nf, .min_samples = (size_t)(d.min_embed * SR),
                 .max_frames = (size_t)(d.max_embed * SR / FRAME_STEP), .n_chunks = n_chunks, .start = start,
                 .act = act, .scratch = scratch, .scratch_len = scratch_len, .rc = rcs, .errs = errs,
                 .group = (int)group, .cancel = d.cancel};
    am_pool_run_deferred(pool, (int)n_groups, chunk_task, &r, d.foreground);
    if ((rc = pool_failed(rcs, n_chunks, errs, n_threads, err, err_size)) != AM_OK) goto done;
    /* every local speaker cut into pieces at the turns of the others and at long pauses */
    for (size_t c = 0; c < n_chunks; c++) {
        first[c] = n_pieces;
        for (int k = 0; k < K; k++)
            if (split_pieces(act + c * nf * K, nf, (int)c, k, &pieces, &n_pieces, &pieces_cap) < 0) goto oom;
    }
    first[n_chunks] = n_pieces;
    embs = malloc(sizeof(float) * (n_pieces ? n_pieces : 1) * DIAR_CAMPPLUS_DIM);
    has = calloc(n_pieces ? n_pieces : 1, 1);
    owner = malloc(sizeof(int) * (n_pieces ? n_pieces : 1));
    labels = malloc(sizeof(int) * (n_pieces ? n_pieces : 1));
    link = malloc(sizeof(int) * (n_pieces ? n_pieces : 1));
    jobs = malloc(sizeof(int) * (n_pieces ? n_pieces : 1));
    plabel = malloc(sizeof(int) * (n_pieces ? n_pieces : 1));
    if (!embs || !has || !owner || !labels || !link || !jobs || !plabel) goto oom;
    r.pieces = pieces;
    r.embs = embs;
    r.has = has;
    r.jobs = jobs;
    r.phase = 1;
    r.strong_samples = (size_t)(STRONG_SECONDS * SR);
    /* the pieces of every every-th chunk (and the last) embedded; those of the chunks between linked
     * to the previous or the next anchor's piece active on the same frames, else embedded */
    for (int round = 0; round < 2; round++) {
        int n_jobs = 0;
        for (size_t c = 0; c < n_chunks; c++) {
            int anchor = c % (size_t)every == 0 || c + 1 == n_chunks;
            if (anchor != !round) continue;
            size_t b[2] = {c - c % (size_t)every, c - c % (size_t)every + (size_t)every};
            if (b[1] >= n_chunks) b[1] = n_chunks - 1;
            for (size_t p = first[c]; p < first[c + 1]; p++) {
                int best = -1, best_n = 0;
                link[p] = -1;
                for (int i = 0; i < 2 && !anchor; i++) {
                    long shift = ((long)start[b[i]] - (long)start[c]) / FRAME_STEP;
                    for (size_t q = first[b[i]]; q < first[b[i] + 1]; q++) {
                        int both, either;
                        if (!has[q]) continue;
                        piece_overlap(act, nf, &pieces[p], &pieces[q], shift, &both, &either);
                        if (both >= LINK_MIN && both >= LINK_IOU * either && both > best_n) {
                            best = (int)q;
                            best_n = both;
                        }
                    }
                }
                if (best >= 0) link[p] = best;
                else jobs[n_jobs++] = (int)p;
            }
        }
        if (n_jobs > 0) {
            am_pool_run_deferred(pool, n_jobs, chunk_task, &r, d.foreground);
            if ((rc = pool_failed(rcs, n_chunks, errs, n_threads, err, err_size)) != AM_OK) goto done;
        }
    }
    /* the embeddings made, in chunk order */
    for (size_t i = 0; i < n_pieces; i++) {
        owner[i] = -1;
        if (!has[i]) continue;
        if ((size_t)n_emb != i)
            memcpy(embs + (size_t)n_emb * DIAR_CAMPPLUS_DIM, embs + i * DIAR_CAMPPLUS_DIM, sizeof(float) * DIAR_CAMPPLUS_DIM);
        has[n_emb] = has[i]; /* has[0 .. n_emb): the embeddings' strength (has[i] for i >= n_emb is not read again) */
        owner[i] = n_emb++;
    }
    for (size_t i = 0; i < n_pieces; i++) /* a linked piece: its anchor's embedding */
        if (owner[i] < 0 && link[i] >= 0) owner[i] = owner[link[i]];
    k_glob = cluster_bounded(embs, has, n_emb, &d, labels);
    if (k_glob < 0) {
        rc = k_glob == AM_E_NOMEM ? am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory")
                                  : am_fail(err, err_size, AM_E_INVALID_ARG, "diarization: clustering failed");
        goto done;
    }
    if (k_glob == 0) goto done; /* nobody speaks */
    if (apart_coactive(embs, n_emb, labels, k_glob, act, nf, pieces, first, n_chunks, owner, plabel) < 0) goto oom;
    score = calloc(n_glob * (size_t)k_glob, sizeof *score);
    count = calloc(n_glob, sizeof *count);
    nspk = calloc(n_glob, sizeof *nspk);
    if (!score || !count || !nspk) goto oom;
    for (size_t c = 0; c < n_chunks; c++) {
        const uint8_t *a = act + c * nf * K;
        size_t g0 = start[c] / FRAME_STEP;
        for (size_t f = 0; f < nf; f++) {
            if (start[c] + f * FRAME_STEP + FRAME_CENTER >= n) break;
            count[g0 + f] += 1.0f;
            for (int k = 0; k < K; k++) nspk[g0 + f] += a[f * K + k];
        }
        for (size_t p = first[c]; p < first[c + 1]; p++) {
            if (owner[p] < 0) continue;
            int k = pieces[p].k, s = plabel[p];
            for (int f = pieces[p].f0; f < pieces[p].f1; f++) {
                if (start[c] + (size_t)f * FRAME_STEP + FRAME_CENTER >= n) break;
                if (a[(size_t)f * K + k]) score[(g0 + (size_t)f) * k_glob + s] += 1.0f;
            }
        }
    }
    /* per frame: the count's most active speakers; then runs into turns */
    size_t cap = 64, nt = 0;
    out = malloc(sizeof *out * cap);
    int *run_start = malloc(sizeof(int) * (size_t)k_glob);
    uint8_t *on = calloc((size_t)k_glob * 2, 1);
    if (!out || !run_start || !on) {
        free(run_start);
        free(on);
        goto oom;
    }
    for (size_t g = 0; g <= n_glob; g++) {
        uint8_t *now = on + k_glob;
        memset(now, 0, (size_t)k_glob);
        if (g < n_glob && count[g] > 0.0f) {
            int want = (int)lroundf(nspk[g] / count[g]);
            for (int w = 0; w < want && w < k_glob; w++) {
                int best = -1;
                for (int s = 0; s < k_glob; s++)
                    if (!now[s] && score[g * k_glob + s] > 0.0f && (best < 0 || score[g * k_glob + s] > score[g * k_glob + best]))
                        best = s;
                if (best < 0) break;
                now[best] = 1;
            }
        }
        for (int s = 0; s < k_glob; s++) {
            if (now[s] && !on[s]) run_start[s] = (int)g;
            if (!now[s] && on[s]) {
                if (nt == cap) {
                    diar_turn *t = realloc(out, sizeof *out * cap * 2);
                    if (!t) {
                        free(run_start);
                        free(on);
                        goto oom;
                    }
                    out = t;
                    cap *= 2;
                }
                size_t a0 = (size_t)run_start[s] * FRAME_STEP + FRAME_CENTER - FRAME_STEP / 2;
                size_t b0 = g * FRAME_STEP + FRAME_CENTER - FRAME_STEP / 2;
                if (run_start[s] == 0) a0 = 0;
                if (b0 > n) b0 = n;
                out[nt++] = (diar_turn){(double)a0 / SR, (double)b0 / SR, s};
            }
            on[s] = now[s];
        }
    }
    free(run_start);
    free(on);
    /* turns by start; speakers renumbered by first appearance */
    for (size_t i = 1; i < nt; i++)
        for (size_t j = i; j > 0 && out[j].start < out[j - 1].start; j--) {
            diar_turn t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    {
        int *map = malloc(sizeof(int) * (size_t)k_glob), next = 0;
        if (!map) goto oom;
        /* a speaker's pause shorter than FILL_GAP is filled: its two turns become one */
        for (int s = 0; s < k_glob; s++) map[s] = -1;
        size_t m = 0;
        for (size_t i = 0; i < nt; i++) {
            int s = out[i].speaker;
            if (map[s] >= 0 && out[i].start - out[map[s]].end < FILL_GAP) {
                if (out[i].end > out[map[s]].end) out[map[s]].end = out[i].end;
                continue;
            }
            out[m] = out[i];
            map[s] = (int)m++;
        }
        nt = m;
        for (int s = 0; s < k_glob; s++) map[s] = -1;
        for (size_t i = 0; i < nt; i++) {
            if (map[out[i].speaker] < 0) map[out[i].speaker] = next++;
            out[i].speaker = map[out[i].speaker];
        }
        free(map);
        *n_speakers = next;
    }
    *turns = out;
    *n_turns = nt;
    out = NULL;
    goto done;
oom:
    rc = am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory");
done:
    am_pool_destroy(pool);
    free(start);
    free(act);
    free(embs);
    free(scratch);
    free(has);
    free(rcs);
    free(errs);
    free(first);
    free(pieces);
    free(plabel);
    free(owner);
    free(labels);
    free(link);
    free(jobs);
    free(score);
    free(count);
    free(nspk);
    free(out);
    return rc;
}
