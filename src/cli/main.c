/* main.c — the `amanuensis` command-line tool.
 *
 *   amanuensis transcribe -m MODEL [options] FILE...
 *   amanuensis info -m MODEL
 *
 * Errors: one line on stderr starting with "amanuensis: ", exit status 1; usage errors exit 2. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amanuensis.h"
#include "cli/cli.h"

#define MAX_FORMATS 8

static void usage(FILE *f) {
    fprintf(f,
            "usage: amanuensis transcribe -m MODEL [options] FILE...\n"
            "       amanuensis info -m MODEL\n"
            "\n"
            "  -m, --model PATH|NAME        model directory (CTranslate2), ggml .bin file, or a name looked up\n"
            "                               in $AMANUENSIS_MODELS then ./models\n"
            "  -t, --threads N              threads (default: all cores)\n"
            "  -l, --language CODE          spoken language (default: en; auto on multilingual models)\n"
            "      --task transcribe|translate\n"
            "      --temperature T          sampling temperature of the first attempt (default 0)\n"
            "      --no-fallback            decode once, no temperature fallback\n"
            "      --compression-ratio-threshold X (default 2.4)\n"
            "      --logprob-threshold X    (default -1.0)\n"
            "      --no-speech-threshold X  (default 0.6)\n"
            "      --max-initial-timestamp S (default 1.0)\n"
            "      --without-timestamps     do not predict timestamp tokens\n"
            "      --no-condition-on-previous-text\n"
            "  -o, --output-format F        txt, srt, vtt or json (repeatable, or 'all')\n"
            "      --output-dir DIR         where output files go (default .)\n"
            "  -q, --quiet                  do not print segments to stdout\n"
            "  -h, --help                   this help\n"
            "  -V, --version                print the version\n");
}

static int die_usage(const char *msg, const char *arg) {
    fprintf(stderr, "amanuensis: %s%s%s (see amanuensis --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static void format_time(double t, char *out, size_t size) {
    if (t < 0) t = 0;
    long long ms = (long long)(t * 1000.0 + 0.5);
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
    if (h > 0) snprintf(out, size, "%02lld:%02lld:%02lld.%03lld", h, m, s, f);
    else snprintf(out, size, "%02lld:%02lld.%03lld", m, s, f);
}

static void print_segment(const am_segment *s, void *user) {
    (void)user;
    char a[32], b[32];
    format_time(s->start, a, sizeof a);
    format_time(s->end, b, sizeof b);
    printf("[%s --> %s] %s\n", a, b, s->text);
    fflush(stdout);
}

static double parse_double(const char *s, const char *opt, int *bad) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "amanuensis: %s expects a number, got '%s' (see amanuensis --help)\n", opt, s);
        *bad = 1;
    }
    return v;
}

/* output path: DIR/<basename of input without extension>.<ext> */
static void output_path(const char *dir, const char *input, const char *ext, char *out, size_t size) {
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    const char *dot = strrchr(base, '.');
    int n = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(out, size, "%s/%.*s.%s", dir, n, base, ext);
}

