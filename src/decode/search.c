/* search.c — one window's token search (see search.h).
 *
 * Every step is one backend call for all live hypotheses (beams or sampled candidates), with the
 * step's rules (suppression, timestamp rules) applied by the backend, which returns each
 * hypothesis's best candidates (backend/step.h).  Self-attention caches live in session slots and
 * are reordered with copy_cache when beams move.  Beam search is CTranslate2's, which faster-whisper
 * runs (beam_size + 1 candidates per beam; an eot finishes its hypothesis when it ranks among the
 * step's beam_size best candidates; finished hypotheses collected until round(beam_size · patience),
 * ranked by sum_logprob / length^length_penalty). */
#include "decode/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

#define AM_MAX_BEAM 64 /* the parameter check rejects beam_size > 64 */
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

float text_compression_ratio(const char *text) {
    const char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    if (n == 0) return 0.0f;
    uLongf out_n = compressBound((uLong)n);
    unsigned char *out = malloc(out_n);
    if (!out) return -1.0f;
    float r = 0.0f;
    if (compress2(out, &out_n, (const unsigned char *)s, (uLong)n, Z_DEFAULT_COMPRESSION) == Z_OK && out_n > 0)
        r = (float)n / (float)out_n;
    free(out);
    return r;
}

/* ---- the context and the step ---------------------------------------------------------------- */

/* "-1" (non-speech symbols) and comma-separated ids; the task and special tokens always. */
static int build_suppress_mask(search_ctx *c, const char *spec, char *err, size_t err_size) {
    const int nv = c->m->hp.n_vocab;
    if (spec && *spec) {
        const char *q = spec;
        while (*q) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) return am_fail(err, err_size, AM_E_INVALID_ARG, "suppress_tokens: bad list '%s'", spec);
            if (v == -1) {
                int ids[4096];
                int n = tokenizer_non_speech_tokens(c->m->tok, ids, 4096);
                if (n < 0) return am_fail(err, err_size, AM_E_NOMEM, "out of memory building the suppressed tokens");
                for (int i = 0; i < n && i < 4096; i++)
                    if (ids[i] >= 0 && ids[i] < nv) c->mask[ids[i]] = 1;
            } else if (v >= 0 && v < nv) {
                c->mask[v] = 1;
            } else {
                return am_fail(err, err_size, AM_E_INVALID_ARG, "suppress_tokens: id %ld out of range", v);
            }
            q = end;
            while (*q == ',' || *q == ' ') q++;
        }
    }
    const int extra[6] = {c->sp.transcribe, c->sp.translate, c->sp.sot, c->sp.sot_prev, c->sp.sot_lm, c->sp.no_speech};
    for (int i = 0; i < 6; i++)
        if (extra[i] >= 0 && extra[i] < nv) c->mask[extra[i]] = 1;
    return AM_OK;
}

