/* cluster.h — the pieces of the diarization pipeline between the networks: pyannote's powerset
 * classes decoded into speakers, and agglomerative clustering of speaker embeddings. */
#ifndef AM_DIARIZE_CLUSTER_H
#define AM_DIARIZE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define DIAR_LOCAL_SPEAKERS 3

/* The speakers of each of segmentation-3.0's 7 classes as a bit mask (bit k: local speaker k):
 * {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2} (pyannote's Powerset order: by size, then lexicographic). */
extern const uint8_t diar_powerset_speakers[7];

/* active[t][k] = 1 when local speaker k is in the most probable class of frame t (pyannote's hard
 * Powerset.to_multilabel), for logp [n_frames][7]. */
void diar_powerset_decode(const float *logp, size_t n_frames, uint8_t *active);

/* Agglomerative clustering of n embeddings emb[n][dim] (any scale: compared by cosine), average
 * linkage on the cosine distance 1 - cos, by the nearest-neighbour chain (O(n^2) time, one n x n
 * float matrix).  The number of clusters is the count left when every merge closer than
 * `threshold` is made, then clamped to [min_k, max_k] (0: no bound); num_k > 0 fixes it.
 * labels[n]: 0 .. k-1 numbered in order of first appearance.  Returns k (>= 1 when n >= 1; 0 for
 * n == 0), or AM_E_INVALID_ARG / AM_E_NOMEM. */
int diar_cluster(const float *emb, int n, int dim, float threshold, int num_k, int min_k, int max_k, int *labels);

/* The merges of the same clustering, in increasing distance: merge i joins the clusters holding
 * items a[i] and b[i] at distance dist[i] (n - 1 merges).  For tests and for choosing thresholds. */
int diar_cluster_merges(const float *emb, int n, int dim, int *a, int *b, float *dist);

#endif
