/* PUT /cpu-config and machine-config.cpu_template through the router: good and bad
 * bodies, what GET shows, which template wins, the config file and the snapshot's
 * configuration JSON. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/cpu_config.h"
#include "api/snapshot_api.h"
#include "check.h"
#include "vmm.h"

static struct api *a;
static struct vmm *vmm;
static char last[16384];
static struct cpu_template started; /* what the machine was started with */
static int starts;

static int fake_start(void *ctx, const struct vm_config *cfg, uint64_t t, struct error *e)
{
	started = cfg->cpu_template;
	starts++;
	return 0;
}
static int ok(void *ctx, struct error *e)
{
	return 0;
}
static void no_op(void *ctx)
{
}
static const struct vmm_machine machine = {
    .start = fake_start, .pause = ok, .resume = ok, .ctrl_alt_del = ok, .stop = no_op};

static void fresh(void)
{
	if (vmm) {
		api__destroy(a);
		vmm__destroy(vmm);
	}
	struct vmm_params p = {.id = "t", .version = "1", .dry_files = true, .machine = &machine};
	struct error e;
	vmm = vmm__create(&p, &e);
	a = vmm ? api__create(vmm) : NULL;
	if (!a)
		abort();
}

static int req(enum http_method m, const char *path, const char *body)
{
	struct api_response r;
	api__handle(a, m, path, body, body ? strlen(body) : 0, &r);
	snprintf(last, sizeof(last), "%s", r.body.buf ? r.body.buf : "");
	json_out__free(&r.body);
	return r.status;
}
#define GET(p)	  req(HTTP_GET, p, NULL)
#define PUT(p, b) req(HTTP_PUT, p, b)
static int put_cpu_config(const char *body)
{
	return PUT("/cpu-config", body);
}
/* The status, and a fault message that has want. */
static void fault_at(int line, int status, const char *body, const char *want)
{
	int got = put_cpu_config(body);
	if (got != status || !strstr(last, want)) {
		char m[400];
		snprintf(m, sizeof(m), "status %d (want %d), fault '%.200s' lacks '%.100s'", got,
			 status, last, want);
		check__fail(__FILE__, line, m);
	}
}
#define FAULT(status, body, want) fault_at(__LINE__, status, body, want)

static const struct cpu_template *tpl(void)
{
	return &vmm__config(vmm)->vm.cpu_template;
}

/* Firecracker's documented example. */
static const char doc_example[] =
    "{\"kvm_capabilities\": [\"!56\"], \"cpuid_modifiers\": [{\"leaf\": \"0x1\", "
    "\"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": [{\"register\": \"eax\", \"bitmap\": "
    "\"0bxxxx000000000011xx00011011110010\"}]}], \"msr_modifiers\": [{\"addr\": \"0x10a\", "
    "\"bitmap\": \"0b0000000000000000000000000000000000000000000000000000000000000000\"}]}";

static void put_good(void)
{
	fresh();
	CHECK_EQ(PUT("/cpu-config", doc_example), 204);
	const struct cpu_template *t = tpl();
	CHECK_EQ(t->kind, CPU_TPL_CUSTOM);
	CHECK_EQ(t->nr_caps, 1);
	CHECK_EQ(t->caps[0].cap, 56);
	CHECK(t->caps[0].remove);
	CHECK_EQ(t->nr_leaves, 1);
	CHECK_EQ(t->leaves[0].leaf, 1);
	CHECK_EQ(t->leaves[0].mods[0].reg, CPU_TPL_EAX);
	CHECK_EQ(t->leaves[0].mods[0].filter, 0x0fff3fffu);
	CHECK_EQ(t->leaves[0].mods[0].value, 0x000306f2u);
	CHECK_EQ(t->nr_msrs, 1);
	CHECK_EQ(t->msrs[0].addr, 0x10a);
	CHECK_EQ(t->msrs[0].filter, UINT64_MAX);
	/* Empty template, lists left out, "0b" numbers, short bitmaps, unknown inner members
	 * (serde ignores them there), several modifiers and leaves. */
	CHECK_EQ(PUT("/cpu-config", "{}"), 204);
	CHECK_EQ(tpl()->kind, CPU_TPL_CUSTOM);
	CHECK_EQ(tpl()->nr_leaves, 0);
	FAULT(204,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0b111\",\"subleaf\":\"0x0\",\"flags\":1,"
	      "\"comment\":\"x\",\"modifiers\":[{\"register\":\"ebx\",\"bitmap\":\"0b1_0\"},"
	      "{\"register\":\"edx\",\"bitmap\":\"1\"}]},{\"leaf\":\"0xd\",\"subleaf\":"
	      "\"0x1\",\"flags\":1,\"modifiers\":[]}],\"kvm_capabilities\":[\"171\"]}",
	      "");
	t = tpl();
	CHECK_EQ(t->nr_leaves, 2);
	CHECK_EQ(t->leaves[0].leaf, 7);
	CHECK_EQ(t->leaves[0].flags, 1);
	CHECK_EQ(t->leaves[0].nr_mods, 2);
	CHECK_EQ(t->leaves[0].mods[0].filter, 3);
	CHECK_EQ(t->leaves[0].mods[0].value, 2);
	CHECK_EQ(t->leaves[0].mods[1].reg, CPU_TPL_EDX);
	CHECK_EQ(t->leaves[1].subleaf, 1);
	CHECK(!t->caps[0].remove);
	/* GET /vm/config shows it as Firecracker does: cpu-config null, no cpu_template. */
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"cpu-config\":null") != NULL);
	CHECK(strstr(last, "cpu_template") == NULL);
}

