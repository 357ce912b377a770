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
#define CLUSTER_MAX 3000 /* embeddings clustered at once: an n x n float matrix (36 MB) */
#define SEG_GROUP 8      /* chunks segmented in one batch (the LSTM's weights read once per frame for all) */

diar_options diar_options_default(void) {
    diar_options o = {2.5f, 0.45f, 0, 0, 0, 0.5f, 1, 0.0f, 4};
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

/* the embedding of local speaker k of one chunk (its samples chunk[0..have)): frames where k is
 * active (alone when `alone`), at most max_frames of them (0: all) taken outward from the chunk's
 * middle, their audio concatenated in time order; returns 1 when made, 0 when too short, < 0 on
 * error.  sel: nf scratch bytes. */
static int embed_speaker(const diar_campplus *m, const float *chunk, size_t have, const uint8_t *act, size_t nf, int k,
                         int alone, size_t min_samples, size_t max_frames, uint8_t *sel, float *buf, float *out,
                         char *err, size_t err_size) {
    size_t got = 0, mid = nf / 2;
    memset(sel, 0, nf);
    for (size_t i = 0; i < nf && (!max_frames || got < max_frames); i++) {
        size_t f = i % 2 ? mid + (i + 1) / 2 : mid - i / 2; /* mid, mid + 1, mid - 1, mid + 2, ... */
        if (f >= nf) continue;
        const uint8_t *a = act + f * K;
        if (!a[k] || (alone && a[0] + a[1] + a[2] != 1)) continue;
        sel[f] = 1;
        got++;
    }
    size_t len = 0;
    for (size_t f = 0; f < nf; f++) {
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
    return rc == AM_OK ? 1 : rc;
}

typedef struct {
    const diar_segmenter *seg;
    const diar_campplus *emb;
    const pcm_store *pcm;
    size_t n, nf, min_samples, max_frames, n_chunks;
    const size_t *start;
    uint8_t *act;        /* [chunk][nf][K] */
    float *embs;         /* [chunk][K][dim] */
    int8_t *has;         /* [chunk][K]: an embedding was made */
    float *scratch;      /* per thread: logp [group][nf][7], chunks [group][DIAR_SEG_CHUNK], buf, sel */
    size_t scratch_len;
    int *rc;             /* per chunk */
    char (*errs)[160];   /* per thread */
    int every;           /* phase 0: chunks c % every == 0 (and the last) embed their speakers */
    int group;           /* phase 0: chunks segmented together (diar_seg_forward_batch) */
    const int *jobs;     /* phase 1: the chunks c * K + k to embed */
    int phase;
} run_ctx;

/* the embeddings of local speakers k0 .. k1 - 1 of chunk c (its samples `chunk`, its activity in
 * r->act); AM_OK or the first failure */
static int embed_chunk(run_ctx *r, size_t c, const float *chunk, int k0, int k1, float *buf, uint8_t *sel, char *err) {
    size_t have = r->n - r->start[c] < DIAR_SEG_CHUNK ? r->n - r->start[c] : DIAR_SEG_CHUNK;
    const uint8_t *a = r->act + c * r->nf * K;
    for (int k = k0; k < k1; k++) {
        float *e = r->embs + (c * K + (size_t)k) * DIAR_CAMPPLUS_DIM;
        int got = embed_speaker(r->emb, chunk, have, a, r->nf, k, 1, r->min_samples, r->max_frames, sel, buf, e, err,
                                sizeof r->errs[0]);
        if (got == 0)
            got = embed_speaker(r->emb, chunk, have, a, r->nf, k, 0, r->min_samples, r->max_frames, sel, buf, e, err,
                                sizeof r->errs[0]);
        if (got < 0) return got;
        r->has[c * K + (size_t)k] = got == 1;
    }
    return AM_OK;
}

/* phase 0: task i is the chunks i * group .. (i + 1) * group - 1: their samples read, segmented
 * in one batch, decoded, and at anchors an embedding per local speaker; phase 1: task i is job i,
 * the embedding of one (chunk, local speaker) */
static void chunk_task(void *p, int i, int thread) {
    run_ctx *r = p;
    const size_t G = r->phase ? 1 : (size_t)r->group;
    float *logp = r->scratch + (size_t)thread * r->scratch_len, *chunks = logp + G * r->nf * DIAR_SEG_CLASSES,
          *buf = chunks + G * DIAR_SEG_CHUNK;
    uint8_t *sel = (uint8_t *)(buf + DIAR_SEG_CHUNK);
    char *err = r->errs[thread];
    size_t c0 = r->phase ? (size_t)r->jobs[i] / K : (size_t)i * G;
    size_t c1 = r->phase ? c0 + 1 : (c0 + G < r->n_chunks ? c0 + G : r->n_chunks);
    int rc = AM_OK;
    for (size_t c = c0; c < c1 && rc == AM_OK; c++) {
        rc = pcm_store_read(r->pcm, r->start[c], DIAR_SEG_CHUNK, chunks + (c - c0) * DIAR_SEG_CHUNK); /* zeros past the end */
        if (rc != AM_OK)
            am_fail(err, sizeof r->errs[0], rc, "diarization: cannot read the audio back: %s", pcm_store_error(r->pcm));
    }
    if (rc == AM_OK && r->phase) {
        int k = r->jobs[i] % K;
        rc = embed_chunk(r, c0, chunks, k, k + 1, buf, sel, err);
    } else if (rc == AM_OK) {
        rc = diar_seg_forward_batch(r->seg, chunks, DIAR_SEG_CHUNK, (int)(c1 - c0), logp, err, sizeof r->errs[0]);
        for (size_t c = c0; c < c1 && rc == AM_OK; c++) {
            size_t have = r->n - r->start[c] < DIAR_SEG_CHUNK ? r->n - r->start[c] : DIAR_SEG_CHUNK;
            uint8_t *a = r->act + c * r->nf * K;
            diar_powerset_decode(logp + (c - c0) * r->nf * DIAR_SEG_CLASSES, r->nf, a);
            for (size_t f = 0; f < r->nf; f++) /* frames past the end of the audio say nothing */
                if (f * FRAME_STEP + FRAME_CENTER >= have) memset(a + f * K, 0, K);
            if (c % (size_t)r->every == 0 || c + 1 == r->n_chunks) /* an anchor; the others are linked later */
                rc = embed_chunk(r, c, chunks + (c - c0) * DIAR_SEG_CHUNK, 0, K, buf, sel, err);
        }
    }
    if (rc != AM_OK || !r->phase)
        for (size_t c = c0; c < c1; c++) r->rc[c] = rc;
}

/* The local speaker of anchor chunk b that local speaker k of chunk c is (they overlap by
 * `shift` frames of c: frame f of c is frame f - shift of b, shift may be negative): the one
 * active with it on the most common frames, when those are at least LINK_MIN frames and at least
 * LINK_IOU of the frames where either is active there; -1 when none is.  *common: its count. */
static int link_speaker(const uint8_t *ac, const uint8_t *ab, size_t nf, long shift, int k, int *common) {
    int best = -1, best_n = 0;
    for (int j = 0; j < K; j++) {
        int both = 0, either = 0;
        for (size_t f = 0; f < nf; f++) {
            long g = (long)f - shift;
            if (g < 0 || g >= (long)nf) continue;
            int x = ac[f * K + k], y = ab[(size_t)g * K + j];
            both += x && y;
            either += x || y;
        }
        if (both >= LINK_MIN && both >= LINK_IOU * either && both > best_n) {
            best = j;
            best_n = both;
        }
    }
    *common = best_n;
    return best;
}

/* diar_cluster on at most CLUSTER_MAX embeddings: above that, on one of each run of s of them (s
 * the smallest that fits), the others then given the cluster whose mean direction is nearest
 * (cosine).  Time and memory stay O(CLUSTER_MAX^2 + n k) on recordings of any length. */
static int cluster_bounded(const float *embs, int n, const diar_options *d, int *labels) {
    if (n <= CLUSTER_MAX)
        return diar_cluster(embs, n, DIAR_CAMPPLUS_DIM, d->threshold, d->num_speakers, d->min_speakers, d->max_speakers,
                            labels);
    const int D = DIAR_CAMPPLUS_DIM, s = (n + CLUSTER_MAX - 1) / CLUSTER_MAX, m = (n + s - 1) / s;
    float *sub = malloc(sizeof(float) * (size_t)m * D);
    int *sl = malloc(sizeof(int) * (size_t)m), *pick = malloc(sizeof(int) * (size_t)m);
    if (!sub || !sl || !pick) {
        free(sub);
        free(sl);
        free(pick);
        return AM_E_NOMEM;
    }
    /* one of each run of s, at a scrambled place in the run: every s-th would follow the order of
     * the local speakers within chunks (two speakers, s = 2: the same local speaker every time) */
    for (int i = 0; i < m; i++) {
        int j = i * s + (int)(((uint32_t)i * 2654435761u >> 16) % (uint32_t)s);
        pick[i] = j < n ? j : n - 1;
        memcpy(sub + (size_t)i * D, embs + (size_t)pick[i] * D, sizeof(float) * D);
    }
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
    am_pool *pool = n_threads > 1 ? am_pool_create(n_threads) : NULL;
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
    float *embs = malloc(sizeof(float) * n_chunks * K * DIAR_CAMPPLUS_DIM);
    float *scratch = malloc(sizeof(float) * scratch_len * (size_t)n_threads);
    int8_t *has = malloc(n_chunks * K);
    int *rcs = malloc(sizeof(int) * n_chunks);
    char(*errs)[160] = calloc((size_t)n_threads, sizeof *errs);
    int *owner = malloc(sizeof(int) * n_chunks * K), *labels = malloc(sizeof(int) * n_chunks * K);
    int *link = malloc(sizeof(int) * n_chunks * K), *jobs = malloc(sizeof(int) * n_chunks * K);
    int every = d.embed_every > 0 ? d.embed_every : 1;
    float *score = NULL, *count = NULL, *nspk = NULL;
    diar_turn *out = NULL;
    int rc = AM_OK, n_emb = 0, k_glob = 0;
    if (!start || !act || !embs || !scratch || !has || !rcs || !errs || !owner || !labels || !link || !jobs) goto oom;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t s0 = c * step;
        if (n > DIAR_SEG_CHUNK && s0 + DIAR_SEG_CHUNK > n) /* the last chunk ends at the end, on the grid */
            s0 = (n - DIAR_SEG_CHUNK) / FRAME_STEP * FRAME_STEP;
        start[c] = s0;
    }
    run_ctx r = {seg, emb, pcm, n, nf, (size_t)(d.min_embed * SR), (size_t)(d.max_embed * SR / FRAME_STEP), n_chunks,
                 start, act, embs, has, scratch, scratch_len, rcs, errs, every, (int)group, jobs, 0};
    memset(has, 0, n_chunks * K);
    for (size_t i = 0; i < n_chunks * K; i++) link[i] = -1;
    am_pool_run(pool, (int)n_groups, chunk_task, &r);
    if ((rc = pool_failed(rcs, n_chunks, errs, n_threads, err, err_size)) != AM_OK) goto done;
    /* the chunks between anchors: each local speaker linked to the previous or the next anchor's,
     * else embedded itself */
    int n_jobs = 0;
    for (size_t c = 0; c < n_chunks; c++) {
        if (c % (size_t)every == 0 || c + 1 == n_chunks) continue;
        size_t b[2] = {c - c % (size_t)every, c - c % (size_t)every + (size_t)every};
        if (b[1] >= n_chunks) b[1] = n_chunks - 1;
        for (int k = 0; k < K; k++) {
            int any = 0;
            for (size_t f = 0; f < nf && !any; f++) any = act[(c * nf + f) * K + k];
            if (!any) continue;
            int best = -1, best_n = 0;
            for (int i = 0; i < 2; i++) {
                long shift = ((long)start[b[i]] - (long)start[c]) / FRAME_STEP;
                int common, j = link_speaker(act + c * nf * K, act + b[i] * nf * K, nf, shift, k, &common);
                if (j >= 0 && has[b[i] * K + j] && common > best_n) {
                    best = (int)(b[i] * K) + j;
                    best_n = common;
                }
            }
            if (best >= 0) link[c * K + k] = best;
            else jobs[n_jobs++] = (int)(c * K) + k;
        }
    }
    if (n_jobs > 0) {
        r.phase = 1;
        am_pool_run(pool, n_jobs, chunk_task, &r);
        if ((rc = pool_failed(rcs, n_chunks, errs, n_threads, err, err_size)) != AM_OK) goto done;
    }
    /* the embeddings made, in chunk order */
    for (size_t i = 0; i < n_chunks * K; i++) {
        owner[i] = -1;
        if (!has[i]) continue;
        if ((size_t)n_emb != i)
            memcpy(embs + (size_t)n_emb * DIAR_CAMPPLUS_DIM, embs + i * DIAR_CAMPPLUS_DIM, sizeof(float) * DIAR_CAMPPLUS_DIM);
        owner[i] = n_emb++;
    }
    for (size_t i = 0; i < n_chunks * K; i++) /* a linked speaker: its anchor's embedding */
        if (owner[i] < 0 && link[i] >= 0) owner[i] = owner[link[i]];
    k_glob = cluster_bounded(embs, n_emb, &d, labels);
    if (k_glob < 0) {
        rc = k_glob == AM_E_NOMEM ? am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory")
                                  : am_fail(err, err_size, AM_E_INVALID_ARG, "diarization: clustering failed");
        goto done;
    }
    if (k_glob == 0) goto done; /* nobody speaks */
    score = calloc(n_glob * (size_t)k_glob, sizeof *score);
    count = calloc(n_glob, sizeof *count);
    nspk = calloc(n_glob, sizeof *nspk);
    if (!score || !count || !nspk) goto oom;
    for (size_t c = 0; c < n_chunks; c++) {
        const uint8_t *a = act + c * nf * K;
        size_t g0 = start[c] / FRAME_STEP;
        for (size_t f = 0; f < nf; f++) {
            if (start[c] + f * FRAME_STEP + FRAME_CENTER >= n) break;
            size_t g = g0 + f;
            count[g] += 1.0f;
            for (int k = 0; k < K; k++) {
                if (!a[f * K + k]) continue;
                nspk[g] += 1.0f;
                if (owner[c * K + k] >= 0) score[g * k_glob + labels[owner[c * K + k]]] += 1.0f;
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
