/**
 * FormatError: the one error type for malformed, truncated or inconsistent ESS event files,
 * carrying a stable machine-readable `code` next to a human-readable message.
 */

/** Stable codes carried by {@link FormatError}; see docs/FORMAT.md. */
export type FormatErrorCode =
  /** The first 8 bytes are not the ESS file magic. */
  | 'bad_magic'
  /** The file or footer declares a format version this reader does not know. */
  | 'unsupported_version'
  /** The file is shorter than its structure requires (no trailer, cut-off data or footer). */
  | 'truncated'
  /** The trailer is present but points at an impossible footer offset. */
  | 'bad_trailer'
  /** The footer is not a MessagePack map with the required keys and types. */
  | 'bad_footer'
  /** The footer's offsets, entries or ids are inconsistent. */
  | 'bad_index'
  /** An event record is not a MessagePack map. */
  | 'bad_record'
  /** A writer was closed with index sizes that do not add up to the bytes written. */
  | 'size_mismatch';

/** A malformed, truncated or inconsistent event file (or a writer asked to produce one). */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  constructor(
    readonly code: FormatErrorCode,
    message: string,
  ) {
    super(message);
  }
}
