/* ppcore.c — Prelude Play's real-time core: the audio mixer and the JACK MIDI process callback
 * in C, so that no Python runs in a real-time audio thread.
 *
 * Why: every JACK period (2.67 ms at 128 frames) the server waits for each client's process
 * callback. A Python callback first has to take the GIL, which the 60 fps UI thread holds for up to
 * a switch interval; measured on the project VM that made the app's two JACK clients the cause of
 * most xruns and put a period of jitter on the sound of a pad hit (docs/bench/e2e.md). Here the
 * callbacks are plain C: no GIL, no allocation, no locks, no system calls but the clock and one
 * semaphore post per cycle with events (pp_platform.h: the only OS-specific code).
 *
 * What lives here (Python still owns everything else: decoding, instrument maps, logging):
 *   - the mixer of prelude_play.audio.engine.AudioEngine, ported sample for sample (voices, tails
 *     for stolen voices, scheduled starts, exact stops with ramps, loops, the master ramp and the
 *     soft-knee limiter), fed by lock-free single-producer rings of commands;
 *   - the engine's frame <-> app-clock delay-locked loop (audio/timemap.py), readable from any
 *     thread through a seqlock;
 *   - a PortAudio stream callback (opened from Python through sounddevice with this function
 *     pointer, as python-rtmixer does);
 *   - the JACK MIDI process callback of midi/jack_backend.py: frame-exact stamps through a port of
 *     its FrameTimeMap, events into a ring that a Python thread drains (woken by a semaphore),
 *     MIDI output from per-port rings;
 *   - the fast path: a per-port note table (sound, gain, role, sensitivity) compiled in Python from
 *     the instrument map and the activity's fast_sound_table(); a pad hit is scheduled into the
 *     mixer from the MIDI callback itself at its own frame plus a constant, so its sound never waits
 *     for Python at all.
 *
 * libjack is not linked: Python hands us the JACK function pointers it already has (JACK-Client's
 * cffi library), so building needs no JACK headers; and it is not a Python module (no Python.h,
 * so no python3-dev): setuptools builds it as an extension only to put the library where
 * ``prelude_play.native`` finds it. Every exported symbol starts with pp_.
 */
#if !defined(_WIN32) && !defined(__APPLE__)
#  define _GNU_SOURCE
#endif
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pp_platform.h" /* the app clock and a semaphore, per OS: nothing else here is OS-specific */

#ifndef M_PI
#  define M_PI 3.14159265358979323846
#endif
#define EXPORT PP_EXPORT
#define PP_NONE INT64_MIN
#define PP_ABI 4

EXPORT int pp_abi(void) { return PP_ABI; }

/* The app clock is time.perf_counter_ns() (pp_platform.h says what that reads on each OS). */
EXPORT int64_t pp_now_ns(void) { return pp_clock_ns(); }

/* ------------------------------------------------------------------ SPSC ring */
typedef struct {
    _Atomic uint32_t w;
    char pad1[60];
    _Atomic uint32_t r;
    char pad2[60];
    uint32_t mask;
    uint32_t limit; /* at most this many queued (<= capacity) */
    uint32_t esize;
    uint8_t *buf;
} ring;

static int ring_init(ring *q, uint32_t cap_pow2, uint32_t esize) {
    atomic_init(&q->w, 0);
    atomic_init(&q->r, 0);
    q->mask = cap_pow2 - 1;
    q->limit = cap_pow2;
    q->esize = esize;
    q->buf = calloc(cap_pow2, esize);
    return q->buf ? 0 : -1;
}

static void ring_free(ring *q) { free(q->buf); q->buf = NULL; }

static int ring_push(ring *q, const void *e) {
    uint32_t w = atomic_load_explicit(&q->w, memory_order_relaxed);
    uint32_t r = atomic_load_explicit(&q->r, memory_order_acquire);
    if (w - r >= q->limit) return 0;
    memcpy(q->buf + (size_t)(w & q->mask) * q->esize, e, q->esize);
    atomic_store_explicit(&q->w, w + 1, memory_order_release);
    return 1;
}

static const void *ring_peek(ring *q) {
    uint32_t r = atomic_load_explicit(&q->r, memory_order_relaxed);
    uint32_t w = atomic_load_explicit(&q->w, memory_order_acquire);
    if (r == w) return NULL;
    return q->buf + (size_t)(r & q->mask) * q->esize;
}

static void ring_drop(ring *q) {
    uint32_t r = atomic_load_explicit(&q->r, memory_order_relaxed);
    atomic_store_explicit(&q->r, r + 1, memory_order_release);
}

static uint32_t ring_len(ring *q) {
    return atomic_load_explicit(&q->w, memory_order_acquire) - atomic_load_explicit(&q->r, memory_order_acquire);
}

static void ring_clear(ring *q) {  /* consumer side only */
    atomic_store_explicit(&q->r, atomic_load_explicit(&q->w, memory_order_acquire), memory_order_release);
}

/* ------------------------------------------------------------------ time map (DLL) */
/* audio/timemap.py: a second-order DLL from jittery (frame, ns) readings; seqlock for readers. */
#define RESYNC_NS 20000000.0

typedef struct {
    _Atomic uint32_t seq;
    int anchored;
    int64_t f0;
    double t0, npf;
    double nominal, w;
} tmap;

static void tm_init(tmap *m, int rate, double bw_hz) {
    atomic_init(&m->seq, 0);
    m->anchored = 0;
    m->f0 = 0;
    m->t0 = 0;
    m->nominal = 1e9 / rate;
    m->npf = m->nominal;
    m->w = 2.0 * M_PI * bw_hz / rate;
}