enum {
    OPT_TASK = 256, OPT_TEMP, OPT_NO_FALLBACK, OPT_CR, OPT_LOGPROB, OPT_NOSPEECH, OPT_MAX_INIT, OPT_NO_TS,
    OPT_NO_COND, OPT_OUTDIR
};

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) { printf("amanuensis %s\n", AM_VERSION); return 0; }
    if (!strcmp(cmd, "serve")) return cli_serve(argc - 1, argv + 1);
    int is_info = !strcmp(cmd, "info");
    if (strcmp(cmd, "transcribe") != 0 && !is_info) return die_usage("unknown command", cmd);

    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"language", required_argument, 0, 'l'}, {"task", required_argument, 0, OPT_TASK},
        {"temperature", required_argument, 0, OPT_TEMP}, {"no-fallback", no_argument, 0, OPT_NO_FALLBACK},
        {"compression-ratio-threshold", required_argument, 0, OPT_CR},
        {"logprob-threshold", required_argument, 0, OPT_LOGPROB},
        {"no-speech-threshold", required_argument, 0, OPT_NOSPEECH},
        {"max-initial-timestamp", required_argument, 0, OPT_MAX_INIT},
        {"without-timestamps", no_argument, 0, OPT_NO_TS},
        {"no-condition-on-previous-text", no_argument, 0, OPT_NO_COND},
        {"output-format", required_argument, 0, 'o'}, {"output-dir", required_argument, 0, OPT_OUTDIR},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    am_params p = am_params_default();
    const char *model_arg = NULL, *out_dir = ".";
    int formats[MAX_FORMATS], n_formats = 0, quiet = 0, bad = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:l:o:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 't': {
            double v = parse_double(optarg, "--threads", &bad);
            if (bad) return 2;
            if (v < 0 || v > 1024 || v != (int)v) return die_usage("--threads must be a whole number 0..1024", optarg);
            p.n_threads = (int)v;
            break;
        }
        case 'l': p.language = optarg; break;
        case OPT_TASK:
            if (!strcmp(optarg, "transcribe")) p.translate = 0;
            else if (!strcmp(optarg, "translate")) p.translate = 1;
            else return die_usage("--task must be transcribe or translate", optarg);
            break;
        case OPT_TEMP:
            p.temperature = (float)parse_double(optarg, "--temperature", &bad);
            if (!bad && (p.temperature < 0 || p.temperature > 1)) return die_usage("--temperature must be in [0, 1]", optarg);
            break;
        case OPT_NO_FALLBACK: p.no_fallback = 1; break;
        case OPT_CR: p.compression_ratio_threshold = (float)parse_double(optarg, "--compression-ratio-threshold", &bad); break;
        case OPT_LOGPROB: p.logprob_threshold = (float)parse_double(optarg, "--logprob-threshold", &bad); break;
        case OPT_NOSPEECH: p.no_speech_threshold = (float)parse_double(optarg, "--no-speech-threshold", &bad); break;
        case OPT_MAX_INIT: p.max_initial_timestamp = (float)parse_double(optarg, "--max-initial-timestamp", &bad); break;
        case OPT_NO_TS: p.without_timestamps = 1; break;
        case OPT_NO_COND: p.condition_on_previous_text = 0; break;
        case 'o':
            if (!strcmp(optarg, "all")) {
                for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_JSON && n_formats < MAX_FORMATS; f++) formats[n_formats++] = f;
            } else {
                int f = am_format_from_name(optarg);
                if (f < 0) return die_usage("unknown output format", optarg);
                if (n_formats < MAX_FORMATS) formats[n_formats++] = f;
            }
            break;
        case OPT_OUTDIR: out_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("amanuensis %s\n", AM_VERSION); return 0;
        default: return 2; /* getopt printed the problem */
        }
        if (bad) return 2;
    }
    if (!model_arg) return die_usage("missing -m MODEL", NULL);
    if (!is_info && optind >= argc) return die_usage("no input files", NULL);

    char err[1024] = "", model_path[4096];
    if (am_model_resolve(model_arg, model_path, sizeof model_path, err, sizeof err) != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", err);
        return 1;
    }
    am_model *model = NULL;
    if (am_model_load(model_path, &model, err, sizeof err) != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", err);
        return 1;
    }
    if (is_info) {
        am_model_info mi;
        am_model_get_info(model, &mi);
        printf("format %s\nsize %s\nmultilingual %d\nn_vocab %d\nn_mels %d\nd_model %d\nheads %d\nencoder_layers %d\n"
               "decoder_layers %d\n",
               mi.format, mi.size_name, mi.multilingual, mi.n_vocab, mi.n_mels, mi.n_audio_state, mi.n_audio_head,
               mi.n_audio_layer, mi.n_text_layer);
        am_model_free(model);
        return 0;
    }
    if (n_formats > 0) {
        struct stat st;
        if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "amanuensis: output directory '%s' does not exist\n", out_dir);
            am_model_free(model);
            return 1;
        }
    }
    if (!quiet) p.on_segment = print_segment;

    int status = 0;
    for (int i = optind; i < argc; i++) {
        const char *path = argv[i];
        float *pcm = NULL;
        size_t n = 0;
        err[0] = 0;
        if (am_audio_read_file(path, &pcm, &n, err, sizeof err) != AM_OK) {
            fprintf(stderr, "amanuensis: %s\n", err);
            status = 1;
            continue;
        }
        am_result *res = NULL;
        int rc = am_transcribe(model, pcm, n, &p, &res, err, sizeof err);
        am_audio_free(pcm);
        if (rc != AM_OK) {
            fprintf(stderr, "amanuensis: %s: %s\n", path, err);
            status = 1;
            continue;
        }
        for (int f = 0; f < n_formats; f++) {
            char outp[4096];
            output_path(out_dir, path, am_format_extension((am_format)formats[f]), outp, sizeof outp);
            FILE *fo = fopen(outp, "wb");
            int wrc = fo ? am_write_result(res, (am_format)formats[f], fo) : AM_E_IO;
            if (fo && fclose(fo) != 0) wrc = AM_E_IO;
            if (wrc != AM_OK) {
                fprintf(stderr, "amanuensis: cannot write %s: %s\n", outp, strerror(errno));
                status = 1;
            }
        }
        am_result_free(res);
    }
    am_model_free(model);
    return status;
}
