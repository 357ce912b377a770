/* attach.c — diarization of a transcription: the weight file's search, diar_run on the samples,
 * and the speakers given to words and segments (attach.h). */
#include "diarize/attach.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "diarize/campplus.h"
#include "diarize/segment.h"
#include "diarize/weights.h"
#include "result/result.h"

int diar_model_path(const am_params *p, char *out, size_t size) {
    const char *named = p->diarize_model && *p->diarize_model ? p->diarize_model : getenv("AMANUENSIS_DIARIZE_MODEL");
    return am_find_data_file(named, "models/diarization", DIAR_MODEL_FILE, out, size);
}

/* The speaker whose turns overlap [a, b) longest; when none overlaps, the nearest turn's (the
 * earliest on a tie); -1 without turns.  ov: n_speakers scratch values. */
static int best_speaker(const diar_turn *t, size_t n, int n_speakers, double a, double b, double *ov) {
    if (n == 0) return -1;
    memset(ov, 0, sizeof *ov * (size_t)n_speakers);
    for (size_t i = 0; i < n && t[i].start < b; i++) {
        double lo = t[i].start > a ? t[i].start : a, hi = t[i].end < b ? t[i].end : b;
        if (hi > lo) ov[t[i].speaker] += hi - lo;
    }
    int best = -1;
    for (int k = 0; k < n_speakers; k++)
        if (ov[k] > 0.0 && (best < 0 || ov[k] > ov[best])) best = k;
    if (best >= 0) return best;
    double dmin = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = t[i].start >= b ? t[i].start - b : t[i].end <= a ? a - t[i].end : 0.0;
        if (best < 0 || d < dmin) {
            best = t[i].speaker;
            dmin = d;
        }
    }
    return best;
}

/* Append the run words[a..b) of segment s (n words) to r as one segment speaking `name`. */
static int add_run(am_result *r, const am_segment *s, int a, int b, const char *name) {
    size_t len = 1;
    for (int i = a; i < b; i++) len += strlen(s->words[i].word ? s->words[i].word : "");
    char *text = malloc(len);
    if (!text) return AM_E_NOMEM;
    text[0] = 0;
    for (int i = a; i < b; i++) strcat(text, s->words[i].word ? s->words[i].word : "");
    am_segment o = *s;
    o.id = (int)r->n_segments;
    o.start = a == 0 ? s->start : s->words[a].start;
    o.end = b == s->n_words ? s->end : s->words[b - 1].end;
    o.text = text;
    o.tokens = NULL;
    o.n_tokens = 0;
    o.words = s->words + a;
    o.n_words = b - a;
    o.speaker = name;
    int rc = result_add_segment(r, &o);
    free(text);
    return rc;
}

