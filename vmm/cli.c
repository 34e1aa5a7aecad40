#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "file.h"
#include "log.h"
#include "seccomp/seccomp.h"
#include "version.h"

void cli__print_version(void)
{
	printf("Firecracker v%s (the Firecracker API that ember implements)\n"
	       "ember %s\n",
	       EMBER_FIRECRACKER_API_VERSION, EMBER_VERSION);
}

/* Default cap on guest memory: the host's RAM. A bigger guest cannot be backed,
 * and KVM's per-page bookkeeping for the memory slot costs host memory at
 * InstanceStart, before the guest touches a page (about 2.5 GB for 1 TiB). */
static uint64_t host_mem_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || page <= 0)
		return CONFIG_MAX_MEM_MIB;
	uint64_t mib = (uint64_t)pages * (uint64_t)page >> 20;
	return mib < 1 ? 1 : mib > CONFIG_MAX_MEM_MIB ? CONFIG_MAX_MEM_MIB : mib;
}

void cli__usage(void)
{
	fputs(
	    "usage: ember --kernel PATH [options]\n"
	    "       ember --api-sock PATH [--config-file FILE] [options]\n"
	    "       ember --no-api --config-file FILE [options]\n"
	    "\n"
	    "Boot a Linux kernel (ELF vmlinux or bzImage) in a KVM microVM.\n"
	    "\n"
	    "  --api-sock PATH        serve the Firecracker-compatible REST API on a Unix socket\n"
	    "  --config-file FILE     configure (and start) the VM from a JSON file shaped like\n"
	    "                         GET /vm/config: boot-source, machine-config, drives, ...\n"
	    "  --no-api               no API socket; needs --config-file\n"
	    "  --id ID                instance id, reported by GET / and in metrics\n"
	    "  --metrics-path PATH    append JSON metrics to PATH (flushed by FlushMetrics, at "
	    "exit)\n"
	    "  --metrics-interval S   also flush them every S seconds (default 60, 0: never)\n"
	    "  --metadata FILE        JSON file that fills the MMDS data store at start\n"
	    "  --mmds-size-limit N    most bytes the MMDS data store's JSON may take (default "
	    "51200)\n"
	    "  --kernel PATH          kernel image (ELF vmlinux or bzImage)\n"
	    "  --initrd PATH          initial ramdisk\n"
	    "  --cmdline STR          kernel command line (default: \"" CONFIG_DEFAULT_CMDLINE
	    "\")\n"
	    "  --vcpus N              number of vCPUs, 1..32 (default 1)\n"
	    "  --mem-mib N            guest memory in MiB (default 128)\n"
	    "  --mem-max-mib N        refuse guests with more memory than N MiB, from any\n"
	    "                         front end (default: the host's RAM)\n"
	    "  --serial stdout|none|PATH        where the guest console goes (default stdout)\n"
	    "  --serial-input stdin|none|PATH   where console input comes from (default none)\n"
	    "  --drive path=FILE[,ro][,root][,id=ID]   virtio-blk disk (repeatable)\n"
	    "  --net tap=NAME[,mac=MAC][,id=ID][,mtu=N] virtio-net on a tap device (repeatable)\n"
	    "  --vsock cid=N,uds=PATH                  virtio-vsock, Firecracker's hybrid model\n"
	    "  --rng                  virtio-rng fed by getrandom()\n"
	    "  --prepare [vcpus=N,mem=M]  with --api-sock and no config file: while waiting\n"
	    "                         for requests, build a VM shell of N vCPUs and M MiB\n"
	    "                         (default 1 and 128) that a snapshot load of that shape\n"
	    "                         fills in (others, and a boot, drop it first)\n"
	    "  --boot-timer           also log the kernel entry time\n"
	    "  --no-pit               no i8254 PIT (faster exit; Linux needs kvmclock and the\n"
	    "                         TSC-deadline LAPIC timer, which KVM must offer)\n"
	    "  --cpuid-cache FILE     keep KVM's supported CPUID in FILE between runs (x86_64;\n"
	    "                         0.3-0.4 ms less per start where CPUID traps to a "
	    "hypervisor)\n"
	    "  --start-helper on|auto|off  make the VM on another CPU while the main thread\n"
	    "                         reads the configuration: a sooner first instruction for\n"
	    "                         more CPU time (default on; auto: when a CPU is idle)\n"
	    "  --level LEVEL          log level: error, warn, info, debug (default info)\n"
	    "  --log-path PATH        append logs to PATH instead of stderr\n"
	    "  --no-seccomp           run without the per-thread seccomp filters\n"
	    "  --seccomp-filter FILE  raw BPF (struct sock_filter records) for every thread\n"
	    "  --print-seccomp-summary  system calls allowed per thread, then exit\n"
	    "  --version, --help\n"
	    "\n"
	    "Exit codes: 0 guest rebooted or VM stopped, 1 runtime error, 2 bad usage or\n"
	    "configuration, 3 bad kernel or initrd image, 4 KVM unavailable, 5 guest fault,\n"
	    "6 stopped by a signal.\n",
	    stdout);
}