static void put_bad(void)
{
	fresh();
	CHECK_EQ(PUT("/cpu-config", doc_example), 204);
	struct cpu_template before = *tpl();
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"1\",\"subleaf\":\"0x0\",\"flags\":0,"
	      "\"modifiers\":[]}]}",
	      "cpuid_modifiers[0].leaf: '1': no number prefix");
	FAULT(400, "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"flags\":0,\"modifiers\":[]}]}",
	      "cpuid_modifiers[0]: missing field `subleaf`");
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"modifiers\":[]}]}",
	      "missing field `flags`");
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":-1,"
	      "\"modifiers\":[]}]}",
	      "flags: not a 32-bit");
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,"
	      "\"modifiers\":[{\"register\":\"rax\",\"bitmap\":\"0b1\"}]}]}",
	      "cpuid_modifiers[0].modifiers[0].register: Invalid CPUID register");
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,"
	      "\"modifiers\":[{\"register\":\"eax\",\"bitmap\":\"0b12\"}]}]}",
	      "modifiers[0].bitmap: bitmap '0b12': unknown character '2'");
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,"
	      "\"modifiers\":[{\"register\":\"eax\",\"bitmap\":"
	      "\"0b000000000000000000000000000000001\"}]}]}",
	      "longer than the register");
	FAULT(400,
	      "{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,"
	      "\"modifiers\":[{\"register\":\"eax\"}]}]}",
	      "missing field `bitmap`");
	FAULT(400, "{\"msr_modifiers\":[{\"addr\":\"0x10a\",\"bitmap\":7}]}",
	      "msr_modifiers[0].bitmap: expected a string");
	FAULT(400, "{\"msr_modifiers\":[{\"addr\":\"0x1_0a\",\"bitmap\":\"0b1\"}]}",
	      "not a 32-bit number");
	FAULT(400, "{\"kvm_capabilities\":[\"+x\"]}", "kvm_capabilities[0]");
	FAULT(400, "{\"kvm_capabilities\":[56]}", "kvm_capabilities[0]: expected a string");
	FAULT(400, "{\"kvm_capabilities\":\"56\"}", "kvm_capabilities: expected an array");
	FAULT(400, "{\"cpuid_modifiers\":null}", "cpuid_modifiers: expected an array");
	FAULT(400, "{\"foo\":[]}", "unknown field `foo`, expected one of `kvm_capabilities`");
	FAULT(400, "{\"kvm_capabilities\":[],\"kvm_capabilities\":[]}", "duplicate field");
	/* aarch64's fields, refused by name on x86_64. */
	FAULT(400, "{\"reg_modifiers\":[]}", "reg_modifiers");
	CHECK(strstr(last, "aarch64 field") != NULL);
	FAULT(400, "{\"vcpu_features\":[{\"index\":0,\"bitmap\":\"0b1\"}]}", "aarch64 field");
	FAULT(400, "[]", "must be a JSON object");
	FAULT(400, "{", "invalid JSON");
	/* Too many entries. */
	char big[8192] = "{\"kvm_capabilities\":[";
	for (int i = 0; i <= CPU_TPL_MAX_CAPS; i++)
		strcat(big, i ? ",\"1\"" : "\"1\"");
	strcat(big, "]}");
	FAULT(400, big, "at most 32");
	/* None of these changed the template. */
	CHECK(memcmp(&before, tpl(), sizeof(before)) == 0);
	/* GET and PATCH are not PUT. */
	CHECK_EQ(GET("/cpu-config"), 405);
	CHECK_EQ(req(HTTP_PATCH, "/cpu-config", "{}"), 405);
}

