/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for vmmem/error.h and the version functions of vmmem/common.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const int lib_codes[] = {
	VMMEM_E_UNMAPPED,       VMMEM_E_PARTIAL,        VMMEM_E_NO_REGIONS,
	VMMEM_E_OVERLAP,        VMMEM_E_ZERO_SIZE,      VMMEM_E_CROSSES_REGION,
	VMMEM_E_MISALIGNED,     VMMEM_E_READ_ONLY,      VMMEM_E_OUT_OF_BOUNDS,
	VMMEM_E_NO_SUCH_REGION, VMMEM_E_CONFIG_SYNTAX,  VMMEM_E_CONFIG_KEY,
	VMMEM_E_CONFIG_VALUE,   VMMEM_E_CONFIG_CONFLICT, VMMEM_E_PROVIDER_NOT_FOUND,
	VMMEM_E_PROVIDER_LOAD,  VMMEM_E_PROVIDER_SYMBOL, VMMEM_E_PROVIDER_ABI,
	VMMEM_E_PROVIDER_INVALID, VMMEM_E_PROVIDER_EXISTS, VMMEM_E_PROVIDER_UNSAFE,
	VMMEM_E_NOT_SEALED,     VMMEM_E_FILE_TOO_SHORT, VMMEM_E_NOT_SHAREABLE,
	VMMEM_E_NOT_TRACKED,    VMMEM_E_SNAPSHOT_FORMAT, VMMEM_E_SNAPSHOT_VERSION,
	VMMEM_E_SNAPSHOT_TRUNCATED, VMMEM_E_SNAPSHOT_CHECKSUM, VMMEM_E_SNAPSHOT_PARENT,
	VMMEM_E_SNAPSHOT_PAGE_SIZE, VMMEM_E_IOTLB_MISS, VMMEM_E_IOTLB_DENIED,
};
/* The last code of error.h; the one below it is unused. */
#define LAST_LIB_CODE VMMEM_E_IOTLB_DENIED
#define N_LIB_CODES (sizeof(lib_codes) / sizeof(lib_codes[0]))

static const char unknown_text[] = "unknown error";

/* ---- vmmem_strerror ------------------------------------------------------------------- */

START_TEST(test_error_codes_values)
{
	/* The numeric values are ABI. */
	ck_assert_int_eq(VMMEM_E_UNMAPPED, -10001);
	ck_assert_int_eq(VMMEM_E_PARTIAL, -10002);
	ck_assert_int_eq(VMMEM_E_NO_REGIONS, -10003);
	ck_assert_int_eq(VMMEM_E_OVERLAP, -10004);
	ck_assert_int_eq(VMMEM_E_ZERO_SIZE, -10005);
	ck_assert_int_eq(VMMEM_E_CROSSES_REGION, -10006);
	ck_assert_int_eq(VMMEM_E_MISALIGNED, -10007);
	ck_assert_int_eq(VMMEM_E_READ_ONLY, -10008);
	ck_assert_int_eq(VMMEM_E_OUT_OF_BOUNDS, -10009);
	ck_assert_int_eq(VMMEM_E_NO_SUCH_REGION, -10010);
	/* The codes are consecutive from -10001 down to the last one. */
	for (size_t i = 0; i < N_LIB_CODES; i++)
		ck_assert_int_eq(lib_codes[i], -10001 - (int)i);
	ck_assert_int_eq(lib_codes[N_LIB_CODES - 1], LAST_LIB_CODE);
}
END_TEST

START_TEST(test_error_strerror_library_codes_distinct)
{
	const char *texts[N_LIB_CODES];

	for (size_t i = 0; i < N_LIB_CODES; i++) {
		texts[i] = vmmem_strerror(lib_codes[i]);
		ck_assert_ptr_nonnull(texts[i]);
		ck_assert_msg(texts[i][0] != '\0', "empty text for %d", lib_codes[i]);
		ck_assert_msg(strcmp(texts[i], unknown_text) != 0,
			      "code %d described as \"%s\"", lib_codes[i], texts[i]);
		/* Not the text of some errno either. */
		ck_assert_msg(strncmp(texts[i], "Unknown error", 13) != 0,
			      "code %d described as \"%s\"", lib_codes[i], texts[i]);
	}
	for (size_t i = 0; i < N_LIB_CODES; i++)
		for (size_t j = i + 1; j < N_LIB_CODES; j++)
			ck_assert_msg(strcmp(texts[i], texts[j]) != 0,
				      "codes %d and %d share the text \"%s\"", lib_codes[i],
				      lib_codes[j], texts[i]);
}
END_TEST

