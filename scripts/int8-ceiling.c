// int8-ceiling.c: what this CPU allows the integer decode products, measured in one sitting
// beside `longreward bench model --batch 1,4,16 --profile` (hosts of this kind differ by up to
// 2x from day to day, so a ratio needs its ceiling from the same hour). Built and run by
// scripts/int8-ceiling.sh against Sources/CQuantKernels with the package's C flags.
//
// Prints, per line:
//   1. instruction throughput on one thread: vpmaddubsw and vfmadd231ps (12 independent chains
//      each), and vpmaddubsw feeding vpaddw (the Q4_1 inner loop's pair);
//   2. the Q4_1 block dot alone (8 broadcasts, 8 vpmaddubsw, 7 vpaddw, 1 vpmaddwd per output row
//      group and block, weights in registers): the most the product kernel's integer part can do;
//   3. lrq_q4_1_product on SmolLM2's gate/up shape (3072 x 576) with 1, 4 and 16 rows of x,
//      weights cycled through 64 MB (cold, as in decode);
//   4. the products of one decode step at 16 rows (30 layers of qkv 960 x 576, output 576 x 576,
//      gate/up 3072 x 576, down 576 x 1536; no LM head) on 1 and 2 threads, split as the model
//      splits them (row groups in tasks of up to 8, claimed from one counter): compare with
//      qkv + output + gate_up + down of `bench model --profile` at batch 16.
// Multiply-adds (MA) count one weight times one activation.

#include "quant_kernels.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/// Keeps the compiler from folding or hoisting v (it may be anything afterwards).
#define OPAQUE(v) __asm__ volatile("" : "+x"(v))

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t next_random(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 11);
}

// MARK: 1. Instruction throughput

static void instruction_throughput(void) {
    const long n = 100000000;
    __m256i a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_epi8((char)(i + 1));
    __m256i ones8 = _mm256_set1_epi8(1);
    OPAQUE(ones8);
    double t0 = now();
    for (long r = 0; r < n; r++) {
        for (int i = 0; i < 12; i++) a[i] = _mm256_maddubs_epi16(a[i], ones8);
        for (int i = 0; i < 12; i++) OPAQUE(a[i]);
    }
    const double maddubs = 12.0 * (double)n / (now() - t0) / 1e9;

    __m256 f[12];
    for (int i = 0; i < 12; i++) f[i] = _mm256_set1_ps((float)i);
    __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
    OPAQUE(mul);
    OPAQUE(add);
    t0 = now();
    for (long r = 0; r < n; r++) {
        for (int i = 0; i < 12; i++) f[i] = _mm256_fmadd_ps(f[i], mul, add);
        for (int i = 0; i < 12; i++) OPAQUE(f[i]);
    }
    const double fma = 12.0 * (double)n / (now() - t0) / 1e9;

    __m256i w = _mm256_set1_epi8(3);
    OPAQUE(w);
    t0 = now();
    for (long r = 0; r < n; r++) {
        for (int i = 0; i < 6; i++) a[i] = _mm256_add_epi16(a[i], _mm256_maddubs_epi16(w, a[i + 6]));
        for (int i = 0; i < 12; i++) OPAQUE(a[i]);
    }
    const double pairs = 6.0 * (double)n / (now() - t0) / 1e9;
    printf("one thread: vpmaddubsw %.2f G/s (%.0f G MA/s), vfmadd231ps %.2f G/s, vpmaddubsw + vpaddw %.2f G pairs/s (%.0f G MA/s)\n",
           maddubs, 32 * maddubs, fma, pairs, 32 * pairs);
}

// MARK: 2. The block dot alone

static void block_dot(void) {
    static int8_t x[16 * 32] __attribute__((aligned(64)));
    for (int i = 0; i < (int)sizeof x; i++) x[i] = (int8_t)(next_random() % 255 - 127);
    __m256i w[8];
    for (int t = 0; t < 8; t++) w[t] = _mm256_set1_epi8((char)(t + 1));
    for (int t = 0; t < 8; t++) OPAQUE(w[t]);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    const long n = 30000000;
    const double t0 = now();
    for (long r = 0; r < n; r++) {
        for (int row = 0; row < 4; row++) {
            const int8_t *xr = x + 32 * ((r + 4 * row) & 15);
            __m256i s0 = _mm256_setzero_si256(), s1 = s0;
            for (int t = 0; t < 8; t += 2) {
                int32_t v0, v1;
                memcpy(&v0, xr + 4 * t, 4);
                memcpy(&v1, xr + 4 * t + 4, 4);
                s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[t], _mm256_set1_epi32(v0)));
                s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[t + 1], _mm256_set1_epi32(v1)));
            }
            acc[row] = _mm256_add_epi32(acc[row], _mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones));
        }
    }
    const double seconds = now() - t0;
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(acc[0], acc[1]), _mm256_add_epi32(acc[2], acc[3]));
    OPAQUE(sum);
    printf("one thread: Q4_1 block dot alone %.0f G MA/s (8 rows x 32 weights per row of x and block)\n",
           4.0 * 256.0 * (double)n / seconds / 1e9);
}

// MARK: 3 and 4. The product kernel

typedef struct {
    int64_t N, K;
    uint8_t *qs;
    uint16_t *d, *m;
} matrix;

