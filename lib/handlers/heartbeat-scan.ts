/**
 * The quick scan of a HeartBeat value (heartbeat-decode.ts): the UTF-8 bytes
 * of one record value, read in place, with no string and no object built. It
 * checks the whole JSON grammar and finds `resource` and `instanceId`; what
 * it accepts, the full read (JSON.parse, then HeartbeatMessageSchema) accepts
 * too, with the same resource and instance, and anything it is unsure of is
 * left to the full read. test/unit/handlers/heartbeat-decode.test.ts checks
 * the two agree, on generated values.
 */

/** The quick scan cannot vouch for the value: the full read decides. */
export const UNSURE = -1;
/** A well-formed heartbeat of a kind not among those asked for. */
export const OTHER_KIND = -2;
/** INSTANCE_ID allows at most six digits, so kind and instance make one number: kind × span + instance. */
export const INSTANCE_SPAN = 1_000_000;
/** Containers nested deeper than this are left to the full read (a heartbeat's extra fields are flat). */
const MAX_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

const isDigit = (byte: number): boolean => byte >= DIGIT_0 && byte <= DIGIT_9;
const isHexDigit = (byte: number): boolean =>
  isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
const isLetter = (byte: number): boolean => (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
/** The escapes JSON allows after a backslash besides \u: " \ / b f n r t. */
const isShortEscape = (byte: number): boolean =>
  byte === QUOTE ||
  byte === BACKSLASH ||
  byte === 0x2f ||
  byte === 0x62 ||
  byte === 0x66 ||
  byte === 0x6e ||
  byte === 0x72 ||
  byte === 0x74;

/*
 * The scanners below take the bytes, a position and the end, and return the
 * position after what they read, or -1 where the text is not what they
 * accept. They accept a subset of JSON as JSON.parse reads the UTF-8 text of
 * the bytes: bytes of 0x80 and up are taken only inside strings, where
 * whatever characters they decode to are allowed (invalid UTF-8 becomes
 * U+FFFD and never swallows the ASCII byte after it).
 */

function skipWhitespace(bytes: Uint8Array, at: number, end: number): number {
  while (at < end) {
    const byte = bytes[at]!;
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) break;
    at++;
  }
  return at;
}

/** From after an opening quote to after the closing one. */
function skipString(bytes: Uint8Array, at: number, end: number): number {
  while (at < end) {
    const byte = bytes[at]!;
    if (byte === QUOTE) return at + 1;
    if (byte < 0x20) return -1;
    if (byte !== BACKSLASH) at++;
    else if (at + 1 < end && isShortEscape(bytes[at + 1]!)) at += 2;
    else if (
      at + 5 < end &&
      bytes[at + 1] === 0x75 &&
      isHexDigit(bytes[at + 2]!) &&
      isHexDigit(bytes[at + 3]!) &&
      isHexDigit(bytes[at + 4]!) &&
      isHexDigit(bytes[at + 5]!)
    )
      at += 6;
    else return -1;
  }
  return -1;
}

/** From after an opening quote to the closing one, for a string with no escapes; -1 for any other. */
function plainStringEnd(bytes: Uint8Array, at: number, end: number): number {
  while (at < end) {
    const byte = bytes[at]!;
    if (byte === QUOTE) return at;
    if (byte < 0x20 || byte === BACKSLASH) return -1;
    at++;
  }
  return -1;
}

function skipDigits(bytes: Uint8Array, at: number, end: number): number {
  while (at < end && isDigit(bytes[at]!)) at++;
  return at;
}

/** -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(bytes: Uint8Array, at: number, end: number): number {
  if (at < end && bytes[at] === MINUS) at++;
  if (at >= end) return -1;
  if (bytes[at] === DIGIT_0) at++;
  else if (isDigit(bytes[at]!)) at = skipDigits(bytes, at + 1, end);
  else return -1;
  if (at < end && bytes[at] === DOT) {
    if (at + 1 >= end || !isDigit(bytes[at + 1]!)) return -1;
    at = skipDigits(bytes, at + 2, end);
  }
  if (at < end && (bytes[at] === 0x65 || bytes[at] === 0x45)) {
    at++;
    if (at < end && (bytes[at] === PLUS || bytes[at] === MINUS)) at++;
    if (at >= end || !isDigit(bytes[at]!)) return -1;
    at = skipDigits(bytes, at + 1, end);
  }
  return at;
}

function skipWord(bytes: Uint8Array, at: number, end: number, word: string): number {
  if (at + word.length > end) return -1;
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word.charCodeAt(i)) return -1;
  return at + word.length;
}

function skipValue(bytes: Uint8Array, at: number, end: number, depth: number): number {
  if (at >= end) return -1;
  switch (bytes[at]) {
    case QUOTE:
      return skipString(bytes, at + 1, end);
    case OPEN_BRACE:
      return depth < MAX_DEPTH ? skipObject(bytes, at + 1, end, depth + 1) : -1;
    case OPEN_BRACKET:
      return depth < MAX_DEPTH ? skipArray(bytes, at + 1, end, depth + 1) : -1;
    case 0x74:
      return skipWord(bytes, at, end, 'true');
    case 0x66:
      return skipWord(bytes, at, end, 'false');
    case 0x6e:
      return skipWord(bytes, at, end, 'null');
    default:
      return skipNumber(bytes, at, end);
  }
}

/** From after `{` to after its `}`. */
function skipObject(bytes: Uint8Array, at: number, end: number, depth: number): number {
  at = skipWhitespace(bytes, at, end);
  if (at < end && bytes[at] === CLOSE_BRACE) return at + 1;
  for (;;) {
    if (at >= end || bytes[at] !== QUOTE) return -1;
    at = skipString(bytes, at + 1, end);
    if (at < 0) return -1;
    at = skipWhitespace(bytes, at, end);
    if (at >= end || bytes[at] !== COLON) return -1;
    at = skipValue(bytes, skipWhitespace(bytes, at + 1, end), end, depth);
    if (at < 0) return -1;
    at = skipWhitespace(bytes, at, end);
    if (at >= end) return -1;
    if (bytes[at] === CLOSE_BRACE) return at + 1;
    if (bytes[at] !== COMMA) return -1;
    at = skipWhitespace(bytes, at + 1, end);
  }
}

