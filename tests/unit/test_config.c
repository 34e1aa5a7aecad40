/* The shared config model and the CLI front end. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "cli.h"
#include "config.h"

static struct cli_options opts;
static struct vm_config parsed_vm; /* what opts.vm points at */
static char err[512];

/* "ember" and up to four arguments (the first NULL ends them) into argv: argc. */
static int make_argv(char **argv, const char *a1, const char *a2, const char *a3, const char *a4)
{
	int argc = 0;
	argv[argc++] = "ember";
	const char *args[] = {a1, a2, a3, a4};
	for (int i = 0; i < 4 && args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	return argc;
}

static int parse(const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[8];
	int argc = make_argv(argv, a1, a2, a3, a4);
	err[0] = 0;
	memset(&opts, 0, sizeof(opts));
	memset(&parsed_vm, 0, sizeof(parsed_vm));
	opts.vm = &parsed_vm;
	return cli__parse(argc, argv, &opts, err, sizeof(err));
}

static int parse_and_validate(const char *a1, const char *a2, const char *a3, const char *a4)
{
	if (parse(a1, a2, a3, a4))
		return -1;
	return config__validate(opts.vm, err, sizeof(err));
}

static void cli_valid(void)
{
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vcpus", "4"), 0);
	CHECK_STR(opts.vm->kernel_path, "/k");
	CHECK_EQ(opts.vm->vcpus, 4);
	CHECK_EQ(opts.vm->mem_mib, 128);
	CHECK_STR(config__cmdline(opts.vm), CONFIG_DEFAULT_CMDLINE);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--cmdline", "console=ttyS0"), 0);
	CHECK_STR(config__cmdline(opts.vm), "console=ttyS0");
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--serial", "none"), 0);
	CHECK_EQ(opts.vm->serial_out, SERIAL_OUT_NONE);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--serial", "/tmp/out"), 0);
	CHECK_EQ(opts.vm->serial_out, SERIAL_OUT_FILE);
	CHECK_EQ(parse("--help", NULL, NULL, NULL), 0);
	CHECK(opts.help);
}

static void cli_rejects(void)
{
	CHECK_EQ(parse_and_validate("--vcpus", "2", NULL, NULL), -1);
	CHECK(strstr(err, "kernel") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vcpus", "0"), -1);
	CHECK(strstr(err, "vcpu_count") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vcpus", "33"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vcpus", "-1"), -1);
	CHECK(strstr(err, "--vcpus") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vcpus", "2x"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vcpus", "99999999999999999999999"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--mem-mib", "0"), -1);
	CHECK(strstr(err, "mem_size_mib") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--mem-mib", "2000000000"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "", NULL, NULL), -1);
	CHECK(strstr(err, "empty") != NULL);
	CHECK_EQ(parse("--bogus", NULL, NULL, NULL), -1);
	CHECK(strstr(err, "--bogus") != NULL);
	CHECK_EQ(parse("--kernel", NULL, NULL, NULL), -1);
	CHECK_EQ(parse("--kernel", "/k", "stray", NULL), -1);
	CHECK(strstr(err, "stray") != NULL);
	static char longline[3000];
	memset(longline, 'a', sizeof(longline) - 1);
	CHECK_EQ(parse("--kernel", "/k", "--cmdline", longline), -1);
}

/* --prepare [vcpus=N,mem=M]: either part, both, neither (1 and 128), as the next word
 * or after '='; only with --api-sock and no config file. */
static void cli_prepare(void)
{
	CHECK_EQ(parse("--api-sock", "/s", NULL, NULL), 0);
	CHECK(!opts.prepare);
	CHECK_EQ(parse("--api-sock", "/s", "--prepare", "vcpus=2,mem=64"), 0);
	CHECK(opts.prepare);
	CHECK_EQ(opts.prepare_vcpus, 2);
	CHECK_EQ(opts.prepare_mem_mib, 64);
	CHECK_EQ(parse("--prepare", "--api-sock", "/s", NULL), 0);
	CHECK(opts.prepare);
	CHECK_EQ(opts.prepare_vcpus, 1);
	CHECK_EQ(opts.prepare_mem_mib, 128);
	CHECK_EQ(parse("--api-sock", "/s", "--prepare=mem=256", NULL), 0);
	CHECK_EQ(opts.prepare_vcpus, 1);
	CHECK_EQ(opts.prepare_mem_mib, 256);
	CHECK_EQ(parse("--prepare", "vcpus=32", "--api-sock", "/s"), 0);
	CHECK_EQ(opts.prepare_vcpus, 32);
	static const char *const bad[] = {"vcpus=0",  "vcpus=33",    "mem=0",
					  "vcpus=",   "vcpus=1,",    "cpus=1",
					  "vcpus=1x", "mem=1,vcpus", "vcpusx=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(parse("--api-sock", "/s", "--prepare", bad[i]), -1);
		CHECK(strstr(err, "--prepare") != NULL);
	}
	CHECK_EQ(parse("--prepare", "vcpus=1", NULL, NULL), -1);
	CHECK(strstr(err, "--api-sock") != NULL);
	CHECK_EQ(parse("--api-sock", "/s", "--config-file", "/c"), 0);
	CHECK_EQ(parse("--prepare", "--api-sock", "/s", "--config-file"), -1);
}

static void device_specs(void)
{
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--drive", "path=/d.img,ro,root,id=rootfs"),
		 0);
	CHECK_EQ(opts.vm->nr_drives, 1);
	CHECK_STR(opts.vm->drives[0].path, "/d.img");
	CHECK_STR(opts.vm->drives[0].id, "rootfs");
	CHECK(opts.vm->drives[0].read_only && opts.vm->drives[0].is_root_device);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--drive", "ro"), -1);
	CHECK(strstr(err, "path=") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--drive", "path=/d,colour=red"), -1);
	CHECK(strstr(err, "colour") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--drive", "path=/d,id=bad id"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--net", "tap=tap0,mac=02:00:00:00:00:01"),
		 0);
	CHECK_EQ(opts.vm->nets[0].guest_mac[5], 1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--net", "tap=tap0,mac=02:00:00:00:00"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--net", "tap=tap0,mac=02:00:00:00:00:0g"),
		 -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--net", "tap=a-very-long-tap-name-0"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=3,uds=/tmp/v.sock"), 0);
	CHECK_EQ(opts.vm->vsock.guest_cid, 3);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=2,uds=/tmp/v.sock"), -1);
	CHECK(strstr(err, "guest_cid") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=x,uds=/v"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=3"), -1);
}

