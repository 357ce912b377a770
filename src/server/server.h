/* server.h — the OpenAI-compatible transcription server behind `amanuensis serve`. */
#ifndef AM_SERVER_SERVER_H
#define AM_SERVER_SERVER_H

#define SERVER_MAX_MODELS 8

typedef struct server_config {
    const char *host;               /* bind address (default 127.0.0.1)                        */
    int port;                       /* 0: any free port (printed on stderr)                   */
    const char *model_args[SERVER_MAX_MODELS];   /* -m values as given                          */
    int n_models;
    int workers;                    /* concurrent transcriptions                               */
    int queue;                      /* jobs that may wait for a worker                         */
    int threads;                    /* threads per transcription (0: cores / workers)          */
    const char *backend;            /* backend of every model (NULL: auto)                      */
    int device;                     /* device index within it                                   */
    long max_upload_mb;             /* request body limit                                      */
    double timeout;                 /* seconds from first byte to response                     */
    int idle_timeout;               /* seconds a connection may stay silent                    */
    int max_connections;
    int max_streams;                /* live streams at once (stream=true, /v1/realtime)         */
    const char *api_key;            /* NULL: no authentication                                 */
    int load_delay_ms;              /* testing: wait this long before loading models           */
} server_config;

/* Runs until SIGTERM/SIGINT (then drains and returns 0) or a fatal error (returns 1). */
int server_run(const server_config *cfg);

#endif