/** From after `[` to after its `]`. */
function skipArray(bytes: Uint8Array, at: number, end: number, depth: number): number {
  at = skipWhitespace(bytes, at, end);
  if (at < end && bytes[at] === CLOSE_BRACKET) return at + 1;
  for (;;) {
    at = skipValue(bytes, at, end, depth);
    if (at < 0) return -1;
    at = skipWhitespace(bytes, at, end);
    if (at >= end) return -1;
    if (bytes[at] === CLOSE_BRACKET) return at + 1;
    if (bytes[at] !== COMMA) return -1;
    at = skipWhitespace(bytes, at + 1, end);
  }
}

/** Whether bytes[start, end) spell `text` (ASCII). */
function spells(bytes: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** From after the opening quote of a kind name ([A-Za-z][A-Za-z0-9_]{0,63}, as RESOURCE_KIND) to its closing quote. */
function kindNameEnd(bytes: Uint8Array, at: number, end: number): number {
  const start = at;
  if (at >= end || !isLetter(bytes[at]!)) return -1;
  for (at++; at < end && at - start < 64; at++) {
    const byte = bytes[at]!;
    if (!isLetter(byte) && !isDigit(byte) && byte !== 0x5f) break;
  }
  return at < end && bytes[at] === QUOTE ? at : -1;
}

/** The index of the kind bytes[start, end) names, or -1. */
function kindIndex(bytes: Uint8Array, start: number, end: number, kinds: readonly string[]): number {
  for (let kind = 0; kind < kinds.length; kind++) if (spells(bytes, start, end, kinds[kind]!)) return kind;
  return -1;
}

/**
 * The instance key of a heartbeat's UTF-8 JSON bytes[0, end): for an object
 * with `"resource"` a kind name and `"instanceId"` a small non-negative
 * integer as text (INSTANCE_ID), each once, unescaped, and no `__proto__`
 * key, its key (see instanceKey) if the kind is one of `kinds`, else
 * OTHER_KIND. UNSURE for anything else, which the full read then judges.
 */
export function scanHeartbeat(bytes: Uint8Array, end: number, kinds: readonly string[]): number {
  let at = skipWhitespace(bytes, 0, end);
  if (at >= end || bytes[at] !== OPEN_BRACE) return UNSURE;
  let resourceStart = -1;
  let resourceEnd = -1;
  let instance = -1;
  at = skipWhitespace(bytes, at + 1, end);
  for (;;) {
    if (at >= end || bytes[at] !== QUOTE) return UNSURE;
    const nameStart = at + 1;
    // A key with an escape might spell one of the keys below.
    const nameEnd = plainStringEnd(bytes, nameStart, end);
    if (nameEnd < 0) return UNSURE;
    at = skipWhitespace(bytes, nameEnd + 1, end);
    if (at >= end || bytes[at] !== COLON) return UNSURE;
    at = skipWhitespace(bytes, at + 1, end);
    if (at >= end) return UNSURE;
    if (spells(bytes, nameStart, nameEnd, 'resource')) {
      // A repeated key: JSON.parse keeps the last, and the full read decides.
      if (resourceStart >= 0 || bytes[at] !== QUOTE) return UNSURE;
      resourceStart = at + 1;
      resourceEnd = kindNameEnd(bytes, resourceStart, end);
      if (resourceEnd < 0) return UNSURE;
      at = resourceEnd + 1;
    } else if (spells(bytes, nameStart, nameEnd, 'instanceId')) {
      if (instance >= 0 || bytes[at] !== QUOTE) return UNSURE;
      const digitsStart = at + 1;
      const digitsEnd = skipDigits(bytes, digitsStart, end);
      const digits = digitsEnd - digitsStart;
      // INSTANCE_ID: "0", or up to six digits with no leading zero.
      if (digits === 0 || digits > 6 || (digits > 1 && bytes[digitsStart] === DIGIT_0)) return UNSURE;
      if (digitsEnd >= end || bytes[digitsEnd] !== QUOTE) return UNSURE;
      instance = 0;
      for (let i = digitsStart; i < digitsEnd; i++) instance = instance * 10 + bytes[i]! - DIGIT_0;
      at = digitsEnd + 1;
    } else if (spells(bytes, nameStart, nameEnd, '__proto__')) return UNSURE;
    else {
      at = skipValue(bytes, at, end, 1);
      if (at < 0) return UNSURE;
    }
    at = skipWhitespace(bytes, at, end);
    if (at >= end) return UNSURE;
    if (bytes[at] === CLOSE_BRACE) break;
    if (bytes[at] !== COMMA) return UNSURE;
    at = skipWhitespace(bytes, at + 1, end);
  }
  if (resourceStart < 0 || instance < 0 || skipWhitespace(bytes, at + 1, end) !== end) return UNSURE;
  const kind = kindIndex(bytes, resourceStart, resourceEnd, kinds);
  return kind < 0 ? OTHER_KIND : kind * INSTANCE_SPAN + instance;
}