/* --prepare's "vcpus=N,mem=M", either part optional (NULL: both defaults). */
static int parse_prepare(const char *arg, struct cli_options *o, char *err, size_t errlen)
{
	o->prepare = true;
	o->prepare_vcpus = 1;
	o->prepare_mem_mib = 128;
	const char *all = arg;
	while (arg && *arg) {
		size_t n = strcspn(arg, ",");
		unsigned long long v;
		char num[32];
		const char *eq = memchr(arg, '=', n);
		size_t vlen = eq ? n - (size_t)(eq + 1 - arg) : 0;
		if (!eq || vlen == 0 || vlen >= sizeof(num))
			goto bad;
		memcpy(num, eq + 1, vlen);
		num[vlen] = 0;
		if (!strncmp(arg, "vcpus=", 6) && eq == arg + 5 &&
		    !config__parse_u64(num, CONFIG_MAX_VCPUS, &v) && v >= 1)
			o->prepare_vcpus = (unsigned)v;
		else if (!strncmp(arg, "mem=", 4) && eq == arg + 3 &&
			 !config__parse_u64(num, CONFIG_MAX_MEM_MIB, &v) && v >= 1)
			o->prepare_mem_mib = v;
		else
			goto bad;
		arg += n;
		if (*arg == ',' && !*++arg)
			goto bad; /* a trailing comma */
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "--prepare: '%s' is not vcpus=N,mem=M (N 1..%d vCPUs, M MiB of memory)", all,
		 CONFIG_MAX_VCPUS);
	return -1;
}

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_VCPUS,
	OPT_MEM,
	OPT_SERIAL,
	OPT_SERIAL_IN,
	OPT_DRIVE,
	OPT_NET,
	OPT_VSOCK,
	OPT_RNG,
	OPT_BOOT_TIMER,
	OPT_LEVEL,
	OPT_LOG_PATH,
	OPT_HELP,
	OPT_VERSION,
	OPT_NO_SECCOMP,
	OPT_SECCOMP_FILTER,
	OPT_SECCOMP_SUMMARY,
	OPT_API_SOCK,
	OPT_CONFIG_FILE,
	OPT_NO_API,
	OPT_ID,
	OPT_METRICS_PATH,
	OPT_METRICS_INTERVAL,
	OPT_NO_PIT,
	OPT_MEM_MAX,
	OPT_METADATA,
	OPT_MMDS_SIZE_LIMIT,
	OPT_PREPARE,
	OPT_CPUID_CACHE,
	OPT_START_HELPER,
};

/* --name or --name=VALUE. */
static bool names_option(const char *arg, const char *name)
{
	if (strncmp(arg, "--", 2))
		return false;
	size_t n = strlen(name);
	return !strncmp(arg + 2, name, n) && (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

bool cli__boots_at_start_guess(int argc, char **argv)
{
	bool api = false, config = false, kernel = false;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		api |= names_option(argv[i], "api-sock");
		config |= names_option(argv[i], "config-file");
		kernel |= names_option(argv[i], "kernel");
	}
	return config || (kernel && !api);
}

/* "auto", "on" or "off"; -1 for anything else. */
static int start_helper_mode(const char *name)
{
	static const char *const names[] = {
	    [START_HELPER_AUTO] = "auto", [START_HELPER_ON] = "on", [START_HELPER_OFF] = "off"};
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

enum start_helper cli__start_helper_guess(int argc, char **argv)
{
	int mode = START_HELPER_ON;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!names_option(argv[i], "start-helper"))
			continue;
		const char *eq = strchr(argv[i], '=');
		const char *v = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : "";
		mode = start_helper_mode(v);
		if (mode < 0)
			mode = START_HELPER_ON;
	}
	return (enum start_helper)mode;
}

