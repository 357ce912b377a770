/* cli.h — subcommands of the amanuensis tool that live in their own files. */
#ifndef AM_CLI_H
#define AM_CLI_H

/* `amanuensis serve ...`: argv[0] is "serve". Returns the process exit status. */
int cli_serve(int argc, char **argv);

#endif