static void tm_write(tmap *m, int64_t f0, double t0, double npf) {
    uint32_t s = atomic_load_explicit(&m->seq, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    m->f0 = f0;
    m->t0 = t0;
    m->npf = npf;
    m->anchored = 1;
    atomic_store_explicit(&m->seq, s + 2, memory_order_release);
}

static int tm_read(tmap *m, int64_t *f0, double *t0, double *npf) {
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
        if (s1 & 1) continue;
        int a = m->anchored;
        *f0 = m->f0;
        *t0 = m->t0;
        *npf = m->npf;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->seq, memory_order_relaxed) == s1) return a;
    }
}

static void tm_anchor(tmap *m, int64_t frame, double t) { tm_write(m, frame, t, m->nominal); }

static void tm_update(tmap *m, int64_t frame, double t) {
    if (!m->anchored) { tm_anchor(m, frame, t); return; }
    int64_t df = frame - m->f0;
    if (df <= 0) return;
    double pred = m->t0 + (double)df * m->npf;
    double err = t - pred;
    if (fabs(err) > RESYNC_NS) { tm_anchor(m, frame, t); return; }
    double w = m->w * (double)df, b = sqrt(2.0) * w, c = w * w;
    double npf = m->npf + c * err / (double)df;
    double lo = m->nominal * 0.98, hi = m->nominal * 1.02;
    npf = npf < lo ? lo : npf > hi ? hi : npf;
    tm_write(m, frame, pred + b * err, npf);
}

static int64_t tm_f2ns(tmap *m, int64_t frame) {
    int64_t f0; double t0, npf;
    tm_read(m, &f0, &t0, &npf);
    return (int64_t)llround(t0 + (double)(frame - f0) * npf);
}

static int64_t tm_ns2f(tmap *m, int64_t t) {
    int64_t f0; double t0, npf;
    tm_read(m, &f0, &t0, &npf);
    return f0 + (int64_t)llround(((double)t - t0) / npf);
}

/* ------------------------------------------------------------------ the mixer */
enum { OP_PLAY = 1, OP_STOP = 2, OP_ALL_OFF = 3 };
#define MAX_CMDS_PER_BLOCK 256
#define STARTS_CAP 1024

typedef struct {
    const float *data;
    int64_t len, ls, le; /* le == 0: no loop region */
    int32_t release;
} pp_sound;

typedef struct {
    int32_t op, sound;
    int64_t handle, at_ns;
    float gl, gr;
    int32_t loop, ramp;
} pp_cmd;

typedef struct {
    int on, sound, loop;
    int64_t handle, start, pos, fs, fl, order;
    float gl, gr;
} voice;

typedef struct pp_midi pp_midi;

typedef struct pp_core {
    int rate, nvoices, pool, max_block, channels;
    int stop_ramp, steal_ramp;
    float limit, knee;
    _Atomic float master;
    float master_now;
    pp_sound *sounds;
    _Atomic int32_t nsounds;
    int32_t max_sounds;
    ring cmd_py; /* from Python (producers serialise on a Python lock) */
    ring cmd_rt; /* from the MIDI process callback */
    voice *v;
    int64_t order;
    float *L, *R;
    int64_t starts[STARTS_CAP][3];
    _Atomic int64_t starts_n;
    tmap tm;
    int exact_clock;
    _Atomic int64_t frame;
    double pa_latency_s;
    _Atomic(pp_midi *) jack_src; /* same JACK server: block times from its frame clock */
    int64_t jack_latency_ns;
    /* stats (written by the audio thread only) */
    _Atomic int64_t callbacks, xruns, late_starts, dropped_cmds, stolen, dropped_voices, errors;
    _Atomic int64_t last_cb_ns, active;
    double load_sum, load_max;
} pp_core;

EXPORT pp_core *pp_core_new(int rate, int voices, int tails, int max_block, int stop_ramp,
                            int steal_ramp, float limit, float master, int max_queue,
                            int max_sounds) {
    pp_core *c = calloc(1, sizeof(pp_core));
    if (!c) return NULL;
    c->rate = rate;
    c->nvoices = voices;
    c->pool = voices + tails;
    c->max_block = max_block;
    c->stop_ramp = stop_ramp;
    c->steal_ramp = steal_ramp;
    c->limit = limit;
    c->knee = 0.7f * limit;
    atomic_init(&c->master, master);
    c->master_now = master;
    c->max_sounds = max_sounds;
    c->channels = 2;
    c->sounds = calloc(max_sounds, sizeof(pp_sound));
    c->v = calloc(c->pool, sizeof(voice));
    c->L = calloc(max_block, sizeof(float));
    c->R = calloc(max_block, sizeof(float));
    uint32_t cap = 1;
    while (cap < (uint32_t)max_queue) cap <<= 1;
    if (!c->sounds || !c->v || !c->L || !c->R || ring_init(&c->cmd_py, cap, sizeof(pp_cmd)) ||
        ring_init(&c->cmd_rt, cap, sizeof(pp_cmd))) {
        free(c->sounds); free(c->v); free(c->L); free(c->R);
        ring_free(&c->cmd_py); ring_free(&c->cmd_rt);
        free(c);
        return NULL;
    }
    c->cmd_py.limit = (uint32_t)max_queue;
    tm_init(&c->tm, rate, 0.5);
    return c;
}

EXPORT void pp_core_free(pp_core *c) {
    if (!c) return;
    ring_free(&c->cmd_py);
    ring_free(&c->cmd_rt);
    free(c->sounds); free(c->v); free(c->L); free(c->R);
    free(c);
}

