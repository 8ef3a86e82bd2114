/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Running a Check suite: shared by the suites on the library (testutil.h) and the unit tests
 * compiled from core sources, which do not link testutil.c. */
#ifndef VMMEM_TU_RUN_H
#define VMMEM_TU_RUN_H

#include <check.h>
#include <stdlib.h>

/* Run one suite with CK_NORMAL output; returns the exit status for main(). */
static inline int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* VMMEM_TU_RUN_H */
