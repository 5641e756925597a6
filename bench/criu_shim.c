// SPDX-License-Identifier: GPL-2.0
/*
 * criu_shim.so: an LD_PRELOAD library that lets Debian 12's criu 3.17.1 run
 * on the bench kernel, which has no netfilter (CONFIG_NETFILTER is off).
 *
 * At start-up criu probes nftables (kerndat_has_nftables_concat): in a child
 * it calls libnftables' nft_ctx_new(), which opens a NETLINK_NETFILTER
 * socket; without netfilter that fails with EPROTONOSUPPORT and libnftables
 * calls exit() ("mnl.c:60: Unable to initialize Netlink socket: Protocol not
 * supported"), criu takes the child's exit for a broken kernel and refuses to
 * run at all ("Could not initialize kernel features detection"). criu 3.17 has
 * no option to skip the probe (--network-lock skip came later).
 *
 * The shim stands in for libnftables: a context is made; the probe's
 * "create table inet CRIU" and "delete table inet CRIU" succeed (criu 3.17.1
 * takes a failed create for a fatal error) and its "add set ... { type
 * ipv4_addr . inet_service ;}" fails, so criu records has_nftables_concat =
 * false, which is true of this kernel, and goes on. Nothing the bench dumps
 * uses the network lock (no TCP sockets; criu's default lock is iptables
 * anyway), so nftables is not used afterwards; any other command fails.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct nft_ctx;

/* Never dereferenced: every function below takes it and does nothing. */
static char fake_ctx;

struct nft_ctx *nft_ctx_new(uint32_t flags)
{
	return (struct nft_ctx *)&fake_ctx;
}

void nft_ctx_free(struct nft_ctx *ctx)
{
}

int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf)
{
	/* Nothing is ever put into the table, so there is nothing to do. */
	if (!strncmp(buf, "create table ", 13) || !strncmp(buf, "delete table ", 13))
		return 0;
	errno = EPROTONOSUPPORT;
	return -1;
}

int nft_ctx_buffer_output(struct nft_ctx *ctx)
{
	return -1;
}

int nft_ctx_buffer_error(struct nft_ctx *ctx)
{
	return -1;
}

FILE *nft_ctx_set_output(struct nft_ctx *ctx, FILE *fp)
{
	return NULL;
}
