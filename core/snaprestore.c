/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Reading snapshots back: vmmem_snapshot_verify, vmmem_snapshot_apply (a diff onto live
 * memory) and vmmem_snapshot_restore by copy (worker threads pread straight into the new
 * regions, skipping holes, and checksum what they read) or by private mapping of the file.
 * Lazy restore is lazy.c's. Every restore builds the whole memory before handing it out:
 * a failure frees what was built, so no half-restored memory ever reaches the caller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmmem/access.h>
#include <vmmem/dirty.h>
#include <vmmem/snapshot.h>

#include "config.h"
#include "crc32c.h"
#include "error.h"
#include "lazy.h"
#include "memory.h"
#include "region.h"
#include "snapfile.h"
#include "snapio.h"

int
vmmem_snapshot_verify(const struct vmmem_snapshot *s, vmmem_progress_fn progress,
		      void *progress_arg)
{
	struct vmm_progress prog;
	uint8_t *buf;
	int rc = 0;

	VMM_CHECK_ARG(s);
	buf = aligned_alloc(4096, VMM_SNAP_CHUNK);
	if (!buf)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	vmm_progress_init(&prog, progress, progress_arg, s->data_bytes);
	for (size_t i = 0; i < s->n_regions && rc == 0; i++)
		rc = vmm_snap_verify_region(s, i, buf, &prog);
	if (rc == 0 && s->data_bytes == 0 && progress)
		rc = vmm_progress_add(&prog, 0);
	free(buf);
	return rc;
}

/* ---- apply a diff onto memory ---------------------------------------------------------- */

static int check_apply_target(const struct vmmem_snapshot *d, const struct vmmem_memory *m)
{
	for (size_t i = 0; i < d->n_regions; i++) {
		const struct vmm_snap_region *t = &d->regions[i];

		for (uint64_t k = 0; k < t->n_ranges; k++) {
			uint64_t gpa = t->gpa + t->ranges[k].offset, off;
			struct vmmem_region *r;

			if (vmmem_memory_to_region(m, gpa, &r, &off) != 0 ||
			    t->ranges[k].length > r->size - off)
				return vmm_err(VMMEM_E_UNMAPPED,
					       "apply: diff range [0x%llx, +%llu) of region %zu is not "
					       "inside one region of the memory",
					       (unsigned long long)gpa,
					       (unsigned long long)t->ranges[k].length, i);
			if (r->flags & VMMEM_REGION_READ_ONLY)
				return vmm_err(VMMEM_E_READ_ONLY,
					       "apply: diff range at gpa 0x%llx lies in a read-only "
					       "region",
					       (unsigned long long)gpa);
		}
	}
	return 0;
}

static int apply_range(const struct vmmem_snapshot *d, const struct vmmem_memory *m,
		       uint64_t gpa, const struct vmm_snap_range *g, uint8_t *buf, uint32_t *crc)
{
	struct vmm_extents it;
	uint64_t off, n;
	bool data;
	int rc;

	vmm_extents_init(&it, &d->extents, g->file_offset, g->length);
	while ((rc = vmm_extents_next(&it, VMM_SNAP_CHUNK, &off, &n, &data)) > 0) {
		for (uint64_t done = 0; done < n;) {
			uint64_t len = n - done < VMM_SNAP_CHUNK ? n - done : VMM_SNAP_CHUNK;

			rc = 0;
			if (data)
				rc = vmm_snap_pread(d->fd, buf, len, g->file_offset + off + done);
			else
				memset(buf, 0, len);
			*crc = vmm_crc32c(*crc, buf, len);
			if (rc == 0)
				rc = vmmem_memory_write_exact(m, gpa + off + done, buf, len, NULL);
			if (rc)
				return rc;
			done += len;
		}
	}
	return rc;
}