int diar_attach_turns(am_result *r, const diar_turn *turns, size_t n_turns, int n_speakers) {
    if (n_speakers < 1) n_speakers = 1;
    char(*names)[16] = calloc((size_t)n_speakers, sizeof *names);
    double *ov = calloc((size_t)n_speakers, sizeof *ov);
    am_result *nr = calloc(1, sizeof *nr);
    struct result_turn *rt = malloc((n_turns ? n_turns : 1) * sizeof *rt);
    am_word *words = NULL;
    int rc = names && ov && nr && rt ? AM_OK : AM_E_NOMEM;
    if (rc == AM_OK) {
        for (int k = 0; k < n_speakers; k++) snprintf(names[k], sizeof names[k], "SPEAKER_%02d", k % 100);
        *nr = *r; /* language, duration, statistics; the segments are rebuilt */
        nr->segments = NULL;
        nr->n_segments = nr->cap = 0;
        nr->text = NULL;
        nr->text_len = 0;
        nr->turns = NULL;
        nr->n_turns = 0;
    }
    for (size_t i = 0; rc == AM_OK && i < r->n_segments; i++) {
        am_segment s = r->segments[i];
        if (s.words && s.n_words > 0) {
            am_word *grown = realloc(words, (size_t)s.n_words * sizeof *words);
            if (!grown) {
                rc = AM_E_NOMEM;
                break;
            }
            words = grown;
            for (int w = 0; w < s.n_words; w++) {
                words[w] = s.words[w];
                int k = best_speaker(turns, n_turns, n_speakers, words[w].start, words[w].end, ov);
                words[w].speaker = k >= 0 ? names[k] : NULL;
            }
            s.words = words;
            int a = 0;
            for (int b = 1; rc == AM_OK && b <= s.n_words; b++)
                if (b == s.n_words || words[b].speaker != words[a].speaker) {
                    if (a == 0 && b == s.n_words) { /* one speaker: the segment as it was */
                        s.id = (int)nr->n_segments;
                        s.speaker = words[0].speaker;
                        rc = result_add_segment(nr, &s);
                    } else {
                        rc = add_run(nr, &s, a, b, words[a].speaker);
                    }
                    a = b;
                }
        } else {
            int k = best_speaker(turns, n_turns, n_speakers, s.start, s.end, ov);
            s.id = (int)nr->n_segments;
            s.speaker = k >= 0 ? names[k] : NULL;
            rc = result_add_segment(nr, &s);
        }
    }
    if (rc == AM_OK && !nr->text && !(nr->text = am_strdup(""))) rc = AM_E_NOMEM;
    if (rc == AM_OK) {
        for (size_t i = 0; i < n_turns; i++) {
            rt[i].start = turns[i].start;
            rt[i].end = turns[i].end;
            snprintf(rt[i].speaker, sizeof rt[i].speaker, "SPEAKER_%02d", turns[i].speaker % 100);
        }
        nr->turns = rt;
        nr->n_turns = n_turns;
        rt = NULL;
        am_result old = *r; /* r takes the new contents; nr the old ones, freed */
        *r = *nr;
        *nr = old;
    }
    am_result_free(nr); /* the old contents, or on a failure the partial new ones */
    free(rt);
    free(words);
    free(ov);
    free(names);
    return rc;
}

/* ---- the networks, loaded once per weight file -------------------------------------------------- */

typedef struct {
    char path[4096];
    long long size, mtime_ns;
    diar_segmenter *seg;
    diar_campplus *emb;
} diar_cache_entry;

struct diar_cache {
    pthread_mutex_t mu; /* held while an entry is looked up or loaded: a second transcription waits for the
                         * first one's load instead of loading the same file again */
    diar_cache_entry e[DIAR_CACHE_MAX];
    int n;
};

