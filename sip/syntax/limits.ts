// Named maxima for the SIP syntax layer (STYLE.md §8). Every one is checked where the
// parser enforces it; raising one is a deliberate decision, not a tweak. Sizes are in
// bytes or characters of the wire form, as each name says.

/** A whole message (start line + headers + body). 64 KiB is the largest UDP datagram and
 * far above what a contact-center INVITE with SDP needs; TCP frames get the same cap. */
export const messageBytesMax = 64 * 1024;

/** Header fields after comma-splitting (RFC 3261 §7.3.1). pjsip's default is similar. */
export const headerCountMax = 128;

/** One physical line, and one header value after unfolding, counted in decoded
 * characters (a UTF-8 line may hold more bytes; messageBytesMax still bounds it). */
export const lineBytesMax = 8 * 1024;

/** Declared Content-Length; a body can never exceed the message cap anyway. */
export const contentLengthMax = messageBytesMax;

/** A URI as written (Request-URI, name-addr, Route entry). */
export const uriCharsMax = 4096;

/** Parameters on one URI or one header value (;a=b;c...), and URI headers (?a=b&c=d). */
export const paramCountMax = 64;

/** Digits accepted in integer fields before the numeric range is even looked at, so a
 * 100-digit "number" costs nothing (RFC 4475 §3.1.2.4). */
export const integerDigitsMax = 10;

/** Header name spellings beyond the known ones (canonical, lower, upper, compact) whose
 * lookup result is remembered; past this, odd spellings are simply recomputed. */
export const headerNamesCachedMax = 512;

/** Entries in each memo of parsed header values (Via, name-addr, URI). Values of one
 * transaction are parsed several times on their way through the layers; the memo is
 * emptied when full, so memory stays bounded whatever the traffic. */
export const parseMemoEntriesMax = 2048;

/** Longest value a parse memo keeps; longer ones are parsed every time. */
export const parseMemoKeyCharsMax = 512;
