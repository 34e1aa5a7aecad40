/* The one VM configuration model. The CLI, the JSON config file and the REST API all
 * fill a struct vm_config; config__validate() is the single set of rules. */
#ifndef EMBER_CONFIG_H
#define EMBER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_template.h"
#include "log.h"

#define CONFIG_MAX_VCPUS 32
/* Every virtio device takes one MMIO slot and one IOAPIC line of VM_MMIO_FIRST_IRQ..
 * VM_MMIO_LAST_IRQ (vm.h, checked there): 5..23 of the 24 pins. */
#define CONFIG_MAX_VIRTIO  19
#define CONFIG_MAX_DRIVES  CONFIG_MAX_VIRTIO
#define CONFIG_MAX_NETS	   4
#define CONFIG_ID_MAX	   64
#define CONFIG_PATH_MAX	   4096
#define CONFIG_CMDLINE_MAX 2048		   /* x86 COMMAND_LINE_SIZE, including the NUL */
#define CONFIG_IFNAME_MAX  16		   /* IFNAMSIZ, including the NUL */
#define CONFIG_UDS_MAX	   108		   /* sizeof(sun_path), including the NUL */
#define CONFIG_MAX_MEM_MIB (1024u * 1024u) /* 1 TiB */

/* Used when no --cmdline / boot_args is given. */
#define CONFIG_DEFAULT_CMDLINE                                                                     \
	"console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.nopnp "     \
	"i8042.dumbkbd"

enum serial_out { SERIAL_OUT_STDOUT, SERIAL_OUT_FILE, SERIAL_OUT_NONE };
enum serial_in { SERIAL_IN_STDIN, SERIAL_IN_FILE, SERIAL_IN_NONE };

/* Firecracker's TokenBucket: size tokens, refilled continuously over refill_time ms,
 * plus one_time_burst spent first and never refilled; size or refill_time 0 = no
 * limit (virtio/ratelimit.h has the arithmetic). */
struct token_bucket_config {
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time;
};

/* Firecracker's RateLimiter: bandwidth in bytes, ops in requests. All zero: none. */
struct rate_limiter_config {
	struct token_bucket_config bandwidth, ops;
};

struct drive_config {
	char id[CONFIG_ID_MAX + 1];
	char path[CONFIG_PATH_MAX];
	bool read_only;
	bool is_root_device;
	char partuuid[64];
	uint32_t cache_type; /* enum drive_cache_type */
	struct rate_limiter_config rate_limiter;
};

/* Firecracker's cache_type: the guest sees a flushing disk either way. */
enum drive_cache_type { DRIVE_CACHE_UNSAFE, DRIVE_CACHE_WRITEBACK };

struct net_config {
	char id[CONFIG_ID_MAX + 1];
	char host_dev_name[CONFIG_IFNAME_MAX];
	uint8_t guest_mac[6];
	bool has_mac;
	uint32_t mtu; /* 0 = not given; else 68..65535, told to the guest and set on the tap */
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

struct vsock_config {
	bool present;
	uint32_t guest_cid;
	char uds_path[CONFIG_UDS_MAX];
};

/* The virtio balloon (PUT /balloon). Its target can change after start. */
#define CONFIG_BALLOON_MAX_INTERVAL_S 65535 /* Firecracker keeps it in a u16 */
struct balloon_config {
	bool present;
	uint32_t amount_mib; /* target size; at most mem_mib */
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s; /* 0: no statistics queue */
	bool free_page_reporting;	   /* the guest reports free pages, given back */
};

/* mmds-config (PUT /mmds/config): which interfaces answer the metadata address. The
 * data store itself is not configuration (virtio/mmds.h). */
struct mmds_config {
	bool present;
	uint32_t version; /* enum mmds_version: 0 V1, 1 V2 */
	char ifaces[CONFIG_MAX_NETS][CONFIG_ID_MAX + 1];
	unsigned nr_ifaces;
	uint32_t ipv4; /* host byte order; 169.254.169.254 unless given */
	bool imds_compat;
};

/* The small fields first and the path buffers after them: every start reads or writes
 * most of the former, which now share the first page; spread among the buffers they cost
 * each start two page faults more (issue 16). */
struct vm_config {
	unsigned vcpus; /* not a flag: a field's flag at offset 0 means none (api/fields.h) */
	bool has_cmdline;
	uint64_t mem_mib;
	bool smt;
	/* No in-kernel PIT: its teardown keeps a VM's process alive about 15 ms longer
	 * at exit. A guest then needs kvmclock and the LAPIC (TSC-deadline) timer. */
	bool no_pit;

	enum serial_out serial_out;
	struct token_bucket_config serial_rate_limiter; /* output bytes; size 0 = none */
	enum serial_in serial_in;

	unsigned nr_drives;
	unsigned nr_nets;
	struct vsock_config vsock;
	bool entropy;
	struct rate_limiter_config entropy_rate_limiter;
	struct balloon_config balloon;
	struct mmds_config mmds;
	bool track_dirty_pages; /* accepted and reported; ember tracks no dirty pages yet */
	struct net_config nets[CONFIG_MAX_NETS];

