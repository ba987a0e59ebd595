// web/js/lib/jcs.js against the vectors tests/unit/test_jcs.c checks
// common/jcs.c with: the six files of cyberphone/json-canonicalization
// testdata/, every finite row of RFC 8785 Appendix B (from its IEEE 754
// bits), the §3.2.3 sort sample and the orders where UTF-16 differs from
// bytes, the escapes, and the refusals.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_DEPTH, canonicalize } from '../../../web/js/lib/jcs.js';

const canon = (jsonText) => canonicalize(JSON.parse(jsonText));

test('cyberphone testdata: input -> output byte for byte', () => {
    const files = {
        arrays: ['[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]\n',
                 '[56,{"1":[],"10":null,"d":true}]'],
        french: ['{\n  "peach": "This sorting order",\n  "péché": "is wrong according to French",\n' +
                 '  "pêche": "but canonicalization MUST",\n  "sin":   "ignore locale"\n}\n',
                 '{"peach":"This sorting order","péché":"is wrong according to French",' +
                 '"pêche":"but canonicalization MUST","sin":"ignore locale"}'],
        structures: ['{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n  "": "empty",\n' +
                     '  "a": { },\n  "111": [ {"e": "yes","E": "no" } ],\n  "A": { }\n}',
                     '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}'],
        unicode: ['{\n  "Unnormalized Unicode":"A\\u030a"\n}\n', '{"Unnormalized Unicode":"A\u030a"}'],
        values: ['{\n  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n' +
                 '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n' +
                 '  "literals": [null, true, false]\n}',
                 '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
                 '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'],
        weird: ['{\n  "\\u20ac": "Euro Sign",\n  "\\r": "Carriage Return",\n  "\\u000a": "Newline",\n' +
                '  "1": "One",\n  "\\u0080": "Control\\u007f",\n  "\\ud83d\\ude02": "Smiley",\n' +
                '  "\\u00f6": "Latin Small Letter O With Diaeresis",\n' +
                '  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "</script>": "Browser Challenge"\n}\n',
                '{"\\n":"Newline","\\r":"Carriage Return","1":"One","</script>":"Browser Challenge",' +
                '"\u0080":"Control\u007f","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign",' +
                '"😂":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}'],
    };
    for (const [name, [input, output]] of Object.entries(files))
        assert.equal(canon(input), output, name);
    // The values file's output as the RFC lists its bytes (§3.2.4), in hex.
    const bytes = Buffer.from(canon(files.values[0]), 'utf8').toString('hex');
    assert.ok(bytes.includes('e282ac245c7530303066'), 'the euro sign is raw UTF-8, U+000F \\u000f');
});

