/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/endian.h
 * @brief Explicit-endian value types and conversions (inline).
 *
 * Guest structures (virtio rings, boot parameters) have a fixed byte order. The
 * `struct vmmem_le16` ... `struct vmmem_be64` types hold a value in that byte order; the
 * compiler refuses to mix them with native integers, so a missing conversion is a build
 * error rather than a bug on the other endianness. Each type has the size and alignment of
 * its native integer, so it can sit inside a guest-visible struct (vm-memory's Le16..Be64).
 *
 * Thread safety of every function here: MT-Safe (pure functions).
 */
#ifndef VMMEM_ENDIAN_H
#define VMMEM_ENDIAN_H

#include <vmmem/common.h>

VMMEM_BEGIN_DECLS

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
/** 1 on big-endian hosts, 0 on little-endian ones. */
#define VMMEM_HOST_BIG_ENDIAN 1
#else
/** 1 on big-endian hosts, 0 on little-endian ones. */
#define VMMEM_HOST_BIG_ENDIAN 0
#endif

/** 16-bit little-endian value. */
struct vmmem_le16 { uint16_t raw; /**< the value in its fixed byte order */ };
/** 32-bit little-endian value. */
struct vmmem_le32 { uint32_t raw; /**< the value in its fixed byte order */ };
/** 64-bit little-endian value. */
struct vmmem_le64 { uint64_t raw; /**< the value in its fixed byte order */ };
/** 16-bit big-endian value. */
struct vmmem_be16 { uint16_t raw; /**< the value in its fixed byte order */ };
/** 32-bit big-endian value. */
struct vmmem_be32 { uint32_t raw; /**< the value in its fixed byte order */ };
/** 64-bit big-endian value. */
struct vmmem_be64 { uint64_t raw; /**< the value in its fixed byte order */ };

/** @brief Native to little-endian byte order (identity on little-endian hosts). */
static inline uint16_t vmmem_cpu_to_le16(uint16_t v)
{
	return VMMEM_HOST_BIG_ENDIAN ? __builtin_bswap16(v) : v;
}
/** @brief Native to little-endian byte order. */
static inline uint32_t vmmem_cpu_to_le32(uint32_t v)
{
	return VMMEM_HOST_BIG_ENDIAN ? __builtin_bswap32(v) : v;
}
/** @brief Native to little-endian byte order. */
static inline uint64_t vmmem_cpu_to_le64(uint64_t v)
{
	return VMMEM_HOST_BIG_ENDIAN ? __builtin_bswap64(v) : v;
}
/** @brief Native to big-endian byte order (identity on big-endian hosts). */
static inline uint16_t vmmem_cpu_to_be16(uint16_t v)
{
	return VMMEM_HOST_BIG_ENDIAN ? v : __builtin_bswap16(v);
}
/** @brief Native to big-endian byte order. */
static inline uint32_t vmmem_cpu_to_be32(uint32_t v)
{
	return VMMEM_HOST_BIG_ENDIAN ? v : __builtin_bswap32(v);
}
/** @brief Native to big-endian byte order. */
static inline uint64_t vmmem_cpu_to_be64(uint64_t v)
{
	return VMMEM_HOST_BIG_ENDIAN ? v : __builtin_bswap64(v);
}
/* The conversions are involutions: the same swap brings a value back. */
/** @brief Little-endian to native byte order. */
static inline uint16_t vmmem_le16_to_cpu_raw(uint16_t v) { return vmmem_cpu_to_le16(v); }
/** @brief Little-endian to native byte order. */
static inline uint32_t vmmem_le32_to_cpu_raw(uint32_t v) { return vmmem_cpu_to_le32(v); }
/** @brief Little-endian to native byte order. */
static inline uint64_t vmmem_le64_to_cpu_raw(uint64_t v) { return vmmem_cpu_to_le64(v); }
/** @brief Big-endian to native byte order. */
static inline uint16_t vmmem_be16_to_cpu_raw(uint16_t v) { return vmmem_cpu_to_be16(v); }
/** @brief Big-endian to native byte order. */
static inline uint32_t vmmem_be32_to_cpu_raw(uint32_t v) { return vmmem_cpu_to_be32(v); }
/** @brief Big-endian to native byte order. */
static inline uint64_t vmmem_be64_to_cpu_raw(uint64_t v) { return vmmem_cpu_to_be64(v); }

/** @brief Wrap a native value as little-endian. */
static inline struct vmmem_le16 vmmem_le16_from_cpu(uint16_t v)
{
	struct vmmem_le16 r = { vmmem_cpu_to_le16(v) };
	return r;
}
/** @brief Wrap a native value as little-endian. */
static inline struct vmmem_le32 vmmem_le32_from_cpu(uint32_t v)
{
	struct vmmem_le32 r = { vmmem_cpu_to_le32(v) };
	return r;
}
/** @brief Wrap a native value as little-endian. */
static inline struct vmmem_le64 vmmem_le64_from_cpu(uint64_t v)
{
	struct vmmem_le64 r = { vmmem_cpu_to_le64(v) };
	return r;
}
/** @brief Wrap a native value as big-endian. */
static inline struct vmmem_be16 vmmem_be16_from_cpu(uint16_t v)
{
	struct vmmem_be16 r = { vmmem_cpu_to_be16(v) };
	return r;
}
/** @brief Wrap a native value as big-endian. */
static inline struct vmmem_be32 vmmem_be32_from_cpu(uint32_t v)
{
	struct vmmem_be32 r = { vmmem_cpu_to_be32(v) };
	return r;
}
/** @brief Wrap a native value as big-endian. */
static inline struct vmmem_be64 vmmem_be64_from_cpu(uint64_t v)
{
	struct vmmem_be64 r = { vmmem_cpu_to_be64(v) };
	return r;
}
/** @brief The native value of a little-endian one. */
static inline uint16_t vmmem_le16_to_cpu(struct vmmem_le16 v) { return vmmem_le16_to_cpu_raw(v.raw); }
/** @brief The native value of a little-endian one. */
static inline uint32_t vmmem_le32_to_cpu(struct vmmem_le32 v) { return vmmem_le32_to_cpu_raw(v.raw); }
/** @brief The native value of a little-endian one. */
static inline uint64_t vmmem_le64_to_cpu(struct vmmem_le64 v) { return vmmem_le64_to_cpu_raw(v.raw); }
/** @brief The native value of a big-endian one. */
static inline uint16_t vmmem_be16_to_cpu(struct vmmem_be16 v) { return vmmem_be16_to_cpu_raw(v.raw); }
/** @brief The native value of a big-endian one. */
static inline uint32_t vmmem_be32_to_cpu(struct vmmem_be32 v) { return vmmem_be32_to_cpu_raw(v.raw); }
/** @brief The native value of a big-endian one. */
static inline uint64_t vmmem_be64_to_cpu(struct vmmem_be64 v) { return vmmem_be64_to_cpu_raw(v.raw); }

VMMEM_END_DECLS

#endif /* VMMEM_ENDIAN_H */