/* Register a sound (Python keeps the float32 buffer alive for the core's lifetime). */
EXPORT int32_t pp_core_add_sound(pp_core *c, const float *data, int64_t len, int64_t ls, int64_t le,
                                 int32_t release) {
    int32_t n = atomic_load_explicit(&c->nsounds, memory_order_relaxed);
    if (n >= c->max_sounds) return -1;
    c->sounds[n].data = data;
    c->sounds[n].len = len;
    c->sounds[n].ls = ls;
    c->sounds[n].le = le;
    c->sounds[n].release = release;
    atomic_store_explicit(&c->nsounds, n + 1, memory_order_release);
    return n;
}

EXPORT int pp_core_post(pp_core *c, int32_t op, int32_t sound, int64_t handle, int64_t at_ns, float gl,
                        float gr, int32_t loop, int32_t ramp) {
    pp_cmd cmd = {op, sound, handle, at_ns, gl, gr, loop, ramp};
    if (!ring_push(&c->cmd_py, &cmd)) {
        atomic_fetch_add(&c->dropped_cmds, 1);
        return 0;
    }
    return 1;
}

EXPORT void pp_core_set_master(pp_core *c, float g) { atomic_store(&c->master, g); }
EXPORT void pp_core_set_exact_clock(pp_core *c, int exact) { c->exact_clock = exact; }
EXPORT void pp_core_set_channels(pp_core *c, int ch) { c->channels = ch; }
EXPORT void pp_core_set_pa_latency(pp_core *c, double s) { c->pa_latency_s = s; }
EXPORT int64_t pp_core_frame(pp_core *c) { return atomic_load(&c->frame); }
EXPORT int pp_core_anchored(pp_core *c) { int64_t f; double t, n; return tm_read(&c->tm, &f, &t, &n); }
EXPORT int64_t pp_core_f2ns(pp_core *c, int64_t frame) { return tm_f2ns(&c->tm, frame); }
EXPORT int64_t pp_core_ns2f(pp_core *c, int64_t t) { return tm_ns2f(&c->tm, t); }
EXPORT double pp_core_npf(pp_core *c) { int64_t f; double t, n; tm_read(&c->tm, &f, &t, &n); return n; }
EXPORT void pp_core_anchor(pp_core *c, int64_t frame, int64_t t) { tm_anchor(&c->tm, frame, (double)t); }
EXPORT void pp_core_reset(pp_core *c) {
    /* device reopen, from Python while no callback runs: silence, clear queues, restart time */
    for (int i = 0; i < c->pool; i++) c->v[i].on = 0;
    ring_clear(&c->cmd_py);
    ring_clear(&c->cmd_rt);
    tm_init(&c->tm, c->rate, 0.5);
    atomic_store(&c->frame, 0);
}
EXPORT uint32_t pp_core_queued(pp_core *c) { return ring_len(&c->cmd_py) + ring_len(&c->cmd_rt); }

/* stats: callbacks frames xruns late_starts dropped_cmds stolen dropped_voices errors active
 * last_cb_ns starts_n, then load_mean load_max as doubles */
EXPORT void pp_core_stats(pp_core *c, int64_t *iv, double *dv) {
    iv[0] = atomic_load(&c->callbacks);
    iv[1] = atomic_load(&c->frame);
    iv[2] = atomic_load(&c->xruns);
    iv[3] = atomic_load(&c->late_starts);
    iv[4] = atomic_load(&c->dropped_cmds);
    iv[5] = atomic_load(&c->stolen);
    iv[6] = atomic_load(&c->dropped_voices);
    iv[7] = atomic_load(&c->errors);
    iv[8] = atomic_load(&c->active);
    iv[9] = atomic_load(&c->last_cb_ns);
    iv[10] = atomic_load(&c->starts_n);
    dv[0] = iv[0] ? c->load_sum / (double)iv[0] : 0.0;
    dv[1] = c->load_max;
}

EXPORT void pp_core_reset_stats(pp_core *c) {
    atomic_store(&c->callbacks, 0); atomic_store(&c->xruns, 0); atomic_store(&c->late_starts, 0);
    atomic_store(&c->dropped_cmds, 0); atomic_store(&c->stolen, 0);
    atomic_store(&c->dropped_voices, 0); atomic_store(&c->errors, 0);
    c->load_sum = 0; c->load_max = 0;
}

/* Copy voice-start log rows [lo, hi) (handle, frame, dac_ns); returns rows copied. */
EXPORT int pp_core_starts(pp_core *c, int64_t lo, int64_t hi, int64_t *out) {
    int n = 0;
    for (int64_t i = lo; i < hi; i++, n++) {
        const int64_t *row = c->starts[i % STARTS_CAP];
        out[3 * n] = row[0]; out[3 * n + 1] = row[1]; out[3 * n + 2] = row[2];
    }
    return n;
}

static int64_t frame_for(pp_core *c, int64_t F0, int64_t at_ns) {
    if (at_ns == PP_NONE) return F0;
    int64_t f = tm_ns2f(&c->tm, at_ns);
    if (f < F0) { atomic_fetch_add_explicit(&c->late_starts, 1, memory_order_relaxed); return F0; }
    return f;
}

static int free_slot(pp_core *c, int lo, int hi) {
    for (int i = lo; i < hi; i++) if (!c->v[i].on) return i;
    return -1;
}

static void fade(voice *v, int64_t fade_start, int64_t length) {
    if (v->fs >= 0 && v->fs + v->fl <= fade_start + length) return;
    v->fs = fade_start;
    v->fl = length;
}

static int steal(pp_core *c, int64_t F0) {
    int best = -1;
    int64_t best_order = 0;
    for (int i = 0; i < c->nvoices; i++)
        if (c->v[i].start <= F0 && (best < 0 || c->v[i].order < best_order)) { best = i; best_order = c->v[i].order; }
    if (best < 0) return -1;
    atomic_fetch_add_explicit(&c->stolen, 1, memory_order_relaxed);
    int t = free_slot(c, c->nvoices, c->pool);
    if (t >= 0) {
        c->v[t] = c->v[best];
        fade(&c->v[t], F0, c->steal_ramp);
        c->v[t].on = 1;
    }
    c->v[best].on = 0;
    return best;
}

