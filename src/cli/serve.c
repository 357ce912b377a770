/* serve.c — `amanuensis serve`: placeholder until the HTTP server lands (issue: OpenAI-compatible server). */
#include <stdio.h>

#include "cli/cli.h"

int cli_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "amanuensis: serve: this build has no HTTP server yet\n");
    return 1;
}
