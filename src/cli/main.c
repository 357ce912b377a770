/* main.c — the `amanuensis` command-line tool.
 *
 *   amanuensis transcribe -m MODEL [options] FILE|FOLDER...   (files: cli/inputs.c, the run: cli/batch.c)
 *   amanuensis info [-m MODEL] [--backend NAME]
 *   amanuensis stream -m MODEL [options] [FILE|-]                (live transcription: cli/stream.c)
 *
 * Errors: one line on stderr starting with "amanuensis: ", exit status 1; usage errors exit 2. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amanuensis.h"
#include "cli/cli.h"
#include "common/util.h"

#define MAX_FORMATS 8

static void usage(FILE *f) {
    fprintf(f,
            "usage: amanuensis transcribe -m MODEL [options] FILE|FOLDER...\n"
            "       amanuensis info [-m MODEL]   backends, devices (and the model)\n"
            "       amanuensis stream -m MODEL [options] [FILE|-]   live transcription (see stream --help)\n"
            "\n"
            "  -m, --model PATH|NAME        model directory (CTranslate2), ggml .bin file, or a name looked up\n"
            "                               in $AMANUENSIS_MODELS then ./models\n"
            "  -t, --threads N              threads (default: all cores)\n"
            "      --backend NAME           where the model runs: auto (default: a GPU when there is one,\n"
            "                               else the CPU) or a backend `amanuensis info` lists (cpu, vulkan)\n"
            "      --device N               device index within the backend (default 0)\n"
            "      --precision int8|f32|f16 linear layers in int8 (default; W8A8 on the CPU), float32, or\n"
            "                               half-precision storage (GPU backends; float32 on the CPU)\n"
            "      --frontend f32|q15       log-mel: float (default) or the integer Q15 kernel\n"
            "                               (default on a GPU backend, computed on the device)\n"
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
            "      --diarize                who spoke when: speakers on segments and words (SPEAKER_00, ...)\n"
            "      --diarize-model PATH     diarization weights (default: $AMANUENSIS_DIARIZE_MODEL, then\n"
            "                               models/diarization/diarization.bin next to the program, then\n"
            "                               ./models; scripts/fetch-model diarization)\n"
            "      --num-speakers N         exactly N speakers (default: estimated; turns --diarize on)\n"
            "      --min-speakers N --max-speakers N   bounds on the estimated count\n"
            "      --diarize-threshold X    cosine distance below which voices are one speaker, in (0, 2)\n"
            "                               (default 0.45; higher: fewer speakers estimated; turns --diarize on)\n"
            "  -o, --output-format F        txt, srt, vtt, tsv, json or rttm (repeatable, or 'all': all but\n"
            "                               rttm; rttm needs --diarize)\n"
            "      --max-line-width N       subtitles: characters per line (word timestamps)\n"
            "      --max-line-count N       subtitles: lines per cue (with --max-line-width)\n"
            "      --max-words-per-line N   subtitles: words per line (without --max-line-width)\n"
            "      --highlight-words        subtitles: underline each word as it is spoken\n"
            "                               (these four turn word timestamps on)\n"
            "      --output-dir DIR         where output files go (default .; created when missing); a file\n"
            "                               found in a FOLDER argument mirrors its path inside that folder\n"
            "      --skip-existing          skip files whose every -o output already exists (resume a run)\n"
            "      --jobs N                 transcribe N files at once on the one model, -t split between\n"
            "                               them (default 1)\n"
            "      --progress               progress line on stderr even when it is not a terminal\n"
            "      --stats                  timing breakdown and backend counters on stderr at the end\n"
            "      --file-times             a line per file on stderr when it is over: time: SECONDS ok|failed PATH\n"
            "  -q, --quiet                  do not print segments to stdout\n"
            "  -h, --help                   this help\n"
            "  -V, --version                print the version\n");
}

int cli_die_usage(const char *msg, const char *arg) {
    fprintf(stderr, "amanuensis: %s%s%s (see amanuensis --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

double cli_parse_double(const char *s, const char *opt, int *bad) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "amanuensis: %s expects a number, got '%s' (see amanuensis --help)\n", opt, s);
        *bad = 1;
    }
    return v;
}

enum {
    OPT_TASK = 256, OPT_TEMP, OPT_NO_FALLBACK, OPT_CR, OPT_LOGPROB, OPT_NOSPEECH, OPT_MAX_INIT, OPT_NO_TS,
    OPT_NO_COND, OPT_OUTDIR, OPT_MAX_LINE_WIDTH, OPT_MAX_LINE_COUNT, OPT_MAX_WORDS_PER_LINE, OPT_HIGHLIGHT_WORDS
};

/* a subtitle layout count: a whole number 1..100000 */
static int parse_layout_count(const char *s, const char *opt, int *out) {
    int bad = 0;
    double v = cli_parse_double(s, opt, &bad);
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

enum { /* many files */
    OPT_JOBS = 1280, OPT_SKIP_EXISTING, OPT_PROGRESS, OPT_STATS, OPT_FILE_TIMES
};

enum { /* voice activity detection options */
    OPT_VAD = 512, OPT_VAD_ENERGY, OPT_VAD_MODEL, OPT_VAD_THRESHOLD, OPT_VAD_MIN_SPEECH, OPT_VAD_MIN_SILENCE,
    OPT_VAD_PAD, OPT_VAD_MAX_SPEECH
};

enum { /* speaker diarization */
    OPT_DIARIZE = 1536, OPT_DIARIZE_MODEL, OPT_NUM_SPEAKERS, OPT_MIN_SPEAKERS, OPT_MAX_SPEAKERS,
    OPT_DIARIZE_THRESHOLD
};

/* Find the model file or folder named by -m; prints the error and returns -1 when there is none. */
static int resolve_model(const char *model_arg, char *path, size_t size) {
    char err[1024] = "";
    if (am_model_resolve(model_arg, path, size, err, sizeof err) == AM_OK) return 0;
    fprintf(stderr, "amanuensis: %s\n", err);
    return -1;
}

/* Resolve and load the model named by -m; prints the error and returns NULL when it cannot. */
am_model *cli_load_model(const char *model_arg, const am_load_options *load_opts) {
    char err[1024] = "", model_path[4096];
    am_model *model = NULL;
    if (resolve_model(model_arg, model_path, sizeof model_path) != 0) return NULL;
    if (am_model_load_ex(model_path, load_opts, &model, err, sizeof err) != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", err);
        return NULL;
    }
    if (am_model_backend_warning(model)[0]) fprintf(stderr, "amanuensis: warning: %s\n", am_model_backend_warning(model));
    return model;
}

/* `amanuensis info -m MODEL`: the model's shapes and where it runs. */
static int info_model(const char *model_arg, const am_load_options *load_opts) {
    am_model *model = cli_load_model(model_arg, load_opts);
    if (!model) return 1;
    am_model_info mi;
    am_model_get_info(model, &mi);
    printf("format %s\nsize %s\nmultilingual %d\nn_vocab %d\nn_mels %d\nd_model %d\nheads %d\nencoder_layers %d\n"
           "decoder_layers %d\nbackend %s\nprecision %s\nweight_bytes %llu\n",
           mi.format, mi.size_name, mi.multilingual, mi.n_vocab, mi.n_mels, mi.n_audio_state, mi.n_audio_head,
           mi.n_audio_layer, mi.n_text_layer, am_model_backend(model), am_model_precision(model),
           (unsigned long long)mi.weight_bytes);
    am_model_free(model);
    return 0;
}

/* The files and folders of the command line: expanded, checked for output name collisions and
 * (--skip-existing) finished outputs, then transcribed.  The model is found first but loaded only
 * when some file needs it, so a resumed run with nothing left does no work.  Returns the exit
 * status. */
static int transcribe_inputs(const char *model_arg, const am_load_options *load_opts, const am_params *params,
                             char **args, int n_args, int skip_existing, cli_run_options *ro) {
    am_params run_params = *params, *p = &run_params;
    char model_path[4096];
    if (resolve_model(model_arg, model_path, sizeof model_path) != 0) return 1;
    cli_input_list inputs;
    if (cli_inputs_collect(args, n_args, &inputs) != 0 ||
        (ro->n_formats > 0 && cli_inputs_mark_collisions(&inputs) != 0)) {
        fprintf(stderr, "amanuensis: out of memory\n");
        cli_inputs_free(&inputs);
        return 1;
    }
    if (inputs.n == 0) {
        fprintf(stderr, "amanuensis: no files found in the input folders\n");
        cli_inputs_free(&inputs);
        return 1;
    }
    if (skip_existing) cli_inputs_mark_existing(&inputs, ro->out_dir, ro->formats, ro->n_formats);
    int to_transcribe = 0;
    for (int i = 0; i < inputs.n; i++) to_transcribe += !inputs.v[i].error && !inputs.v[i].skip;
    ro->summary = inputs.n > 1 || inputs.from_folder || n_args > 1;
    const double t0 = am_now();
    am_model *model = NULL;
    if (to_transcribe > 0 && !(model = cli_load_model(model_path, load_opts))) {
        cli_inputs_free(&inputs);
        return 1;
    }
    ro->load_seconds = model ? am_now() - t0 : 0.0;
    int status = cli_run(model, p, &inputs, ro);
    cli_inputs_free(&inputs);
    am_model_free(model);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) { printf("amanuensis %s\n", am_version()); return 0; }
    if (!strcmp(cmd, "serve")) return cli_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "stream")) return cli_stream(argc - 1, argv + 1);
    int is_info = !strcmp(cmd, "info");
    if (strcmp(cmd, "transcribe") != 0 && !is_info) return cli_die_usage("unknown command", cmd);

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
        {"jobs", required_argument, 0, OPT_JOBS}, {"skip-existing", no_argument, 0, OPT_SKIP_EXISTING},
        {"progress", no_argument, 0, OPT_PROGRESS}, {"stats", no_argument, 0, OPT_STATS},
        {"file-times", no_argument, 0, OPT_FILE_TIMES},
        {"diarize", no_argument, 0, OPT_DIARIZE}, {"diarize-model", required_argument, 0, OPT_DIARIZE_MODEL},
        {"num-speakers", required_argument, 0, OPT_NUM_SPEAKERS},
        {"min-speakers", required_argument, 0, OPT_MIN_SPEAKERS},
        {"max-speakers", required_argument, 0, OPT_MAX_SPEAKERS},
        {"diarize-threshold", required_argument, 0, OPT_DIARIZE_THRESHOLD},
        {0, 0, 0, 0}};
    am_params p = am_params_default();
    am_load_options load_opts = am_load_options_default();
    const char *model_arg = NULL, *out_dir = ".";
    int formats[MAX_FORMATS], n_formats = 0, quiet = 0, bad = 0, detect_only = 0;
    int jobs = 1, skip_existing = 0, force_progress = 0, stats = 0, file_times = 0;
    am_writer_options wopts = {0, 0, 0, 0, NULL};
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:l:o:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 't': {
            double v = cli_parse_double(optarg, "--threads", &bad);
            if (bad) return 2;
            if (v < 0 || v > 1024 || v != (int)v) return cli_die_usage("--threads must be a whole number 0..1024", optarg);
            p.n_threads = (int)v;
            break;
        }
        case 'l': p.language = optarg; break;
        case OPT_TASK:
            if (!strcmp(optarg, "transcribe")) p.translate = 0;
            else if (!strcmp(optarg, "translate")) p.translate = 1;
            else return cli_die_usage("--task must be transcribe or translate", optarg);
            break;
        case OPT_TEMP:
            p.temperature = (float)cli_parse_double(optarg, "--temperature", &bad);
            if (!bad && (p.temperature < 0 || p.temperature > 1)) return cli_die_usage("--temperature must be in [0, 1]", optarg);
            break;
        case OPT_NO_FALLBACK: p.no_fallback = 1; break;
        case OPT_CR: p.compression_ratio_threshold = (float)cli_parse_double(optarg, "--compression-ratio-threshold", &bad); break;
        case OPT_LOGPROB: p.logprob_threshold = (float)cli_parse_double(optarg, "--logprob-threshold", &bad); break;
        case OPT_NOSPEECH: p.no_speech_threshold = (float)cli_parse_double(optarg, "--no-speech-threshold", &bad); break;
        case OPT_MAX_INIT: p.max_initial_timestamp = (float)cli_parse_double(optarg, "--max-initial-timestamp", &bad); break;
        case OPT_NO_TS: p.without_timestamps = 1; break;
        case OPT_NO_COND: p.condition_on_previous_text = 0; break;
        case 'o':
            if (!strcmp(optarg, "all")) {
                for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_TSV && n_formats < MAX_FORMATS; f++) formats[n_formats++] = f;
            } else {
                int f = am_format_from_name(optarg);
                if (f < 0) return cli_die_usage("unknown output format", optarg);
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
            double v = cli_parse_double(optarg, "--vad-chunk-gap-ms", &bad);
            if (bad) return 2;
            if (v != (int)v || v < -1 || v > 3600000) return cli_die_usage("--vad-chunk-gap-ms must be -1 or a whole number of ms", optarg);
            p.vad_chunk_gap_ms = (int)v;
            break;
        }
        case OPT_BATCH: {
            double v = cli_parse_double(optarg, "--batch-size", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 1 || v > 64) return cli_die_usage("--batch-size must be a whole number 1..64", optarg);
            p.batch_size = (int)v;
            break;
        }
        case OPT_BEAM:
        case OPT_BEST_OF:
        case OPT_MAX_CONTEXT: {
            double v = cli_parse_double(optarg, c == OPT_BEAM ? "--beam-size" : c == OPT_BEST_OF ? "--best-of" : "--max-context", &bad);
            if (bad) return 2;
            if (v != (int)v || v < (c == OPT_MAX_CONTEXT ? 0 : 1) || v > (c == OPT_MAX_CONTEXT ? 223 : 64))
                return cli_die_usage(c == OPT_MAX_CONTEXT ? "--max-context must be a whole number 0..223"
                                                      : "--beam-size and --best-of must be whole numbers 1..64", optarg);
            if (c == OPT_BEAM) p.beam_size = (int)v;
            else if (c == OPT_BEST_OF) p.best_of = (int)v;
            else p.max_context = (int)v;
            break;
        }
        case OPT_PATIENCE: p.patience = (float)cli_parse_double(optarg, "--patience", &bad); break;
        case OPT_LENGTH_PENALTY: p.length_penalty = (float)cli_parse_double(optarg, "--length-penalty", &bad); break;
        case OPT_TEMP_INC: p.temperature_increment = (float)cli_parse_double(optarg, "--temperature-increment-on-fallback", &bad); break;
        case OPT_SEED: p.seed = (uint64_t)cli_parse_double(optarg, "--seed", &bad); break;
        case OPT_PROMPT: p.initial_prompt = optarg; break;
        case OPT_PREFIX: p.prefix = optarg; break;
        case OPT_SUPPRESS: p.suppress_tokens = optarg; break;
        case OPT_NO_SUPPRESS_BLANK: p.suppress_blank = 0; break;
        case OPT_WORD_TS: p.word_timestamps = 1; break;
        case OPT_PREPEND: p.prepend_punctuations = optarg; break;
        case OPT_APPEND: p.append_punctuations = optarg; break;
        case OPT_HALLU: p.hallucination_silence_threshold = (float)cli_parse_double(optarg, "--hallucination-silence-threshold", &bad); break;
        case OPT_DETECT_LANG: detect_only = 1; p.detect_language_only = 1; break;
        case OPT_DIARIZE: p.diarize = 1; break;
        case OPT_DIARIZE_MODEL: p.diarize_model = optarg; p.diarize = 1; break;
        case OPT_NUM_SPEAKERS:
        case OPT_MIN_SPEAKERS:
        case OPT_MAX_SPEAKERS: {
            const char *name = c == OPT_NUM_SPEAKERS ? "--num-speakers" : c == OPT_MIN_SPEAKERS ? "--min-speakers"
                                                                                                : "--max-speakers";
            double v = cli_parse_double(optarg, name, &bad);
            if (bad) return 2;
            if (v != (int)v || v < 1 || v > 64) return cli_die_usage("--*-speakers take a whole number 1..64", optarg);
            if (c == OPT_NUM_SPEAKERS) p.num_speakers = (int)v;
            else if (c == OPT_MIN_SPEAKERS) p.min_speakers = (int)v;
            else p.max_speakers = (int)v;
            p.diarize = 1;
            break;
        }
        case OPT_DIARIZE_THRESHOLD:
            p.diarize_threshold = (float)cli_parse_double(optarg, "--diarize-threshold", &bad);
            if (bad) return 2;
            if (!(p.diarize_threshold > 0.0f && p.diarize_threshold < 2.0f))
                return cli_die_usage("--diarize-threshold takes a number between 0 and 2 (exclusive)", optarg);
            p.diarize = 1;
            break;
        case OPT_VAD: if (p.vad != 2) p.vad = 1; break;
        case OPT_VAD_ENERGY: p.vad = 2; break;
        case OPT_VAD_MODEL: p.vad_model = optarg; if (p.vad != 2) p.vad = 1; break;
        case OPT_VAD_THRESHOLD:
            p.vad_threshold = (float)cli_parse_double(optarg, "--vad-threshold", &bad);
            if (!bad && !(p.vad_threshold > 0 && p.vad_threshold < 1)) return cli_die_usage("--vad-threshold must be in (0, 1)", optarg);
            break;
        case OPT_VAD_MIN_SPEECH:
        case OPT_VAD_MIN_SILENCE:
        case OPT_VAD_PAD: {
            double v = cli_parse_double(optarg, "a --vad-*-ms option", &bad);
            if (bad) return 2;
            if (v < 0 || v > 3600000 || v != (int)v) return cli_die_usage("--vad-*-ms options take whole milliseconds >= 0", optarg);
            if (c == OPT_VAD_MIN_SPEECH) p.vad_min_speech_ms = (int)v;
            else if (c == OPT_VAD_MIN_SILENCE) p.vad_min_silence_ms = (int)v;
            else p.vad_speech_pad_ms = (int)v;
            break;
        }
        case OPT_VAD_MAX_SPEECH:
            p.vad_max_speech_s = (float)cli_parse_double(optarg, "--vad-max-speech-s", &bad);
            if (!bad && p.vad_max_speech_s > 0 && p.vad_max_speech_s < 1) return cli_die_usage("--vad-max-speech-s must be >= 1 (or <= 0: no limit)", optarg);
            break;
        case 'q': quiet = 1; break;
        case OPT_PRECISION:
            if (!strcmp(optarg, "int8")) load_opts.precision = AM_PRECISION_INT8;
            else if (!strcmp(optarg, "f32")) load_opts.precision = AM_PRECISION_F32;
            else if (!strcmp(optarg, "f16")) load_opts.precision = AM_PRECISION_F16;
            else return cli_die_usage("--precision must be int8, f32 or f16", optarg);
            break;
        case OPT_BACKEND: load_opts.backend = optarg; break;
        case OPT_DEVICE: {
            double v = cli_parse_double(optarg, "--device", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 0 || v > 1024) return cli_die_usage("--device must be a whole number 0..1024", optarg);
            load_opts.device = (int)v;
            break;
        }
        case OPT_FRONTEND:
            if (!strcmp(optarg, "q15")) p.frontend = AM_FRONTEND_Q15;
            else if (!strcmp(optarg, "f32")) p.frontend = AM_FRONTEND_F32;
            else return cli_die_usage("--frontend must be q15 or f32", optarg);
            break;
        case OPT_JOBS: {
            double v = cli_parse_double(optarg, "--jobs", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 1 || v > 256) return cli_die_usage("--jobs must be a whole number 1..256", optarg);
            jobs = (int)v;
            break;
        }
        case OPT_SKIP_EXISTING: skip_existing = 1; break;
        case OPT_PROGRESS: force_progress = 1; break;
        case OPT_STATS: stats = 1; break;
        case OPT_FILE_TIMES: file_times = 1; break;
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
    if (!model_arg) return cli_die_usage("missing -m MODEL", NULL);
    if (is_info) return info_model(model_arg, &load_opts);
    if (optind >= argc) return cli_die_usage("no input files", NULL);
    if (skip_existing && (n_formats == 0 || detect_only)) return cli_die_usage("--skip-existing needs -o FORMAT", NULL);
    for (int f = 0; f < n_formats; f++)
        if (formats[f] == AM_FORMAT_RTTM && !p.diarize) return cli_die_usage("-o rttm needs --diarize", NULL);
    if (p.min_speakers && p.max_speakers && p.min_speakers > p.max_speakers)
        return cli_die_usage("--min-speakers is above --max-speakers", NULL);

    if (!detect_only && n_formats > 0 && cli_make_dirs(out_dir) != 0) {
        fprintf(stderr, "amanuensis: cannot create output directory '%s': %s\n", out_dir, strerror(errno));
        return 1;
    }
    cli_run_options ro = {out_dir, formats, detect_only ? 0 : n_formats, &wopts, !quiet, detect_only, jobs,
                          p.n_threads, force_progress || isatty(STDERR_FILENO), 0, stats, 0.0, file_times};
    return transcribe_inputs(model_arg, &load_opts, &p, argv + optind, argc - optind, skip_existing,
                             &ro);
}
