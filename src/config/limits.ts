/**
 * Swift's request constraints (swift/common/constraints.py), with Swift's names.
 * edgecd applies the metadata limits to the *decoded* value: the BWS sends
 * URL-encoded UTF-8, so a 100-byte user name can arrive as 300 characters.
 */
export const MAX_META_NAME_LENGTH = 128;
export const MAX_META_VALUE_LENGTH = 256;
export const MAX_META_COUNT = 90;
export const MAX_META_OVERALL_SIZE = 4096;
export const MAX_CONTAINER_NAME_LENGTH = 256;
export const MAX_OBJECT_NAME_LENGTH = 1024;
export const CONTAINER_LISTING_LIMIT = 10000;
export const ACCOUNT_LISTING_LIMIT = 10000;
/** Swift's default MAX_FILE_SIZE (5 GiB + 2 bytes); configurable as objects.maxBytes. */
export const MAX_FILE_SIZE = 5 * 1024 ** 3 + 2;
