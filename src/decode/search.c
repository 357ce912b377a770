/* search.c — one window's token search (see search.h).
 *
 * Every step is one backend decode call for all live hypotheses (beams or sampled candidates);
 * self-attention caches live in backend slots and are reordered with copy_cache when beams move.
 * Beam search follows openai-whisper's BeamSearchDecoder (beam_size + 1 candidates per beam,
 * finished hypotheses collected until round(beam_size · patience)), ranked by
 * sum_logprob / length^length_penalty as CTranslate2 does for faster-whisper. */
#include "decode/search.h"

#include "backend/cpu/vmath.h"

#define AM_MAX_BEAM 64 /* transcribe.c rejects beam_size > 64 */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

#define TIME_PRECISION 0.02

int ivec_push(ivec *a, int x) {
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 256;
        int *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return AM_E_NOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return AM_OK;
}

static int ivec_set(ivec *a, const int *x, int n) {
    a->n = 0;
    for (int i = 0; i < n; i++)
        if (ivec_push(a, x[i]) != AM_OK) return AM_E_NOMEM;
    return AM_OK;
}

float log_softmax_at(const float *x, int n, int id) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - mx));
    return (float)((double)(x[id] - mx) - log(s));
}

/* In place: x = log_softmax(x); work holds n floats of scratch.  Vectorised (vmath): this runs
 * over the whole vocabulary at every step of every hypothesis. */
static void log_softmax_inplace(float *x, int n, float *work) {
    float mx = vm_max(n, x);
    memcpy(work, x, (size_t)n * sizeof(float));
    float lse = mx + logf(vm_exp_sub_sum(n, work, mx, 1.0f));
    for (int i = 0; i < n; i++) x[i] -= lse;
}

float text_compression_ratio(const char *text) {
    const char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    if (n == 0) return 0.0f;
    uLongf out_n = compressBound((uLong)n);
    unsigned char *out = malloc(out_n);
    if (!out) return 0.0f;
    float r = 0.0f;
    if (compress2(out, &out_n, (const unsigned char *)s, (uLong)n, Z_DEFAULT_COMPRESSION) == Z_OK && out_n > 0)
        r = (float)n / (float)out_n;
    free(out);
    return r;
}