int search_ctx_init(search_ctx *c, const am_model *m, am_session *s, const am_params *p, char *err, size_t err_size) {
    memset(c, 0, sizeof *c);
    c->m = m;
    c->s = s;
    c->p = p;
    tokenizer_specials(m->tok, &c->sp);
    const int nv = m->hp.n_vocab, n = s->max_seqs;
    c->mask = calloc((size_t)nv, 1);
    c->lang_mask = malloc((size_t)nv);
    c->cand_tok = malloc((size_t)n * AM_STEP_MAX_K * sizeof *c->cand_tok);
    c->cand_lp = malloc((size_t)n * AM_STEP_MAX_K * sizeof *c->cand_lp);
    c->report_lp = malloc((size_t)n * sizeof *c->report_lp);
    c->draw_tok = malloc((size_t)n * sizeof *c->draw_tok);
    c->draw_lp = malloc((size_t)n * sizeof *c->draw_lp);
    c->u = malloc((size_t)n * sizeof *c->u);
    c->state = malloc((size_t)n * sizeof *c->state);
    if (!s->backend->ops->decode_step) c->logits = malloc((size_t)n * nv * sizeof(float));
    if (!c->mask || !c->lang_mask || !c->cand_tok || !c->cand_lp || !c->report_lp || !c->draw_tok || !c->draw_lp ||
        !c->u || !c->state || (!s->backend->ops->decode_step && !c->logits))
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    int rc = build_suppress_mask(c, p->suppress_tokens, err, err_size);
    if (rc != AM_OK) return rc;
    for (int i = 0; i < nv; i++) c->n_mask_ids += c->mask[i];
    if (!(c->mask_ids = malloc((size_t)(c->n_mask_ids ? c->n_mask_ids : 1) * sizeof *c->mask_ids)))
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    for (int i = 0, j = 0; i < nv; i++)
        if (c->mask[i]) c->mask_ids[j++] = i;
    memset(c->lang_mask, 1, (size_t)nv);
    for (int i = 0; i < c->sp.n_languages; i++)
        if (c->sp.lang_begin + i < nv) c->lang_mask[c->sp.lang_begin + i] = 0;
    int blank[4];
    am_step_rules r;
    memset(&r, 0, sizeof r);
    r.mask = c->mask;
    r.mask_ids = c->mask_ids;
    r.n_mask_ids = c->n_mask_ids;
    r.suppress_blank = p->suppress_blank;
    int n_blank = tokenizer_encode(m->tok, " ", blank, 4);
    if (n_blank == -2) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    r.blank_id = n_blank == 1 ? blank[0] : -1;
    r.eot = c->sp.eot;
    r.timestamp_begin = p->without_timestamps ? -1 : c->sp.timestamp_begin;
    r.no_timestamps = c->sp.no_timestamps;
    r.max_initial_ts = p->max_initial_timestamp >= 0.0f
                           ? c->sp.timestamp_begin + (int)lround(p->max_initial_timestamp / TIME_PRECISION)
                           : -1;
    r.k = 1;
    r.report_id = -1;
    r.temperature = 1.0f;
    c->rules = r;
    return AM_OK;
}

void search_ctx_free(search_ctx *c) {
    free(c->mask);
    free(c->mask_ids);
    free(c->lang_mask);
    free(c->cand_tok);
    free(c->cand_lp);
    free(c->report_lp);
    free(c->draw_tok);
    free(c->draw_lp);
    free(c->u);
    free(c->state);
    free(c->logits);
    memset(c, 0, sizeof *c);
}

int search_step(search_ctx *c, const am_decode_seq *seqs, int n, const am_step_rules *rules, const am_step_seq *state) {
    am_step_out out = {c->cand_tok, c->cand_lp, c->report_lp, c->draw_tok, c->draw_lp};
    const am_backend_ops *ops = c->s->backend->ops;
    if (ops->decode_step) return ops->decode_step(c->s, seqs, n, rules, state, &out);
    /* a backend without the step on the device: its logits, the reference rules here */
    int rc = ops->decode_logits(c->s, seqs, n, c->logits);
    if (rc != AM_OK) return rc;
    const int nv = c->m->hp.n_vocab;
    for (int i = 0, d = 0; i < n; i++) {
        step_apply_ref(rules, &state[i], c->logits + (size_t)i * nv, nv, c->cand_tok + (size_t)i * rules->k,
                       c->cand_lp + (size_t)i * rules->k, &c->report_lp[i], c->draw_tok + d, c->draw_lp + d);
        d += state[i].n_draws;
    }
    return AM_OK;
}

int search_detect_language(search_ctx *c, int window, int *index, float *probs, int *n) {
    const int sot = c->sp.sot;
    am_decode_seq sq = {0, window, &sot, 1, 0};
    am_step_rules r;
    memset(&r, 0, sizeof r);
    r.mask = c->lang_mask; /* softmax over the language tokens only */
    r.blank_id = -1;
    r.eot = c->sp.eot;
    r.timestamp_begin = -1;
    r.max_initial_ts = -1;
    r.report_id = -1;
    r.temperature = 1.0f;
    r.k = c->sp.n_languages < AM_STEP_MAX_K ? c->sp.n_languages : AM_STEP_MAX_K;
    am_step_seq st = {0, -1, -1, -1, 0, NULL};
    int rc = search_step(c, &sq, 1, &r, &st);
    if (rc != AM_OK) return rc;
    *n = 0;
    for (int j = 0; j < r.k && c->cand_tok[j] >= 0; j++) {
        index[*n] = c->cand_tok[j] - c->sp.lang_begin;
        probs[*n] = expf(c->cand_lp[j]);
        (*n)++;
    }
    return AM_OK;
}