diar_cache *diar_cache_create(void) {
    diar_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void diar_cache_free(diar_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        diar_seg_free(c->e[i].seg);
        diar_campplus_free(c->e[i].emb);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* both networks from the file at path (why: the reason on failure) */
static int load_networks(const char *path, diar_segmenter **seg, diar_campplus **emb, char *why, size_t why_size) {
    diar_weights *w = NULL;
    *seg = NULL;
    *emb = NULL;
    int rc = diar_weights_load(path, &w, why, why_size);
    if (rc == AM_OK) rc = diar_seg_create(w, seg, why, why_size);
    /* CAM++ in W8A8 where its error is small (campplus.h): the same DER on the fixtures, ~20% faster */
    if (rc == AM_OK) rc = diar_campplus_create(w, 1, emb, why, why_size);
    diar_weights_free(w);
    if (rc != AM_OK) {
        diar_seg_free(*seg);
        *seg = NULL;
    }
    return rc;
}

/* the networks of path: the cache's (*owned = 0), or loaded for this call alone (*owned = 1) */
static int get_networks(diar_cache *c, const char *path, diar_segmenter **seg, diar_campplus **emb, int *owned,
                        char *why, size_t why_size) {
    *owned = 1;
    struct stat st;
    if (!c || stat(path, &st) != 0) return load_networks(path, seg, emb, why, why_size); /* its error names why */
    long long size = (long long)st.st_size, mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    pthread_mutex_lock(&c->mu);
    int rc = AM_OK;
    int i = 0;
    while (i < c->n && !(c->e[i].size == size && c->e[i].mtime_ns == mtime && strcmp(c->e[i].path, path) == 0)) i++;
    if (i < c->n) {
        *seg = c->e[i].seg;
        *emb = c->e[i].emb;
        *owned = 0;
    } else if ((rc = load_networks(path, seg, emb, why, why_size)) == AM_OK && c->n < DIAR_CACHE_MAX &&
               strlen(path) < sizeof c->e[0].path) {
        diar_cache_entry *e = &c->e[c->n++];
        snprintf(e->path, sizeof e->path, "%s", path);
        e->size = size;
        e->mtime_ns = mtime;
        e->seg = *seg;
        e->emb = *emb;
        *owned = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

struct diar_job {
    pthread_t thread;
    const pcm_store *pcm;
    char path[4096];
    diar_cache *cache;
    diar_options o;
    atomic_int foreground, cancel;
    /* the thread's result */
    int rc;
    char err[512];
    diar_turn *turns;
    size_t n_turns;
    int n_speakers;
    double seconds;
};

/* the job's thread: the networks (from the cache or loaded), then diar_run_pcm */
static void *job_main(void *arg) {
    diar_job *j = arg;
    double t0 = am_now();
    diar_segmenter *seg = NULL;
    diar_campplus *emb = NULL;
    int owned = 1;
    char why[512] = "";
    j->rc = get_networks(j->cache, j->path, &seg, &emb, &owned, why, sizeof why);
    if (j->rc != AM_OK) {
        if (strstr(why, j->path)) am_fail(j->err, sizeof j->err, j->rc, "%s", why);
        else am_fail(j->err, sizeof j->err, j->rc, "%s: %s", j->path, why);
    } else {
        j->rc = diar_run_pcm(seg, emb, j->pcm, &j->o, &j->turns, &j->n_turns, &j->n_speakers, j->err, sizeof j->err);
    }
    if (owned) {
        diar_campplus_free(emb);
        diar_seg_free(seg);
    }
    j->seconds = am_now() - t0;
    return NULL;
}

int diar_job_start(const pcm_store *pcm, const am_params *p, diar_cache *cache, diar_job **out, char *err,
                   size_t err_size) {
    *out = NULL;
    diar_job *j = calloc(1, sizeof *j);
    if (!j) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    if (!diar_model_path(p, j->path, sizeof j->path)) {
        free(j);
        return am_fail(err, err_size, AM_E_IO,
                       "no diarization weights: models/diarization/%s not found (scripts/fetch-model diarization, "
                       "or name the file)",
                       DIAR_MODEL_FILE);
    }
    j->pcm = pcm;
    j->cache = cache;
    j->o = diar_options_default();
    j->o.num_speakers = p->num_speakers;
    j->o.min_speakers = p->min_speakers;
    j->o.max_speakers = p->max_speakers;
    j->o.threshold = p->diarize_threshold;
    j->o.n_threads = p->n_threads > 0 ? p->n_threads : am_cpu_count();
    atomic_init(&j->foreground, 0);
    atomic_init(&j->cancel, 0);
    j->o.foreground = &j->foreground;
    j->o.cancel = &j->cancel;
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        free(j);
        return am_fail(err, err_size, AM_E_NOMEM, "cannot start the diarization thread");
    }
    *out = j;
    return AM_OK;
}

int diar_job_finish(diar_job *j, am_result *r, double *seconds, char *err, size_t err_size) {
    if (!j) return AM_OK;
    if (!r) atomic_store(&j->cancel, 1);
    atomic_store(&j->foreground, 1);
    pthread_join(j->thread, NULL);
    int rc = r ? j->rc : AM_OK;
    if (rc != AM_OK) am_fail(err, err_size, rc, "%s", j->err);
    else if (r && (rc = diar_attach_turns(r, j->turns, j->n_turns, j->n_speakers)) != AM_OK)
        am_fail(err, err_size, rc, "out of memory");
    if (seconds) *seconds = j->seconds;
    free(j->turns);
    free(j);
    return rc;
}
