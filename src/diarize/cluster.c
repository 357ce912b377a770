/* cluster.c — see cluster.h.  Average linkage is reducible, so the nearest-neighbour chain finds the
 * same merges as the textbook O(n^3) algorithm; sorted by distance and replayed with a union-find
 * they give the dendrogram (as scipy's linkage does), which is monotone, so cutting it after the
 * first n - k merges leaves k clusters. */
#include "diarize/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"

const uint8_t diar_powerset_speakers[7] = {0x0, 0x1, 0x2, 0x4, 0x3, 0x5, 0x6};

void diar_powerset_decode(const float *logp, size_t n_frames, uint8_t *active) {
    for (size_t t = 0; t < n_frames; t++) {
        const float *z = logp + t * 7;
        int best = 0;
        for (int c = 1; c < 7; c++)
            if (z[c] > z[best]) best = c;
        for (int k = 0; k < DIAR_LOCAL_SPEAKERS; k++) active[t * DIAR_LOCAL_SPEAKERS + k] = (diar_powerset_speakers[best] >> k) & 1;
    }
}

typedef struct {
    int a, b;
    float d;
} merge;

static int cmp_merge(const void *x, const void *y) {
    const merge *p = x, *q = y;
    return p->d < q->d ? -1 : p->d > q->d ? 1 : 0;
}

/* the n - 1 merges, sorted; NULL when out of memory */
static merge *linkage(const float *emb, int n, int dim) {
    size_t nn = (size_t)n * (size_t)n;
    float *D = malloc(sizeof(float) * (nn ? nn : 1));
    double *inv = malloc(sizeof(double) * (size_t)(n ? n : 1));
    int *size = malloc(sizeof(int) * (size_t)(n ? n : 1)), *chain = malloc(sizeof(int) * (size_t)(n ? n : 1));
    unsigned char *alive = malloc((size_t)(n ? n : 1));
    merge *mg = malloc(sizeof(merge) * (size_t)(n > 1 ? n - 1 : 1));
    if (!D || !inv || !size || !chain || !alive || !mg) {
        free(mg);
        mg = NULL;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int k = 0; k < dim; k++) s += (double)emb[(size_t)i * dim + k] * emb[(size_t)i * dim + k];
        inv[i] = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
        size[i] = 1;
        alive[i] = 1;
    }
    for (int i = 0; i < n; i++) {
        D[(size_t)i * n + i] = 0.0f;
        for (int j = i + 1; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k < dim; k++) s += (double)emb[(size_t)i * dim + k] * emb[(size_t)j * dim + k];
            float d = (float)(1.0 - s * inv[i] * inv[j]);
            D[(size_t)i * n + j] = D[(size_t)j * n + i] = d;
        }
    }
    int len = 0, n_merges = 0, next = 0;
    while (n_merges < n - 1) {
        if (len == 0) {
            while (!alive[next]) next++;
            chain[len++] = next;
        }
        int a = chain[len - 1], prev = len >= 2 ? chain[len - 2] : -1, b = -1;
        float best = INFINITY;
        for (int x = 0; x < n; x++) {
            if (!alive[x] || x == a) continue;
            float d = D[(size_t)a * n + x];
            if (d < best || (d == best && x == prev)) {
                best = d;
                b = x;
            }
        }
        if (b == prev) { /* reciprocal nearest neighbours: merge b into a */
            len -= 2;
            mg[n_merges++] = (merge){a, b, best};
            for (int x = 0; x < n; x++) {
                if (!alive[x] || x == a || x == b) continue;
                float d = (float)(((double)size[a] * D[(size_t)a * n + x] + (double)size[b] * D[(size_t)b * n + x]) /
                                  (size[a] + size[b]));
                D[(size_t)a * n + x] = D[(size_t)x * n + a] = d;
            }
            size[a] += size[b];
            alive[b] = 0;
        } else {
            chain[len++] = b;
        }
    }
    qsort(mg, (size_t)n_merges, sizeof *mg, cmp_merge);
out:
    free(D);
    free(inv);
    free(size);
    free(chain);
    free(alive);
    return mg;
}

static int find(int *parent, int x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

int diar_cluster_merges(const float *emb, int n, int dim, int *a, int *b, float *dist) {
    if (n < 0 || dim < 1 || (n > 0 && !emb)) return AM_E_INVALID_ARG;
    if (n < 2) return AM_OK;
    merge *mg = linkage(emb, n, dim);
    if (!mg) return AM_E_NOMEM;
    for (int i = 0; i < n - 1; i++) {
        a[i] = mg[i].a;
        b[i] = mg[i].b;
        dist[i] = mg[i].d;
    }
    free(mg);
    return AM_OK;
}

int diar_cluster(const float *emb, int n, int dim, float threshold, int num_k, int min_k, int max_k, int *labels) {
    if (n < 0 || dim < 1 || (n > 0 && (!emb || !labels)) || num_k < 0 || min_k < 0 || max_k < 0) return AM_E_INVALID_ARG;
    if (n == 0) return 0;
    merge *mg = n > 1 ? linkage(emb, n, dim) : NULL;
    int *parent = malloc(sizeof(int) * (size_t)n), *id = malloc(sizeof(int) * (size_t)n);
    if ((n > 1 && !mg) || !parent || !id) {
        free(mg);
        free(parent);
        free(id);
        return AM_E_NOMEM;
    }
    int k = n;
    for (int i = 0; i < n - 1; i++)
        if (mg[i].d <= threshold) k--;
    if (num_k > 0) k = num_k;
    if (min_k > 0 && k < min_k) k = min_k;
    if (max_k > 0 && k > max_k) k = max_k;
    if (k > n) k = n;
    if (k < 1) k = 1;
    for (int i = 0; i < n; i++) parent[i] = i;
    for (int i = 0; i < n - k; i++) {
        int ra = find(parent, mg[i].a), rb = find(parent, mg[i].b);
        parent[rb] = ra;
    }
    int next = 0;
    for (int i = 0; i < n; i++) id[i] = -1;
    for (int i = 0; i < n; i++) {
        int r = find(parent, i);
        if (id[r] < 0) id[r] = next++;
        labels[i] = id[r];
    }
    free(mg);
    free(parent);
    free(id);
    return k;
}
