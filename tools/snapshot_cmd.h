/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The `vmmem snapshot` subcommands (tools/snapshot_cmd.c). */
#ifndef VMMEM_TOOL_SNAPSHOT_CMD_H
#define VMMEM_TOOL_SNAPSHOT_CMD_H

#include <stdio.h>

#include <vmmem.h>

/* Run `vmmem snapshot ARGS`: argv[0] is "snapshot". Returns the exit status (0, 1, 2). */
int cmd_snapshot(struct vmmem_ctx *ctx, int argc, char **argv, const char *default_config);
/* Its usage (vmmem snapshot --help, vmmem help snapshot). */
extern const char snapshot_usage_text[];

#endif
