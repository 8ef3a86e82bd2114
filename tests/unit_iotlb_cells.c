/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Unit tests of the IOTLB table's cells (core/iotlb.c's internal table builders, linked
 * from the library's objects): tables whose entries are laid out directly, without 10^5
 * updates. The case
 * that matters: a table allocated for more than 2^17 entries (so with two cells only)
 * whose count needs at most 2^18 buckets of at most 4 GiB must not build its cells into
 * the two it has. Every lookup is checked against the entries.
 */
#include <check.h>
#include <stdlib.h>

#include "iotlb.h"
#include "tu_run.h"

/* A table of @cap entries holding @n one-byte entries at IOVA 0x1000 + i * stride, GPA
 * 0x80000 + i, alternating read and write permission (so none would merge). */
static struct vmm_iotlb_table *dense(size_t cap, size_t n, uint64_t stride)
{
	struct vmm_iotlb_table *t = vmm_iotlb_table_new(cap);

	ck_assert_ptr_nonnull(t);
	for (size_t i = 0; i < n; i++)
		t->e[i] = (struct vmm_iotlb_entry){ .iova = 0x1000 + i * stride,
						    .last = 0x1000 + i * stride,
						    .gpa = 0x80000 + i,
						    .meta = (uint64_t)i << 2 | (1 + (i & 1)) };
	t->count = n;
	vmm_iotlb_table_index(t);
	return t;
}

/* Every byte of the first and last @probe entries and of the gaps beside them, through the
 * cells and through the entries: the cells never say more than the entries. */
static void check_lookups(const struct vmm_iotlb_table *t, size_t n, uint64_t stride,
			  size_t probe)
{
	for (size_t k = 0; k < 2 * probe; k++) {
		size_t i = k < probe ? k : n - 2 * probe + k;

		for (uint64_t d = 0; d < stride; d++) {
			uint64_t iova = 0x1000 + i * stride + d, gpa = 0;
			const struct vmm_iotlb_entry *e = vmm_iotlb_entry_at(t, iova);
			unsigned int perm = 1 + (i & 1);

			ck_assert(e == NULL || e == &t->e[i]);
			ck_assert_int_eq(e != NULL, d == 0);
			for (unsigned int access = 1; access <= 3; access++) {
				bool ok = vmm_iotlb_cell_find(t, iova, 1, access, &gpa);

				if (ok)
					ck_assert_uint_eq(gpa, 0x80000 + i);
				ck_assert(!ok || (d == 0 && (perm & access) == access));
				ck_assert(!vmm_iotlb_cell_find(t, iova, 2, access, &gpa));
			}
		}
	}
}

START_TEST(test_cells_capacity_beyond_cells)
{
	/* Room for 2^17 + 100 entries: bucket_bits(cap) = 19, so table_new gives two cells;
	 * the count needs 2^18 buckets of one byte (shift 0), which fits the cells' limits. */
	const size_t cap = ((size_t)1 << 17) + 100, n = ((size_t)1 << 17) + 50;
	struct vmm_iotlb_table *t = dense(cap, n, 1);

	ck_assert_uint_eq(t->ncells, 2);
	ck_assert_uint_eq(t->cshift, 63); /* no cells built: there is no room */
	check_lookups(t, n, 1, 64);
	vmm_iotlb_table_free(t);
}
END_TEST

START_TEST(test_cells_built_and_exact)
{
	/* The same layout with room for it: cells are built and agree with the entries. */
	const size_t n = 5000;
	struct vmm_iotlb_table *t = dense(n, n, 3);

	ck_assert_uint_gt(t->ncells, 2);
	ck_assert_uint_eq(t->cshift, t->shift);
	check_lookups(t, n, 3, n / 2);
	vmm_iotlb_table_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("iotlb_cells");
	TCase *tc = tcase_create("cells");

	tcase_add_test(tc, test_cells_capacity_beyond_cells);
	tcase_add_test(tc, test_cells_built_and_exact);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