test('RFC 8785 Appendix B: IEEE 754 bits -> text', () => {
    const rows = [
        ['0000000000000000', '0'], ['8000000000000000', '0'], ['0000000000000001', '5e-324'],
        ['8000000000000001', '-5e-324'], ['7fefffffffffffff', '1.7976931348623157e+308'],
        ['ffefffffffffffff', '-1.7976931348623157e+308'], ['4340000000000000', '9007199254740992'],
        ['c340000000000000', '-9007199254740992'], ['4430000000000000', '295147905179352830000'],
        ['44b52d02c7e14af5', '9.999999999999997e+22'], ['44b52d02c7e14af6', '1e+23'],
        ['44b52d02c7e14af7', '1.0000000000000001e+23'], ['444b1ae4d6e2ef4e', '999999999999999700000'],
        ['444b1ae4d6e2ef4f', '999999999999999900000'], ['444b1ae4d6e2ef50', '1e+21'],
        ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'], ['3eb0c6f7a0b5ed8d', '0.000001'],
        ['41b3de4355555553', '333333333.3333332'], ['41b3de4355555554', '333333333.33333325'],
        ['41b3de4355555555', '333333333.3333333'], ['41b3de4355555556', '333333333.3333334'],
        ['41b3de4355555557', '333333333.33333343'], ['becbf647612f3696', '-0.0000033333333333333333'],
        ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    const view = new DataView(new ArrayBuffer(8));
    for (const [bits, want] of rows) {
        view.setBigUint64(0, BigInt('0x' + bits));
        const d = view.getFloat64(0);
        assert.equal(canonicalize(d), want, bits);
        assert.equal(canonicalize([d]), `[${want}]`, bits);
        assert.ok(Number(want) === d, `${want} reads back as the same double`);
    }
    // 7fffffffffffffff (NaN) and 7ff0000000000000 (Infinity): not JSON.
    for (const bits of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
        view.setBigUint64(0, BigInt('0x' + bits));
        assert.throws(() => canonicalize(view.getFloat64(0)), RangeError, bits);
        assert.throws(() => canonicalize({ a: [view.getFloat64(0)] }), RangeError, bits);
    }
});

test('numbers as test_jcs.c writes them', () => {
    const cases = [
        ['1E30', '1e+30'], ['4.50', '4.5'], ['2e-3', '0.002'], ['0.000000000000000000000000001', '1e-27'],
        ['333333333.33333329', '333333333.3333333'], ['56.0', '56'], ['-0.0', '0'], ['1e21', '1e+21'],
        ['1e20', '100000000000000000000'], ['123e18', '123000000000000000000'], ['0.000001', '0.000001'],
        ['1e-7', '1e-7'], ['-1.5e-7', '-1.5e-7'], ['1.25e+100', '1.25e+100'], ['0.1', '0.1'],
        ['100.5', '100.5'], ['5e-324', '5e-324'], ['10', '10'], ['0', '0'], ['-0', '0'], ['-17', '-17'],
        ['[1, 1.0, 10, 1E1]', '[1,1,10,10]'], ['9007199254740992', '9007199254740992'],
        ['-9007199254740992', '-9007199254740992'], ['9007199254740991', '9007199254740991'],
        ['9007199254740993.0', '9007199254740992'], ['18446744073709551616.0', '18446744073709552000'],
    ];
    for (const [input, want] of cases)
        assert.equal(canon(input), want, input);
});

test('integers beyond 2^53 are refused, as common/jcs.c refuses them', () => {
    // A BigInt is the only JavaScript value that is an integer and not a
    // double: refused beyond ±2^53, written in digits within.
    assert.equal(canonicalize(9007199254740992n), '9007199254740992');
    assert.equal(canonicalize(-9007199254740992n), '-9007199254740992');
    assert.equal(canonicalize({ k: [1n, 0n, -42n] }), '{"k":[1,0,-42]}');
    for (const n of [9007199254740993n, -9007199254740993n, 9223372036854775807n, -(2n ** 63n)])
        assert.throws(() => canonicalize({ a: [n] }), RangeError, String(n));
    // A number token beyond 2^53 is rounded by JSON.parse before we see it:
    // its text is then not its own canonical form (proof.js refuses so).
    const text = '[9007199254740993]';
    assert.notEqual(canon(text), text);
});

test('strings: only ", \\ and controls are escaped', () => {
    assert.equal(canon('"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\u001F "'),
                 '"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\u001f "');
    assert.equal(canon('"\\"\\\\\\/"'), '"\\"\\\\/"');
    assert.equal(canon('"\\u007f\\u2028\\u2029\\u00e9\\ud83d\\ude02\\uffff"'),
                 '"\u007f\u2028\u2029é😂\uffff"');
    assert.equal(Buffer.from(canon('"\\u2028\\ud83d\\ude02"'), 'utf8').toString('hex'), '22e280a8f09f988222');
    assert.equal(canon('"</script>"'), '"</script>"');
    assert.equal(canon('""'), '""');
    assert.equal(canonicalize({ 'a\u0000b': 'x\u0000', a: null }), '{"a":null,"a\\u0000b":"x\\u0000"}');
    // Lone surrogates have no UTF-8 form (common/jcs.c: JCS_EUTF8).
    for (const bad of ['\ud800', 'a\udc00', '\ude00\ud83d', 'x\ud83d'])
        assert.throws(() => canonicalize([bad]), TypeError, JSON.stringify(bad));
    assert.throws(() => canonicalize({ ['\ud800']: 1 }), TypeError);
    assert.equal(canonicalize('\udbff\udfff'), '"\u{10ffff}"');
});

test('member names sort as UTF-16 code units (§3.2.3)', () => {
    // The RFC's §3.2.3 sample.
    assert.equal(canon('{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
                       '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control",' +
                       '"\\u00f6":"Latin Small Letter O With Diaeresis"}'),
                 '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
                 '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}');
    // U+1F600 is D83D DE00: before U+E000 and U+FF61, though after them as bytes.
    assert.equal(canon('{"\\uff61":1,"\\ue000":2,"\\ud83d\\ude00":3,"\\ud7ff":4}'),
                 '{"\ud7ff":4,"😀":3,"\ue000":2,"\uff61":1}');
    assert.equal(canon('{"\\ud83d\\ude01":1,"\\ud83d\\ude00":2,"\\ud800\\udc00":3}'),
                 '{"\u{10000}":3,"😀":2,"😁":1}');
    assert.equal(canon('{"ab":1,"a":2,"":3,"B":4,"b":5,"10":6,"9":7}'),
                 '{"":3,"10":6,"9":7,"B":4,"a":2,"ab":1,"b":5}');
    assert.equal(canon('{"z":[{"y":1,"x":2},3],"a":{}}'), '{"a":{},"z":[{"x":2,"y":1},3]}');
    // Insertion order does not matter; an object without a prototype is plain.
    const bare = Object.create(null);
    bare.c = 3;
    bare.b = 1;
    bare.a = 2;
    assert.equal(canonicalize({ b: 1, a: 2, c: 3 }), '{"a":2,"b":1,"c":3}');
    assert.equal(canonicalize(bare), '{"a":2,"b":1,"c":3}');
    assert.equal(canon('{"__proto__":{"x":1},"a":0}'), '{"__proto__":{"x":1},"a":0}');
});

test('literals, nesting and refusals', () => {
    assert.equal(canon('null'), 'null');
    assert.equal(canon('[true,false,null]'), '[true,false,null]');
    assert.equal(canon(' [ 1 , { } , [ ] ] '), '[1,{},[]]');
    const nest = (depth) => {
        let v = 1;
        for (let i = 0; i < depth; i++)
            v = i % 2 ? [v] : { k: v };
        return v;
    };
    assert.doesNotThrow(() => canonicalize(nest(MAX_DEPTH)));
    assert.throws(() => canonicalize(nest(MAX_DEPTH + 1)), RangeError);
    const deep = '['.repeat(2048) + ']'.repeat(2048);
    assert.equal(canon(deep), deep);
    const cycle = [];
    cycle.push({ back: cycle });
    assert.throws(() => canonicalize(cycle), RangeError);
    for (const v of [undefined, () => 1, Symbol('s'), [undefined], { a: undefined }, new Date(0),
                     new Map(), new Uint8Array(2), Object(1), [, 1]])
        assert.throws(() => canonicalize(v), TypeError, String(v));
});