int
vmmem_snapshot_apply(const struct vmmem_snapshot *diff, const struct vmmem_memory *m)
{
	uint8_t *buf;
	int rc;

	VMM_CHECK_ARG(diff);
	VMM_CHECK_ARG(m);
	if (!(diff->flags & VMM_SNAP_FLAG_DIFF))
		return vmm_err(VMMEM_E_SNAPSHOT_PARENT,
			       "apply: the snapshot is a full one; restore it instead");
	rc = check_apply_target(diff, m);
	if (rc)
		return rc;
	/* All of the diff is checked before the first byte of memory changes. */
	rc = vmmem_snapshot_verify(diff, NULL, NULL);
	if (rc)
		return rc;
	buf = aligned_alloc(4096, VMM_SNAP_CHUNK);
	if (!buf)
		return vmm_err(-ENOMEM, "apply: out of memory");
	for (size_t i = 0; i < diff->n_regions && rc == 0; i++) {
		const struct vmm_snap_region *t = &diff->regions[i];
		uint32_t crc = 0;

		for (uint64_t k = 0; k < t->n_ranges && rc == 0; k++)
			rc = apply_range(diff, m, t->gpa + t->ranges[k].offset, &t->ranges[k], buf,
					 &crc);
		/* Verified above; a mismatch now means the file changed while we applied it. */
		if (rc == 0 && crc != t->crc)
			rc = vmm_err(VMMEM_E_SNAPSHOT_CHECKSUM,
				     "apply: region %zu of the diff changed while it was applied: "
				     "the memory holds a mix and must be restored again",
				     i);
	}
	free(buf);
	return rc;
}

/* ---- restore by copy ------------------------------------------------------------------- */

#define COPY_TASK (64ull << 20)

struct copy_task {
	size_t region;
	uint64_t offset; /* in the region */
	uint64_t length;
	uint32_t crc;
};

struct copy_job {
	const struct vmmem_snapshot *s;
	struct vmmem_region **regions;
	bool *fresh;  /* per region: reads as zeros already, holes need no writing */
	struct copy_task *tasks;
	size_t n_tasks;
	size_t next;  /* atomic: the next task to take */
	bool stop;    /* atomic: a worker failed */
	pthread_mutex_t lock;
	int rc;       /* first failure, under lock */
	char msg[512];
	struct vmm_progress prog; /* under lock */
};

static int copy_task(struct copy_job *job, struct copy_task *t)
{
	const struct vmm_snap_region *sr = &job->s->regions[t->region];
	uint8_t *host = job->regions[t->region]->host + t->offset;
	uint64_t file = sr->ranges[0].file_offset + t->offset, off, n;
	struct vmm_extents it;
	bool data;
	int rc;

	vmm_extents_init(&it, &job->s->extents, file, t->length);
	while ((rc = vmm_extents_next(&it, VMM_SNAP_CHUNK, &off, &n, &data)) > 0) {
		if (__atomic_load_n(&job->stop, __ATOMIC_RELAXED))
			return -ECANCELED;
		if (data) {
			/* The new region is private to this restore: read straight into it. */
			rc = vmm_snap_pread(job->s->fd, host + off, n, file + off);
			if (rc)
				return rc;
			t->crc = vmm_crc32c(t->crc, host + off, n);
		} else {
			if (!job->fresh[t->region]) /* a reopened file: holes must become zeros */
				memset(host + off, 0, n);
			t->crc = vmm_crc32c_zeros(t->crc, n);
		}
		pthread_mutex_lock(&job->lock);
		rc = vmm_progress_add(&job->prog, n);
		pthread_mutex_unlock(&job->lock);
		if (rc)
			return rc;
	}
	return rc;
}

static void *copy_worker(void *arg)
{
	struct copy_job *job = arg;

	for (;;) {
		size_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
		int rc;

		if (i >= job->n_tasks || __atomic_load_n(&job->stop, __ATOMIC_RELAXED))
			return NULL;
		rc = copy_task(job, &job->tasks[i]);
		if (rc) {
			pthread_mutex_lock(&job->lock);
			if (job->rc == 0 || job->rc == -ECANCELED) {
				job->rc = rc;
				snprintf(job->msg, sizeof(job->msg), "%s", vmmem_errormsg());
			}
			pthread_mutex_unlock(&job->lock);
			__atomic_store_n(&job->stop, true, __ATOMIC_RELAXED);
			return NULL;
		}
	}
}