static double rng_uniform(uint64_t *s) {
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- logit filters ------------------------------------------------------------------------ */

/* Whisper's timestamp rules (CTranslate2's ApplyTimestampRules) for a hypothesis whose tokens
 * since sample_begin are seq[0..n_seq). */
static void apply_timestamp_rules(const search_ctx *c, float *logits, const int *seq, int n_seq) {
    const int tb = c->sp.timestamp_begin, nv = c->m->hp.n_vocab, eot = c->sp.eot;
    logits[c->sp.no_timestamps] = -INFINITY;
    int check_prob = 0;
    if (n_seq == 0) {
        /* first token: a timestamp no later than max_initial_timestamp */
        for (int i = 0; i < tb; i++) logits[i] = -INFINITY;
        if (c->p->max_initial_timestamp >= 0.0f) {
            int last_allowed = tb + (int)lround(c->p->max_initial_timestamp / TIME_PRECISION);
            for (int i = last_allowed + 1; i < nv; i++) logits[i] = -INFINITY;
        }
    } else {
        int last = seq[n_seq - 1];
        if (last >= tb) {
            int penultimate = n_seq >= 2 ? seq[n_seq - 2] : last;
            if (penultimate >= tb) { /* a pair just closed: text or eot next */
                for (int i = tb; i < nv; i++) logits[i] = -INFINITY;
            } else { /* an opening timestamp: another timestamp or eot */
                for (int i = 0; i < eot; i++) logits[i] = -INFINITY;
                check_prob = 1;
            }
        } else {
            check_prob = 1;
        }
        for (int t = n_seq - 1; t >= 0; t--) /* timestamps never decrease */
            if (seq[t] >= tb) {
                for (int i = tb; i < seq[t]; i++) logits[i] = -INFINITY;
                break;
            }
    }
    if (check_prob) {
        /* if the total probability of timestamps beats every text token, force a timestamp */
        float mx = vm_max(nv, logits), max_text = vm_max(tb, logits);
        memcpy(c->work, logits, (size_t)nv * sizeof(float));
        double ts = vm_exp_sub_sum(nv - tb, c->work + tb, mx, 1.0f);
        double total = ts + vm_exp_sub_sum(tb, c->work, mx, 1.0f);
        double ts_logprob = ts > 0 ? log(ts) - log(total) : -INFINITY;
        double max_text_logprob = (double)(max_text - mx) - log(total);
        if (ts_logprob > max_text_logprob)
            for (int i = 0; i < tb; i++) logits[i] = -INFINITY;
    }
}

/* All filters for one hypothesis: seq holds its tokens since the sot sequence (a forced prefix
 * included), `step` counts them (0 = the first token after the sot sequence). */
static void filter_logits(const search_ctx *c, float *logits, const int *seq, int n_seq, int step) {
    for (int i = 0; i < c->n_suppress; i++) logits[c->suppress[i]] = -INFINITY;
    if (step == 0 && c->p->suppress_blank) {
        if (c->blank_id >= 0) logits[c->blank_id] = -INFINITY;
        logits[c->sp.eot] = -INFINITY;
    }
    if (!c->p->without_timestamps) apply_timestamp_rules(c, logits, seq, n_seq);
}

/* ---- hypotheses ---------------------------------------------------------------------------- */

typedef struct hyp {
    ivec seq;        /* forced prefix + sampled tokens (no eot) */
    double sum_logprob;
    int slot;        /* cache slot */
    int done;
} hyp;

static double hyp_score(const search_ctx *c, const hyp *h, int n_forced) {
    int len = h->seq.n - n_forced;
    if (len < 1) len = 1;
    double lp = c->p->length_penalty > 0.0f ? c->p->length_penalty : 1.0;
    return h->sum_logprob / pow((double)len, lp);
}

/* Feed the prompt into slot 0 (two calls: through sot for the no-speech probability, then the
 * rest); leaves the first step's logits in `first`. */
static int feed_prompt(search_ctx *c, const int *prompt, int n_prompt, int sot_index, float *first,
                       float *no_speech_prob) {
    const int nv = c->m->hp.n_vocab;
    am_decode_seq sq = {0, c->window, prompt, sot_index + 1, 0};
    int rc = c->be->ops->decode(c->be, &sq, 1, first);
    if (rc != AM_OK) return rc;
    *no_speech_prob = expf(log_softmax_at(first, nv, c->sp.no_speech));
    if (n_prompt > sot_index + 1) {
        am_decode_seq rest = {0, c->window, prompt + sot_index + 1, n_prompt - sot_index - 1, sot_index + 1};
        rc = c->be->ops->decode(c->be, &rest, 1, first);
    }
    return rc;
}

static int max_new_tokens(const search_ctx *c, int n_prompt) {
    int max_new = c->p->max_new_tokens > 0 ? c->p->max_new_tokens : 224;
    if (c->m->hp.n_text_ctx / 2 < max_new) max_new = c->m->hp.n_text_ctx / 2;
    int cap = c->m->hp.n_text_ctx - n_prompt;
    if (cap < max_new) max_new = cap;
    return max_new < 0 ? 0 : max_new;
}

static int check_abort(const search_ctx *c) {
    return c->p->abort_callback && c->p->abort_callback(c->p->abort_user_data) ? AM_E_ABORTED : AM_OK;
}

/* ---- beam search (temperature 0) and greedy (beam 1) --------------------------------------- */

typedef struct cand {
    double score;
    int src, tok;
    float lp;
} cand;

static int cand_cmp(const void *a, const void *b) {
    double x = ((const cand *)a)->score, y = ((const cand *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* One window's beam search, advanced one step at a time so that several windows can share each
 * decoder call.  Its caches use slots [slot_base, slot_base + 2·beam): beam hypotheses keep their
 * source's slot where they can, and copies go to free slots. */
typedef struct beam_state {
    const int *prompt;
    int n_prompt, sot_index, n_forced, window, slot_base;
    int beam, max_finished, max_new;
    hyp *live, *next, *fin;
    cand *cands;
    int *toks;
    int n_live, n_fin, step, done;
    window_result *out;
} beam_state;

static void beam_state_free(beam_state *st) {
    for (int i = 0; i < st->beam; i++) {
        if (st->live) free(st->live[i].seq.v);
        if (st->next) free(st->next[i].seq.v);
    }
    for (int i = 0; st->fin && i < st->max_finished + st->beam; i++) free(st->fin[i].seq.v);
    free(st->live);
    free(st->next);
    free(st->fin);
    free(st->cands);
    free(st->toks);
    memset(st, 0, sizeof *st);
}

static int beam_state_init(search_ctx *c, beam_state *st, const int *prompt, int n_prompt, int sot_index,
                           int n_forced, int window, int slot_base, window_result *out) {
    memset(st, 0, sizeof *st);
    st->prompt = prompt;
    st->n_prompt = n_prompt;
    st->sot_index = sot_index;
    st->n_forced = n_forced;
    st->window = window;
    st->slot_base = slot_base;
    st->beam = c->p->beam_size > 1 ? c->p->beam_size : 1;
    st->max_finished = st->beam == 1 ? 1 : (int)lround(st->beam * (c->p->patience > 0 ? c->p->patience : 1.0f));
    if (st->max_finished < 1) st->max_finished = 1;
    st->max_new = max_new_tokens(c, n_prompt);
    st->out = out;
    st->live = calloc((size_t)st->beam, sizeof *st->live);
    st->next = calloc((size_t)st->beam, sizeof *st->next);
    st->fin = calloc((size_t)(st->max_finished + st->beam), sizeof *st->fin);
    st->cands = malloc((size_t)st->beam * (st->beam + 1) * sizeof *st->cands);
    st->toks = malloc((size_t)st->beam * sizeof *st->toks);
    if (!st->live || !st->next || !st->fin || !st->cands || !st->toks) return AM_E_NOMEM;
    st->n_live = 1;
    st->live[0].slot = slot_base;
    st->done = st->max_new == 0;
    return ivec_set(&st->live[0].seq, prompt + n_prompt - n_forced, n_forced);
}

/* Consume this step's logits (one row per live hypothesis, log-softmaxed in place), choose the
 * next beams, move their caches and fill seqs[] with the tokens to feed next; returns how many. */
static int beam_state_step(search_ctx *c, beam_state *st, float *logits, am_decode_seq *seqs, int *n_seqs) {
    const int nv = c->m->hp.n_vocab, eot = c->sp.eot, beam = st->beam;
    int rc = AM_OK, n_cands = 0;
    *n_seqs = 0;
    for (int i = 0; i < st->n_live; i++) {
        float *lg = logits + (size_t)i * nv;
        filter_logits(c, lg, st->live[i].seq.v, st->live[i].seq.n, st->step + st->n_forced);
        log_softmax_inplace(lg, nv, c->work);
        int k = beam == 1 ? 1 : beam + 1; /* greedy needs only the best token */
        int top[65];
        if (k > 65) k = 65;
        for (int j = 0; j < k; j++) top[j] = -1;
        for (int t = 0; t < nv; t++) {
            float v = lg[t];
            if (v == -INFINITY) continue;
            int pos = k;
            while (pos > 0 && (top[pos - 1] < 0 || lg[top[pos - 1]] < v)) pos--;
            if (pos < k) {
                for (int q = k - 1; q > pos; q--) top[q] = top[q - 1];
                top[pos] = t;
            }
        }
        for (int j = 0; j < k && top[j] >= 0; j++) {
            st->cands[n_cands].score = st->live[i].sum_logprob + lg[top[j]];
            st->cands[n_cands].src = i;
            st->cands[n_cands].tok = top[j];
            st->cands[n_cands].lp = lg[top[j]];
            n_cands++;
        }
    }
    qsort(st->cands, (size_t)n_cands, sizeof *st->cands, cand_cmp);
    int n_next = 0;
    for (int j = 0; j < n_cands && n_next < beam; j++) {
        const cand *cd = &st->cands[j];
        const hyp *src = &st->live[cd->src];
        if (cd->tok == eot) {
            if (st->n_fin < st->max_finished) {
                hyp *f = &st->fin[st->n_fin++];
                if ((rc = ivec_set(&f->seq, src->seq.v, src->seq.n)) != AM_OK) return rc;
                f->sum_logprob = cd->score;
            }
            continue;
        }
        hyp *h = &st->next[n_next];
        if ((rc = ivec_set(&h->seq, src->seq.v, src->seq.n)) != AM_OK) return rc;
        if ((rc = ivec_push(&h->seq, cd->tok)) != AM_OK) return rc;
        h->sum_logprob = cd->score;
        h->slot = src->slot; /* provisional: the source's cache */
        n_next++;
    }
    st->step++;
    if (st->n_fin >= st->max_finished || n_next == 0) { st->done = 1; return AM_OK; }
    if (st->step == st->max_new) {
        /* out of steps: the best unfinished hypotheses compete too (openai-whisper) */
        for (int j = 0; j < n_next && st->n_fin < beam; j++) {
            hyp *f = &st->fin[st->n_fin++];
            if ((rc = ivec_set(&f->seq, st->next[j].seq.v, st->next[j].seq.n)) != AM_OK) return rc;
            f->sum_logprob = st->next[j].sum_logprob;
        }
        st->done = 1;
        return AM_OK;
    }
    /* move the caches: beam j continues from its source's slot.  The first beam from each source
     * keeps that slot as it is; each further beam from the same source gets a copy in a slot no
     * next beam uses (never a source, so copies cannot overwrite what they read). */
    int pos = st->n_prompt + (st->live[0].seq.n - st->n_forced);
    if (beam > 1) {
        unsigned char used[2 * AM_MAX_BEAM];
        memset(used, 0, sizeof used);
        int copy[AM_MAX_BEAM], n_copy = 0;
        for (int j = 0; j < n_next; j++) {
            int s = st->next[j].slot - st->slot_base;
            if (!used[s]) used[s] = 1;
            else copy[n_copy++] = j;
        }
        for (int i = 0, f = 0; i < n_copy; i++) {
            while (used[f]) f++;
            used[f] = 1;
            int j = copy[i], dst = st->slot_base + f;
            if ((rc = c->be->ops->copy_cache(c->be, dst, st->next[j].slot, pos)) != AM_OK) return rc;
            st->next[j].slot = dst;
        }
    }
    for (int j = 0; j < n_next; j++) {
        st->toks[j] = st->next[j].seq.v[st->next[j].seq.n - 1];
        seqs[j].slot = st->next[j].slot;
        seqs[j].window = st->window;
        seqs[j].tokens = &st->toks[j];
        seqs[j].n_tokens = 1;
        seqs[j].n_past = pos;
    }
    hyp *tmp = st->live;
    st->live = st->next;
    st->next = tmp;
    st->n_live = n_next;
    *n_seqs = n_next;
    return AM_OK;
}

/* The best finished hypothesis into st->out. */
static int beam_state_finish(search_ctx *c, beam_state *st) {
    window_result *out = st->out;
    if (st->n_fin == 0) { /* nothing at all (max_new == 0) */
        out->sum_logprob = 0;
        return ivec_set(&out->tokens, st->prompt + st->n_prompt - st->n_forced, st->n_forced);
    }
    int best = 0;
    for (int i = 1; i < st->n_fin; i++)
        if (hyp_score(c, &st->fin[i], st->n_forced) > hyp_score(c, &st->fin[best], st->n_forced)) best = i;
    out->sum_logprob = (float)st->fin[best].sum_logprob;
    return ivec_set(&out->tokens, st->fin[best].seq.v, st->fin[best].seq.n);
}

static void set_seq(am_decode_seq *q, int slot, int window, const int *tokens, int n_tokens, int n_past) {
    q->slot = slot;
    q->window = window;
    q->tokens = tokens;
    q->n_tokens = n_tokens;
    q->n_past = n_past;
}

/* Beam search (greedy at beam 1) over n windows at once: every decoder call carries the live
 * hypotheses of every unfinished window.  Window i attends to encoder slot windows[i] and uses
 * cache slots [i·2·beam, (i+1)·2·beam). */
static int beam_search_batch(search_ctx *c, int n, const int *const *prompts, const int *n_prompts,
                             const int *sot_index, const int *n_forced, const int *windows, window_result *outs) {
    const int nv = c->m->hp.n_vocab;
    const int beam = c->p->beam_size > 1 ? c->p->beam_size : 1;
    beam_state *st = calloc((size_t)n, sizeof *st);
    am_decode_seq *seqs = calloc((size_t)n * (beam + 1), sizeof *seqs);
    int *row0 = malloc((size_t)n * sizeof *row0);
    int rc = AM_OK;
    if (!st || !seqs || !row0) { rc = AM_E_NOMEM; goto done; }
    for (int i = 0; i < n; i++) {
        outs[i].tokens.n = 0;
        if ((rc = beam_state_init(c, &st[i], prompts[i], n_prompts[i], sot_index[i], n_forced[i], windows[i],
                                  i * 2 * beam, &outs[i])) != AM_OK)
            goto done;
    }
    /* the prompts: through sot (no-speech probability), then the rest — two calls for all windows */
    for (int i = 0; i < n; i++) set_seq(&seqs[i], st[i].slot_base, windows[i], prompts[i], sot_index[i] + 1, 0);
    if ((rc = c->be->ops->decode(c->be, seqs, n, c->logits)) != AM_OK) goto done;
    int n_rest = 0;
    for (int i = 0; i < n; i++) {
        outs[i].no_speech_prob = expf(log_softmax_at(c->logits + (size_t)i * nv, nv, c->sp.no_speech));
        if (n_prompts[i] > sot_index[i] + 1)
            set_seq(&seqs[n_rest++], st[i].slot_base, windows[i], prompts[i] + sot_index[i] + 1,
                    n_prompts[i] - sot_index[i] - 1, sot_index[i] + 1);
    }
    if (n_rest > 0) {
        /* rows of the second call go to windows with a longer prompt; keep the others' sot rows */
        float *tmp = c->logits + (size_t)n * nv;
        if ((rc = c->be->ops->decode(c->be, seqs, n_rest, tmp)) != AM_OK) goto done;
        for (int i = 0, r = 0; i < n; i++)
            if (n_prompts[i] > sot_index[i] + 1) {
                memcpy(c->logits + (size_t)i * nv, tmp + (size_t)r * nv, (size_t)nv * sizeof(float));
                r++;
            }
    }
    for (int i = 0; i < n; i++) row0[i] = i; /* first rows: one per window */
    for (;;) {
        if ((rc = check_abort(c)) != AM_OK) goto done;
        int n_seqs = 0, any = 0;
        for (int i = 0; i < n; i++) {
            if (st[i].done) continue;
            int k;
            if ((rc = beam_state_step(c, &st[i], c->logits + (size_t)row0[i] * nv, seqs + n_seqs, &k)) != AM_OK)
                goto done;
            row0[i] = n_seqs; /* its rows in the next call */
            n_seqs += k;
            any |= !st[i].done;
        }
        if (!any || n_seqs == 0) break;
        if ((rc = c->be->ops->decode(c->be, seqs, n_seqs, c->logits)) != AM_OK) goto done;
    }
    for (int i = 0; i < n; i++)
        if ((rc = beam_state_finish(c, &st[i])) != AM_OK) goto done;
done:
    for (int i = 0; st && i < n; i++) beam_state_free(&st[i]);
    free(st);
    free(seqs);
    free(row0);
    return rc;
}

/* ---- sampling (temperature > 0), best_of candidates in parallel --------------------------- */

static int sample_token(search_ctx *c, const float *logits, float temperature) {
    const int nv = c->m->hp.n_vocab;
    float mx = -INFINITY;
    for (int i = 0; i < nv; i++) mx = logits[i] > mx ? logits[i] : mx;
    double total = 0.0;
    for (int i = 0; i < nv; i++) {
        c->work[i] = logits[i] == -INFINITY ? 0.0f : expf((logits[i] - mx) / temperature);
        total += c->work[i];
    }
    double u = rng_uniform(&c->rng) * total, acc = 0.0;
    int tok = -1;
    for (int i = 0; i < nv; i++) {
        if (c->work[i] <= 0.0f) continue;
        acc += c->work[i];
        tok = i;
        if (acc >= u) break;
    }
    return tok < 0 ? c->sp.eot : tok;
}

static int sample_search(search_ctx *c, const int *prompt, int n_prompt, int sot_index, int n_forced,
                         float temperature, window_result *out) {
    const int nv = c->m->hp.n_vocab, eot = c->sp.eot;
    int n = c->p->best_of > 1 ? c->p->best_of : 1;
    if (n > c->be->max_seqs) n = c->be->max_seqs;
    const int max_new = max_new_tokens(c, n_prompt);
    hyp *h = calloc((size_t)n, sizeof *h);
    am_decode_seq *seqs = malloc((size_t)n * sizeof *seqs);
    int *toks = malloc((size_t)n * sizeof *toks), *idx = malloc((size_t)n * sizeof *idx);
    int rc;
    if (!h || !seqs || !toks || !idx) { rc = AM_E_NOMEM; goto done; }
    rc = feed_prompt(c, prompt, n_prompt, sot_index, c->logits, &out->no_speech_prob);
    if (rc != AM_OK) goto done;
    for (int i = 0; i < n; i++) {
        h[i].slot = i;
        if ((rc = ivec_set(&h[i].seq, prompt + n_prompt - n_forced, n_forced)) != AM_OK) goto done;
        if (i > 0) {
            memcpy(c->logits + (size_t)i * nv, c->logits, (size_t)nv * sizeof(float));
            if ((rc = c->be->ops->copy_cache(c->be, i, 0, n_prompt)) != AM_OK) goto done;
        }
        idx[i] = i; /* row of logits for live candidate i */
    }
    for (int step = 0; step < max_new; step++) {
        if ((rc = check_abort(c)) != AM_OK) goto done;
        int n_live = 0;
        for (int i = 0; i < n; i++) {
            if (h[i].done) continue;
            float *lg = c->logits + (size_t)idx[i] * nv;
            filter_logits(c, lg, h[i].seq.v, h[i].seq.n, step + n_forced);
            int tok = sample_token(c, lg, temperature);
            h[i].sum_logprob += log_softmax_at(lg, nv, tok);
            if (tok == eot) { h[i].done = 1; continue; }
            if ((rc = ivec_push(&h[i].seq, tok)) != AM_OK) goto done;
            if (step + 1 == max_new) { h[i].done = 1; continue; }
            toks[n_live] = tok;
            seqs[n_live].slot = h[i].slot;
            seqs[n_live].window = c->window;
            seqs[n_live].tokens = &toks[n_live];
            seqs[n_live].n_tokens = 1;
            seqs[n_live].n_past = n_prompt + step;
            idx[i] = n_live++;
        }
        if (n_live == 0) break;
        if ((rc = c->be->ops->decode(c->be, seqs, n_live, c->logits)) != AM_OK) goto done;
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (hyp_score(c, &h[i], n_forced) > hyp_score(c, &h[best], n_forced)) best = i;
    rc = ivec_set(&out->tokens, h[best].seq.v, h[best].seq.n);
    out->sum_logprob = (float)h[best].sum_logprob;
done:
    for (int i = 0; h && i < n; i++) free(h[i].seq.v);
    free(h);
    free(seqs);
    free(toks);
    free(idx);
    return rc;
}

/* text, compression ratio and average log-probability of a finished window */
static int finish_result(search_ctx *c, int n_forced, window_result *out) {
    int n_sampled = out->tokens.n - n_forced;
    out->avg_logprob = out->sum_logprob / (float)(n_sampled + 1);
    char *text = tokenizer_decode(c->m->tok, out->tokens.v, out->tokens.n);
    if (!text) return AM_E_NOMEM;
    out->compression_ratio = text_compression_ratio(text);
    free(text);
    return AM_OK;
}

int search_windows_batch(search_ctx *c, int n, const int *const *prompts, const int *n_prompts, const int *sot_index,
                         const int *n_forced, const int *windows, window_result *outs) {
    for (int i = 0; i < n; i++) {
        outs[i].tokens.n = 0;
        outs[i].sum_logprob = 0.0f;
        outs[i].temperature = 0.0f;
    }
    int rc = beam_search_batch(c, n, prompts, n_prompts, sot_index, n_forced, windows, outs);
    for (int i = 0; rc == AM_OK && i < n; i++) rc = finish_result(c, n_forced[i], &outs[i]);
    return rc;
}

int search_window(search_ctx *c, const int *prompt, int n_prompt, int sot_index, int n_forced, float temperature,
                  window_result *out) {
    out->tokens.n = 0;
    out->sum_logprob = 0.0f;
    out->temperature = temperature;
    int rc;
    if (temperature > 0.0f) {
        rc = sample_search(c, prompt, n_prompt, sot_index, n_forced, temperature, out);
    } else {
        const int *pr[1] = {prompt};
        int window = c->window;
        rc = beam_search_batch(c, 1, pr, &n_prompt, &sot_index, &n_forced, &window, out);
    }
    if (rc != AM_OK) return rc;
    return finish_result(c, n_forced, out);
}