static void cmd_play(pp_core *c, int64_t F0, const pp_cmd *cmd) {
    if (cmd->sound < 0 || cmd->sound >= atomic_load_explicit(&c->nsounds, memory_order_acquire)) {
        atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
        return;
    }
    int64_t start = frame_for(c, F0, cmd->at_ns);
    int slot = free_slot(c, 0, c->nvoices);
    if (slot < 0) {
        slot = steal(c, F0);
        if (slot < 0) { atomic_fetch_add_explicit(&c->dropped_voices, 1, memory_order_relaxed); return; }
    }
    voice *v = &c->v[slot];
    c->order++;
    v->sound = cmd->sound;
    v->handle = cmd->handle;
    v->start = start;
    v->pos = 0;
    v->gl = cmd->gl;
    v->gr = cmd->gr;
    v->loop = cmd->loop && c->sounds[cmd->sound].le > 0;
    v->fs = -1;
    v->fl = 1;
    v->order = c->order;
    v->on = 1;
    int64_t n = atomic_load_explicit(&c->starts_n, memory_order_relaxed);
    int64_t *row = c->starts[n % STARTS_CAP];
    row[0] = cmd->handle;
    row[1] = start;
    row[2] = tm_f2ns(&c->tm, start);
    atomic_store_explicit(&c->starts_n, n + 1, memory_order_release);
}

static void stop_voice(pp_core *c, voice *v, int64_t F0, int64_t at_ns, int64_t ramp) {
    int64_t stop = at_ns == PP_NONE ? F0 + ramp : tm_ns2f(&c->tm, at_ns);
    if (stop <= v->start && v->start >= F0) { v->on = 0; return; }
    int64_t fs = stop - ramp;
    if (fs < F0) fs = F0;
    if (fs < v->start) fs = v->start;
    fade(v, fs, ramp);
}

static void run_cmd(pp_core *c, int64_t F0, const pp_cmd *cmd) {
    switch (cmd->op) {
    case OP_PLAY: cmd_play(c, F0, cmd); break;
    case OP_STOP:
        for (int i = 0; i < c->pool; i++)
            if (c->v[i].on && c->v[i].handle == cmd->handle) stop_voice(c, &c->v[i], F0, cmd->at_ns, cmd->ramp);
        break;
    case OP_ALL_OFF:
        for (int i = 0; i < c->pool; i++)
            if (c->v[i].on) stop_voice(c, &c->v[i], F0, cmd->at_ns, cmd->ramp);
        break;
    default: atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
    }
}

static void drain(pp_core *c, int64_t F0) {
    /* the MIDI fast path's ring first: those commands are the time-critical ones */
    ring *qs[2] = {&c->cmd_rt, &c->cmd_py};
    int budget = MAX_CMDS_PER_BLOCK;
    for (int k = 0; k < 2; k++) {
        const pp_cmd *cmd;
        while (budget > 0 && (cmd = ring_peek(qs[k])) != NULL) {
            pp_cmd copy = *cmd;
            ring_drop(qs[k]);
            run_cmd(c, F0, &copy);
            budget--;
        }
    }
}

static void render_voice(pp_core *c, voice *v, int64_t F0, int n) {
    int64_t start = v->start, end = F0 + n;
    if (start >= end) return;
    int64_t a = start > F0 ? start - F0 : 0;
    int64_t seg_f = F0 + a;
    int64_t fs = v->fs, fl = v->fl;
    if (fs >= 0) {
        int64_t fe = fs + fl;
        if (fe <= seg_f) { v->on = 0; return; }
        if (fe < end) end = fe;
    }
    int64_t m = end - seg_f;
    const pp_sound *s = &c->sounds[v->sound];
    const float *data = s->data;
    int64_t pos = v->pos;
    float *L = c->L + a, *R = c->R + a;
    float gl = v->gl, gr = v->gr;
    int fading = fs >= 0 && fs < seg_f + m;
    double inv = fading ? 1.0 / (double)fl : 0.0;
    if (!v->loop) {
        int64_t avail = s->len - pos;
        if (avail <= 0) { v->on = 0; return; }
        if (m > avail) m = avail;
    }
    for (int64_t i = 0; i < m; i++) {
        if (v->loop && pos >= s->le) pos = s->ls + (pos - s->le);
        float x = data[pos++];
        if (fading) {
            double g = 1.0 - (double)(seg_f + i - fs) * inv;
            g = g < 0.0 ? 0.0 : g > 1.0 ? 1.0 : g;
            x = (float)(x * g);
        }
        L[i] += x * gl;
        R[i] += x * gr;
    }
    v->pos = pos;
    if (!v->loop && pos >= s->len) v->on = 0;
    if (fading && seg_f + m >= fs + fl) v->on = 0;
}

static void master_limit(pp_core *c, int n) {
    float g1 = atomic_load_explicit(&c->master, memory_order_relaxed), g0 = c->master_now;
    float k = c->knee, head = c->limit - k, lim = c->limit;
    float *bus[2] = {c->L, c->R};
    for (int ch = 0; ch < 2; ch++) {
        float *x = bus[ch];
        for (int i = 0; i < n; i++) {
            float g = g0 != g1 ? g0 + (g1 - g0) * (float)i / (float)n : g1;
            float y = x[i] * g;
            float a = fabsf(y);
            if (a > k) {
                float ex = a - k;
                float red = ex - head * tanhf(ex / head);
                y = y > 0 ? y - red : y + red;
                if (y > lim) y = lim;
                if (y < -lim) y = -lim;
            }
            x[i] = y;
        }
    }
    c->master_now = g1;
}