static unsigned int worker_count(uint32_t asked, size_t tasks)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int n = asked ? asked : (cpus > 8 ? 8 : cpus > 0 ? (unsigned int)cpus : 1);

	if (n > 64)
		n = 64;
	return n > tasks ? (tasks ? (unsigned int)tasks : 1) : n;
}

static int make_tasks(struct copy_job *job)
{
	const struct vmmem_snapshot *s = job->s;
	size_t n = 0;

	for (size_t i = 0; i < s->n_regions; i++)
		n += (s->regions[i].size + COPY_TASK - 1) / COPY_TASK;
	job->tasks = calloc(n, sizeof(*job->tasks));
	if (!job->tasks)
		return vmm_err(-ENOMEM, "restore: out of memory");
	for (size_t i = 0; i < s->n_regions; i++)
		for (uint64_t off = 0; off < s->regions[i].size; off += COPY_TASK) {
			uint64_t left = s->regions[i].size - off;

			job->tasks[job->n_tasks++] = (struct copy_task){
				.region = i, .offset = off, .length = left < COPY_TASK ? left : COPY_TASK
			};
		}
	return 0;
}

/* Join the tasks' checksums region by region and compare with the table. */
static int check_copied(const struct copy_job *job)
{
	size_t t = 0;

	for (size_t i = 0; i < job->s->n_regions; i++) {
		uint32_t crc = 0;

		for (; t < job->n_tasks && job->tasks[t].region == i; t++)
			crc = vmm_crc32c_combine(crc, job->tasks[t].crc, job->tasks[t].length);
		if (crc != job->s->regions[i].crc)
			return vmm_snap_checksum_error(job->s, i, crc);
	}
	return 0;
}