static void validate_duplicates(void)
{
	struct vm_config c;
	config__init(&c);
	strcpy(c.kernel_path, "/k");
	CHECK_EQ(config__add_drive_spec(&c, "path=/a,id=x,root", err, sizeof(err)), 0);
	CHECK_EQ(config__add_drive_spec(&c, "path=/b,id=x", err, sizeof(err)), 0);
	CHECK_EQ(config__validate(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "used twice") != NULL);
	strcpy(c.drives[1].id, "y");
	c.drives[1].is_root_device = true;
	CHECK_EQ(config__validate(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "root device") != NULL);
	c.drives[1].is_root_device = false;
	CHECK_EQ(config__validate(&c, err, sizeof(err)), 0);
	CHECK_EQ(config__add_net_spec(&c, "tap=t0", err, sizeof(err)), 0);
	CHECK_EQ(config__add_net_spec(&c, "tap=t0", err, sizeof(err)), 0);
	CHECK_EQ(config__validate(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "host_dev_name") != NULL);
	c.smt = true;
	c.nr_nets = 0;
	c.vcpus = 3;
	CHECK_EQ(config__validate(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "smt") != NULL);
	for (unsigned i = c.nr_drives; i < CONFIG_MAX_DRIVES; i++)
		CHECK_EQ(config__add_drive_spec(&c, "path=/z", err, sizeof(err)), 0);
	CHECK_EQ(config__add_drive_spec(&c, "path=/z", err, sizeof(err)), -1);
}

/* The pre-boot rules: everything but the kernel, and the configuration is not touched. */
static void validate_pending(void)
{
	struct vm_config c, before;
	config__init(&c);
	before = c;
	CHECK_EQ(config__validate(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "kernel_image_path") != NULL);
	CHECK_EQ(config__validate_pending(&c, err, sizeof(err)), 0);
	CHECK(memcmp(&c, &before, sizeof(c)) == 0);
	c.vcpus = 0;
	CHECK_EQ(config__validate_pending(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "vcpu_count") != NULL);
	c.vcpus = 1;
	CHECK_EQ(config__add_drive_spec(&c, "path=/a,id=x", err, sizeof(err)), 0);
	CHECK_EQ(config__add_drive_spec(&c, "path=/b,id=x", err, sizeof(err)), 0);
	CHECK_EQ(config__validate_pending(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "used twice") != NULL);
	CHECK(c.kernel_path[0] == '\0');
}

