/**
 * Fixed numbers of the ESS event file layout: magics, trailer size, version and where the
 * event records start. docs/FORMAT.md describes the layout byte by byte.
 */

/** Format version written in the last byte of the file magic and in the footer. */
export const FORMAT_VERSION = 1;

/** The 8 bytes every event file starts with: "ESSEVT", 0x00, then the format version. */
export const FILE_MAGIC: Buffer = Buffer.from([0x45, 0x53, 0x53, 0x45, 0x56, 0x54, 0x00, FORMAT_VERSION]);

/** The 8 bytes every event file ends with. */
export const TRAILER_MAGIC: Buffer = Buffer.from('ESSFOOT1', 'latin1');

/** Trailer: uint64 little-endian absolute footer offset, then {@link TRAILER_MAGIC}. */
export const TRAILER_SIZE = 16;

/** Absolute offset of the first event record (right after the magic). */
export const DATA_START = 8;

/** The footer's `format` value. */
export const FOOTER_FORMAT = 'ess-events';

/** How many bytes of the tail {@link EventFile.open} reads in its first (usually only) read. */
export const TAIL_READ_SIZE = 64 * 1024;
