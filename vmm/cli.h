/* Command-line flags: turned into a vm_config plus process options. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "vm_early.h"

struct cli_options {
	struct vm_config *vm; /* the caller's, all zero (calloc's): filled in */
	bool boot_timer;      /* also time the kernel entry (one extra exit) */
	enum start_helper start_helper;
	bool help;
	bool version;
	bool seccomp_summary; /* --print-seccomp-summary */
	/* API and config-file front ends; the strings point into argv. */
	const char *api_sock;
	const char *config_file;
	const char *metrics_path;
	unsigned metrics_interval_s; /* periodic metrics flush; 0 = none */
	const char *id;
	bool no_api;
	uint64_t mem_max_mib;	  /* the host's cap on guest memory; also set in config.c */
	const char *metadata;	  /* --metadata FILE: the MMDS data store at start */
	uint64_t mmds_size_limit; /* --mmds-size-limit: bytes of the store's JSON */
	/* --prepare vcpus=N,mem=M: a warm VM shell for a snapshot load (warm.h). */
	bool prepare;
	unsigned prepare_vcpus;
	uint64_t prepare_mem_mib;
};

/* 0 on success; -1 with a one-line reason in err. opts->vm must point at an all-zero
 * configuration (calloc's): the parser touches only the pages it writes. */
int cli__parse(int argc, char **argv, struct cli_options *opts, char *err, size_t errlen);
/* Whether the command line builds a VM at start-up (a config file, or a kernel and no
 * API socket), told from the option names alone, before cli__parse: main() starts
 * making the VM on this guess (vm_early.h), and cli__parse's result settles it. */
bool cli__boots_at_start_guess(int argc, char **argv);
/* --start-helper's mode, read the same way (ON where it is absent or not a mode:
 * cli__parse then refuses the latter; an abbreviation getopt would take is not seen). */
enum start_helper cli__start_helper_guess(int argc, char **argv);
void cli__usage(void);
/* `ember --version`: the Firecracker API version first, in Firecracker's format
 * ("Firecracker vX.Y.Z", which Kata parses), then ember's own. */
void cli__print_version(void);

#endif
