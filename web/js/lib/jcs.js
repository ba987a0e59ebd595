// jcs: the canonical JSON of RFC 8785 (the JSON Canonicalization Scheme),
// the bytes the log of record hashes: a leaf is the canonical form of an
// event, and a commitment hashes the canonical form of a value
// (docs/ledger.md "Canonical JSON"). The reference is common/jcs.c; both
// must give the same bytes for the same value.
//
//   canonicalize(value) -> string
//
// value is what JSON.parse returns (null, booleans, numbers, strings,
// arrays, plain objects), or a BigInt for an integer. The result is the
// canonical text; its UTF-8 bytes (bytes.js utf8) are what is hashed.
//   - Strings (§3.2.2.2) as ECMAScript's JSON.stringify writes them, which
//     is what the RFC specifies: only '"', '\' and U+0000..U+001F escaped,
//     the short forms \b \t \n \f \r, other controls as \u00xx in lowercase.
//   - Numbers (§3.2.2.3) as Number.prototype.toString writes them: the
//     RFC's definition; negative zero is 0.
//   - Object members (§3.2.3) sorted by their names as UTF-16 code units,
//     which is how Array.prototype.sort compares strings.
//
// Throws, as common/jcs.c refuses (docs/ledger.md "Values outside I-JSON"):
//   RangeError  a number that is NaN or infinite; a BigInt beyond ±2^53
//               (an integer a double cannot hold exactly: two stored
//               integers would share one canonical form); containers nested
//               deeper than 2048 (or a cycle)
//   TypeError   a string or member name that is not well-formed Unicode (a
//               lone surrogate: it has no UTF-8 form); undefined, a
//               function, a symbol, or an object that is not a plain object
//               or an array (a Date, a Map, a typed array)
//
// A JavaScript number is always a double, as every number is in I-JSON and
// in the C verifier's reading of a bundle line: 1e30 is written 1e+30, as the
// RFC's own test data wants. An integer token beyond 2^53 in a JSON text has
// already been rounded by JSON.parse; such a text is not its own canonical
// form, which is how proof.js refuses it (canonicalize(JSON.parse(t)) !== t).

import { wellFormed } from './bytes.js';

export const MAX_DEPTH = 2048;
const INT_MAX = 2n ** 53n;

function string(s) {
    if (!wellFormed(s))
        throw new TypeError('a string holds a lone surrogate: it is not well-formed Unicode');
    return JSON.stringify(s);
}

function write(v, depth) {
    switch (typeof v) {
    case 'string':
        return string(v);
    case 'number':
        if (!Number.isFinite(v))
            throw new RangeError(`${v} is not a JSON number`);
        return String(v);
    case 'bigint':
        if (v > INT_MAX || v < -INT_MAX)
            throw new RangeError(`the integer ${v} is beyond 2^53: a double cannot hold it exactly`);
        return String(v);
    case 'boolean':
        return v ? 'true' : 'false';
    case 'object':
        break;
    default:
        throw new TypeError(`a ${typeof v} has no JSON form`);
    }
    if (v === null)
        return 'null';
    if (depth >= MAX_DEPTH)
        throw new RangeError(`nested deeper than ${MAX_DEPTH} (or a cycle)`);
    if (Array.isArray(v)) {
        const parts = [];
        for (let i = 0; i < v.length; i++)
            parts.push(write(v[i], depth + 1));
        return '[' + parts.join(',') + ']';
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null)
        throw new TypeError('only plain objects and arrays have a JSON form');
    const names = Object.keys(v).sort();
    const parts = [];
    for (const name of names)
        parts.push(string(name) + ':' + write(v[name], depth + 1));
    return '{' + parts.join(',') + '}';
}

export function canonicalize(value) {
    return write(value, 0);
}