/* The last of machine-config.cpu_template and PUT /cpu-config wins, as in Firecracker. */
static void static_and_custom(void)
{
	fresh();
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,"
					"\"cpu_template\":\"T2A\"}"),
		 204);
	CHECK_EQ(tpl()->kind, CPU_TPL_T2A);
	CHECK_EQ(GET("/machine-config"), 200);
	CHECK(strstr(last, "\"cpu_template\":\"T2A\"") != NULL);
	CHECK_EQ(GET("/vm/config"), 200);
	CHECK(strstr(last, "\"cpu_template\":\"T2A\"") != NULL);
	/* Any static name is taken at PUT; a vendor mismatch is InstanceStart's. */
	for (int k = CPU_TPL_NONE; k < CPU_TPL_CUSTOM; k++) {
		char b[128];
		snprintf(b, sizeof(b),
			 "{\"vcpu_count\":1,\"mem_size_mib\":64,\"cpu_template\":\"%s\"}",
			 cpu_tpl_names[k]);
		CHECK_EQ(PUT("/machine-config", b), 204);
		CHECK_EQ(tpl()->kind, (uint32_t)k);
	}
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,"
					"\"cpu_template\":\"t2\"}"),
		 400);
	CHECK(strstr(last, "cpu_template") != NULL);
	/* A custom one replaces T2A; a PUT of machine-config without the field keeps it. */
	CHECK_EQ(req(HTTP_PATCH, "/machine-config", "{\"cpu_template\":\"T2A\"}"), 204);
	CHECK_EQ(PUT("/cpu-config", doc_example), 204);
	CHECK_EQ(tpl()->kind, CPU_TPL_CUSTOM);
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":64}"), 204);
	CHECK_EQ(tpl()->kind, CPU_TPL_CUSTOM);
	CHECK_EQ(GET("/machine-config"), 200);
	CHECK(strstr(last, "cpu_template") == NULL);
	/* "None" drops the custom one too. */
	CHECK_EQ(req(HTTP_PATCH, "/machine-config", "{\"cpu_template\":\"None\"}"), 204);
	CHECK_EQ(tpl()->kind, CPU_TPL_NONE);
	/* Static after custom: the static one. */
	CHECK_EQ(PUT("/cpu-config", doc_example), 204);
	CHECK_EQ(req(HTTP_PATCH, "/machine-config", "{\"cpu_template\":\"T2\"}"), 204);
	CHECK_EQ(tpl()->kind, CPU_TPL_T2);
}

