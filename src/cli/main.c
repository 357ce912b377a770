/* main.c — the `amanuensis` command-line tool.
 *
 *   amanuensis transcribe -m MODEL [options] FILE...
 *   amanuensis info [-m MODEL] [--backend NAME]
 *
 * Errors: one line on stderr starting with "amanuensis: ", exit status 1; usage errors exit 2. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
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
            "       amanuensis info [-m MODEL]   backends, devices (and the model)\n"
            "\n"
            "  -m, --model PATH|NAME        model directory (CTranslate2), ggml .bin file, or a name looked up\n"
            "                               in $AMANUENSIS_MODELS then ./models\n"
            "  -t, --threads N              threads (default: all cores)\n"
            "      --backend NAME           where the model runs: auto (default: a GPU when there is one,\n"
            "                               else the CPU) or a backend `amanuensis info` lists (cpu)\n"
            "      --device N               device index within the backend (default 0)\n"
            "      --precision int8|f32     linear layers in int8 (W8A8, default) or float32\n"
            "      --frontend q15|f32       log-mel: integer Q15 kernel (default) or float reference\n"
            "  -l, --language CODE          spoken language (default: en; auto on multilingual models)\n"
            "      --task transcribe|translate\n"
            "      --temperature T          sampling temperature of the first attempt (default 0)\n"
            "      --no-fallback            decode once, no temperature fallback\n"
            "      --compression-ratio-threshold X (default 2.4)\n"
            "      --logprob-threshold X    (default -1.0)\n"
            "      --no-speech-threshold X  (default 0.6)\n"
            "      --max-initial-timestamp S (default 1.0)\n"
            "      --beam-size N            beam search width at temperature 0 (default 5; 1 = greedy)\n"
            "      --best-of N              candidates sampled at temperature > 0 (default 5)\n"
            "      --patience X             beam search patience (default 1.0)\n"
            "      --length-penalty X       rank hypotheses by logprob / length^X (default 1.0)\n"
            "      --temperature-increment-on-fallback X (default 0.2)\n"
            "      --seed N                 sampling seed\n"
            "      --prompt TEXT            initial prompt (vocabulary, spelling, style)\n"
            "      --prefix TEXT            forced start of the first window's text\n"
            "      --suppress-tokens LIST   comma-separated token ids; -1 = non-speech symbols (default -1)\n"
            "      --no-suppress-blank      allow a blank first token\n"
            "      --max-context N          previous-text tokens in the prompt (default 223)\n"
            "      --word-timestamps        word-level times (cross-attention + DTW)\n"
            "      --prepend-punctuations S --append-punctuations S   punctuation merged into words\n"
            "      --hallucination-silence-threshold S  skip silence before likely hallucinations\n"
            "                               (needs --word-timestamps; off by default)\n"
            "      --detect-language        print language probabilities and stop (multilingual models)\n"
            "      --batch-size N           with --vad: chunks encoded and decoded together (default 1)\n"
            "      --vad-chunk-gap-ms MS    speech further apart starts a new chunk (default 1000;\n"
            "                               -1 packs speech into 30 s chunks as faster-whisper)\n"
            "      --without-timestamps     do not predict timestamp tokens\n"
            "      --no-condition-on-previous-text\n"
            "      --vad                    voice activity detection (Silero): skip non-speech, cut at pauses\n"
            "      --vad-energy             voice activity detection with the energy detector\n"
            "      --vad-model PATH         Silero VAD ggml file (default: $AMANUENSIS_VAD_MODEL, then\n"
            "                               data/silero-vad-v6.2.0-ggml.bin next to the program, then ./data)\n"
            "      --vad-threshold P        speech probability threshold (default 0.5)\n"
            "      --vad-min-speech-ms MS   drop shorter speech (default 0)\n"
            "      --vad-min-silence-ms MS  silence that ends speech (default 2000)\n"
            "      --vad-speech-pad-ms MS   padding around speech (default 400)\n"
            "      --vad-max-speech-s S     cut longer speech at a pause (default 30)\n"
            "  -o, --output-format F        txt, srt, vtt, tsv or json (repeatable, or 'all')\n"
            "      --max-line-width N       subtitles: characters per line (word timestamps)\n"
            "      --max-line-count N       subtitles: lines per cue (with --max-line-width)\n"
            "      --max-words-per-line N   subtitles: words per line (without --max-line-width)\n"
            "      --highlight-words        subtitles: underline each word as it is spoken\n"
            "                               (these four turn word timestamps on)\n"
            "      --output-dir DIR         where output files go (default .; created when missing)\n"
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

/* mkdir -p: create `dir` and any missing parent, as openai-whisper's os.makedirs(exist_ok=True).
 * Returns 0 when `dir` is a directory afterwards, else -1 with errno set. */
