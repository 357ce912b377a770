/* serve.c — `amanuensis serve`: the OpenAI-compatible HTTP transcription server (src/server/). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: amanuensis serve -m MODEL [-m MODEL...] [options]\n"
            "\n"
            "OpenAI-compatible transcription server: POST /v1/audio/transcriptions and /v1/audio/translations,\n"
            "GET /v1/models, /health, /ready, /metrics, a web page at /, and live transcription: stream=true\n"
            "(server-sent events) and the WebSocket /v1/realtime?intent=transcription.\n"
            "\n"
            "  -m, --model PATH|NAME     model to load (repeatable; the first is also 'whisper-1')\n"
            "      --host ADDR           address to listen on (default 127.0.0.1)\n"
            "  -p, --port N              port (default 8000; 0 picks a free port, printed on stderr)\n"
            "      --workers N           transcriptions run at once (default 1)\n"
            "      --queue N             requests that may wait for a worker; more get 429 (default 16)\n"
            "  -t, --threads N           threads per transcription (default: cores / workers)\n"
            "      --backend NAME        where the models run: auto (default) or one `amanuensis info` lists\n"
            "      --device N            device index within the backend (default 0)\n"
            "      --max-upload-mb N     request body limit in MB; larger gets 413 (default 100)\n"
            "      --timeout S           seconds from request start to response; later gets 504 (default 300)\n"
            "      --idle-timeout S      seconds a connection may stay silent (default 30)\n"
            "      --max-connections N   simultaneous connections (default 256)\n"
            "      --max-streams N       live streams at once (stream=true, /v1/realtime); more get 429\n"
            "                            (default 8)\n"
            "      --api-key KEY         require 'Authorization: Bearer KEY' on /v1/ (default: none;\n"
            "                            also read from $AMANUENSIS_API_KEY)\n"
            "  -h, --help                this help\n");
}

static int serve_die(const char *msg, const char *arg) {
    fprintf(stderr, "amanuensis: serve: %s%s%s (see amanuensis serve --help)\n", msg, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_serve(int argc, char **argv) {
    enum { O_HOST = 256, O_WORKERS, O_QUEUE, O_MAXUP, O_TIMEOUT, O_IDLE, O_MAXCONN, O_KEY, O_DELAY, O_BACKEND, O_DEVICE, O_MAXSTREAMS };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},       {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, 'p'},        {"workers", required_argument, NULL, O_WORKERS},
        {"queue", required_argument, NULL, O_QUEUE},   {"threads", required_argument, NULL, 't'},
        {"max-upload-mb", required_argument, NULL, O_MAXUP},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"max-connections", required_argument, NULL, O_MAXCONN},
        {"max-streams", required_argument, NULL, O_MAXSTREAMS},
        {"api-key", required_argument, NULL, O_KEY},
        {"backend", required_argument, NULL, O_BACKEND}, {"device", required_argument, NULL, O_DEVICE},
        {"debug-load-delay-ms", required_argument, NULL, O_DELAY},   /* testing: slow model load */
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 8000;
    cfg.workers = 1;
    cfg.queue = 16;
    cfg.max_upload_mb = 100;
    cfg.timeout = 300;
    cfg.idle_timeout = 30;
    cfg.max_connections = 256;
    cfg.max_streams = 8;
    const char *env_key = getenv("AMANUENSIS_API_KEY");
    if (env_key && *env_key) cfg.api_key = env_key;

    optind = 1;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "m:p:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (cfg.n_models >= SERVER_MAX_MODELS) return serve_die("too many models (at most 8)", NULL);
            cfg.model_args[cfg.n_models++] = optarg;
            break;
        case O_HOST: cfg.host = optarg; break;
        case O_BACKEND: cfg.backend = optarg; break;
        case O_DEVICE:
            if (parse_int(optarg, 0, 1024, &v)) return serve_die("--device expects 0..1024", optarg);
            cfg.device = (int)v;
            break;
        case 'p':
            if (parse_int(optarg, 0, 65535, &v)) return serve_die("--port expects 0..65535", optarg);
            cfg.port = (int)v;
            break;
        case O_WORKERS:
            if (parse_int(optarg, 1, 256, &v)) return serve_die("--workers expects 1..256", optarg);
            cfg.workers = (int)v;
            break;
        case O_QUEUE:
            if (parse_int(optarg, 0, 100000, &v)) return serve_die("--queue expects 0..100000", optarg);
            cfg.queue = (int)v;
            break;
        case 't':
            if (parse_int(optarg, 1, 1024, &v)) return serve_die("--threads expects 1..1024", optarg);
            cfg.threads = (int)v;
            break;
        case O_MAXUP:
            if (parse_int(optarg, 1, 1L << 20, &v)) return serve_die("--max-upload-mb expects 1..1048576", optarg);
            cfg.max_upload_mb = v;
            break;
        case O_TIMEOUT:
            if (parse_int(optarg, 1, 86400, &v)) return serve_die("--timeout expects 1..86400 seconds", optarg);
            cfg.timeout = (double)v;
            break;
        case O_IDLE:
            if (parse_int(optarg, 1, 86400, &v)) return serve_die("--idle-timeout expects 1..86400 seconds", optarg);
            cfg.idle_timeout = (int)v;
            break;
        case O_MAXCONN:
            if (parse_int(optarg, 1, 100000, &v)) return serve_die("--max-connections expects 1..100000", optarg);
            cfg.max_connections = (int)v;
            break;
        case O_MAXSTREAMS:
            if (parse_int(optarg, 0, 10000, &v)) return serve_die("--max-streams expects 0..10000", optarg);
            cfg.max_streams = (int)v;
            break;
        case O_KEY:
            if (!*optarg) return serve_die("--api-key must not be empty", NULL);
            cfg.api_key = optarg;
            break;
        case O_DELAY:
            if (parse_int(optarg, 0, 600000, &v)) return serve_die("--debug-load-delay-ms expects 0..600000", optarg);
            cfg.load_delay_ms = (int)v;
            break;
        case 'h':
            serve_usage(stdout);
            return 0;
        default:
            return 2;
        }
    }
    if (optind < argc) return serve_die("unexpected argument", argv[optind]);
    if (cfg.n_models == 0) return serve_die("no model: give -m MODEL", NULL);
    return server_run(&cfg);
}