START_TEST(test_error_strerror_library_codes_stable)
{
	/* Static strings: the same call gives the same text, calls in between do not change it. */
	for (size_t i = 0; i < N_LIB_CODES; i++) {
		const char *a = vmmem_strerror(lib_codes[i]);
		char copy[256];

		snprintf(copy, sizeof(copy), "%s", a);
		(void)vmmem_strerror(-EINVAL);
		(void)vmmem_strerror(12345678);
		ck_assert_str_eq(vmmem_strerror(lib_codes[i]), copy);
		ck_assert_str_eq(a, copy);
	}
}
END_TEST

START_TEST(test_error_strerror_errno)
{
	static const int errnos[] = { EINVAL, EOVERFLOW, ENOMEM, EBADF, EMFILE, EFAULT,
				      EIO,    EAGAIN,    EPERM,  ENOSPC, EINTR };

	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		char want[256];
		const char *got = vmmem_strerror(-errnos[i]);

		snprintf(want, sizeof(want), "%s", strerror(errnos[i]));
		ck_assert_ptr_nonnull(got);
		ck_assert_msg(strcmp(got, want) == 0, "vmmem_strerror(-%d) = \"%s\", want \"%s\"",
			      errnos[i], got, want);
	}
	ck_assert_str_eq(vmmem_strerror(-EINVAL), "Invalid argument");
	ck_assert_str_eq(vmmem_strerror(-EBADF), "Bad file descriptor");
}
END_TEST

START_TEST(test_error_strerror_errno_differs_from_library)
{
	const char *einval = vmmem_strerror(-EINVAL);

	for (size_t i = 0; i < N_LIB_CODES; i++)
		ck_assert_str_ne(vmmem_strerror(lib_codes[i]), einval);
}
END_TEST

START_TEST(test_error_strerror_zero)
{
	const char *s = vmmem_strerror(0);

	ck_assert_ptr_nonnull(s);
	ck_assert_msg(s[0] != '\0', "empty text for 0");
	ck_assert_str_ne(s, unknown_text);
	for (size_t i = 0; i < N_LIB_CODES; i++)
		ck_assert_str_ne(s, vmmem_strerror(lib_codes[i]));
	ck_assert_str_ne(s, vmmem_strerror(-EINVAL));
}
END_TEST

START_TEST(test_error_strerror_unknown)
{
	static const int unknown[] = { -10000, LAST_LIB_CODE - 1, LAST_LIB_CODE - 2, -10100,
				       -20000, -1000000, -5000, -4096, -1000, INT_MIN, INT_MAX,
				       -(LAST_LIB_CODE - 1), 10000, 20000, -(INT_MAX) };

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		const char *got = vmmem_strerror(unknown[i]);

		ck_assert_ptr_nonnull(got);
		ck_assert_msg(strcmp(got, unknown_text) == 0, "vmmem_strerror(%d) = \"%s\"",
			      unknown[i], got);
	}
}
END_TEST

START_TEST(test_error_strerror_positive_is_negation)
{
	for (size_t i = 0; i < N_LIB_CODES; i++) {
		char neg[256];

		snprintf(neg, sizeof(neg), "%s", vmmem_strerror(lib_codes[i]));
		ck_assert_str_eq(vmmem_strerror(-lib_codes[i]), neg);
	}
	ck_assert_str_eq(vmmem_strerror(EINVAL), vmmem_strerror(-EINVAL));
	ck_assert_str_eq(vmmem_strerror(EINVAL), strerror(EINVAL));
	ck_assert_str_eq(vmmem_strerror(EOVERFLOW), vmmem_strerror(-EOVERFLOW));
	ck_assert_str_eq(vmmem_strerror(ENOMEM), vmmem_strerror(-ENOMEM));
	ck_assert_str_eq(vmmem_strerror(10003), vmmem_strerror(VMMEM_E_NO_REGIONS));
}
END_TEST

/* ---- vmmem_errormsg ------------------------------------------------------------------- */

