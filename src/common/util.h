/* util.h — small helpers shared by every stage: error messages, checked allocation, timing. */
#ifndef AM_UTIL_H
#define AM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* printf-style one-line message into err[err_size] (err may be NULL). Returns `status`. */
int am_fail(char *err, size_t err_size, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Seconds from a monotonic clock. */
double am_now(void);

/* Number of online CPU cores (>= 1). */
int am_cpu_count(void);

/* Read a whole file into memory (NUL-terminated for convenience; *size excludes the NUL). */
int am_read_file(const char *path, unsigned char **data, size_t *size, char *err, size_t err_size);

/* A data file (weights) that the library looks for: `named` when set (the caller's path or
 * environment variable), else the first that exists of <exe dir>/../<dir>/<file>,
 * <exe dir>/../share/amanuensis/<file>, <libamanuensis.so dir>/../share/amanuensis/<file> and
 * ./<dir>/<file>.  Returns 1 with the path in out, 0 when none is named and none is found. */
int am_find_data_file(const char *named, const char *dir, const char *file, char *out, size_t size);

/* Before a static function of plain loops (elementwise maths beside the kernels): GCC compiles it
 * also for AVX-512 and AVX2 and the loader picks the copy the CPU runs (an ifunc); elsewhere (other
 * compilers, e.g. clang's fuzzing builds) nothing.  GCC in ISO C mode (-std=c11) contracts nothing
 * into FMAs, so every copy computes the same floats. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define AM_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AM_VECTOR_CLONES
#endif

/* malloc'd copy of a string or of n bytes plus a NUL. */
char *am_strdup(const char *s);
char *am_strndup(const char *s, size_t n);

#endif