static void render_block(pp_core *c, float *out, int n, int channels) {
    int64_t F0 = atomic_load_explicit(&c->frame, memory_order_relaxed);
    drain(c, F0);
    memset(c->L, 0, sizeof(float) * n);
    memset(c->R, 0, sizeof(float) * n);
    int64_t active = 0;
    for (int i = 0; i < c->pool; i++)
        if (c->v[i].on) { render_voice(c, &c->v[i], F0, n); active += c->v[i].on; }
    master_limit(c, n);
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * channels;
        if (channels == 1) {
            o[0] = (c->L[i] + c->R[i]) * 0.5f;
        } else {
            o[0] = c->L[i];
            o[1] = c->R[i];
            for (int k = 2; k < channels; k++) o[k] = 0.0f;
        }
    }
    atomic_store_explicit(&c->active, active, memory_order_relaxed);
    atomic_store_explicit(&c->frame, F0 + n, memory_order_release);
}

/* mode: 0 = no time reading (anchor on the app clock once), 1 = jittery DAC time (DLL),
 * 2 = exact time of this block (anchor every block). */
EXPORT void pp_core_render(pp_core *c, float *out, int frames, int channels, int64_t dac_ns, int mode,
                           int xrun) {
    int64_t t0 = pp_now_ns();
    if (xrun) atomic_fetch_add_explicit(&c->xruns, 1, memory_order_relaxed);
    int64_t F = atomic_load_explicit(&c->frame, memory_order_relaxed);
    if (mode == 2 || (mode == 1 && c->exact_clock)) {
        int64_t f; double t, npf;
        if (mode == 2 || !tm_read(&c->tm, &f, &t, &npf)) tm_anchor(&c->tm, F, (double)dac_ns);
    } else if (mode == 1) {
        tm_update(&c->tm, F, (double)dac_ns);
    } else if (!pp_core_anchored(c)) {
        tm_anchor(&c->tm, F, (double)t0);
    }
    int done = 0;
    while (done < frames) {
        int n = frames - done < c->max_block ? frames - done : c->max_block;
        render_block(c, out + (size_t)done * channels, n, channels);
        done += n;
    }
    int64_t t1 = pp_now_ns();
    atomic_store_explicit(&c->last_cb_ns, t1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->callbacks, 1, memory_order_relaxed);
    double load = frames ? (double)(t1 - t0) * c->rate / ((double)frames * 1e9) : 0.0;
    c->load_sum += load;
    if (load > c->load_max) c->load_max = load;
}

/* ------------------------------------------------------------------ JACK MIDI */
typedef struct {
    uint32_t time;
    size_t size;
    uint8_t *buffer;
} jack_midi_event_t;

typedef uint32_t (*fn_last_frame_time)(void *client);
typedef void *(*fn_port_get_buffer)(void *port, uint32_t nframes);
typedef uint32_t (*fn_get_event_count)(void *buf);
typedef int (*fn_event_get)(jack_midi_event_t *ev, void *buf, uint32_t idx);
typedef void (*fn_clear_buffer)(void *buf);
typedef int (*fn_event_write)(void *buf, uint32_t time, const uint8_t *data, size_t size);

#define MAX_IN 64
#define MAX_OUT 16
#define EV_DATA 48
#define OUT_DATA 60
#define FRAME_MASK 0xFFFFFFFFLL
#define HALF (1LL << 31)

/* One event for Python: which port, when, and what the fast path did with it. */
typedef struct {
    int64_t t_ns;
    uint32_t frame;
    int16_t slot;
    int16_t sound;  /* sound the fast path started, -1 none */
    uint16_t size;
    uint8_t pad[2];
    uint8_t data[EV_DATA];
} pp_midi_ev;

typedef struct {
    uint16_t size;
    uint8_t data[OUT_DATA];
} pp_out_msg;

/* Fast-path table for one input port: per channel and note. */
typedef struct {
    int16_t sound;     /* -1: no fast sound */
    uint8_t client;    /* 1: the client's instrument (sensitivity applies) */
    uint8_t pad;
    float gain;
} fast_entry;

typedef struct {
    fast_entry e[16][128];
    int32_t min_velocity;
    int64_t tremor_ns;
} fast_table;

/* midi/jack_backend.py FrameTimeMap, ported line for line. */
typedef struct {
    int rate, have;
    int64_t raw, ext, offset, wmin, wcount, window, reanchor_ns, max_gap;
    double drift;
    int64_t reanchors, irregular;
    _Atomic int xrun;
    _Atomic uint32_t seq;
} ftm;

static void ftm_init(ftm *m, int rate, double drift_ppm, int window, double reanchor_ms, double max_gap_s) {
    memset(m, 0, sizeof(*m));
    m->rate = rate;
    m->drift = drift_ppm * 1e-6;
    m->window = window;
    m->reanchor_ns = (int64_t)(reanchor_ms * 1e6);
    m->max_gap = (int64_t)(max_gap_s * rate);
}

static int64_t ftm_base(const ftm *m, int64_t ext) {
    /* Python floor division on possibly negative values */
    int64_t num = ext * 1000000000LL;
    int64_t q = num / m->rate;
    if ((num % m->rate != 0) && ((num < 0) != (m->rate < 0))) q--;
    return q;
}

