/**
 * The Capability API's vocabulary: every capability the spec names. Settings
 * (config/) and the published document (bws/capabilities.ts) both speak it.
 */

export type CapabilityGroup = 'Read' | 'Store' | 'StoreAndRead';

/**
 * Every capability in the spec, in the group its name puts it in ("Store" for
 * PUT/POST, "Read" for GET/HEAD, both for StoreRead...), with edgecd's default:
 * on where edgecd supports it today.
 */
export const CAPABILITIES = {
  ReadCategories: { group: 'Read', default: true },
  StoreReadSystemID: { group: 'StoreAndRead', default: true },
  // bws/content-destination.ts keeps a user's UserID empty or unique.
  StoreUserIDKey: { group: 'Store', default: true },
  StoreBookmarks: { group: 'Store', default: true },
  // The spec: only for a CD that can display and verify signed video (authenticity/ checks every clip).
  StoreSignedVideo: { group: 'Store', default: true },
  StoreGNSSTrackRecording: { group: 'Store', default: true },
  StoreRejectedContent: { group: 'Store', default: true },
} as const satisfies Record<string, { group: CapabilityGroup; default: boolean }>;

export type CapabilityName = keyof typeof CAPABILITIES;
export type CapabilitySettings = Record<CapabilityName, boolean>;