/* Pre-boot only; the start is given the template. */
static void after_start(void)
{
	fresh();
	char k[] = "/tmp/ember-cputpl-kernel.XXXXXX";
	int fd = mkstemp(k);
	close(fd);
	char b[256];
	snprintf(b, sizeof(b), "{\"kernel_image_path\":\"%s\"}", k);
	CHECK_EQ(PUT("/boot-source", b), 204);
	CHECK_EQ(PUT("/cpu-config", doc_example), 204);
	int before = starts;
	CHECK_EQ(PUT("/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
	CHECK_EQ(starts, before + 1);
	CHECK_EQ(started.kind, CPU_TPL_CUSTOM);
	CHECK_EQ(started.leaves[0].mods[0].value, 0x000306f2u);
	FAULT(400, "{}", "");
	CHECK(strstr(last, "fault_message") != NULL);
	CHECK_EQ(PUT("/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64,"
					"\"cpu_template\":\"T2A\"}"),
		 400);
	CHECK_EQ(tpl()->kind, CPU_TPL_CUSTOM);
	unlink(k);
}

/* The config file takes cpu-config inline or as a path; the snapshot's configuration
 * carries the custom template so that a restore has it. */
static void config_file_and_snapshot_json(void)
{
	fresh();
	char doc[4096];
	snprintf(doc, sizeof(doc),
		 "{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":64,"
		 "\"cpu_template\":\"T2\"},\"cpu-config\":%s}",
		 doc_example);
	struct vmm_config c = *vmm__config(vmm);
	struct error e = {0};
	CHECK_EQ(api__parse_config(a, doc, strlen(doc), &c, &e), 0);
	CHECK_EQ(c.vm.cpu_template.kind, CPU_TPL_CUSTOM); /* after machine-config */
	CHECK_EQ(c.vm.cpu_template.nr_msrs, 1);

	char path[] = "/tmp/ember-cputpl.XXXXXX";
	int fd = mkstemp(path);
	CHECK(write(fd, doc_example, strlen(doc_example)) == (ssize_t)strlen(doc_example));
	close(fd);
	snprintf(doc, sizeof(doc), "{\"cpu-config\":\"%s\"}", path);
	c = *vmm__config(vmm);
	CHECK_EQ(api__parse_config(a, doc, strlen(doc), &c, &e), 0);
	CHECK_EQ(c.vm.cpu_template.kind, CPU_TPL_CUSTOM);
	CHECK_EQ(c.vm.cpu_template.caps[0].cap, 56);
	unlink(path);
	CHECK_EQ(api__parse_config(a, doc, strlen(doc), &c, &e), -1);
	CHECK(strstr(e.msg, "cpu-config") && strstr(e.msg, path));
	snprintf(doc, sizeof(doc), "{\"cpu-config\":{\"cpuid_modifiers\":7}}");
	CHECK_EQ(api__parse_config(a, doc, strlen(doc), &c, &e), -1);
	CHECK(strstr(e.msg, "cpuid_modifiers") != NULL);
	snprintf(doc, sizeof(doc), "{\"cpu-config\":null}");
	c = *vmm__config(vmm);
	CHECK_EQ(api__parse_config(a, doc, strlen(doc), &c, &e), 0);
	CHECK_EQ(c.vm.cpu_template.kind, CPU_TPL_NONE);

	/* Encode, decode: the same template. */
	CHECK_EQ(PUT("/cpu-config", doc_example), 204);
	struct json_out o = {0};
	snapshot_api__config_json(vmm__config(vmm), &o);
	json_out__raw(&o, "", 1);
	CHECK(strstr(o.buf, "\"cpu-config\":{\"kvm_capabilities\":[\"!56\"]") != NULL);
	c = *vmm__config(vmm);
	memset(&c.vm.cpu_template, 0, sizeof(c.vm.cpu_template));
	char *copy = strdup(o.buf);
	CHECK_EQ(api__parse_config(a, copy, strlen(copy), &c, &e), 0);
	CHECK(memcmp(&c.vm.cpu_template, tpl(), sizeof(c.vm.cpu_template)) == 0);
	CHECK_EQ(cpu_tpl__digest(&c.vm.cpu_template), cpu_tpl__digest(tpl()));
	free(copy);
	json_out__free(&o);
}

CHECK_MAIN("api-cpu-config", CHECK_CASE(put_good), CHECK_CASE(put_bad),
	   CHECK_CASE(static_and_custom), CHECK_CASE(after_start),
	   CHECK_CASE(config_file_and_snapshot_json))
