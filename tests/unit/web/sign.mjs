// Signing for the web tests: what the auditor's note_sign (common/note.c)
// does, with Web Crypto, so that tests can make checkpoints of their own.

import { b64encode, concatBytes, hex } from '../../../web/js/lib/bytes.js';
import { keyIdOf } from '../../../web/js/lib/note.js';

// text + "\n" + "— name base64(id ‖ Ed25519(text))\n".
export async function signNote(text, name, keyId, privateKey) {
    const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', privateKey, new TextEncoder().encode(text)));
    return `${text}\n\u2014 ${name} ${b64encode(concatBytes(keyId, sig))}\n`;
}

// A fresh key named name: {vkey (its verifier key line), sign(text)}.
export async function makeSigner(name) {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    const pub = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const id = await keyIdOf(name, pub);
    const vkey = `${name}+${hex(id)}+${b64encode(concatBytes(Uint8Array.of(1), pub))}`;
    return { vkey, sign: (text) => signNote(text, name, id, pair.privateKey) };
}
