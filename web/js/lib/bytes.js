// bytes: the byte helpers the verifying modules share: strict base64
// (RFC 4648 §4, padded) and base64url (RFC 4648 §5, unpadded), UTF-8,
// SHA-256 through Web Crypto, comparison and concatenation; and FormatError,
// the one error every parser here throws for input that breaks its format.
//
// Pure and stateless; every function returns a new Uint8Array or string and
// never keeps or changes its arguments. Works in browsers and Node 20 with
// globalThis.crypto.subtle, TextEncoder, atob and btoa.
//
// Exports:
//   class FormatError extends Error   name 'FormatError'; message says which
//                                     rule the input breaks
//   attempt(f) -> Promise<{value} | {error}>
//                                     f's result, or the FormatError it
//                                     throws; any other error is thrown on
//   b64encode(bytes) -> string        padded standard base64
//   b64decode(text, length?, what?) -> Uint8Array
//                                     strict: padding required, no
//                                     whitespace, the unused bits of the last
//                                     character zero, so one value has one
//                                     spelling (docs/ledger.md "Keys", as
//                                     common/b64.c decodes), and exactly
//                                     length bytes when length is given.
//                                     Throws FormatError, whose message names
//                                     the input as what (default 'the text')
//   b64urlEncode(bytes) -> string     base64url without padding
//   b64urlDecode(text, length?, what?) -> Uint8Array
//                                     the same for base64url, no padding
//   utf8(text) -> Uint8Array          the UTF-8 bytes of a string
//   wellFormed(text) -> boolean       no lone surrogate: the string has a
//                                     UTF-8 form (utf8() would write U+FFFD)
//   concatBytes(...parts) -> Uint8Array
//   equalBytes(a, b) -> boolean       same length and bytes (not constant
//                                     time: nothing here is secret)
//   hex(bytes) -> string              lowercase hex
//   sha256(bytes) -> Promise<Uint8Array>   FIPS 180-4, 32 bytes; rejects
//                                     with the platform's error where Web
//                                     Crypto is missing (an insecure context)

export class FormatError extends Error {
    constructor(message) {
        super(message);
        this.name = 'FormatError';
    }
}

export async function attempt(f) {
    try {
        return { value: await f() };
    } catch (e) {
        if (e instanceof FormatError)
            return { error: e };
        throw e;
    }
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function toBinary(bytes) {
    let s = '';
    // In slices: fromCharCode.apply on a large array would overflow the stack.
    for (let i = 0; i < bytes.length; i += 0x8000)
        s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return s;
}

function fromBinary(s) {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++)
        out[i] = s.charCodeAt(i);
    return out;
}

export function b64encode(bytes) {
    return btoa(toBinary(bytes));
}

// The decoded bytes, or a FormatError naming what was decoded.
function decoded(out, text, encode, length, what, name) {
    if (encode(out) !== text)
        throw new FormatError(`${what} is ${name} whose last character has stray bits`);
    if (length !== undefined && out.length !== length)
        throw new FormatError(`${what} is not the ${name} of ${length} bytes`);
    return out;
}

export function b64decode(text, length, what = 'the text') {
    if (typeof text !== 'string' || !B64.test(text))
        throw new FormatError(`${what} is not padded base64 (RFC 4648 §4)`);
    return decoded(fromBinary(atob(text)), text, b64encode, length, what, 'base64');
}

export function b64urlEncode(bytes) {
    return b64encode(bytes).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

export function b64urlDecode(text, length, what = 'the text') {
    if (typeof text !== 'string' || !B64URL.test(text) || text.length % 4 === 1)
        throw new FormatError(`${what} is not unpadded base64url (RFC 4648 §5)`);
    const std = text.replace(/-/g, '+').replace(/_/g, '/') + '=='.slice(0, (4 - (text.length % 4)) % 4);
    return decoded(fromBinary(atob(std)), text, b64urlEncode, length, what, 'base64url');
}

export function utf8(text) {
    return encoder.encode(text);
}

export function wellFormed(text) {
    return !LONE_SURROGATE.test(text);
}

export function concatBytes(...parts) {
    let n = 0;
    for (const p of parts)
        n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
        out.set(p, o);
        o += p.length;
    }
    return out;
}

export function equalBytes(a, b) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length)
        return false;
    for (let i = 0; i < a.length; i++)
        if (a[i] !== b[i])
            return false;
    return true;
}

export function hex(bytes) {
    let s = '';
    for (const b of bytes)
        s += b.toString(16).padStart(2, '0');
    return s;
}

export async function sha256(bytes) {
    return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
}
