// Export of the filtered view as CSV or NDJSON: the same query with the
// export's Accept (README "Exports"), every page of it, saved as a file.

import { raw } from './api.js';
import { busy, el, errorBlock } from './dom.js';

const FORMATS = {
    csv: { accept: 'text/csv', ext: 'csv', label: 'Export CSV' },
    ndjson: { accept: 'application/x-ndjson', ext: 'ndjson', label: 'Export NDJSON' },
};

// Downloads path (a /logs/... query) in format; reports progress in status.
async function download(path, format, name, status) {
    const f = FORMATS[format];
    const res = await raw(path, { accept: f.accept });
    const reader = res.body.getReader();
    const parts = [];
    let bytes = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        bytes += value.length;
        status.textContent = `Exporting… ${(bytes / 1024).toFixed(0)} KiB`;
    }
    const blob = new Blob(parts, { type: f.accept });
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `${name}.${f.ext}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status.textContent = `Exported ${(bytes / 1024).toFixed(1)} KiB as ${name}.${f.ext}.`;
}

// The two buttons and a status line. pathFn() gives the query of the view
// as it is now; name the file's name without extension.
export function exportButtons(pathFn, name) {
    const status = el('span.export-status', { role: 'status', 'aria-live': 'polite', 'data-testid': 'export-status' });
    const errors = el('div');
    const buttons = Object.entries(FORMATS).map(([format, f]) => {
        const b = el('button.secondary.small', { type: 'button', 'data-testid': `export-${format}` }, f.label);
        b.addEventListener('click', () => busy(b, async () => {
            errors.replaceChildren();
            await download(pathFn(), format, name, status);
        }, (e) => { status.textContent = ''; errors.replaceChildren(errorBlock(e)); }));
        return b;
    });
    return el('div.exports', {}, buttons, status, errors);
}
