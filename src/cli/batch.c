/* batch.c — `amanuensis transcribe` over a list of inputs: N files at once on the one loaded model,
 * each failure one line and the run goes on, a progress line, the summary and --stats.
 *
 * Jobs are threads that share the read-only am_model; each takes the next file from the list and
 * runs its own am_transcribe with its share of the threads (-t split evenly).  A file's result does
 * not depend on its job or thread count, so the outputs are those of --jobs 1.  Everything written
 * to stdout or stderr goes through one mutex, which also owns the progress line: it is cleared
 * before any other line is printed and drawn again at the next report. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

#define PROGRESS_INTERVAL 0.1 /* seconds between redraws of the progress line */

struct batch;

/* One job (a thread) and the file it is working on. */
typedef struct job_slot {
    struct batch *b;
    int n_threads;
    int busy;           /* a file is read and being transcribed */
    int ordinal;        /* its place among the files to transcribe, from 1 */
    const char *path;
    double duration;    /* seconds of audio */
    double fraction;    /* of it done */
} job_slot;

typedef struct batch {
    const am_model *model;
    const am_params *params;
    const cli_run_options *o;
    const cli_input_list *in;
    int *todo;          /* indices into in->v of the files to transcribe */
    int n_todo, next;
    job_slot *slots;
    int n_slots;
    pthread_mutex_t mu; /* guards everything below, and the output streams */
    int n_done, n_failed, n_finished; /* finished: done or failed */
    double audio_done;  /* seconds of audio of the files done */
    double read_seconds;
    am_stats sum;
    double t0;          /* the run's start (after the model load) */
    int progress_len;   /* characters of the progress line on screen (0: none) */
    double progress_at; /* when it was drawn */
    int progress_slot;  /* the job it shows */
    int stdout_tty;
} batch;

/* ---- output ------------------------------------------------------------------------------------- */

static void format_time(double t, char *out, size_t size) {
    if (t < 0) t = 0;
    long long ms = (long long)(t * 1000.0 + 0.5);
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
    if (h > 0) snprintf(out, size, "%02lld:%02lld:%02lld.%03lld", h, m, s, f);
    else snprintf(out, size, "%02lld:%02lld.%03lld", m, s, f);
}

/* "[00:00.000 --> 00:04.000]  text" ("[00:00.000 --> 00:04.000] [SPEAKER_00]  text" with --diarize) */
static void print_segment_line(const am_segment *s) {
    char a[32], e[32];
    format_time(s->start, a, sizeof a);
    format_time(s->end, e, sizeof e);
    if (s->speaker) printf("[%s --> %s] [%s] %s\n", a, e, s->speaker, s->text);
    else printf("[%s --> %s] %s\n", a, e, s->text);
}

/* Erase the progress line (call with b->mu held). */
static void progress_clear(batch *b) {
    if (b->progress_len == 0) return;
    fprintf(stderr, "\r%*s\r", b->progress_len, "");
    fflush(stderr);
    b->progress_len = 0;
}

/* One line on stderr (an error), the progress line out of its way. */
static void report_line(batch *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&b->mu);
    progress_clear(b);
    vfprintf(stderr, fmt, ap);
    fflush(stderr);
    pthread_mutex_unlock(&b->mu);
    va_end(ap);
}

/* am_params.on_segment with one job: segments are printed as they are final. */
static void print_segment_now(const am_segment *s, void *user) {
    batch *b = user;
    pthread_mutex_lock(&b->mu);
    if (b->stdout_tty) progress_clear(b);
    print_segment_line(s);
    fflush(stdout);
    pthread_mutex_unlock(&b->mu);
}

/* With several jobs a file's lines are printed together when it is done: segments, or with
 * --detect-language its languages. */
static void print_result(batch *b, const char *path, const am_result *res) {
    pthread_mutex_lock(&b->mu);
    if (b->stdout_tty) progress_clear(b);
    if (b->o->detect_only) {
        int nl = am_result_n_languages(res);
        if (nl == 0) printf("%s: language %s (the model is English-only)\n", path, am_result_language(res));
        for (int k = 0; k < nl && k < 5; k++)
            printf("%s: %s %.4f\n", path, am_result_language_code(res, k), am_result_language_prob(res, k));
    } else if (b->o->print_segments && (b->o->jobs > 1 || b->params->diarize)) {
        for (size_t i = 0; i < am_result_n_segments(res); i++) print_segment_line(am_result_segment(res, i));
    }
    fflush(stdout);
    pthread_mutex_unlock(&b->mu);
}

/* ---- progress ------------------------------------------------------------------------------------ */

