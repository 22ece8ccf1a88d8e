/* pp_platform.h — the only OS-specific code of the real-time core (ppcore.c).
 *
 * Two things differ per OS, and nothing else in ppcore.c may reach the OS directly:
 *
 *   pp_clock_ns()   the app clock in nanoseconds. It must be exactly Python's
 *                   time.perf_counter_ns(), because C stamps MIDI events and Python schedules
 *                   sounds against those stamps. What CPython's perf_counter reads (Python/pytime.c:
 *                   py_get_monotonic_clock in 3.13+, the same clocks and the same exact floor
 *                   through _PyTime_MulDiv in 3.11/3.12):
 *                     Windows: QueryPerformanceCounter() ticks x 1e9 / QueryPerformanceFrequency(),
 *                              the fraction reduced by its gcd, computed as
 *                              (t / d) * n + (t % d) * n / d (exact floor, no overflow);
 *                     macOS:   mach_absolute_time() x mach_timebase_info numer / denom, the same way.
 *                              (clock_gettime(CLOCK_UPTIME_RAW) reads the same counter, but its own
 *                              conversion could round differently: we copy CPython's arithmetic.)
 *                     others:  clock_gettime(CLOCK_MONOTONIC).
 *   pp_sem_*        a counting semaphore that a real-time callback can post (never blocks, no
 *                   allocation) and a Python thread can wait on with a timeout:
 *                     Windows: a Win32 semaphore (ReleaseSemaphore / WaitForSingleObject);
 *                     macOS:   a dispatch semaphore (unnamed POSIX semaphores are not implemented
 *                              there: sem_init fails with ENOSYS);
 *                     others:  an unnamed POSIX semaphore (sem_post / sem_timedwait).
 *
 * Plus PP_EXPORT (dllexport on Windows, default visibility elsewhere).
 *
 * Checked on Linux (the tests) and for Windows by cross-compiling with mingw-w64
 * (tools/cross_compile.py, -Wall -Werror, exports checked). The macOS branch is compiled only
 * against stand-ins of Apple's two headers (tests/rt/test_platform_layer.py), never with Apple's
 * SDK. On POSIX the includer defines _GNU_SOURCE before any system header (ppcore.c does).
 */
#ifndef PP_PLATFORM_H
#define PP_PLATFORM_H

#include <stdatomic.h>
#include <stdint.h>

#if defined(_WIN32)
#  define PP_EXPORT __declspec(dllexport)
#else
#  define PP_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------ clock */

/* floor(t * numer / denom) without overflowing for any realistic t (CPython's order of operations). */
static inline int64_t pp_scale(int64_t t, int64_t numer, int64_t denom) {
    if (denom == 1) return t * numer;
    return (t / denom) * numer + (t % denom) * numer / denom;
}

static inline int64_t pp_gcd(int64_t a, int64_t b) {
    while (b != 0) { int64_t r = a % b; a = b; b = r; }
    return a;
}

#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>

static inline int64_t pp_ticks(void) {
    LARGE_INTEGER t;
    QueryPerformanceCounter(&t);
    return (int64_t)t.QuadPart;
}

static inline void pp_timebase(int64_t *numer, int64_t *denom) {
    LARGE_INTEGER f;
    QueryPerformanceFrequency(&f); /* cannot fail since Windows XP; 10 MHz on current Windows */
    *numer = 1000000000LL;
    *denom = (int64_t)f.QuadPart;
}

#elif defined(__APPLE__)
#  include <mach/mach_time.h>

static inline int64_t pp_ticks(void) { return (int64_t)mach_absolute_time(); }

static inline void pp_timebase(int64_t *numer, int64_t *denom) {
    mach_timebase_info_data_t tb;
    (void)mach_timebase_info(&tb); /* cannot fail (Apple QA1398); 1/1 on Intel, 125/3 on Apple silicon */
    *numer = (int64_t)tb.numer;
    *denom = (int64_t)tb.denom;
}
#endif

#if defined(_WIN32) || defined(__APPLE__)
/* The tick -> ns fraction, set by whichever thread reads the clock first. Every thread computes
 * the same two numbers, so a race only stores them twice: no lock, and no system call after the
 * first reading but the counter itself. */
static _Atomic int64_t pp_clock_numer, pp_clock_denom;

static inline int64_t pp_clock_ns(void) {
    int64_t d = atomic_load_explicit(&pp_clock_denom, memory_order_acquire), n;
    if (d == 0) {
        pp_timebase(&n, &d);
        int64_t g = pp_gcd(n, d);
        n /= g;
        d /= g;
        atomic_store_explicit(&pp_clock_numer, n, memory_order_relaxed);
        atomic_store_explicit(&pp_clock_denom, d, memory_order_release);
    } else {
        n = atomic_load_explicit(&pp_clock_numer, memory_order_relaxed);
    }
    return pp_scale(pp_ticks(), n, d);
}

#else
#  include <time.h>

static inline int64_t pp_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
#endif

/* ------------------------------------------------------------------ semaphore */
/* pp_sem_init: 0 on success. pp_sem_post: safe in a real-time callback. pp_sem_wait_ms: 1 when
 * posted, 0 on timeout (or error). */

#if defined(_WIN32)
typedef HANDLE pp_sem;

static inline int pp_sem_init(pp_sem *s) {
    *s = CreateSemaphoreW(NULL, 0, 0x7fffffffL, NULL);
    return *s ? 0 : -1;
}
static inline void pp_sem_destroy(pp_sem *s) { if (*s) CloseHandle(*s); *s = NULL; }
static inline void pp_sem_post(pp_sem *s) { ReleaseSemaphore(*s, 1, NULL); }
static inline int pp_sem_wait_ms(pp_sem *s, int timeout_ms) {
    return WaitForSingleObject(*s, timeout_ms < 0 ? 0 : (DWORD)timeout_ms) == WAIT_OBJECT_0;
}

#elif defined(__APPLE__)
#  include <dispatch/dispatch.h>
typedef dispatch_semaphore_t pp_sem;

static inline int pp_sem_init(pp_sem *s) {
    *s = dispatch_semaphore_create(0);
    return *s ? 0 : -1;
}
/* Released only with its count back at (or above) the initial 0, as libdispatch requires:
 * nobody waits on it by then (pp_midi_free runs after the reader thread has stopped). */
static inline void pp_sem_destroy(pp_sem *s) { if (*s) dispatch_release(*s); *s = NULL; }
static inline void pp_sem_post(pp_sem *s) { dispatch_semaphore_signal(*s); }
static inline int pp_sem_wait_ms(pp_sem *s, int timeout_ms) {
    int64_t ns = (int64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000LL;
    return dispatch_semaphore_wait(*s, dispatch_time(DISPATCH_TIME_NOW, ns)) == 0;
}

#else
#  include <errno.h>
#  include <semaphore.h>
typedef sem_t pp_sem;

static inline int pp_sem_init(pp_sem *s) { return sem_init(s, 0, 0); }
static inline void pp_sem_destroy(pp_sem *s) { sem_destroy(s); }
static inline void pp_sem_post(pp_sem *s) { sem_post(s); }
static inline int pp_sem_wait_ms(pp_sem *s, int timeout_ms) {
    /* sem_timedwait takes an absolute CLOCK_REALTIME deadline */
    struct timespec ts;
    if (timeout_ms < 0) timeout_ms = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    while (sem_timedwait(s, &ts) != 0) {
        if (errno == EINTR) continue;
        return 0;
    }
    return 1;
}
#endif

#endif /* PP_PLATFORM_H */