static uint32_t ftm_observe_raw(ftm *m, int64_t frame, int64_t now, int64_t frames) {
    if (!m->have) {
        m->have = 1;
        m->raw = frame & FRAME_MASK;
        m->ext = 0;
        m->offset = now;
        m->wmin = now;
        m->wcount = 0;
        return (uint32_t)(frame & FRAME_MASK);
    }
    int64_t d = (frame - m->raw) & FRAME_MASK;
    if (d >= HALF) d -= 1LL << 32;
    int trusted = frames < 0 || d == frames;
    m->raw = frame & FRAME_MASK;
    m->ext += d;
    int64_t cand = now - ftm_base(m, m->ext);
    if (!(0 <= d && d <= m->max_gap)) {
        m->offset = cand; m->wmin = cand; m->wcount = 0; m->reanchors++;
        return (uint32_t)m->raw;
    }
    int64_t allowed = m->offset + (int64_t)((double)d * 1e9 * m->drift / m->rate);
    if (!trusted) { m->offset = allowed; m->irregular++; return (uint32_t)m->raw; }
    if (atomic_exchange(&m->xrun, 0)) {
        m->offset = cand; m->wcount = 0; m->reanchors++;
        return (uint32_t)m->raw;
    }
    m->offset = cand < allowed ? cand : allowed;
    if (m->wcount == 0 || cand < m->wmin) m->wmin = cand;
    m->wcount++;
    if (m->wcount >= m->window) {
        if (m->wmin - m->offset > m->reanchor_ns) { m->offset = m->wmin; m->reanchors++; }
        m->wcount = 0;
    }
    return (uint32_t)m->raw;
}

static uint32_t ftm_observe(ftm *m, int64_t frame, int64_t now, int64_t frames) {
    uint32_t s = atomic_load_explicit(&m->seq, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    uint32_t r = ftm_observe_raw(m, frame, now, frames);
    atomic_store_explicit(&m->seq, s + 2, memory_order_release);
    return r;
}

static int64_t ftm_to_ns_raw(const ftm *m, int64_t frame, int64_t raw, int64_t ext, int64_t offset) {
    int64_t d = (frame - raw) & FRAME_MASK;
    if (d >= HALF) d -= 1LL << 32;
    return offset + ftm_base(m, ext + d);
}

/* Any thread: app ns of a JACK frame near the last observed one (0 if never observed). */
static int64_t ftm_to_ns(ftm *m, int64_t frame) {
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
        if (s1 & 1) continue;
        int have = m->have;
        int64_t raw = m->raw, ext = m->ext, off = m->offset;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&m->seq, memory_order_relaxed) != s1) continue;
        return have ? ftm_to_ns_raw(m, frame, raw, ext, off) : 0;
    }
}

/* FrameTimeMap for unit tests (the same tests as the Python one). */
EXPORT ftm *pp_ftm_new(int rate, double drift_ppm, int window, double reanchor_ms, double max_gap_s) {
    ftm *m = malloc(sizeof(ftm));
    if (m) ftm_init(m, rate, drift_ppm, window, reanchor_ms, max_gap_s);
    return m;
}
EXPORT void pp_ftm_free(ftm *m) { free(m); }
EXPORT uint32_t pp_ftm_observe(ftm *m, int64_t frame, int64_t now, int64_t frames) {
    return ftm_observe(m, frame, now, frames);
}
EXPORT int64_t pp_ftm_to_ns(ftm *m, int64_t frame) { return ftm_to_ns(m, frame); }
EXPORT void pp_ftm_xrun(ftm *m) { atomic_store(&m->xrun, 1); }
EXPORT void pp_ftm_counts(ftm *m, int64_t *out) { out[0] = m->reanchors; out[1] = m->irregular; out[2] = m->offset; }

typedef struct {
    _Atomic(void *) port;
    int32_t flags;  /* 1 ignore sysex, 2 ignore timing, 4 ignore active sense */
    _Atomic(fast_table *) fast;
    int64_t last_on[16][128];
} in_slot;

typedef struct {
    _Atomic(void *) port;
    ring q;
    _Atomic int64_t errors;
} out_slot;

struct pp_midi {
    void *client;
    fn_last_frame_time last_frame_time;
    fn_port_get_buffer port_get_buffer;
    fn_get_event_count get_event_count;
    fn_event_get event_get;
    fn_clear_buffer clear_buffer;
    fn_event_write event_write;
    ftm map;
    in_slot in[MAX_IN];
    out_slot out[MAX_OUT];
    ring events;
    pp_sem sem;
    _Atomic(pp_core *) mixer;
    _Atomic int64_t fast_delay_ns;
    _Atomic int64_t cycles, cycle_ns, received, dropped, too_long, fast_hits;
    int64_t handle;
};

EXPORT pp_midi *pp_midi_new(int rate, int event_cap_pow2, int out_cap_pow2) {
    pp_midi *m = calloc(1, sizeof(pp_midi));
    if (!m) return NULL;
    ftm_init(&m->map, rate, 200.0, 64, 1.0, 5.0);
    if (ring_init(&m->events, event_cap_pow2, sizeof(pp_midi_ev))) { free(m); return NULL; }
    for (int i = 0; i < MAX_OUT; i++) {
        if (ring_init(&m->out[i].q, out_cap_pow2, sizeof(pp_out_msg))) {
            for (int k = 0; k < i; k++) ring_free(&m->out[k].q);
            ring_free(&m->events);
            free(m);
            return NULL;
        }
    }
    if (pp_sem_init(&m->sem) != 0) {
        for (int i = 0; i < MAX_OUT; i++) ring_free(&m->out[i].q);
        ring_free(&m->events);
        free(m);
        return NULL;
    }
    m->handle = -1;
    return m;
}

EXPORT void pp_midi_free(pp_midi *m) {
    if (!m) return;
    for (int i = 0; i < MAX_OUT; i++) ring_free(&m->out[i].q);
    for (int i = 0; i < MAX_IN; i++) free(atomic_load(&m->in[i].fast));
    ring_free(&m->events);
    pp_sem_destroy(&m->sem);
    free(m);
}

