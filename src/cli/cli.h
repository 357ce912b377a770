/* cli.h — subcommands of the amanuensis tool that live in their own files. */
#ifndef AM_CLI_H
#define AM_CLI_H

#include "amanuensis.h"

/* `amanuensis serve ...`: argv[0] is "serve". Returns the process exit status. */
int cli_serve(int argc, char **argv);

/* `amanuensis stream ...`: argv[0] is "stream" (stream.c).  Returns the process exit status. */
int cli_stream(int argc, char **argv);

/* Shared by the subcommands (main.c).  A usage error "amanuensis: MSG[: ARG] (see amanuensis --help)"
 * on stderr; returns 2. */
int cli_die_usage(const char *msg, const char *arg);
/* A number option's value; on a bad one prints the error and sets *bad. */
double cli_parse_double(const char *s, const char *opt, int *bad);
/* Resolve and load the model named by -m (printing a backend warning); prints the error and returns
 * NULL when it cannot. */
am_model *cli_load_model(const char *model_arg, const am_load_options *load_opts);

/* mkdir -p: create `dir` and any missing parent.  Returns 0 when `dir` is a directory afterwards,
 * else -1 with errno set. */
int cli_make_dirs(const char *dir);

/* ---- inputs (inputs.c) ------------------------------------------------------------------------ */

/* One file to transcribe. */
typedef struct cli_input {
    char *path;      /* as given, or <folder>/<path inside it> for files found in a folder          */
    char *out_stem;  /* output name without extension, relative to --output-dir                    */
    char *error;     /* set when the file fails before it is read (its one-line message)          */
    int skip;        /* --skip-existing: every requested output already exists                    */
} cli_input;

typedef struct cli_input_list {
    cli_input *v;
    int n, cap;
    int from_folder; /* a folder was among the arguments */
} cli_input_list;

/* Expand the command line's inputs: a folder is walked recursively (entries sorted by name, hidden
 * ones skipped, regular files and links to them kept); anything else is taken as a file ("-" is
 * stdin).  Returns 0, or -1 when out of memory. */
int cli_inputs_collect(char **args, int n_args, cli_input_list *list);
/* Give an error to every input whose output name an earlier input already has. */
int cli_inputs_mark_collisions(cli_input_list *list);
/* --skip-existing: mark the inputs whose every output <dir>/<stem>.<ext> exists. */
void cli_inputs_mark_existing(cli_input_list *list, const char *out_dir, const int *formats, int n_formats);
/* <dir>/<stem>.<ext> into out. */
void cli_output_path(const char *dir, const char *stem, const char *ext, char *out, size_t size);
void cli_inputs_free(cli_input_list *list);

/* ---- the run (batch.c) ------------------------------------------------------------------------ */

typedef struct cli_run_options {
    const char *out_dir;
    const int *formats;
    int n_formats;
    const am_writer_options *writer;
    int print_segments;   /* segments on stdout (not -q)                                          */
    int detect_only;      /* --detect-language: print the languages instead                      */
    int jobs;             /* files transcribed at once (threads sharing the model)               */
    int n_threads;        /* -t: threads in all (0: every core), split between the jobs          */
    int progress;         /* draw the progress line on stderr                                    */
    int summary;          /* print the summary line (a run over several files or a folder)       */
    int stats;            /* --stats: the timing breakdown                                       */
    double load_seconds;  /* model load, for --stats                                             */
    int file_times;       /* --file-times: one "time:" line per file on stderr when it is over     */
} cli_run_options;

/* Transcribe every input on the one loaded model; each failure is reported as one line and the run
 * goes on.  Returns the exit status: 1 when any input failed, else 0. */
int cli_run(const am_model *model, const am_params *params, const cli_input_list *inputs, const cli_run_options *o);

#endif