static int make_dirs(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0) { errno = ENOENT; return -1; }
    if (n >= sizeof path) { errno = ENAMETOOLONG; return -1; }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if ((path[i] != '/' && path[i] != '\0') || path[i - 1] == '/') continue;
        char c = path[i];
        path[i] = '\0'; /* path[0..i) is one more component */
        int rc = mkdir(path, 0777);
        path[i] = c;
        if (rc != 0 && errno != EEXIST) return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
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
    OPT_NO_COND, OPT_OUTDIR, OPT_MAX_LINE_WIDTH, OPT_MAX_LINE_COUNT, OPT_MAX_WORDS_PER_LINE, OPT_HIGHLIGHT_WORDS
};

/* a subtitle layout count: a whole number 1..100000 */
static int parse_layout_count(const char *s, const char *opt, int *out) {
    int bad = 0;
    double v = parse_double(s, opt, &bad);
    if (bad) return 2;
    if (v < 1 || v > 100000 || v != (int)v) {
        fprintf(stderr, "amanuensis: %s must be a whole number 1..100000, got '%s' (see amanuensis --help)\n", opt, s);
        return 2;
    }
    *out = (int)v;
    return 0;
}

enum { /* search, prompts and word timestamps */
    OPT_BEAM = 768, OPT_BEST_OF, OPT_PATIENCE, OPT_LENGTH_PENALTY, OPT_TEMP_INC, OPT_SEED, OPT_PROMPT, OPT_PREFIX,
    OPT_SUPPRESS, OPT_NO_SUPPRESS_BLANK, OPT_MAX_CONTEXT, OPT_WORD_TS, OPT_PREPEND, OPT_APPEND, OPT_HALLU,
    OPT_DETECT_LANG, OPT_BATCH, OPT_VAD_GAP
};

enum { /* numeric formats */
    OPT_PRECISION = 1024, OPT_FRONTEND, OPT_BACKEND, OPT_DEVICE
};

