/* Entry point, trap stubs, the ring 3 round trip and the AP start-up trampoline. */

#define AP_TRAMP_ADDR 0x10000
#define KSTACK_SIZE   16384
#define USTACK_SIZE   16384
#define APSTACK_SIZE  4096
#define MAX_CPUS      32
#define LAPIC_ID_REG  0xfee00020

	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	/* ember's stack at 0x8ff0 is a few hundred bytes below its page tables. */
	cli
	cld
	mov	%rsi, %r12
	lea	bsp_stack_top(%rip), %rsp
	/* Stacks live outside .bss, so this stays short even when emulated. */
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb
	mov	%r12, %rdi
	call	probe_main
1:	cli
	hlt
	jmp	1b

/* Every vector gets a 16-byte stub that pushes an error code (0 where the CPU pushes
 * none) and the vector number, so trap_common sees one frame layout. */
	.text
	.globl trap_stubs
	.align 16
trap_stubs:
	vec = 0
	.rept 256
	.align 16
	.if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	trap_common
	vec = vec + 1
	.endr

trap_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rbx
	push	%rbp
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	cld
	call	trap__dispatch
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rbp
	pop	%rbx
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp
	iretq

/* uint64_t user_enter(fn, arg, ustack_top, rsp0, rflags): runs fn(arg) at CPL3 with
 * rflags ORed into its flags (IOPL stays 0) and comes back through a user call
 * (probe.h), whose #UD lands on rsp0 = our own stack pointer with interrupts off. */
	.globl user_enter
user_enter:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, user_saved_rsp(%rip)
	mov	%rsp, (%rcx)
	pushq	$0x1b			/* ss: user data */
	pushq	%rdx			/* rsp */
	pushfq
	orq	%r8, (%rsp)		/* IF from the caller: ring 3 cannot sti on kvm_pvm */
	pushq	$0x23			/* cs: user code */
	lea	user_trampoline(%rip), %rax
	pushq	%rax
	mov	%rdi, %rax
	mov	%rsi, %rdi
	iretq

user_trampoline:
	call	*%rax
	movabs	$0x4542524f50000000, %rcx	/* USER_CALL_MAGIC | USER_OP_RETURN, rax = result */
	ud2

/* void user_return(result), called by the trap dispatcher for USER_OP_RETURN: drop the
 * trap frame and everything above user_enter's own, back to its caller with rax = result. */
	.globl user_return
user_return:
	mov	%rdi, %rax
	mov	user_saved_rsp(%rip), %rsp
	mov	$0x10, %ecx
	mov	%ecx, %ss
	mov	%ecx, %ds
	mov	%ecx, %es
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret

/* APs arrive here in 64-bit mode from the trampoline, on ember's page tables. */
ap_entry64:
	mov	$LAPIC_ID_REG, %ecx
	mov	(%rcx), %eax
	shr	$24, %eax
	cmp	$MAX_CPUS, %eax
	jae	2f
	mov	%eax, %edi
	lea	1(%rax), %rdx
	shl	$12, %rdx
	lea	ap_stacks(%rip), %rsp
	add	%rdx, %rsp
	call	ap_main
2:	cli
	hlt
	jmp	2b

/* Copied to AP_TRAMP_ADDR and started by SIPI in real mode at CS=0x1000, IP=0:
 * 16 -> 32 -> 64-bit with its own GDT. Only position-independent offsets inside. */
	.section .rodata
	.globl ap_tramp_start, ap_tramp_end
	.code16
	.align 16
ap_tramp_start:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	tramp_gdt_desc - ap_tramp_start
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $(AP_TRAMP_ADDR + tramp32 - ap_tramp_start)

	.code32
tramp32:
	mov	$0x18, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$0x9000, %eax		/* ember's identity map of 4 GiB */
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG */
	mov	%eax, %cr0
	ljmp	$0x10, $(AP_TRAMP_ADDR + tramp64 - ap_tramp_start)

	.code64
tramp64:
	movabs	$ap_entry64, %rax
	jmp	*%rax

	.align 8
tramp_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code */
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x18: data */
tramp_gdt_desc:
	.word	4 * 8 - 1
	.long	AP_TRAMP_ADDR + tramp_gdt - ap_tramp_start
ap_tramp_end:

	.bss
	.align 8
user_saved_rsp:
	.quad	0

	.section .stack, "aw", @nobits
	.align 4096
	.globl bsp_stack_top, user_stack_top
	.space	KSTACK_SIZE
bsp_stack_top:
	.space	USTACK_SIZE
user_stack_top:
ap_stacks:
	.space	APSTACK_SIZE * MAX_CPUS
	/* virtio queues and buffers (virtio.c), zeroed when handed out. */
	.align 4096
	.globl virtio_pool
virtio_pool:
	.space	320 * 1024

	.section .note.GNU-stack, "", @progbits