/* Make a libvmmem call fail: a region of size 0. */
static int fail_zero_size(void *host)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_new(&r, 0x1000, 0, host, 0);

	ck_assert_ptr_null(r);
	return rc;
}

START_TEST(test_error_errormsg_set_after_failure)
{
	void *p = tu_map_anon(tu_page_size());
	const char *msg;

	ck_assert_int_eq(fail_zero_size(p), VMMEM_E_ZERO_SIZE);
	msg = vmmem_errormsg();
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(msg[0] != '\0', "no message after a failure");
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_error_errormsg_kept_by_success)
{
	size_t pg = tu_page_size();
	void *p = tu_map_anon(pg);
	struct vmmem_region *r = NULL;
	char saved[1024];

	ck_assert_int_eq(fail_zero_size(p), VMMEM_E_ZERO_SIZE);
	snprintf(saved, sizeof(saved), "%s", vmmem_errormsg());
	ck_assert_msg(saved[0] != '\0', "no message after a failure");

	/* Successful calls leave the message as it was. */
	ck_assert_int_eq(vmmem_region_new(&r, 0x1000, pg, p, 0), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(vmmem_region_size(r), pg);
	(void)vmmem_strerror(VMMEM_E_OVERLAP);
	ck_assert_str_eq(vmmem_errormsg(), saved);
	vmmem_region_unref(r);
	ck_assert_str_eq(vmmem_errormsg(), saved);
	tu_unmap(p, pg);
}
END_TEST

START_TEST(test_error_errormsg_replaced_by_next_failure)
{
	size_t pg = tu_page_size();
	void *p = tu_map_anon(pg);
	struct vmmem_region *r = NULL;
	char first[1024];

	ck_assert_int_eq(fail_zero_size(p), VMMEM_E_ZERO_SIZE);
	snprintf(first, sizeof(first), "%s", vmmem_errormsg());
	ck_assert_msg(first[0] != '\0', "no message after a failure");

	/* A different failure (misaligned host) gives a non-empty message too. */
	ck_assert_int_eq(vmmem_region_new(&r, 0, pg, (char *)p + 1, 0), VMMEM_E_MISALIGNED);
	ck_assert_ptr_null(r);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message after a failure");
	tu_unmap(p, pg);
}
END_TEST

struct thread_msg {
	void *host;
	int fail;          /* make a call fail in the thread first */
	int rc;            /* return code of that call */
	char before[1024]; /* message at thread start */
	char after[1024];  /* message after the failure (or at end) */
};

static void *msg_thread(void *arg)
{
	struct thread_msg *t = arg;
	struct vmmem_region *r = NULL;

	snprintf(t->before, sizeof(t->before), "%s", vmmem_errormsg());
	if (t->fail)
		t->rc = vmmem_region_new(&r, UINT64_MAX - 0xfff, 0x2000, t->host, 0);
	snprintf(t->after, sizeof(t->after), "%s", vmmem_errormsg());
	return NULL;
}

START_TEST(test_error_errormsg_empty_in_new_thread)
{
	void *p = tu_map_anon(tu_page_size());
	struct thread_msg t;
	pthread_t th;

	memset(&t, 0, sizeof(t));
	t.host = p;
	/* The main thread failed just before; the new thread must not see it. */
	ck_assert_int_eq(fail_zero_size(p), VMMEM_E_ZERO_SIZE);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message after a failure");
	ck_assert_int_eq(pthread_create(&th, NULL, msg_thread, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_str_eq(t.before, "");
	ck_assert_str_eq(t.after, "");
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_error_errormsg_thread_local)
{
	void *p = tu_map_anon(tu_page_size());
	struct thread_msg t;
	pthread_t th;
	char mine[1024];

	memset(&t, 0, sizeof(t));
	t.host = p;
	t.fail = 1;
	ck_assert_int_eq(fail_zero_size(p), VMMEM_E_ZERO_SIZE);
	snprintf(mine, sizeof(mine), "%s", vmmem_errormsg());
	ck_assert_msg(mine[0] != '\0', "no message after a failure");

	/* The other thread fails differently; its message is its own... */
	ck_assert_int_eq(pthread_create(&th, NULL, msg_thread, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(t.rc, -EOVERFLOW);
	ck_assert_str_eq(t.before, "");
	ck_assert_msg(t.after[0] != '\0', "no message in the thread after its failure");
	/* ...and the main thread's message is unchanged by it. */
	ck_assert_str_eq(vmmem_errormsg(), mine);
	tu_unmap(p, tu_page_size());
}
END_TEST

static void *fail_and_check_thread(void *arg)
{
	struct thread_msg *t = arg;

	t->rc = fail_zero_size(t->host);
	snprintf(t->after, sizeof(t->after), "%s", vmmem_errormsg());
	return NULL;
}

START_TEST(test_error_errormsg_main_thread_unaffected)
{
	void *p = tu_map_anon(tu_page_size());
	struct thread_msg t;
	pthread_t th;
	char mine[1024];
	struct vmmem_region *r = NULL;

	memset(&t, 0, sizeof(t));
	t.host = p;
	ck_assert_int_eq(vmmem_region_new(&r, UINT64_MAX, 1, p, 0), -EOVERFLOW);
	snprintf(mine, sizeof(mine), "%s", vmmem_errormsg());
	ck_assert_msg(mine[0] != '\0', "no message after a failure");
	ck_assert_int_eq(pthread_create(&th, NULL, fail_and_check_thread, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(t.rc, VMMEM_E_ZERO_SIZE);
	ck_assert_msg(t.after[0] != '\0', "no message in the thread after its failure");
	ck_assert_str_eq(vmmem_errormsg(), mine);
	tu_unmap(p, tu_page_size());
}
END_TEST

/* ---- version -------------------------------------------------------------------------- */

START_TEST(test_error_version_number)
{
	ck_assert_uint_eq(vmmem_version(), (unsigned int)VMMEM_VERSION);
	ck_assert_uint_eq(vmmem_version() >> 16, (unsigned int)VMMEM_VERSION_MAJOR);
	ck_assert_uint_eq((vmmem_version() >> 8) & 0xff, (unsigned int)VMMEM_VERSION_MINOR);
	ck_assert_uint_eq(vmmem_version() & 0xff, (unsigned int)VMMEM_VERSION_PATCH);
	ck_assert_uint_eq((unsigned int)VMMEM_VERSION,
			  ((unsigned int)VMMEM_VERSION_MAJOR << 16) |
				  ((unsigned int)VMMEM_VERSION_MINOR << 8) |
				  (unsigned int)VMMEM_VERSION_PATCH);
	ck_assert_int_ge(VMMEM_VERSION_MAJOR, 1);
}
END_TEST

START_TEST(test_error_version_string)
{
	char want[64];
	const char *s = vmmem_version_string();

	snprintf(want, sizeof(want), "%d.%d.%d", VMMEM_VERSION_MAJOR, VMMEM_VERSION_MINOR,
		 VMMEM_VERSION_PATCH);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	/* Static: the same string every time. */
	ck_assert_str_eq(vmmem_version_string(), want);
}
END_TEST

Suite *error_suite(void);
Suite *error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc = tcase_create("strerror");

	tcase_add_test(tc, test_error_codes_values);
	tcase_add_test(tc, test_error_strerror_library_codes_distinct);
	tcase_add_test(tc, test_error_strerror_library_codes_stable);
	tcase_add_test(tc, test_error_strerror_errno);
	tcase_add_test(tc, test_error_strerror_errno_differs_from_library);
	tcase_add_test(tc, test_error_strerror_zero);
	tcase_add_test(tc, test_error_strerror_unknown);
	tcase_add_test(tc, test_error_strerror_positive_is_negation);
	suite_add_tcase(s, tc);

	tc = tcase_create("errormsg");
	tcase_add_test(tc, test_error_errormsg_set_after_failure);
	tcase_add_test(tc, test_error_errormsg_kept_by_success);
	tcase_add_test(tc, test_error_errormsg_replaced_by_next_failure);
	tcase_add_test(tc, test_error_errormsg_empty_in_new_thread);
	tcase_add_test(tc, test_error_errormsg_thread_local);
	tcase_add_test(tc, test_error_errormsg_main_thread_unaffected);
	suite_add_tcase(s, tc);

	tc = tcase_create("version");
	tcase_add_test(tc, test_error_version_number);
	tcase_add_test(tc, test_error_version_string);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(error_suite());
}