enum { /* voice activity detection options */
    OPT_VAD = 512, OPT_VAD_ENERGY, OPT_VAD_MODEL, OPT_VAD_THRESHOLD, OPT_VAD_MIN_SPEECH, OPT_VAD_MIN_SILENCE,
    OPT_VAD_PAD, OPT_VAD_MAX_SPEECH
};

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) { printf("amanuensis %s\n", am_version()); return 0; }
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
        {"max-line-width", required_argument, 0, OPT_MAX_LINE_WIDTH},
        {"max-line-count", required_argument, 0, OPT_MAX_LINE_COUNT},
        {"max-words-per-line", required_argument, 0, OPT_MAX_WORDS_PER_LINE},
        {"highlight-words", no_argument, 0, OPT_HIGHLIGHT_WORDS},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},
        {"beam-size", required_argument, 0, OPT_BEAM}, {"best-of", required_argument, 0, OPT_BEST_OF},
        {"patience", required_argument, 0, OPT_PATIENCE}, {"length-penalty", required_argument, 0, OPT_LENGTH_PENALTY},
        {"temperature-increment-on-fallback", required_argument, 0, OPT_TEMP_INC},
        {"seed", required_argument, 0, OPT_SEED},
        {"prompt", required_argument, 0, OPT_PROMPT}, {"initial-prompt", required_argument, 0, OPT_PROMPT},
        {"prefix", required_argument, 0, OPT_PREFIX}, {"suppress-tokens", required_argument, 0, OPT_SUPPRESS},
        {"no-suppress-blank", no_argument, 0, OPT_NO_SUPPRESS_BLANK},
        {"max-context", required_argument, 0, OPT_MAX_CONTEXT},
        {"word-timestamps", no_argument, 0, OPT_WORD_TS},
        {"prepend-punctuations", required_argument, 0, OPT_PREPEND},
        {"append-punctuations", required_argument, 0, OPT_APPEND},
        {"hallucination-silence-threshold", required_argument, 0, OPT_HALLU},
        {"detect-language", no_argument, 0, OPT_DETECT_LANG},
        {"batch-size", required_argument, 0, OPT_BATCH},
        {"vad-chunk-gap-ms", required_argument, 0, OPT_VAD_GAP},
        {"vad", no_argument, 0, OPT_VAD}, {"vad-energy", no_argument, 0, OPT_VAD_ENERGY},
        {"vad-model", required_argument, 0, OPT_VAD_MODEL}, {"vad-threshold", required_argument, 0, OPT_VAD_THRESHOLD},
        {"vad-min-speech-ms", required_argument, 0, OPT_VAD_MIN_SPEECH},
        {"vad-min-silence-ms", required_argument, 0, OPT_VAD_MIN_SILENCE},
        {"vad-speech-pad-ms", required_argument, 0, OPT_VAD_PAD},
        {"vad-max-speech-s", required_argument, 0, OPT_VAD_MAX_SPEECH},
        {"precision", required_argument, 0, OPT_PRECISION}, {"frontend", required_argument, 0, OPT_FRONTEND},
        {"backend", required_argument, 0, OPT_BACKEND}, {"device", required_argument, 0, OPT_DEVICE},
        {0, 0, 0, 0}};
    am_params p = am_params_default();
    am_load_options load_opts = am_load_options_default();
    const char *model_arg = NULL, *out_dir = ".";
    int formats[MAX_FORMATS], n_formats = 0, quiet = 0, bad = 0, detect_only = 0;
    am_writer_options wopts = {0, 0, 0, 0};
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
                for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_TSV && n_formats < MAX_FORMATS; f++) formats[n_formats++] = f;
            } else {
                int f = am_format_from_name(optarg);
                if (f < 0) return die_usage("unknown output format", optarg);
                if (n_formats < MAX_FORMATS) formats[n_formats++] = f;
            }
            break;
        case OPT_OUTDIR: out_dir = optarg; break;
        case OPT_MAX_LINE_WIDTH:
            if (parse_layout_count(optarg, "--max-line-width", &wopts.max_line_width)) return 2;
            p.word_timestamps = 1;
            break;
        case OPT_MAX_LINE_COUNT:
            if (parse_layout_count(optarg, "--max-line-count", &wopts.max_line_count)) return 2;
            p.word_timestamps = 1;
            break;
        case OPT_MAX_WORDS_PER_LINE:
            if (parse_layout_count(optarg, "--max-words-per-line", &wopts.max_words_per_line)) return 2;
            p.word_timestamps = 1;
            break;
        case OPT_HIGHLIGHT_WORDS: wopts.highlight_words = 1; p.word_timestamps = 1; break;
        case OPT_VAD_GAP: {
            double v = parse_double(optarg, "--vad-chunk-gap-ms", &bad);
            if (bad) return 2;
            if (v != (int)v || v < -1 || v > 3600000) return die_usage("--vad-chunk-gap-ms must be -1 or a whole number of ms", optarg);
            p.vad_chunk_gap_ms = (int)v;
            break;
        }
        case OPT_BATCH: {
            double v = parse_double(optarg, "--batch-size", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 1 || v > 64) return die_usage("--batch-size must be a whole number 1..64", optarg);
            p.batch_size = (int)v;
            break;
        }
        case OPT_BEAM:
        case OPT_BEST_OF:
        case OPT_MAX_CONTEXT: {
            double v = parse_double(optarg, c == OPT_BEAM ? "--beam-size" : c == OPT_BEST_OF ? "--best-of" : "--max-context", &bad);
            if (bad) return 2;
            if (v != (int)v || v < (c == OPT_MAX_CONTEXT ? 0 : 1) || v > (c == OPT_MAX_CONTEXT ? 223 : 64))
                return die_usage(c == OPT_MAX_CONTEXT ? "--max-context must be a whole number 0..223"
                                                      : "--beam-size and --best-of must be whole numbers 1..64", optarg);
            if (c == OPT_BEAM) p.beam_size = (int)v;
            else if (c == OPT_BEST_OF) p.best_of = (int)v;
            else p.max_context = (int)v;
            break;
        }
        case OPT_PATIENCE: p.patience = (float)parse_double(optarg, "--patience", &bad); break;
        case OPT_LENGTH_PENALTY: p.length_penalty = (float)parse_double(optarg, "--length-penalty", &bad); break;
        case OPT_TEMP_INC: p.temperature_increment = (float)parse_double(optarg, "--temperature-increment-on-fallback", &bad); break;
        case OPT_SEED: p.seed = (uint64_t)parse_double(optarg, "--seed", &bad); break;
        case OPT_PROMPT: p.initial_prompt = optarg; break;
        case OPT_PREFIX: p.prefix = optarg; break;
        case OPT_SUPPRESS: p.suppress_tokens = optarg; break;
        case OPT_NO_SUPPRESS_BLANK: p.suppress_blank = 0; break;
        case OPT_WORD_TS: p.word_timestamps = 1; break;
        case OPT_PREPEND: p.prepend_punctuations = optarg; break;
        case OPT_APPEND: p.append_punctuations = optarg; break;
        case OPT_HALLU: p.hallucination_silence_threshold = (float)parse_double(optarg, "--hallucination-silence-threshold", &bad); break;
        case OPT_DETECT_LANG: detect_only = 1; p.detect_language_only = 1; break;
        case OPT_VAD: if (p.vad != 2) p.vad = 1; break;
        case OPT_VAD_ENERGY: p.vad = 2; break;
        case OPT_VAD_MODEL: p.vad_model = optarg; if (p.vad != 2) p.vad = 1; break;
        case OPT_VAD_THRESHOLD:
            p.vad_threshold = (float)parse_double(optarg, "--vad-threshold", &bad);
            if (!bad && !(p.vad_threshold > 0 && p.vad_threshold < 1)) return die_usage("--vad-threshold must be in (0, 1)", optarg);
            break;
        case OPT_VAD_MIN_SPEECH:
        case OPT_VAD_MIN_SILENCE:
        case OPT_VAD_PAD: {
            double v = parse_double(optarg, "a --vad-*-ms option", &bad);
            if (bad) return 2;
            if (v < 0 || v > 3600000 || v != (int)v) return die_usage("--vad-*-ms options take whole milliseconds >= 0", optarg);
            if (c == OPT_VAD_MIN_SPEECH) p.vad_min_speech_ms = (int)v;
            else if (c == OPT_VAD_MIN_SILENCE) p.vad_min_silence_ms = (int)v;
            else p.vad_speech_pad_ms = (int)v;
            break;
        }
        case OPT_VAD_MAX_SPEECH:
            p.vad_max_speech_s = (float)parse_double(optarg, "--vad-max-speech-s", &bad);
            if (!bad && p.vad_max_speech_s > 0 && p.vad_max_speech_s < 1) return die_usage("--vad-max-speech-s must be >= 1 (or <= 0: no limit)", optarg);
            break;
        case 'q': quiet = 1; break;
        case OPT_PRECISION:
            if (!strcmp(optarg, "int8")) load_opts.precision = AM_PRECISION_INT8;
            else if (!strcmp(optarg, "f32")) load_opts.precision = AM_PRECISION_F32;
            else return die_usage("--precision must be f32 or int8", optarg);
            break;
        case OPT_BACKEND: load_opts.backend = optarg; break;
        case OPT_DEVICE: {
            double v = parse_double(optarg, "--device", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 0 || v > 1024) return die_usage("--device must be a whole number 0..1024", optarg);
            load_opts.device = (int)v;
            break;
        }
        case OPT_FRONTEND:
            if (!strcmp(optarg, "q15")) p.frontend = AM_FRONTEND_Q15;
            else if (!strcmp(optarg, "f32")) p.frontend = AM_FRONTEND_F32;
            else return die_usage("--frontend must be q15 or f32", optarg);
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("amanuensis %s\n", am_version()); return 0;
        default: return 2; /* getopt printed the problem */
        }
        if (bad) return 2;
    }
    if (is_info) {
        printf("backends:\n");
        for (int b = 0; b < am_backend_count(); b++) {
            const char *name = am_backend_name(b);
            int nd = am_backend_device_count(name);
            printf("  %s: %d device%s\n", name, nd, nd == 1 ? "" : "s");
            for (int d = 0; d < nd; d++) {
                char desc[256];
                if (am_backend_device_describe(name, d, desc, sizeof desc) == AM_OK) printf("    %d: %s\n", d, desc);
            }
        }
        if (!model_arg) return 0;
    }
    if (!model_arg) return die_usage("missing -m MODEL", NULL);
    if (!is_info && optind >= argc) return die_usage("no input files", NULL);

    if (!is_info && !detect_only && n_formats > 0 && make_dirs(out_dir) != 0) {
        fprintf(stderr, "amanuensis: cannot create output directory '%s': %s\n", out_dir, strerror(errno));
        return 1;
    }

    char err[1024] = "", model_path[4096];
    if (am_model_resolve(model_arg, model_path, sizeof model_path, err, sizeof err) != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", err);
        return 1;
    }
    am_model *model = NULL;
    if (am_model_load_ex(model_path, &load_opts, &model, err, sizeof err) != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", err);
        return 1;
    }
    if (is_info) {
        am_model_info mi;
        am_model_get_info(model, &mi);
        printf("format %s\nsize %s\nmultilingual %d\nn_vocab %d\nn_mels %d\nd_model %d\nheads %d\nencoder_layers %d\n"
               "decoder_layers %d\nbackend %s\nprecision %s\n",
               mi.format, mi.size_name, mi.multilingual, mi.n_vocab, mi.n_mels, mi.n_audio_state, mi.n_audio_head,
               mi.n_audio_layer, mi.n_text_layer, am_model_backend(model), am_model_precision(model));
        am_model_free(model);
        return 0;
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
        if (detect_only) {
            int nl = am_result_n_languages(res);
            if (nl == 0) printf("%s: language %s (the model is English-only)\n", path, am_result_language(res));
            for (int k = 0; k < nl && k < 5; k++)
                printf("%s: %s %.4f\n", path, am_result_language_code(res, k), am_result_language_prob(res, k));
            am_result_free(res);
            continue;
        }
        for (int f = 0; f < n_formats; f++) {
            char outp[4096];
            output_path(out_dir, path, am_format_extension((am_format)formats[f]), outp, sizeof outp);
            FILE *fo = fopen(outp, "wb");
            int wrc = fo ? am_write_result_ex(res, (am_format)formats[f], &wopts, fo) : AM_E_IO;
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