	char kernel_path[CONFIG_PATH_MAX];
	char initrd_path[CONFIG_PATH_MAX]; /* "" = none */
	char cmdline[CONFIG_CMDLINE_MAX];  /* "" = CONFIG_DEFAULT_CMDLINE */
	char serial_out_path[CONFIG_PATH_MAX];
	char serial_in_path[CONFIG_PATH_MAX];
	struct drive_config drives[CONFIG_MAX_DRIVES];
	/* machine-config.cpu_template or PUT /cpu-config: whichever came last. */
	struct cpu_template cpu_template;
};

/* The process's logger and metrics file, as PUT /logger and PUT /metrics set them. */
struct logger_config {
	bool configured;
	char path[CONFIG_PATH_MAX]; /* "" = stderr */
	enum log_level level;
	bool show_level, show_log_origin;
	bool off; /* "Off" was asked for: logs like "Error", GET reports "Off" */
};

#define CONFIG_METRICS_PROPS_MAX 4096

struct metrics_config {
	bool configured;
	char path[CONFIG_PATH_MAX];
	bool emit_id;
	char properties[CONFIG_METRICS_PROPS_MAX]; /* compact JSON object text, "" = none */
};

/* Everything a front end (flags, config file, API) may configure. */
struct vmm_config {
	struct vm_config vm;
	struct logger_config logger;
	struct metrics_config metrics;
};

void config__init(struct vm_config *cfg);
/* config__init of memory known to be zero (calloc's): the pages it does not set stay
 * untouched, where config__init would read each one (a page fault each). */
void config__init_zeroed(struct vm_config *cfg);
/* dst = src and dst = 0 for configurations: a configuration is ~100 KiB, mostly path
 * buffers of drives that do not exist, which stay zero. Plain memcpy and memset would
 * make every page resident, in the source and in the copy: a third of ember's memory.
 * These write only the pages that differ (reading a never-touched page costs none). */
void config__assign(void *dst, const void *src, size_t n);
void config__zero(void *dst, size_t n);
/* memcmp(a, b, n) == 0, word by word (configurations are large). */
bool config__equal(const void *a, const void *b, size_t n);
/* 0 if cfg can be built; else -1 and a one-line reason naming the field in err. */
/* Strict decimal parse: no sign, no space, no junk, no overflow, value <= max; 0 or -1. */
int config__parse_u64(const char *s, unsigned long long max, unsigned long long *out);
int config__validate(const struct vm_config *cfg, char *err, size_t errlen);
/* The host's cap on guest memory (ember --mem-max-mib), checked by every validation:
 * it is the host's policy, not part of a VM's configuration. Default: CONFIG_MAX_MEM_MIB. */
void config__set_mem_max_mib(uint64_t mib);
uint64_t config__mem_max_mib(void);
/* The one answer to guest memory above the cap, whoever asked (API, PATCH, config file,
 * command line): "mem_size_mib: <mib> MiB is more than this host allows (<cap> MiB, set
 * by ember --mem-max-mib...)". mib is the number as given (it may not fit 64 bits). */
void config__mem_cap_error(const char *mib, char *err, size_t errlen);
/* Every rule of config__validate() but the kernel's presence: for a configuration
 * that may still get its kernel (by PUT /boot-source) before it starts. */
int config__validate_pending(const struct vm_config *cfg, char *err, size_t errlen);
/* The command line the guest gets: the configured one or the default. */
const char *config__cmdline(const struct vm_config *cfg);

/* The kernel arguments a root drive adds, as Firecracker does: "root=/dev/vda" or
 * "root=PARTUUID=<partuuid>", then "ro" or "rw". They are appended after boot_args,
 * so they win over a root= there (the kernel takes the last one). -1 if n is short. */
int config__root_args(const struct drive_config *d, char *out, size_t n);
/* Moves the root drive (if any) to the front, the others keeping their order: it is
 * the first virtio-blk device, so vda, whatever order the drives came in. */
void config__root_first(struct vm_config *cfg);

/* Field setters shared by every front end. Each checks its value and writes a
 * reason to err on failure, leaving cfg unchanged. */
int config__set_path(char *dst, size_t dstlen, const char *field, const char *value, char *err,
		     size_t errlen);
int config__parse_mac(const char *s, uint8_t mac[6]);
int config__check_id(const char *field, const char *id, char *err, size_t errlen);
/* Firecracker's link-local rule for the MMDS address: 169.254.1.0 - 169.254.254.255. */
bool config__mmds_ipv4_ok(uint32_t ipv4);
/* Whether interface `id` answers for MMDS. */
bool config__mmds_iface(const struct vm_config *cfg, const char *id);

/* CLI device specs: "path=FILE[,ro][,root][,id=ID]", "tap=NAME[,mac=MAC][,id=ID][,mtu=N]",
 * "cid=N,uds=PATH". */
int config__add_drive_spec(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
int config__add_net_spec(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
int config__set_vsock_spec(struct vm_config *cfg, const char *spec, char *err, size_t errlen);

#endif