/* Numbers from the command line: plain decimal only. */
static void parse_u64_strict(void)
{
	unsigned long long v = 7;
	CHECK_EQ(config__parse_u64("42", 100, &v), 0);
	CHECK_EQ(v, 42);
	CHECK_EQ(config__parse_u64("100", 100, &v), 0);
	CHECK_EQ(config__parse_u64("101", 100, &v), -1);
	CHECK_EQ(config__parse_u64("-1", ~0ull, &v), -1);
	CHECK_EQ(config__parse_u64(" 1", 100, &v), -1);
	CHECK_EQ(config__parse_u64("+1", 100, &v), -1);
	CHECK_EQ(config__parse_u64("1x", 100, &v), -1);
	CHECK_EQ(config__parse_u64("", 100, &v), -1);
	CHECK_EQ(config__parse_u64("18446744073709551616", ~0ull, &v), -1);
	CHECK_EQ(v, 100);
	/* --vsock cid= goes through it: strtoul wrapped these around to 3. */
	CHECK_EQ(
	    parse_and_validate("--kernel", "/k", "--vsock", "cid=-18446744073709551613,uds=/v"),
	    -1);
	CHECK(strstr(err, "cid") != NULL);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid= 3,uds=/v"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=+3,uds=/v"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=4294967296,uds=/v"), -1);
	CHECK_EQ(parse_and_validate("--kernel", "/k", "--vsock", "cid=3,uds=/v"), 0);
}

static void root_device(void)
{
	struct drive_config d = {.read_only = false};
	char out[128];
	CHECK_EQ(config__root_args(&d, out, sizeof(out)), 0);
	CHECK_STR(out, "root=/dev/vda rw");
	d.read_only = true;
	CHECK_EQ(config__root_args(&d, out, sizeof(out)), 0);
	CHECK_STR(out, "root=/dev/vda ro");
	strcpy(d.partuuid, "0eaa91a0-01");
	CHECK_EQ(config__root_args(&d, out, sizeof(out)), 0);
	CHECK_STR(out, "root=PARTUUID=0eaa91a0-01 ro");
	CHECK_EQ(config__root_args(&d, out, 10), -1);

	/* --drive ...,root: the root drive moves to the front, the others keep their order. */
	CHECK_EQ(parse("--kernel", "/k", "--drive", "path=/a,id=a"), 0);
	CHECK_EQ(config__add_drive_spec(opts.vm, "path=/b,id=b", err, sizeof(err)), 0);
	CHECK_EQ(config__add_drive_spec(opts.vm, "path=/r,id=r,root,ro", err, sizeof(err)), 0);
	config__root_first(opts.vm);
	CHECK_STR(opts.vm->drives[0].id, "r");
	CHECK(opts.vm->drives[0].is_root_device && opts.vm->drives[0].read_only);
	CHECK_STR(opts.vm->drives[1].id, "a");
	CHECK_STR(opts.vm->drives[2].id, "b");
	config__root_first(opts.vm);
	CHECK_STR(opts.vm->drives[0].id, "r");
	CHECK_STR(opts.vm->drives[1].id, "a");

	/* A partuuid goes on the command line as one word. */
	strcpy(opts.vm->drives[0].partuuid, "ab cd");
	CHECK_EQ(config__validate(opts.vm, err, sizeof(err)), -1);
	CHECK(strstr(err, "partuuid") != NULL);
	strcpy(opts.vm->drives[0].partuuid, "abcd-01");
	CHECK_EQ(config__validate(opts.vm, err, sizeof(err)), 0);
}

/* Resident kB of the mapping that starts at p (/proc/self/smaps), or -1. */
static long rss_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	long kb = -1;
	int in = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = lo == (unsigned long)p;
		else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

/* config__assign and config__zero give memcpy's and memset's bytes, at any alignment,
 * and leave the pages that already held them untouched: copying a mostly-zero 256 KiB
 * configuration makes two pages resident, not 64. */
static void assign_touches_only_differences(void)
{
	const size_t n = 256 * 1024;
	uint8_t *src = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *dst = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(src != MAP_FAILED && dst != MAP_FAILED);
	/* Its own flags, so that the kernel merges no neighbour into dst's mapping. */
	CHECK_EQ(madvise(dst, n, MADV_DONTFORK), 0);
	src[10] = 1;
	src[40 * 4096 + 5] = 2;
	config__assign(dst, src, n);
	CHECK(memcmp(dst, src, n) == 0);
	CHECK_EQ(rss_kb(dst), 8);
	/* Unaligned, with differences spanning page edges, and back to zero. */
	uint8_t *a = malloc(20000), *b = malloc(20000);
	for (int i = 0; i < 20000; i++)
		a[i] = (uint8_t)(i * 7), b[i] = (uint8_t)(i % 3 ? i : 0);
	config__assign(a + 3, b + 1, 19990);
	CHECK(memcmp(a + 3, b + 1, 19990) == 0);
	CHECK_EQ(a[0], 0);
	CHECK_EQ(a[1], 7);
	config__zero(a + 1, 19998);
	CHECK(a[0] == 0 && a[19999] == (uint8_t)(19999 * 7));
	for (int i = 1; i < 19999; i++)
		if (a[i])
			CHECK(!"config__zero left a byte");
	config__zero(dst, n);
	CHECK(dst[10] == 0 && dst[40 * 4096 + 5] == 0);
	CHECK_EQ(rss_kb(dst), 8);
	free(a);
	free(b);
	munmap(src, n);
	munmap(dst, n);
}

