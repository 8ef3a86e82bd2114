/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/provider.h
 * @brief The provider ABI: what a memory provider plugin implements and what the core
 *        gives it. Not included by vmmem.h; applications never need it.
 *
 * A provider creates and destroys host mappings for guest memory regions (anonymous memory,
 * memfd, hugetlbfs, ...). It lives in a plugin, `libvmmem-<name>.so`, which the core loads
 * with dlopen(RTLD_NOW | RTLD_LOCAL) and enters through one symbol,
 * ::VMMEM_PROVIDER_ENTRY_NAME. The plugin never links libvmmem.so: everything it needs
 * from the core (registration, error reporting, allocation, preallocation) comes in the
 * `struct vmmem_core_api` table passed to the entry point. A hypervisor can also register a
 * provider compiled into its own program with vmmem_ctx_register_provider().
 *
 * Every table crossing the boundary starts with its size as compiled, and only grows at
 * the end (append-only). The core accepts a provider table at least as large as ABI 1.0's
 * (for the ops table: through destroy; optional ops may be absent) and ignores fields past the
 * ones it knows; it refuses a different ::VMMEM_PROVIDER_ABI_MAJOR.
 * The table is validated once at registration and absent optional ops are replaced by
 * core defaults, so nothing is re-checked on later calls.
 *
 * Only the control path goes through these function pointers (create, destroy, discard).
 * Guest reads, writes and translation use the fields of `struct vmmem_mapping` that the
 * core caches when the region is made.
 *
 * Threading: create may run concurrently for different regions; destroy and discard are
 * never called concurrently for the same mapping.
 */
#ifndef VMMEM_PROVIDER_H
#define VMMEM_PROVIDER_H

#include <stdarg.h>

#include <vmmem/common.h>
#include <vmmem/error.h> /* the VMMEM_E_* codes providers return */

VMMEM_BEGIN_DECLS

/** Incompatible provider-ABI changes bump this; the core refuses other majors. */
#define VMMEM_PROVIDER_ABI_MAJOR 1
/** Compatible additions (fields appended to the tables) bump this. */
#define VMMEM_PROVIDER_ABI_MINOR 1

/** Name of the entry symbol every provider plugin exports. */
#define VMMEM_PROVIDER_ENTRY_NAME "vmmem_provider_init"

/** The core's handle for one plugin being initialised (opaque to the plugin). */
struct vmmem_provider_handle;

/** Type of a provider option's value. */
enum vmmem_option_type {
	VMMEM_OPTION_BOOL = 1,   /**< on/off (also yes/no, true/false) */
	VMMEM_OPTION_SIZE = 2,   /**< bytes, with optional K/M/G/T suffix (powers of 1024) */
	VMMEM_OPTION_UINT = 3,   /**< unsigned decimal or 0x-hex integer */
	VMMEM_OPTION_STRING = 4, /**< any text; ",," in a config string stands for "," */
};

/** One option a provider accepts. Arrays of these end with an entry whose key is NULL. */
struct vmmem_option_desc {
	const char *key;           /**< e.g. "hugetlbsize" (QEMU spelling where one exists) */
	uint32_t type;             /**< enum vmmem_option_type */
	uint32_t reserved;         /**< zero */
	const char *default_value; /**< as text, or NULL for "unset" */
	const char *help;          /**< one line */
};

/** A parsed option value, one per declared option, in declaration order. */
struct vmmem_option_value {
	uint32_t is_set; /**< 1 if the config string gave it, 0 if the default applies */
	uint32_t reserved; /**< zero (padding; may gain a meaning in a later minor) */
	uint64_t num;    /**< BOOL (0/1), SIZE and UINT values, the default if not set */
	const char *str; /**< STRING values (NULL if unset and no default); valid during create */
};