static matrix make_matrix(int64_t N, int64_t K) {
    const int64_t nb = K / 32, groups = (N + 7) / 8;
    matrix a = {N, K, aligned_alloc(64, (size_t)(groups * nb * 128)), aligned_alloc(64, (size_t)(groups * nb * 16 + 64)),
                aligned_alloc(64, (size_t)(groups * nb * 16 + 64))};
    if (!a.qs || !a.d || !a.m) {
        fprintf(stderr, "int8-ceiling: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < groups * nb * 128; i++) a.qs[i] = (uint8_t)next_random();
    for (int64_t i = 0; i < groups * nb * 8; i++) {
        a.d[i] = (uint16_t)(0x2000 + (next_random() & 0xFF));  // small positive halves
        a.m[i] = (uint16_t)(0xA000 + (next_random() & 0xFF));  // small negative halves
    }
    return a;
}

enum { max_rows = 16, max_k = 1536 };
static int8_t xq[max_rows * max_k];
static float dx[max_rows * max_k / 32], sx[max_rows * max_k / 32], y[max_rows * 3072];

static void quantise_activations(void) {
    static float x[max_rows * max_k];
    for (int i = 0; i < max_rows * max_k; i++) x[i] = (float)(next_random() % 20001) / 10000.0f - 1.0f;
    lrq_quantize_rows(x, max_rows, max_k, xq, dx, sx);
}

// Activations are quantised once, 16 rows of K = 1536; a product with K = 576 reads the same
// buffers with its own row stride (other values, the same work: this only times).
static void product(const matrix *a, int64_t g0, int64_t g1, int64_t M) {
    lrq_q4_1_product(a->qs, a->d, a->m, a->N, a->K, g0, g1, xq, dx, sx, M, y, a->N, NULL);
}

static void product_kernel(void) {
    enum { copies = 64 };  // 64 x ~1 MB: cycled, so weights come from DRAM as in decode
    matrix *a = malloc(copies * sizeof(matrix));
    for (int c = 0; c < copies; c++) a[c] = make_matrix(3072, 576);
    const int64_t groups = 3072 / 8, rows[3] = {1, 4, 16};
    printf("one thread: lrq_q4_1_product 3072 x 576, weights cold:");
    for (int r = 0; r < 3; r++) {
        const int64_t M = rows[r];
        const int reps = M == 16 ? 256 : 1024;
        double best = 1e30;
        for (int round = 0; round < 3; round++) {
            const double t0 = now();
            for (int i = 0; i < reps; i++) product(&a[i % copies], 0, groups, M);
            const double t = now() - t0;
            if (t < best) best = t;
        }
        printf(" M %lld %.1f G MA/s%s", (long long)M, 3072.0 * 576.0 * (double)M * reps / best / 1e9, r < 2 ? "," : "\n");
    }
    for (int c = 0; c < copies; c++) {
        free(a[c].qs);
        free(a[c].d);
        free(a[c].m);
    }
    free(a);
}

enum { layers = 30, kinds = 4 };
static const int64_t shapes[kinds][2] = {{960, 576}, {576, 576}, {3072, 576}, {576, 1536}};
static matrix step_matrices[layers][kinds];
static int worker_count;
static atomic_long next_task;
static atomic_int arrived, generation;

static void barrier(void) {
    const int g = atomic_load(&generation);
    if (atomic_fetch_add(&arrived, 1) == worker_count - 1) {
        atomic_store(&arrived, 0);
        atomic_store(&next_task, 0);
        atomic_fetch_add(&generation, 1);
    } else {
        while (atomic_load(&generation) == g) _mm_pause();
    }
}

static void *decode_products(void *steps_pointer) {
    const int steps = *(const int *)steps_pointer;
    for (int s = 0; s < steps; s++)
        for (int l = 0; l < layers; l++)
            for (int k = 0; k < kinds; k++) {
                const matrix *a = &step_matrices[l][k];
                const int64_t groups = (a->N + 7) / 8;
                int64_t per_task = groups / (8 * worker_count);
                per_task = per_task < 1 ? 1 : (per_task > 8 ? 8 : per_task);
                const int64_t tasks = (groups + per_task - 1) / per_task;
                for (;;) {
                    const long t = atomic_fetch_add(&next_task, 1);
                    if (t >= tasks) break;
                    const int64_t g0 = t * per_task, g1 = g0 + per_task < groups ? g0 + per_task : groups;
                    product(a, g0, g1, 16);
                }
                barrier();
            }
    return NULL;
}

static void decode_step_products(void) {
    for (int l = 0; l < layers; l++)
        for (int k = 0; k < kinds; k++) step_matrices[l][k] = make_matrix(shapes[k][0], shapes[k][1]);
    double ma = 0;
    for (int k = 0; k < kinds; k++) ma += (double)(shapes[k][0] * shapes[k][1]);
    ma *= layers * 16.0;
    printf("decode-step products at 16 rows (no LM head):");
    for (int threads = 1; threads <= 2; threads++) {
        worker_count = threads;
        int steps = 32;
        pthread_t helper;
        const double t0 = now();
        if (threads == 2 && pthread_create(&helper, NULL, decode_products, &steps) != 0) {
            fprintf(stderr, "int8-ceiling: cannot start a thread\n");
            exit(1);
        }
        decode_products(&steps);
        if (threads == 2) pthread_join(helper, NULL);
        const double t = (now() - t0) / steps;
        printf(" %d thread%s %.2f ms (%.0f G MA/s)%s", threads, threads == 1 ? "" : "s", 1e3 * t, ma / t / 1e9,
               threads == 1 ? "," : "\n");
    }
}

int main(void) {
    if (!lrq_simd_available()) {
        fprintf(stderr, "int8-ceiling: the kernels were built without AVX2 + FMA + F16C\n");
        return 1;
    }
    quantise_activations();
    instruction_throughput();
    block_dot();
    product_kernel();
    decode_step_products();
    return 0;
}
