// Sign in by picking a user: the demo's GET /tokens/:id hands out a token
// for any user id. The page the person asked for stays in the URL and is
// shown once they are signed in.

import { busy, el, errorBlock } from '../dom.js';
import { recentUsers, signIn } from '../session.js';

export function renderSignIn(main, route) {
    const input = el('input', {
        id: 'user-id-input', type: 'number', min: '1', step: '1', value: '1', required: true,
        inputmode: 'numeric', 'data-testid': 'user-id-input', 'aria-describedby': 'user-id-hint',
    });
    const submit = el('button', { type: 'submit', 'data-testid': 'sign-in' }, 'Sign in');
    const errors = el('div', { 'data-testid': 'sign-in-errors' });
    const form = el('form.card.signin', { 'data-testid': 'sign-in-form', 'aria-labelledby': 'signin-h' },
        el('h1', { id: 'signin-h', tabindex: '-1' }, 'Sign in'),
        el('p', {}, 'Pick the user you act as. This demo hands out a token for any user id; every token it issues is itself recorded in the log.'),
        el('div.field', {}, el('label', { for: 'user-id-input' }, 'User id'), input,
            el('span.hint', { id: 'user-id-hint' }, 'User 1 of the demo data has the auditor role and may read everyone\'s history.')),
        el('div.row', {}, submit),
        errors);
    form.addEventListener('submit', (e) => {
        e.preventDefault();
        errors.replaceChildren();
        const typed = input.value.trim();
        if (!/^[0-9]{1,19}$/.test(typed) || /^0+$/.test(typed)) {
            errors.replaceChildren(errorBlock(new Error('A user id is a whole number from 1 up, e.g. 1.')));
            input.setAttribute('aria-invalid', 'true');
            input.focus();
            return;
        }
        busy(submit, () => signIn(typed.replace(/^0+/, '')), (err) => {
            errors.replaceChildren(errorBlock(err));
            input.setAttribute('aria-invalid', 'true');
            input.focus();
        });
    });
    const recent = recentUsers();
    if (recent.length) {
        form.insertBefore(el('div.recent', {},
            el('p', { id: 'recent-h' }, 'Or pick a user you signed in as before:'),
            el('ul.recent-users', { 'aria-labelledby': 'recent-h' }, recent.map((u) => el('li', {},
                el('button.secondary.small', {
                    type: 'button',
                    'data-testid': 'recent-user',
                    onclick: (e) => busy(e.currentTarget, () => signIn(u.id), (err) => errors.replaceChildren(errorBlock(err))),
                }, `${u.name} (users:${u.id})`))))), errors);
    }
    const going = route.view && route.view !== 'users'
        ? el('p.muted', { 'data-testid': 'return-to' }, 'After signing in you go back to the page you were on.')
        : null;
    main.replaceChildren(form, going || '');
    return null;
}
