/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest harness, with a per-case timeout sized for where cr's tests
 * run: TCG guests on a loaded 2-core machine (make check may run beside other
 * QEMUs). The harness's 30 s is for idle hardware; a case that hangs is still
 * caught, and the VM run has its own overall limit.
 */
#ifndef CR_HARNESS_H
#define CR_HARNESS_H

#include "kselftest_harness.h"

#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 300

#endif
