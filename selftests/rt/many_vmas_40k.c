// SPDX-License-Identifier: GPL-2.0
/*
 * 40,000 areas: 20,000 touched pages with guard gaps and alternating
 * protections. The area table outgrows what kmalloc serves, which once made
 * checkpoint and restore WARN.
 */
#define N 20000
#include "many_vmas.c"