static const struct option long_opts[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"vcpus", required_argument, NULL, OPT_VCPUS},
    {"mem-mib", required_argument, NULL, OPT_MEM},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"serial-input", required_argument, NULL, OPT_SERIAL_IN},
    {"drive", required_argument, NULL, OPT_DRIVE},
    {"net", required_argument, NULL, OPT_NET},
    {"vsock", required_argument, NULL, OPT_VSOCK},
    {"rng", no_argument, NULL, OPT_RNG},
    {"boot-timer", no_argument, NULL, OPT_BOOT_TIMER},
    {"no-pit", no_argument, NULL, OPT_NO_PIT},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"log-path", required_argument, NULL, OPT_LOG_PATH},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
    {"seccomp-filter", required_argument, NULL, OPT_SECCOMP_FILTER},
    {"print-seccomp-summary", no_argument, NULL, OPT_SECCOMP_SUMMARY},
    {"api-sock", required_argument, NULL, OPT_API_SOCK},
    {"config-file", required_argument, NULL, OPT_CONFIG_FILE},
    {"no-api", no_argument, NULL, OPT_NO_API},
    {"id", required_argument, NULL, OPT_ID},
    {"metrics-path", required_argument, NULL, OPT_METRICS_PATH},
    {"metrics-interval", required_argument, NULL, OPT_METRICS_INTERVAL},
    {"mem-max-mib", required_argument, NULL, OPT_MEM_MAX},
    {"metadata", required_argument, NULL, OPT_METADATA},
    {"mmds-size-limit", required_argument, NULL, OPT_MMDS_SIZE_LIMIT},
    {"prepare", optional_argument, NULL, OPT_PREPARE},
    {"cpuid-cache", required_argument, NULL, OPT_CPUID_CACHE},
    {"start-helper", required_argument, NULL, OPT_START_HELPER},
    {NULL, 0, NULL, 0},
};

