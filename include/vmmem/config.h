/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/config.h
 * @brief Config strings describing a whole guest memory, parsed without any I/O.
 *
 * Grammar (whitespace is allowed only around ';' and at the ends):
 * @code
 *   config   := region { ';' region } [ ';' ]
 *   region   := provider ':' option { ',' option }
 *   option   := key '=' value
 *   provider := [a-z0-9_-]+        key := [a-z0-9_-]+
 *   value    := any characters; ",," stands for ',' and ";;" for ';'
 * @endcode
 * Example: `memfd:gpa=0,size=1G,hugetlb=on,hugetlbsize=2M;anon:gpa=4G,size=3G,prealloc=on`
 *
 * Keys every region takes (handled by the core, whatever the provider):
 * | key | type | default | meaning |
 * |---|---|---|---|
 * | gpa | size | required | guest-physical address of the first byte |
 * | size | size | required | bytes, > 0; gpa + size must stay below 2^64 |
 * | prealloc | bool | off | populate every page at creation (MADV_POPULATE_WRITE) |
 * | prealloc-threads | uint | 1 | at most this many threads for prealloc (QEMU's caps apply) |
 * | dump | bool | on | off: MADV_DONTDUMP, keep guest memory out of core dumps |
 * | merge | bool | off | on: MADV_MERGEABLE (KSM) |
 * | readonly | bool | off | guest writes through libvmmem are refused |
 * | host-nodes | nodes | - | NUMA nodes below 64, e.g. 0-1,,3 (',' doubled in a config) |
 * | policy | default/preferred/bind/interleave | default | mbind on host-nodes (QEMU's) |
 * | lock | off/on/on-fault | off | mlock2 the pages (on-fault: MLOCK_ONFAULT, as they are
 *   touched), after prealloc; over RLIMIT_MEMLOCK the error names the limit |
 * | dirty-log | bool | off | track written pages (vmmem/dirty.h) |
 * | dirty-page-size | size | 4K | bytes per dirty bit: a power of two >= 4K (needs dirty-log=on) |
 * | align | size | page size | base alignment of the host mapping: a power of two, 4K to 1T (QEMU's) |
 * | guard | bool | on | one PROT_NONE page right below and above the host mapping, so a host
 *   overrun faults instead of reaching a neighbour (providers that map through core_api map) |
 *
 * Sizes are decimal or 0x-hex with an optional K, M, G or T suffix (powers of 1024);
 * booleans are on/off, yes/no or true/false. Other keys belong to the provider and are
 * checked against its option table when the memory is built (vmmem/ctx.h). The parser
 * checks syntax, the common keys, duplicate keys and overlapping regions; every error names
 * the key and its byte position in the string. docs/CONFIG.md is the full reference, with
 * every provider's options and their QEMU equivalents.
 */
#ifndef VMMEM_CONFIG_H
#define VMMEM_CONFIG_H

#include <vmmem/common.h>

VMMEM_BEGIN_DECLS

/** A parsed config string (opaque). */
struct vmmem_config;

/**
 * @brief Parse a config string.
 * @param[out] out the parsed config; NULL on failure.
 * @param text NUL-terminated config string.
 * @return 0, or
 * @retval -EINVAL                  @p out or @p text is NULL
 * @retval VMMEM_E_CONFIG_SYNTAX    malformed text (message gives the position)
 * @retval VMMEM_E_CONFIG_KEY       a key is repeated in a region, or gpa/size is missing
 * @retval VMMEM_E_CONFIG_VALUE     a common key's value is malformed, out of range, or 0 for
 *                                  size / prealloc-threads
 * @retval -EOVERFLOW               a region's gpa + size passes 2^64 - 1
 * @retval VMMEM_E_OVERLAP          two regions overlap (message names both positions)
 * @retval VMMEM_E_CONFIG_CONFLICT  dirty-page-size without dirty-log=on
 * @retval -ENOMEM                  out of memory
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_config_parse(struct vmmem_config **out, const char *text);

/**
 * @brief Free a config.
 * @param cfg a config, or NULL (then nothing happens).
 * @par Thread safety
 * MT-Unsafe (cfg).
 * @since 1.0
 */
VMMEM_EXPORT void vmmem_config_free(struct vmmem_config *cfg);

/**
 * @brief Number of regions in the config.
 * @return the count (>= 1), or 0 if @p cfg is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT size_t vmmem_config_region_count(const struct vmmem_config *cfg);

/**
 * @brief The provider, GPA and size of region @p index, in the order written.
 * @param[out] provider  provider name, valid until the config is freed; may be NULL.
 * @param[out] gpa       may be NULL.
 * @param[out] size      may be NULL.
 * @return 0, or -EINVAL (@p cfg NULL) or -ERANGE (@p index out of range).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_config_region(const struct vmmem_config *cfg, size_t index,
				     const char **provider, uint64_t *gpa, uint64_t *size);

/**
 * @brief Number of key=value options of region @p index (gpa and size included).
 * @return the count, or 0 if @p cfg is NULL or @p index is out of range.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT size_t vmmem_config_option_count(const struct vmmem_config *cfg, size_t index);

/**
 * @brief Option @p opt of region @p index, as written (",," already unescaped).
 * @param[out] key    may be NULL.
 * @param[out] value  may be NULL.
 * @return 0, or -EINVAL (@p cfg NULL) or -ERANGE (an index out of range).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_config_option(const struct vmmem_config *cfg, size_t index, size_t opt,
				     const char **key, const char **value);

/**
 * @brief Parse a size the way config strings do ("4096", "0x1000", "2M", "1g").
 * @param[out] out the value; written only on success.
 * @return 0, -EINVAL (@p text or @p out NULL), or ::VMMEM_E_CONFIG_VALUE (malformed or
 *         larger than 2^64 - 1).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_parse_size(const char *text, uint64_t *out);

VMMEM_END_DECLS

#endif /* VMMEM_CONFIG_H */