static double rng_uniform(uint64_t *s) {
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

/* The rules' view of a hypothesis (tokens since the sot sequence, forced prefix included). */
static am_step_seq seq_state(const search_ctx *c, const ivec *seq) {
    return step_seq_of(seq->v, seq->n, c->sp.timestamp_begin);
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

/* Consume this step's candidates (k per live hypothesis, best first: tok/lp rows), choose the
 * next beams, move their caches and fill seqs[]/states[] with what to feed next; returns how many. */
static int beam_state_step(search_ctx *c, beam_state *st, const int *tok, const float *lp, int k, am_decode_seq *seqs,
                           am_step_seq *states, int *n_seqs) {
    const int eot = c->sp.eot, beam = st->beam;
    int rc = AM_OK, n_cands = 0;
    *n_seqs = 0;
    for (int i = 0; i < st->n_live; i++)
        for (int j = 0; j < k && tok[i * k + j] >= 0; j++) {
            st->cands[n_cands].score = st->live[i].sum_logprob + lp[i * k + j];
            st->cands[n_cands].src = i;
            st->cands[n_cands].tok = tok[i * k + j];
            st->cands[n_cands].lp = lp[i * k + j];
            n_cands++;
        }
    qsort(st->cands, (size_t)n_cands, sizeof *st->cands, cand_cmp);
    /* The next beams are the best `beam` candidates that are not eot.  An eot finishes its
     * hypothesis only when it ranks among the step's `beam` best candidates (CTranslate2's beam
     * search, which faster-whisper runs; openai-whisper also takes an eot ranked below that, as long
     * as fewer than `beam` other candidates rank above it), and every such eot counts, even past
     * max_finished.  On the last step the `beam` best candidates all finish (eot or not). */
    const int last_step = st->step + 1 == st->max_new;
    int n_next = 0, n_top_next = 0;
    for (int j = 0; j < n_cands && (n_next < beam || j < beam); j++) {
        const cand *cd = &st->cands[j];
        const hyp *src = &st->live[cd->src];
        if (cd->tok == eot) {
            if (j < beam) {
                hyp *f = &st->fin[st->n_fin++];
                if ((rc = ivec_set(&f->seq, src->seq.v, src->seq.n)) != AM_OK) return rc;
                f->sum_logprob = cd->score;
            }
            continue;
        }
        if (n_next == beam) continue;
        hyp *h = &st->next[n_next];
        if ((rc = ivec_set(&h->seq, src->seq.v, src->seq.n)) != AM_OK) return rc;
        if ((rc = ivec_push(&h->seq, cd->tok)) != AM_OK) return rc;
        h->sum_logprob = cd->score;
        h->slot = src->slot; /* provisional: the source's cache */
        n_next++;
        if (j < beam) n_top_next = n_next;
    }
    st->step++;
    if (last_step) {
        /* out of steps: the unfinished hypotheses among the step's best compete too */
        for (int j = 0; j < n_top_next; j++) {
            hyp *f = &st->fin[st->n_fin++];
            if ((rc = ivec_set(&f->seq, st->next[j].seq.v, st->next[j].seq.n)) != AM_OK) return rc;
            f->sum_logprob = st->next[j].sum_logprob;
        }
        st->done = 1;
        return AM_OK;
    }
    if (st->n_fin >= st->max_finished || n_next == 0) { st->done = 1; return AM_OK; }
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
            if ((rc = c->s->backend->ops->copy_cache(c->s, dst, st->next[j].slot, pos)) != AM_OK) return rc;
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
        states[j] = seq_state(c, &st->next[j].seq);
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
    const int beam = c->p->beam_size > 1 ? c->p->beam_size : 1;
    const int k = beam == 1 ? 1 : beam + 1; /* greedy needs only the best token */
    beam_state *st = calloc((size_t)n, sizeof *st);
    am_decode_seq *seqs = calloc((size_t)n * (beam + 1), sizeof *seqs);
    am_step_seq *states = calloc((size_t)n * (beam + 1), sizeof *states);
    int *row0 = malloc((size_t)n * sizeof *row0), *cand_tok = malloc((size_t)n * k * sizeof *cand_tok);
    float *cand_lp = malloc((size_t)n * k * sizeof *cand_lp);
    am_step_rules rules = c->rules;
    rules.k = k;
    int rc = AM_OK;
    if (!st || !seqs || !states || !row0 || !cand_tok || !cand_lp) { rc = AM_E_NOMEM; goto done; }
    for (int i = 0; i < n; i++) {
        outs[i].tokens.n = 0;
        if ((rc = beam_state_init(c, &st[i], prompts[i], n_prompts[i], sot_index[i], n_forced[i], windows[i],
                                  i * 2 * beam, &outs[i])) != AM_OK)
            goto done;
    }
    /* the prompts: through sot (its raw no-speech log-prob; its candidates serve windows whose
     * prompt ends there), then the rest — two calls for all windows */
    for (int i = 0; i < n; i++) {
        set_seq(&seqs[i], st[i].slot_base, windows[i], prompts[i], sot_index[i] + 1, 0);
        states[i] = seq_state(c, &st[i].live[0].seq);
    }
    rules.report_id = c->sp.no_speech;
    if ((rc = search_step(c, seqs, n, &rules, states)) != AM_OK) goto done;
    rules.report_id = -1;
    memcpy(cand_tok, c->cand_tok, (size_t)n * k * sizeof *cand_tok);
    memcpy(cand_lp, c->cand_lp, (size_t)n * k * sizeof *cand_lp);
    int n_rest = 0;
    for (int i = 0; i < n; i++) {
        outs[i].no_speech_prob = expf(c->report_lp[i]);
        if (n_prompts[i] > sot_index[i] + 1) {
            set_seq(&seqs[n_rest], st[i].slot_base, windows[i], prompts[i] + sot_index[i] + 1,
                    n_prompts[i] - sot_index[i] - 1, sot_index[i] + 1);
            states[n_rest++] = seq_state(c, &st[i].live[0].seq);
        }
    }
    if (n_rest > 0) {
        if ((rc = search_step(c, seqs, n_rest, &rules, states)) != AM_OK) goto done;
        for (int i = 0, r = 0; i < n; i++)
            if (n_prompts[i] > sot_index[i] + 1) {
                memcpy(cand_tok + (size_t)i * k, c->cand_tok + (size_t)r * k, (size_t)k * sizeof *cand_tok);
                memcpy(cand_lp + (size_t)i * k, c->cand_lp + (size_t)r * k, (size_t)k * sizeof *cand_lp);
                r++;
            }
    }
    const int *tok = cand_tok;
    const float *lp = cand_lp;
    for (int i = 0; i < n; i++) row0[i] = i; /* first rows: one per window */
    for (;;) {
        if ((rc = check_abort(c)) != AM_OK) goto done;
        int n_seqs = 0, any = 0;
        for (int i = 0; i < n; i++) {
            if (st[i].done) continue;
            int m;
            if ((rc = beam_state_step(c, &st[i], tok + (size_t)row0[i] * k, lp + (size_t)row0[i] * k, k,
                                      seqs + n_seqs, states + n_seqs, &m)) != AM_OK)
                goto done;
            row0[i] = n_seqs; /* its rows in the next call */
            n_seqs += m;
            any |= !st[i].done;
        }
        if (!any || n_seqs == 0) break;
        if ((rc = search_step(c, seqs, n_seqs, &rules, states)) != AM_OK) goto done;
        tok = c->cand_tok;
        lp = c->cand_lp;
    }
    for (int i = 0; i < n; i++)
        if ((rc = beam_state_finish(c, &st[i])) != AM_OK) goto done;
done:
    for (int i = 0; st && i < n; i++) beam_state_free(&st[i]);
    free(st);
    free(seqs);
    free(states);
    free(row0);
    free(cand_tok);
    free(cand_lp);
    return rc;
}

/* ---- sampling (temperature > 0), best_of candidates in parallel --------------------------- */

/* best_of candidates sampled at `temperature`: the prompt is fed once into slot 0 and its last
 * row gives every candidate's first token; the caches are then copied to the candidates' slots. */
static int sample_search(search_ctx *c, const int *prompt, int n_prompt, int sot_index, int n_forced,
                         float temperature, window_result *out) {
    const int eot = c->sp.eot;
    int n = c->p->best_of > 1 ? c->p->best_of : 1;
    if (n > c->s->max_seqs) n = c->s->max_seqs;
    const int max_new = max_new_tokens(c, n_prompt);
    hyp *h = calloc((size_t)n, sizeof *h);
    am_decode_seq *seqs = malloc((size_t)n * sizeof *seqs);
    int *toks = malloc((size_t)n * sizeof *toks), *live = malloc((size_t)n * sizeof *live);
    am_step_rules rules = c->rules;
    rules.k = 0;
    rules.temperature = temperature;
    int rc = AM_OK;
    if (!h || !seqs || !toks || !live) { rc = AM_E_NOMEM; goto done; }
    for (int i = 0; i < n; i++) {
        h[i].slot = i;
        if ((rc = ivec_set(&h[i].seq, prompt + n_prompt - n_forced, n_forced)) != AM_OK) goto done;
    }
    /* the prompt through sot (no-speech), then the rest; the last row is drawn from n times */
    am_step_seq st0 = seq_state(c, &h[0].seq);
    int rest = n_prompt > sot_index + 1;
    for (int i = 0; i < n; i++) c->u[i] = rng_uniform(c->rng);
    am_decode_seq sq = {0, c->window, prompt, sot_index + 1, 0};
    st0.n_draws = rest || max_new == 0 ? 0 : n;
    st0.u = c->u;
    rules.report_id = c->sp.no_speech;
    if ((rc = search_step(c, &sq, 1, &rules, &st0)) != AM_OK) goto done;
    rules.report_id = -1;
    out->no_speech_prob = expf(c->report_lp[0]);
    if (rest) {
        am_decode_seq rq = {0, c->window, prompt + sot_index + 1, n_prompt - sot_index - 1, sot_index + 1};
        st0.n_draws = max_new == 0 ? 0 : n;
        if ((rc = search_step(c, &rq, 1, &rules, &st0)) != AM_OK) goto done;
    }
    for (int i = 1; i < n && max_new > 0; i++)
        if ((rc = c->s->backend->ops->copy_cache(c->s, i, 0, n_prompt)) != AM_OK) goto done;
    for (int i = 0; i < n; i++) live[i] = i; /* draw i belongs to candidate live[i] */
    int n_live = max_new > 0 ? n : 0;
    for (int step = 0; n_live > 0; step++) {
        int m = 0;
        for (int d = 0; d < n_live; d++) {
            hyp *c_ = &h[live[d]];
            int tok = c->draw_tok[d];
            c_->sum_logprob += c->draw_lp[d];
            if (tok == eot) { c_->done = 1; continue; }
            if ((rc = ivec_push(&c_->seq, tok)) != AM_OK) goto done;
            if (step + 1 == max_new) { c_->done = 1; continue; }
            toks[m] = tok;
            seqs[m].slot = c_->slot;
            seqs[m].window = c->window;
            seqs[m].tokens = &toks[m];
            seqs[m].n_tokens = 1;
            seqs[m].n_past = n_prompt + step;
            live[m++] = live[d];
        }
        n_live = m;
        if (n_live == 0) break;
        if ((rc = check_abort(c)) != AM_OK) goto done;
        for (int i = 0; i < n_live; i++) {
            c->state[i] = seq_state(c, &h[live[i]].seq);
            c->u[i] = rng_uniform(c->rng);
            c->state[i].n_draws = 1;
            c->state[i].u = &c->u[i];
        }
        if ((rc = search_step(c, seqs, n_live, &rules, c->state)) != AM_OK) goto done;
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
    free(live);
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
    return out->compression_ratio < 0.0f ? AM_E_NOMEM : AM_OK;
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