EXPORT void pp_midi_set_jack(pp_midi *m, void *client, void *lft, void *gb, void *cnt, void *get, void *clr,
                             void *wr) {
    m->client = client;
    m->last_frame_time = (fn_last_frame_time)lft;
    m->port_get_buffer = (fn_port_get_buffer)gb;
    m->get_event_count = (fn_get_event_count)cnt;
    m->event_get = (fn_event_get)get;
    m->clear_buffer = (fn_clear_buffer)clr;
    m->event_write = (fn_event_write)wr;
}

EXPORT int pp_midi_set_in(pp_midi *m, int slot, void *port, int flags) {
    if (slot < 0 || slot >= MAX_IN) return -1;
    m->in[slot].flags = flags;
    memset(m->in[slot].last_on, 0, sizeof(m->in[slot].last_on));
    atomic_store(&m->in[slot].port, port);
    return 0;
}

EXPORT int pp_midi_set_out(pp_midi *m, int slot, void *port) {
    if (slot < 0 || slot >= MAX_OUT) return -1;
    if (port == NULL) atomic_store(&m->out[slot].port, NULL);
    else {
        ring_clear(&m->out[slot].q);  /* only while the slot is free: no consumer runs */
        atomic_store(&m->out[slot].port, port);
    }
    return 0;
}

EXPORT int pp_midi_send(pp_midi *m, int slot, const uint8_t *data, int size) {
    if (slot < 0 || slot >= MAX_OUT || size <= 0 || size > OUT_DATA) return -1;
    pp_out_msg msg;
    msg.size = (uint16_t)size;
    memcpy(msg.data, data, size);
    return ring_push(&m->out[slot].q, &msg) ? 0 : -2;
}

EXPORT uint32_t pp_midi_out_pending(pp_midi *m, int slot) { return ring_len(&m->out[slot].q); }

/* Fast path: the mixer to trigger into, the constant delay, and one port's table (entries as
 * parallel arrays of 16*128: sound index or -1, client flag, gain). A NULL sound array clears. */
EXPORT void pp_midi_set_mixer(pp_midi *m, pp_core *c, int64_t delay_ns) {
    atomic_store(&m->fast_delay_ns, delay_ns);
    atomic_store(&m->mixer, c);
}

EXPORT void pp_midi_set_fast_delay(pp_midi *m, int64_t delay_ns) { atomic_store(&m->fast_delay_ns, delay_ns); }

/* Returns the previous table, for Python to free after two cycles (pp_midi_free_table). */
EXPORT void *pp_midi_set_fast(pp_midi *m, int slot, const int16_t *sounds, const uint8_t *client,
                              const float *gain, int min_velocity, int64_t tremor_ns) {
    if (slot < 0 || slot >= MAX_IN) return NULL;
    fast_table *t = NULL;
    if (sounds) {
        t = malloc(sizeof(fast_table));
        if (!t) return NULL;
        for (int ch = 0; ch < 16; ch++)
            for (int n = 0; n < 128; n++) {
                int i = ch * 128 + n;
                t->e[ch][n].sound = sounds[i];
                t->e[ch][n].client = client[i];
                t->e[ch][n].gain = gain[i];
            }
        t->min_velocity = min_velocity;
        t->tremor_ns = tremor_ns;
    }
    return atomic_exchange(&m->in[slot].fast, t);
}

EXPORT void pp_midi_free_table(void *t) { free(t); }

EXPORT void pp_midi_xrun(pp_midi *m) { atomic_store(&m->map.xrun, 1); }

/* Wait (GIL released by ctypes) until events arrive or timeout; 1 = woken, 0 = timeout. */
EXPORT int pp_midi_wait(pp_midi *m, int timeout_ms) { return pp_sem_wait_ms(&m->sem, timeout_ms); }

EXPORT void pp_midi_wake(pp_midi *m) { pp_sem_post(&m->sem); }

EXPORT int pp_midi_read(pp_midi *m, pp_midi_ev *out, int max) {
    int n = 0;
    const pp_midi_ev *e;
    while (n < max && (e = ring_peek(&m->events)) != NULL) {
        out[n++] = *e;
        ring_drop(&m->events);
    }
    return n;
}

/* cycles cycle_ns received dropped too_long fast_hits reanchors irregular */
EXPORT void pp_midi_stats(pp_midi *m, int64_t *iv) {
    iv[0] = atomic_load(&m->cycles);
    iv[1] = atomic_load(&m->cycle_ns);
    iv[2] = atomic_load(&m->received);
    iv[3] = atomic_load(&m->dropped);
    iv[4] = atomic_load(&m->too_long);
    iv[5] = atomic_load(&m->fast_hits);
    iv[6] = m->map.reanchors;
    iv[7] = m->map.irregular;
}

EXPORT int64_t pp_midi_to_ns(pp_midi *m, int64_t frame) { return ftm_to_ns(&m->map, frame); }

static int keep(const uint8_t *d, size_t size, int flags) {
    if (size == 0) return 0;
    uint8_t s = d[0];
    if (s == 0xF0) return !(flags & 1);
    if (s == 0xF8 || s == 0xF1) return !(flags & 2);
    if (s == 0xFE) return !(flags & 4);
    return 1;
}