/* main() starts making the VM on this guess before parsing (vm_early.h): for the
 * usual shapes it must agree with what the parse decides. */
static bool guess(const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[8];
	return cli__boots_at_start_guess(make_argv(argv, a1, a2, a3, a4), argv);
}

static void cli_boot_guess(void)
{
	CHECK(guess("--kernel", "/k", NULL, NULL));
	CHECK(guess("--kernel=/k", "--no-pit", NULL, NULL));
	CHECK(guess("--no-api", "--config-file", "/c.json", NULL));
	CHECK(guess("--api-sock", "/s", "--config-file=/c.json", NULL));
	CHECK(!guess("--api-sock", "/s", "--kernel", "/k"));
	CHECK(!guess("--api-sock=/s", NULL, NULL, NULL));
	CHECK(!guess("--help", NULL, NULL, NULL));
	CHECK(!guess("--version", NULL, NULL, NULL));
	CHECK(!guess("--kernels", "/k", NULL, NULL));
	/* After "--" nothing is an option. */
	CHECK(!guess("--", "--kernel", "/k", NULL));
}

/* --start-helper: parsed, guessed the same way before the parse, and refused by value. */
static enum start_helper helper_guess(const char *a1, const char *a2, const char *a3,
				      const char *a4)
{
	char *argv[8];
	return cli__start_helper_guess(make_argv(argv, a1, a2, a3, a4), argv);
}

static void cli_start_helper(void)
{
	CHECK_EQ(parse("--kernel", "/k", NULL, NULL), 0);
	CHECK_EQ(opts.start_helper, START_HELPER_ON);
	CHECK_EQ(parse("--kernel", "/k", "--start-helper", "auto"), 0);
	CHECK_EQ(opts.start_helper, START_HELPER_AUTO);
	CHECK_EQ(parse("--kernel", "/k", "--start-helper", "off"), 0);
	CHECK_EQ(opts.start_helper, START_HELPER_OFF);
	CHECK_EQ(parse("--kernel", "/k", "--start-helper=on", NULL), 0);
	CHECK_EQ(opts.start_helper, START_HELPER_ON);
	CHECK_EQ(parse("--kernel", "/k", "--start-helper", "On"), -1);
	CHECK(strstr(err, "'On' is not auto, on or off") != NULL);
	CHECK_EQ(parse("--kernel", "/k", "--start-helper", ""), -1);
	CHECK_EQ(helper_guess("--kernel", "/k", NULL, NULL), START_HELPER_ON);
	CHECK_EQ(helper_guess("--start-helper=auto", "--kernel", "/k", NULL), START_HELPER_AUTO);
	CHECK_EQ(helper_guess("--start-helper", "off", "--kernel", "/k"), START_HELPER_OFF);
	CHECK_EQ(helper_guess("--kernel", "/k", "--start-helper=on", NULL), START_HELPER_ON);
	CHECK_EQ(helper_guess("--kernel", "/k", "--start-helper", "sometimes"), START_HELPER_ON);
	CHECK_EQ(helper_guess("--kernel", "/k", "--start-helper", NULL), START_HELPER_ON);
	CHECK_EQ(helper_guess("--", "--start-helper", "off", NULL), START_HELPER_ON);
}

/* /proc/loadavg's runnable count, as auto reads it; anything else is -1 (auto then
 * runs the helper, as on does). */
static void loadavg_runnable(void)
{
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64 1/86 19252\n"), 1);
	CHECK_EQ(vm_early__runnable("12.00 9.50 3.25 17/1204 4000"), 17);
	CHECK_EQ(vm_early__runnable(""), -1);
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64"), -1);
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64 /86 1"), -1);
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64 -1/86 1"), -1);
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64 0/86 1"), -1);
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64 3 86"), -1);
	CHECK_EQ(vm_early__runnable("0.61 0.58 0.64 99999999999999999999/86 1"), -1);
}

CHECK_MAIN("config", CHECK_CASE(root_device), CHECK_CASE(cli_valid), CHECK_CASE(cli_rejects),
	   CHECK_CASE(cli_boot_guess), CHECK_CASE(cli_start_helper), CHECK_CASE(loadavg_runnable),
	   CHECK_CASE(cli_prepare), CHECK_CASE(device_specs), CHECK_CASE(validate_duplicates),
	   CHECK_CASE(validate_pending), CHECK_CASE(parse_u64_strict),
	   CHECK_CASE(assign_touches_only_differences))
