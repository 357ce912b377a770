/* test_diarize_cluster.c — src/diarize/cluster.c: the powerset classes' speakers, and the
 * nearest-neighbour-chain average linkage against the textbook O(n^3) algorithm (each merge the
 * closest pair of clusters by the mean of their items' pairwise cosine distances), then the cut
 * by threshold and by the count bounds on three well-separated groups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "diarize/cluster.h"

static uint32_t rng = 12345;
static double urand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (double)(rng >> 8) / 16777216.0;
}
static double grand(void) { return sqrt(-2.0 * log(urand() + 1e-12)) * cos(6.283185307179586 * urand()); }

static void test_powerset(void **state) {
    (void)state;
    float logp[7 * 7];
    for (int t = 0; t < 7; t++)
        for (int c = 0; c < 7; c++) logp[t * 7 + c] = c == t ? -0.1f : -5.0f;
    uint8_t act[7 * 3];
    diar_powerset_decode(logp, 7, act);
    static const uint8_t want[7][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}};
    for (int t = 0; t < 7; t++)
        for (int k = 0; k < 3; k++) assert_int_equal(act[t * 3 + k], want[t][k]);
}

/* the merge distances of the O(n^3) algorithm, increasing */
static void brute(const float *emb, int n, int dim, double *out) {
    double *d = malloc(sizeof(double) * n * n);
    int *lab = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        lab[i] = i;
        for (int j = 0; j < n; j++) {
            double s = 0, ni = 0, nj = 0;
            for (int k = 0; k < dim; k++) {
                s += (double)emb[i * dim + k] * emb[j * dim + k];
                ni += (double)emb[i * dim + k] * emb[i * dim + k];
                nj += (double)emb[j * dim + k] * emb[j * dim + k];
            }
            d[i * n + j] = 1.0 - s / sqrt(ni * nj);
        }
    }
    for (int m = 0; m < n - 1; m++) {
        double best = INFINITY;
        int ba = -1, bb = -1;
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++) {
                if (lab[a] != a || lab[b] != b) continue; /* cluster representatives */
                double s = 0;
                int cnt = 0;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        if (lab[i] == a && lab[j] == b) s += d[i * n + j], cnt++;
                if (s / cnt < best) best = s / cnt, ba = a, bb = b;
            }
        out[m] = best;
        for (int i = 0; i < n; i++)
            if (lab[i] == bb) lab[i] = ba;
    }
    free(d);
    free(lab);
}

static void test_linkage_matches_brute_force(void **state) {
    (void)state;
    for (int trial = 0; trial < 30; trial++) {
        int n = 2 + trial, dim = 3 + trial % 5;
        float *emb = malloc(sizeof(float) * n * dim);
        for (int i = 0; i < n * dim; i++) emb[i] = (float)grand();
        int *a = malloc(sizeof(int) * n), *b = malloc(sizeof(int) * n);
        float *dist = malloc(sizeof(float) * n);
        double *want = malloc(sizeof(double) * n);
        assert_int_equal(diar_cluster_merges(emb, n, dim, a, b, dist), AM_OK);
        brute(emb, n, dim, want);
        for (int m = 0; m < n - 1; m++) {
            if (fabs(dist[m] - want[m]) > 1e-5) fail_msg("n %d merge %d: %f, expected %f", n, m, dist[m], want[m]);
            if (m) assert_true(dist[m] >= dist[m - 1]);
        }
        free(emb);
        free(a);
        free(b);
        free(dist);
        free(want);
    }
}

/* 3 groups of 10 around orthogonal directions, shuffled; within-group cosine distance ~0.02 */
static void groups(float *emb, int *truth) {
    for (int i = 0; i < 30; i++) {
        int g = (i * 7) % 3;
        truth[i] = g;
        for (int k = 0; k < 8; k++) emb[i * 8 + k] = (float)((k == g ? 1.0 : 0.0) + 0.1 * grand());
    }
}

static void assert_partition(const int *labels, const int *truth, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) assert_int_equal(labels[i] == labels[j], truth[i] == truth[j]);
}

static void test_cut(void **state) {
    (void)state;
    float emb[30 * 8];
    int truth[30], labels[30];
    groups(emb, truth);
    assert_int_equal(diar_cluster(emb, 30, 8, 0.5f, 0, 0, 0, labels), 3);
    assert_partition(labels, truth, 30);
    assert_int_equal(labels[0], 0); /* numbered in order of first appearance */
    assert_int_equal(diar_cluster(emb, 30, 8, 0.5f, 0, 4, 0, labels), 4);
    assert_int_equal(diar_cluster(emb, 30, 8, 0.5f, 0, 0, 2, labels), 2);
    assert_int_equal(diar_cluster(emb, 30, 8, 0.5f, 5, 0, 0, labels), 5);
    assert_int_equal(diar_cluster(emb, 30, 8, 2.5f, 0, 0, 0, labels), 1);
    assert_int_equal(diar_cluster(emb, 30, 8, -1.0f, 0, 0, 0, labels), 30);
    assert_int_equal(diar_cluster(emb, 30, 8, 0.5f, 3, 0, 0, labels), 3);
    assert_partition(labels, truth, 30);
    assert_int_equal(diar_cluster(emb, 1, 8, 0.5f, 0, 0, 0, labels), 1);
    assert_int_equal(labels[0], 0);
    assert_int_equal(diar_cluster(emb, 1, 8, 0.5f, 3, 0, 0, labels), 1);
    assert_int_equal(diar_cluster(emb, 0, 8, 0.5f, 0, 0, 0, labels), 0);
    assert_int_equal(diar_cluster(emb, 30, 0, 0.5f, 0, 0, 0, labels), AM_E_INVALID_ARG);
    assert_int_equal(diar_cluster(emb, -1, 8, 0.5f, 0, 0, 0, labels), AM_E_INVALID_ARG);
    assert_int_equal(diar_cluster(NULL, 3, 8, 0.5f, 0, 0, 0, labels), AM_E_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_powerset),
        cmocka_unit_test(test_linkage_matches_brute_force),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