/* The fast path for one note-on: sound it into the mixer at its own time + the constant delay. */
static void fast(pp_midi *m, in_slot *slot, pp_midi_ev *rec) {
    fast_table *t = atomic_load_explicit(&slot->fast, memory_order_acquire);
    pp_core *c = atomic_load_explicit(&m->mixer, memory_order_acquire);
    if (!t || !c || rec->size < 3) return;
    uint8_t st = rec->data[0];
    if ((st & 0xF0) != 0x90 || rec->data[2] == 0) return;
    int ch = st & 0x0F, note = rec->data[1] & 0x7F, vel = rec->data[2] & 0x7F;
    const fast_entry *e = &t->e[ch][note];
    if (e->client) {
        int64_t last = slot->last_on[ch][note];
        slot->last_on[ch][note] = rec->t_ns;
        /* silent, as the hub's SensitivityFilter marks it (the hub logs the reason) */
        if (vel < t->min_velocity) return;
        if (last != 0 && t->tremor_ns > 0 && rec->t_ns - last < t->tremor_ns) return;
    }
    if (e->sound < 0) return;
    float amp = (float)vel / 127.0f * e->gain;
    int64_t at = rec->t_ns + atomic_load_explicit(&m->fast_delay_ns, memory_order_relaxed);
    pp_cmd cmd = {OP_PLAY, e->sound, m->handle--, at, amp, amp, 0, 0};
    if (ring_push(&c->cmd_rt, &cmd)) {
        rec->sound = e->sound;
        atomic_fetch_add_explicit(&m->fast_hits, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&c->dropped_cmds, 1, memory_order_relaxed);
    }
}

EXPORT int pp_midi_process(uint32_t nframes, void *arg) {
    pp_midi *m = arg;
    int64_t now = pp_now_ns();
    uint32_t frame = m->last_frame_time(m->client);
    uint32_t f0 = ftm_observe(&m->map, frame, now, nframes);
    atomic_store_explicit(&m->cycle_ns, now, memory_order_relaxed);
    int pushed = 0;
    for (int i = 0; i < MAX_IN; i++) {
        in_slot *slot = &m->in[i];
        void *port = atomic_load_explicit(&slot->port, memory_order_acquire);
        if (!port) continue;
        void *buf = m->port_get_buffer(port, nframes);
        if (!buf) continue;
        uint32_t n = m->get_event_count(buf);
        for (uint32_t j = 0; j < n; j++) {
            jack_midi_event_t ev;
            if (m->event_get(&ev, buf, j) != 0) continue;
            if (!keep(ev.buffer, ev.size, slot->flags)) continue;
            atomic_fetch_add_explicit(&m->received, 1, memory_order_relaxed);
            if (ev.size > EV_DATA) { atomic_fetch_add_explicit(&m->too_long, 1, memory_order_relaxed); continue; }
            pp_midi_ev rec;
            rec.frame = f0 + ev.time;
            rec.t_ns = ftm_to_ns_raw(&m->map, rec.frame, m->map.raw, m->map.ext, m->map.offset);
            rec.slot = (int16_t)i;
            rec.sound = -1;
            rec.size = (uint16_t)ev.size;
            rec.pad[0] = rec.pad[1] = 0;
            memcpy(rec.data, ev.buffer, ev.size);
            fast(m, slot, &rec);
            if (ring_push(&m->events, &rec)) pushed++;
            else atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
        }
    }
    for (int i = 0; i < MAX_OUT; i++) {
        out_slot *o = &m->out[i];
        void *port = atomic_load_explicit(&o->port, memory_order_acquire);
        if (!port) continue;
        void *buf = m->port_get_buffer(port, nframes);
        if (!buf) continue;
        m->clear_buffer(buf);
        const pp_out_msg *msg;
        int k = 0;
        while (k < 256 && (msg = ring_peek(&o->q)) != NULL) {
            if (m->event_write(buf, 0, msg->data, msg->size) != 0) {
                atomic_fetch_add_explicit(&o->errors, 1, memory_order_relaxed);
                break;  /* buffer full: the rest goes next cycle */
            }
            ring_drop(&o->q);
            k++;
        }
    }
    atomic_fetch_add_explicit(&m->cycles, 1, memory_order_release);
    if (pushed) pp_sem_post(&m->sem);
    return 0;
}

/* ------------------------------------------------------------------ PortAudio callback */
typedef struct {
    double inputBufferAdcTime, currentTime, outputBufferDacTime;
} pa_time_info;

#define PA_OUTPUT_UNDERFLOW 0x4UL

/* Use a JACK MIDI client's frame clock for the audio blocks' times (PortAudio on the same JACK
 * server): the block that this cycle renders starts at the cycle's first frame, heard
 * ``latency_ns`` later. MIDI stamps and audio then share one exact map. NULL turns it off. */
EXPORT void pp_core_set_jack_clock(pp_core *c, pp_midi *m, int64_t latency_ns) {
    c->jack_latency_ns = latency_ns;
    atomic_store(&c->jack_src, m);
}

EXPORT int pp_pa_callback(const void *in, void *out, unsigned long frames, const pa_time_info *ti,
                          unsigned long flags, void *user) {
    (void)in;
    pp_core *c = user;
    int64_t now = pp_now_ns();
    int xrun = (flags & PA_OUTPUT_UNDERFLOW) != 0;
    pp_midi *m = atomic_load_explicit(&c->jack_src, memory_order_acquire);
    if (m && m->map.have) {
        int64_t t = ftm_to_ns(&m->map, m->last_frame_time(m->client));
        pp_core_render(c, out, (int)frames, c->channels, t + c->jack_latency_ns, 2, xrun);
        return 0;
    }
    double d = ti->outputBufferDacTime - ti->currentTime;
    if (!(ti->outputBufferDacTime > 0.0 && ti->currentTime > 0.0 && d >= 0.0 && d < 1.0)) d = c->pa_latency_s;
    pp_core_render(c, out, (int)frames, c->channels, now + (int64_t)(d * 1e9), 1, xrun);
    return 0; /* paContinue */
}