int cli__parse(int argc, char **argv, struct cli_options *o, char *err, size_t errlen)
{
	config__init_zeroed(o->vm);
	o->metrics_interval_s = 60; /* as Firecracker */
	o->mem_max_mib = host_mem_mib();
	o->mmds_size_limit = 51200; /* Firecracker's: its API payload limit */
	struct vm_config *c = o->vm;
	unsigned long long n;
	const char *mem_too_big = NULL;
	int opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL:
			if (config__set_path(c->kernel_path, sizeof(c->kernel_path), "--kernel",
					     optarg, err, errlen))
				return -1;
			break;
		case OPT_INITRD:
			if (config__set_path(c->initrd_path, sizeof(c->initrd_path), "--initrd",
					     optarg, err, errlen))
				return -1;
			break;
		case OPT_CMDLINE:
			if (strlen(optarg) >= sizeof(c->cmdline)) {
				snprintf(err, errlen, "--cmdline: longer than %zu bytes",
					 sizeof(c->cmdline) - 1);
				return -1;
			}
			strcpy(c->cmdline, optarg);
			c->has_cmdline = true;
			break;
		case OPT_VCPUS:
			if (config__parse_u64(optarg, 1u << 20, &n)) {
				snprintf(err, errlen, "--vcpus: '%s' is not a number", optarg);
				return -1;
			}
			c->vcpus = (unsigned)n;
			break;
		case OPT_MEM:
			/* Any 64-bit number: validation says how it compares with the cap. */
			if (optarg[0] && strspn(optarg, "0123456789") == strlen(optarg) &&
			    config__parse_u64(optarg, UINT64_MAX, &n)) {
				/* Beyond 64 bits: refused once the cap is known. */
				mem_too_big = optarg;
				n = UINT64_MAX;
			} else if (config__parse_u64(optarg, UINT64_MAX, &n)) {
				snprintf(err, errlen, "--mem-mib: '%s' is not a number", optarg);
				return -1;
			}
			c->mem_mib = n;
			break;
		case OPT_SERIAL:
			if (strcmp(optarg, "stdout") == 0)
				c->serial_out = SERIAL_OUT_STDOUT;
			else if (strcmp(optarg, "none") == 0)
				c->serial_out = SERIAL_OUT_NONE;
			else {
				c->serial_out = SERIAL_OUT_FILE;
				if (config__set_path(c->serial_out_path, sizeof(c->serial_out_path),
						     "--serial", optarg, err, errlen))
					return -1;
			}
			break;
		case OPT_SERIAL_IN:
			if (strcmp(optarg, "stdin") == 0)
				c->serial_in = SERIAL_IN_STDIN;
			else if (strcmp(optarg, "none") == 0)
				c->serial_in = SERIAL_IN_NONE;
			else {
				c->serial_in = SERIAL_IN_FILE;
				if (config__set_path(c->serial_in_path, sizeof(c->serial_in_path),
						     "--serial-input", optarg, err, errlen))
					return -1;
			}
			break;
		case OPT_DRIVE:
			if (config__add_drive_spec(c, optarg, err, errlen))
				return -1;
			break;
		case OPT_NET:
			if (config__add_net_spec(c, optarg, err, errlen))
				return -1;
			break;
		case OPT_VSOCK:
			if (config__set_vsock_spec(c, optarg, err, errlen))
				return -1;
			break;
		case OPT_RNG:
			c->entropy = true;
			break;
		case OPT_BOOT_TIMER:
			o->boot_timer = true;
			break;
		case OPT_NO_PIT:
			c->no_pit = true;
			break;
		case OPT_LEVEL: {
			enum log_level lvl;
			if (log__level_from_name(optarg, &lvl)) {
				snprintf(err, errlen, "--level: '%s' is not a log level", optarg);
				return -1;
			}
			log__set_level(lvl);
			break;
		}
		case OPT_LOG_PATH:
			if (log__set_path(optarg)) {
				snprintf(err, errlen, "--log-path '%s': %s", optarg, file__error());
				return -1;
			}
			break;
		case OPT_HELP:
			o->help = true;
			return 0;
		case OPT_VERSION:
			o->version = true;
			return 0;
		case OPT_NO_SECCOMP:
			seccomp__disable();
			break;
		case OPT_SECCOMP_FILTER:
			if (seccomp__load_file(optarg, err, errlen))
				return -1;
			break;
		case OPT_CPUID_CACHE:
			if (arch__set_cpuid_cache(optarg, err, errlen))
				return -1;
			break;
		case OPT_START_HELPER: {
			int mode = start_helper_mode(optarg);
			if (mode < 0) {
				snprintf(err, errlen, "--start-helper: '%s' is not auto, on or off",
					 optarg);
				return -1;
			}
			o->start_helper = (enum start_helper)mode;
			break;
		}
		case OPT_SECCOMP_SUMMARY:
			o->seccomp_summary = true;
			break;
		case OPT_API_SOCK:
			if (!optarg[0]) {
				snprintf(err, errlen, "--api-sock: must not be empty");
				return -1;
			}
			o->api_sock = optarg;
			break;
		case OPT_CONFIG_FILE:
			o->config_file = optarg;
			break;
		case OPT_NO_API:
			o->no_api = true;
			break;
		case OPT_ID:
			if (config__check_id("--id", optarg, err, errlen))
				return -1;
			o->id = optarg;
			break;
		case OPT_METRICS_PATH:
			if (!optarg[0]) {
				snprintf(err, errlen, "--metrics-path: must not be empty");
				return -1;
			}
			o->metrics_path = optarg;
			break;
		case OPT_METRICS_INTERVAL:
			if (config__parse_u64(optarg, 86400, &n)) {
				snprintf(err, errlen,
					 "--metrics-interval: '%s' is not 0..86400 seconds",
					 optarg);
				return -1;
			}
			o->metrics_interval_s = (unsigned)n;
			break;
		case OPT_MEM_MAX:
			if (config__parse_u64(optarg, CONFIG_MAX_MEM_MIB, &n) || n < 1) {
				snprintf(err, errlen, "--mem-max-mib: '%s' is not 1..%u MiB",
					 optarg, CONFIG_MAX_MEM_MIB);
				return -1;
			}
			o->mem_max_mib = n;
			break;
		case OPT_METADATA:
			if (!optarg[0]) {
				snprintf(err, errlen, "--metadata: must not be empty");
				return -1;
			}
			o->metadata = optarg;
			break;
		case OPT_MMDS_SIZE_LIMIT:
			/* The store is held in memory: at most 64 MiB of JSON. */
			if (config__parse_u64(optarg, 64ull << 20, &n)) {
				snprintf(err, errlen,
					 "--mmds-size-limit: '%s' is not 0..67108864 bytes",
					 optarg);
				return -1;
			}
			o->mmds_size_limit = n;
			break;
		case OPT_PREPARE:
			/* "--prepare vcpus=1" as well as "--prepare=vcpus=1": the shape is
			 * the next word when it is not another flag. */
			if (!optarg && optind < argc && strchr(argv[optind], '=') &&
			    strncmp(argv[optind], "--", 2))
				optarg = argv[optind++];
			if (parse_prepare(optarg, o, err, errlen))
				return -1;
			break;
		case ':':
			snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
			return -1;
		default:
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	/* Every front end validates through config.c, which holds the cap. */
	config__set_mem_max_mib(o->mem_max_mib);
	if (mem_too_big) {
		config__mem_cap_error(mem_too_big, err, errlen);
		return -1;
	}
	if (o->no_api && !o->config_file) {
		snprintf(err, errlen, "--no-api needs --config-file");
		return -1;
	}
	if (o->prepare && (!o->api_sock || o->config_file)) {
		snprintf(err, errlen, "--prepare needs --api-sock and no --config-file");
		return -1;
	}
	if (o->no_api && o->api_sock) {
		snprintf(err, errlen, "--no-api and --api-sock exclude each other");
		return -1;
	}
	return 0;
}