/* "1:02:03" or "2:03" */
static void format_clock(double t, char *out, size_t size) {
    long long s = (long long)(t + 0.5);
    if (s >= 3600) snprintf(out, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(out, size, "%lld:%02lld", s / 60, s % 60);
}

/* The progress line: the file a job is on (k of n), its percent done, the run's speed so far and
 * the time left.  Files not started yet are assumed as long as the average file seen so far. */
static void progress_format(const batch *b, double now, char *line, size_t size) {
    const job_slot *js = &b->slots[b->progress_slot];
    double audio = b->audio_done, left = 0.0, seen = b->audio_done;
    int busy = 0;
    for (int i = 0; i < b->n_slots; i++) {
        const job_slot *s = &b->slots[i];
        if (!s->busy) continue;
        audio += s->fraction * s->duration;
        left += (1.0 - s->fraction) * s->duration;
        seen += s->duration;
        busy++;
    }
    int n_seen = b->n_done + busy, not_started = b->n_todo - b->n_finished - busy;
    if (not_started > 0 && n_seen > 0) left += not_started * (seen / n_seen);
    double elapsed = now - b->t0, speed = elapsed > 0 ? audio / elapsed : 0.0;
    char eta[32] = "--:--";
    if (speed > 0) format_clock(left / speed, eta, sizeof eta);
    size_t len = strlen(js->path);
    const char *name = len > 40 ? js->path + len - 37 : js->path; /* the end of a long path */
    while (name > js->path && ((unsigned char)*name & 0xC0) == 0x80) name++; /* at a UTF-8 character */
    snprintf(line, size, "file %d of %d: %s%s %3d%%  %.1fx real time  ETA %s", js->ordinal, b->n_todo,
             len > 40 ? "..." : "", name, (int)(js->fraction * 100.0), speed, eta);
}

/* Draw the progress line (b->mu held); at most every PROGRESS_INTERVAL unless forced. */
static void progress_draw(batch *b, int force) {
    if (!b->o->progress || !b->slots[b->progress_slot].busy) return;
    double now = am_now();
    if (!force && b->progress_len > 0 && now - b->progress_at < PROGRESS_INTERVAL) return;
    char line[256];
    progress_format(b, now, line, sizeof line);
    int len = (int)strlen(line);
    fprintf(stderr, "\r%s%*s", line, b->progress_len > len ? b->progress_len - len : 0, "");
    fflush(stderr);
    b->progress_len = len > b->progress_len ? len : b->progress_len;
    b->progress_at = now;
}

/* am_params.progress_callback */
static void on_progress(double fraction, void *user) {
    job_slot *s = user;
    batch *b = s->b;
    pthread_mutex_lock(&b->mu);
    s->fraction = fraction;
    b->progress_slot = (int)(s - b->slots);
    progress_draw(b, 0);
    pthread_mutex_unlock(&b->mu);
}

static void slot_begin(job_slot *s, int ordinal, const char *path, double duration) {
    batch *b = s->b;
    pthread_mutex_lock(&b->mu);
    s->busy = 1;
    s->ordinal = ordinal;
    s->path = path;
    s->duration = duration;
    s->fraction = 0.0;
    b->progress_slot = (int)(s - b->slots);
    progress_draw(b, 1);
    pthread_mutex_unlock(&b->mu);
}

/* The file of slot s is over: done (with its result's stats) or failed. */
static void slot_end(job_slot *s, const am_result *res, int ok, double read_seconds) {
    batch *b = s->b;
    pthread_mutex_lock(&b->mu);
    s->busy = 0;
    b->n_finished++;
    b->read_seconds += read_seconds;
    if (ok) {
        am_stats st;
        am_result_stats(res, &st);
        b->n_done++;
        b->audio_done += am_result_duration(res);
        b->sum.encode_calls += st.encode_calls;
        b->sum.decode_calls += st.decode_calls;
        b->sum.windows_encoded += st.windows_encoded;
        b->sum.rows_decoded += st.rows_decoded;
        b->sum.bytes_to_device += st.bytes_to_device;
        b->sum.bytes_from_device += st.bytes_from_device;
        b->sum.submissions += st.submissions;
        if (st.session_bytes > b->sum.session_bytes) b->sum.session_bytes = st.session_bytes;
        b->sum.mel_seconds += st.mel_seconds;
        b->sum.encode_seconds += st.encode_seconds;
        b->sum.decode_seconds += st.decode_seconds;
        b->sum.diarize_seconds += st.diarize_seconds;
    } else {
        b->n_failed++;
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- one file ---------------------------------------------------------------------------------- */

/* Write one output through <path>.part and a rename, so that an interrupted run never leaves a
 * partial file that --skip-existing would take as done. */
static int write_output(batch *b, const am_result *res, am_format format, const char *stem) {
    char path[8192], part[8200];
    cli_output_path(b->o->out_dir, stem, am_format_extension(format), path, sizeof path);
    snprintf(part, sizeof part, "%s.part", path);
    const char *slash = strrchr(stem, '/');
    if (slash) { /* a file found in a subfolder: mirror the subfolder */
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/%.*s", b->o->out_dir, (int)(slash - stem), stem);
        if (cli_make_dirs(dir) != 0) {
            report_line(b, "amanuensis: cannot create output directory '%s': %s\n", dir, strerror(errno));
            return -1;
        }
    }
    am_writer_options wo = {0};
    if (b->o->writer) wo = *b->o->writer;
    char file_id[1024]; /* rttm: the input's base name without its extension (the stem's last part) */
    snprintf(file_id, sizeof file_id, "%s", slash ? slash + 1 : stem);
    wo.file_id = file_id;
    errno = 0;
    FILE *fo = fopen(part, "wb");
    int rc = fo ? am_write_result_ex(res, format, &wo, fo) : AM_E_IO;
    if (fo && fclose(fo) != 0) rc = AM_E_IO;
    if (rc == AM_OK && rename(part, path) != 0) rc = AM_E_IO;
    if (rc != AM_OK) {
        int e = errno;
        if (fo) remove(part);
        report_line(b, "amanuensis: cannot write %s: %s\n", path, e ? strerror(e) : am_status_string(rc));
        return -1;
    }
    return 0;
}

/* --file-times: "time: SECONDS ok|failed PATH", the file's read to its last output written. */
static void report_time(batch *b, const char *path, double t0, int ok) {
    if (b->o->file_times) report_line(b, "time: %.3f %s %s\n", am_now() - t0, ok ? "ok" : "failed", path);
}

/* Read, transcribe, print and write the k-th file to transcribe on job s. */
static void transcribe_one(job_slot *s, int k) {
    batch *b = s->b;
    const cli_input *in = &b->in->v[b->todo[k]];
    char err[1024] = "";
    am_audio *audio = NULL;
    double t0 = am_now();
    if (am_audio_open(in->path, &audio, err, sizeof err) != AM_OK) {
        report_line(b, "amanuensis: %s\n", err); /* the reader's message starts with the path */
        report_time(b, in->path, t0, 0);
        slot_end(s, NULL, 0, am_now() - t0);
        return;
    }
    double read_seconds = am_now() - t0;
    slot_begin(s, k + 1, in->path, (double)am_audio_n_samples(audio) / AM_SAMPLE_RATE);
    am_params p = *b->params;
    if (b->o->jobs > 1) p.n_threads = s->n_threads;
    /* with --diarize segments get their speakers at the end: printed then (print_result) */
    p.on_segment =
        b->o->print_segments && b->o->jobs == 1 && !b->o->detect_only && !p.diarize ? print_segment_now : NULL;
    p.user_data = b;
    p.progress_callback = b->o->progress ? on_progress : NULL;
    p.progress_user_data = s;
    am_result *res = NULL;
    int rc = am_transcribe_audio(b->model, audio, &p, &res, err, sizeof err);
    am_audio_close(audio);
    if (rc != AM_OK) {
        report_line(b, "amanuensis: %s: %s\n", in->path, err);
        report_time(b, in->path, t0, 0);
        slot_end(s, NULL, 0, read_seconds);
        return;
    }
    print_result(b, in->path, res);
    int ok = 1;
    for (int f = 0; f < b->o->n_formats && !b->o->detect_only; f++)
        if (write_output(b, res, (am_format)b->o->formats[f], in->out_stem) != 0) ok = 0;
    report_time(b, in->path, t0, ok);
    slot_end(s, res, ok, read_seconds);
    am_result_free(res);
}

static void *job_main(void *arg) {
    job_slot *s = arg;
    batch *b = s->b;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        int k = b->next < b->n_todo ? b->next++ : -1;
        pthread_mutex_unlock(&b->mu);
        if (k < 0) return NULL;
        transcribe_one(s, k);
    }
}

/* ---- the run --------------------------------------------------------------------------------------- */

/* -t split between the jobs: every job at least one thread, the remainder to the first ones. */
static void share_threads(job_slot *slots, int n_slots, int n_threads) {
    int total = n_threads > 0 ? n_threads : am_cpu_count();
    for (int i = 0; i < n_slots; i++) {
        int t = total / n_slots + (i < total % n_slots);
        slots[i].n_threads = t > 0 ? t : 1;
    }
}

/* Run the jobs: the calling thread is the first, the others are started for the run. */
static void run_jobs(batch *b) {
    pthread_t *tids = calloc((size_t)b->n_slots, sizeof *tids);
    int started = 1;
    for (int i = 1; tids && i < b->n_slots; i++) {
        if (pthread_create(&tids[i], NULL, job_main, &b->slots[i]) != 0) break;
        started++;
    }
    job_main(&b->slots[0]);
    for (int i = 1; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);
}

static void print_summary(const batch *b, int n_skipped, int n_failed_before, double wall) {
    double hours = b->audio_done / 3600.0;
    fprintf(stderr, "summary: %d done, %d failed, %d skipped; %.4f audio hours; wall %.2f s; real-time factor %.4f",
            b->n_done, b->n_failed + n_failed_before, n_skipped, hours, wall,
            b->audio_done > 0 ? wall / b->audio_done : 0.0);
    if (b->audio_done > 0 && wall > 0) fprintf(stderr, " (%.1fx real time)", b->audio_done / wall);
    fputc('\n', stderr);
}

static void print_stats(const batch *b, double wall) {
    const am_stats *s = &b->sum;
    fprintf(stderr,
            "stats: load_seconds %.3f\n"
            "stats: read_seconds %.3f\n"
            "stats: mel_seconds %.3f\n"
            "stats: encode_seconds %.3f\n"
            "stats: decode_seconds %.3f\n"
            "stats: diarize_seconds %.3f\n"
            "stats: encode_calls %llu\n"
            "stats: decode_calls %llu\n"
            "stats: windows %llu\n"
            "stats: rows_decoded %llu\n"
            "stats: bytes_to_device %llu\n"
            "stats: bytes_from_device %llu\n"
            "stats: submissions %llu\n"
            "stats: session_bytes_max %llu\n"
            "stats: audio_seconds %.3f\n"
            "stats: wall_seconds %.3f\n"
            "stats: real_time_factor %.4f\n",
            b->o->load_seconds, b->read_seconds, s->mel_seconds, s->encode_seconds, s->decode_seconds,
            s->diarize_seconds, (unsigned long long)s->encode_calls, (unsigned long long)s->decode_calls,
            (unsigned long long)s->windows_encoded, (unsigned long long)s->rows_decoded,
            (unsigned long long)s->bytes_to_device, (unsigned long long)s->bytes_from_device,
            (unsigned long long)s->submissions,
            (unsigned long long)s->session_bytes, b->audio_done, wall,
            b->audio_done > 0 ? wall / b->audio_done : 0.0);
    if (b->o->jobs > 1)
        fprintf(stderr, "stats: (read, mel, encode and decode seconds are summed over %d jobs)\n", b->o->jobs);
}

int cli_run(const am_model *model, const am_params *params, const cli_input_list *inputs, const cli_run_options *o) {
    batch b;
    memset(&b, 0, sizeof b);
    b.model = model;
    b.params = params;
    b.o = o;
    b.in = inputs;
    b.stdout_tty = isatty(STDOUT_FILENO);
    int n_skipped = 0, n_failed_before = 0;
    b.todo = malloc((size_t)(inputs->n > 0 ? inputs->n : 1) * sizeof *b.todo);
    int n_slots = o->jobs > 1 ? o->jobs : 1;
    b.slots = calloc((size_t)n_slots, sizeof *b.slots);
    if (!b.todo || !b.slots) {
        free(b.todo);
        free(b.slots);
        fprintf(stderr, "amanuensis: out of memory\n");
        return 1;
    }
    pthread_mutex_init(&b.mu, NULL);
    for (int i = 0; i < inputs->n; i++) {
        const cli_input *in = &inputs->v[i];
        if (in->error) {
            report_line(&b, "amanuensis: %s\n", in->error);
            n_failed_before++;
        } else if (in->skip) {
            n_skipped++;
        } else {
            b.todo[b.n_todo++] = i;
        }
    }
    b.n_slots = b.n_todo < n_slots ? (b.n_todo > 0 ? b.n_todo : 1) : n_slots;
    for (int i = 0; i < b.n_slots; i++) b.slots[i].b = &b;
    share_threads(b.slots, b.n_slots, o->n_threads);
    b.t0 = am_now();
    if (b.n_todo > 0) run_jobs(&b);
    double wall = am_now() - b.t0;
    progress_clear(&b);
    if (o->summary) print_summary(&b, n_skipped, n_failed_before, wall);
    if (o->stats) print_stats(&b, wall);
    pthread_mutex_destroy(&b.mu);
    int failed = b.n_failed + n_failed_before;
    free(b.todo);
    free(b.slots);
    return failed > 0 ? 1 : 0;
}