/** Parameters of one region to create. */
struct vmmem_provider_params {
	uint32_t size;          /**< sizeof(struct vmmem_provider_params) as compiled in the core */
	uint32_t reserved; /**< zero (padding; may gain a meaning in a later minor) */
	uint64_t gpa;           /**< guest-physical start (informational for the provider) */
	uint64_t length;        /**< bytes to map, > 0 */
	const struct vmmem_option_value *options; /**< one per declared option */
	uint32_t n_options;     /**< number of entries in @p options */
	uint32_t reserved2; /**< zero (padding; may gain a meaning in a later minor) */
	/* ABI 1.0 ends here; append only */
	/** VMMEM_PARAM_* flags; read it only if @p size covers it. @since provider ABI 1.1 */
	uint32_t flags;
	uint32_t reserved3; /**< zero (padding; may gain a meaning in a later minor) */
	/* ABI 1.1 ends here; append only */
};

/**
 * The region is read-only (readonly=on): the provider may open its backing read-only and
 * map it PROT_READ. The core refuses writes through its access API either way.
 * @since provider ABI 1.1
 */
#define VMMEM_PARAM_READ_ONLY 0x1u

/** Mapping flags a provider reports. */
#define VMMEM_MAPPING_SHARED 0x1u  /**< MAP_SHARED: other mappers of the fd see writes */
#define VMMEM_MAPPING_HUGETLB 0x2u /**< backed by hugetlb pages */
#define VMMEM_MAPPING_SEALED 0x4u  /**< fd sealed against shrinking (F_SEAL_SHRINK) */
/**
 * Another process may shrink the backing file under the mapping (a plain file: no
 * F_SEAL_SHRINK), which would make accesses past its new end raise SIGBUS; the core then
 * turns such faults into errors (-EFAULT) instead of letting them kill the process.
 * @since provider ABI 1.1
 */
#define VMMEM_MAPPING_TRUNCATABLE 0x8u
/**
 * Set by the core (never by a provider) in the flags of a mapping it hands back to destroy
 * because making the region failed after create returned (a failed madvise, prealloc or
 * allocation): the region never existed, so destroy should also undo what it would
 * otherwise leave behind on purpose, e.g. remove a file create made for keep=on.
 * @since 1.1
 */
#define VMMEM_MAPPING_ABANDONED 0x80000000u

/** A host mapping made by a provider; the core caches these fields in the region. */
struct vmmem_mapping {
	uint32_t size;       /**< sizeof(struct vmmem_mapping) as compiled in the core */
	uint32_t flags;      /**< VMMEM_MAPPING_* */
	void *addr;          /**< host address, aligned to page_size */
	uint64_t length;     /**< bytes mapped (the requested length) */
	uint64_t page_size;  /**< backing page size (4 KiB, 2 MiB, 1 GiB ...) */
	int fd;              /**< descriptor behind the mapping, owned by the provider, or -1 */
	uint32_t reserved; /**< zero (padding; may gain a meaning in a later minor) */
	uint64_t fd_offset;  /**< file offset of addr */
	void *priv;          /**< provider-private data, passed back to destroy/discard */
	/* ABI 1.0 ends here; append only */
};

/** A provider's operations. create and destroy are mandatory. */
struct vmmem_provider_ops {
	uint32_t size; /**< sizeof(struct vmmem_provider_ops) as compiled in the provider */
	uint32_t reserved; /**< zero (padding; may gain a meaning in a later minor) */
	/** Map @p params->length bytes; fill @p out (already zeroed, size set, fd = -1).
	 *  Returns 0 or a negative error (report detail with core->set_error). On failure
	 *  nothing may be left mapped or open. */
	int (*create)(void *provider_data, const struct vmmem_provider_params *params,
		      struct vmmem_mapping *out);
	/** Undo create: unmap, close, free priv. */
	void (*destroy)(void *provider_data, struct vmmem_mapping *mapping);
	/** Optional: give back the memory of [offset, offset + length) of the mapping, which
	 *  then reads as zeroes. The core has checked bounds, page alignment and writability.
	 *  Absent: the core's default returns -EOPNOTSUPP. */
	int (*discard)(void *provider_data, struct vmmem_mapping *mapping, uint64_t offset,
		       uint64_t length);
	/* ABI 1.0 ends here; append only */
};