static int restore_copy(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
			const struct vmmem_restore_opts *opts, struct vmmem_region ***regions)
{
	struct copy_job job = { .s = s, .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t tid[64];
	unsigned int workers, started = 0;
	int rc;

	rc = vmm_snap_create_regions(s, ctx, opts->config, false, regions);
	if (rc)
		return rc;
	job.regions = *regions;
	job.fresh = calloc(s->n_regions, sizeof(*job.fresh));
	if (!job.fresh) {
		rc = vmm_err(-ENOMEM, "restore: out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->n_regions; i++)
		job.fresh[i] = vmm_snap_region_fresh(job.regions[i]);
	rc = make_tasks(&job);
	if (rc)
		goto out;
	vmm_progress_init(&job.prog, opts->progress, opts->progress_arg, s->guest_bytes);
	workers = worker_count(opts->threads, job.n_tasks);
	for (; started + 1 < workers; started++)
		if (pthread_create(&tid[started], NULL, copy_worker, &job) != 0)
			break; /* fewer threads is still correct */
	copy_worker(&job);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	rc = job.rc;
	if (rc)
		vmm_err(rc, "%s", job.msg);
	else
		rc = check_copied(&job);
out:
	free(job.tasks);
	free(job.fresh);
	return rc;
}

/* ---- restore by mapping the file -------------------------------------------------------- */

/* Turn on tracking as the region's config string says. */
static int track_as_configured(struct vmmem_region *r, const char *spec)
{
	struct vmmem_config *cfg;
	int rc = 0;

	if (vmmem_config_parse(&cfg, spec) != 0)
		return 0; /* checked when the snapshot was opened for copy/lazy; map needs none */
	if (cfg->n_regions == 1 && cfg->regions[0].dirty_log)
		rc = vmmem_region_dirty_enable(r, cfg->regions[0].dirty_page_size);
	vmmem_config_free(cfg);
	return rc;
}

static int restore_map(const struct vmmem_snapshot *s, struct vmmem_region ***out)
{
	uint64_t hps = vmm_host_page_size();
	struct vmmem_region **regions;
	int rc = 0;

	if (s->page_size % hps)
		return vmm_err(VMMEM_E_SNAPSHOT_PAGE_SIZE,
			       "restore: the file's page size %u is not a multiple of the host's "
			       "%llu, so its data cannot be mapped; restore by copy",
			       s->page_size, (unsigned long long)hps);
	regions = calloc(s->n_regions, sizeof(*regions));
	if (!regions)
		return vmm_err(-ENOMEM, "restore: out of memory");
	for (size_t i = 0; i < s->n_regions && rc == 0; i++) {
		const struct vmm_snap_region *t = &s->regions[i];
		uint64_t len = vmm_align_up(t->size, hps);
		uint32_t flags = VMMEM_REGION_OWN_MAPPING;
		void *addr;

		if (t->flags & VMM_SNAP_REGION_READ_ONLY)
			flags |= VMMEM_REGION_READ_ONLY;
		addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, s->fd,
			    (off_t)t->data_offset);
		if (addr == MAP_FAILED) {
			rc = vmm_err(-errno, "restore: cannot map region %zu (%llu bytes at file "
					     "offset %llu): %m",
				     i, (unsigned long long)len, (unsigned long long)t->data_offset);
			break;
		}
		rc = vmmem_region_new(&regions[i], t->gpa, t->size, addr, flags);
		if (rc) {
			munmap(addr, len);
			break;
		}
		regions[i]->spec = strdup(t->spec);
		if (!regions[i]->spec)
			rc = vmm_err(-ENOMEM, "restore: out of memory");
		else
			rc = track_as_configured(regions[i], t->spec);
	}
	if (rc) {
		vmm_snap_unref_regions(regions, s->n_regions);
		return rc;
	}
	*out = regions;
	return 0;
}

/* ---- restore ----------------------------------------------------------------------------- */

static int check_restore_args(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
			      const struct vmmem_restore_opts *opts, struct vmmem_restore **lazy)
{
	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(opts);
	if (opts->size < sizeof(*opts))
		return vmm_err(-EINVAL, "restore: options size %u is smaller than %zu", opts->size,
			       sizeof(*opts));
	if (opts->mode < VMMEM_RESTORE_COPY || opts->mode > VMMEM_RESTORE_LAZY)
		return vmm_err(-EINVAL, "restore: unknown mode %u", opts->mode);
	if (opts->flags & ~(VMMEM_RESTORE_VERIFY | VMMEM_RESTORE_NO_PREFETCH))
		return vmm_err(-EINVAL, "restore: unknown flags 0x%x", opts->flags);
	if (opts->mode != VMMEM_RESTORE_MAP && !ctx)
		return vmm_err(-EINVAL, "restore: copy and lazy restore need a provider context");
	if (opts->mode == VMMEM_RESTORE_LAZY && !lazy)
		return vmm_err(-EINVAL, "restore: lazy restore needs somewhere to return the "
					"restore handle");
	if (s->flags & VMM_SNAP_FLAG_DIFF)
		return vmm_err(VMMEM_E_SNAPSHOT_PARENT,
			       "restore: the snapshot is a diff; merge it onto its parent, or "
			       "restore the parent and apply it");
	return 0;
}

int
vmmem_snapshot_restore(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
		       const struct vmmem_restore_opts *opts, struct vmmem_memory **out,
		       struct vmmem_restore **lazy)
{
	struct vmmem_region **regions = NULL;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	if (lazy)
		*lazy = NULL;
	rc = check_restore_args(s, ctx, opts, lazy);
	if (rc)
		return rc;
	switch (opts->mode) {
	case VMMEM_RESTORE_COPY:
		rc = restore_copy(s, ctx, opts, &regions);
		break;
	case VMMEM_RESTORE_MAP:
		rc = (opts->flags & VMMEM_RESTORE_VERIFY)
			     ? vmmem_snapshot_verify(s, opts->progress, opts->progress_arg)
			     : 0;
		if (rc == 0)
			rc = restore_map(s, &regions);
		break;
	default:
		return vmm_lazy_restore(s, ctx, opts, out, lazy);
	}
	if (rc == 0)
		rc = vmmem_memory_new(out, regions, s->n_regions);
	vmm_snap_unref_regions(regions, regions ? s->n_regions : 0);
	return rc;
}