/** Describes one provider. */
struct vmmem_provider_desc {
	uint32_t size;      /**< sizeof(struct vmmem_provider_desc) as compiled in the provider */
	uint32_t abi_major; /**< VMMEM_PROVIDER_ABI_MAJOR the provider was built with */
	uint32_t abi_minor; /**< VMMEM_PROVIDER_ABI_MINOR the provider was built with */
	uint32_t version;   /**< the provider's own version, (major << 16) | (minor << 8) | patch */
	const char *name;   /**< unique, [a-z0-9_-]+, e.g. "memfd" */
	const char *description;                 /**< one line */
	const struct vmmem_option_desc *options; /**< NULL-key-terminated, may be NULL */
	const struct vmmem_provider_ops *ops; /**< the provider's operations */
	void *provider_data; /**< passed to every op */
	/* ABI 1.0 ends here; append only */
};

/** What the core gives a provider. */
struct vmmem_core_api {
	uint32_t size;      /**< sizeof(struct vmmem_core_api) as compiled in the core */
	uint32_t abi_major; /**< the core's VMMEM_PROVIDER_ABI_MAJOR */
	uint32_t abi_minor; /**< the core's VMMEM_PROVIDER_ABI_MINOR */
	uint32_t reserved; /**< zero (padding; may gain a meaning in a later minor) */
	/** Register a provider; the core copies what it needs from @p desc, but @p desc's
	 *  strings, options and ops must stay valid while the plugin is loaded. */
	int (*register_provider)(struct vmmem_provider_handle *handle,
				 const struct vmmem_provider_desc *desc);
	/** Record the detail message of a failure; returns @p code (a negative error). */
	int (*set_error)(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	void *(*alloc)(size_t size); /**< zeroed memory, NULL when out of memory */
	void (*free)(void *ptr); /**< frees what alloc returned */
	/** Populate [addr, addr + length) with writable pages using up to @p threads threads
	 *  (MADV_POPULATE_WRITE); returns 0 or -ENOMEM/-EFAULT instead of raising SIGBUS. */
	int (*prealloc)(void *addr, uint64_t length, uint64_t page_size, uint32_t threads);
	/** The host's base page size. */
	uint64_t (*host_page_size)(void);
	/* ABI 1.0 ends here; append only */
	/**
	 * Make the region's one mapping: mmap(2) with the same @p prot, @p flags, @p fd and
	 * @p offset and a length of @p params->length, but placed by the core, at an address
	 * aligned to the larger of @p page_size and the region's align=, between two guard
	 * pages (PROT_NONE, so a host overrun faults) unless guard=off. Call it from create,
	 * on create's thread, with the @p params pointer create received. destroy unmaps with
	 * munmap(addr, length) as usual; the core removes the guard pages after it. At most
	 * one call per create.
	 * Returns the address, or MAP_FAILED with errno set (EINVAL: bad @p page_size, or
	 * @p params not those of the create running on this thread; EBUSY: called twice;
	 * otherwise mmap's errno).
	 * Read it only if size covers it; older cores lack it (then mmap directly: the
	 * region gets no guard pages, and the core checks align= afterwards).
	 * @since provider ABI 1.1
	 */
	void *(*map)(const struct vmmem_provider_params *params, uint64_t page_size, int prot,
		     int flags, int fd, uint64_t offset);
	/* ABI 1.1 ends here; append only */
};

/**
 * @brief Signature of a plugin's entry point, exported as ::VMMEM_PROVIDER_ENTRY_NAME.
 *
 * It calls core->register_provider(handle, &desc) once per provider it contains, and
 * returns 0, or a negative error (which makes the core unload the plugin).
 */
typedef int vmmem_provider_init_fn(const struct vmmem_core_api *core,
				   struct vmmem_provider_handle *handle);

/** Marks the entry point for export from a plugin built with hidden visibility. */
#define VMMEM_PROVIDER_EXPORT __attribute__((visibility("default")))

VMMEM_END_DECLS

#endif /* VMMEM_PROVIDER_H */
