// auditlog's browser UI: the map of its views.
//
//   /?view=users                       manage users (the default)
//   /?view=timeline&target=users:5     what happened to one object
//   /?view=activity&actor=users:1      what one actor did
//   /?view=integrity                   is the log intact
//
// plus the filters of router.js PARAMS. Signed out, every URL shows the
// sign-in form and keeps the URL, so signing in lands where the person was.
// Each view's render(main, route) draws into <main> and returns a function
// that stops what it started (a live stream), or null.

import { loadConfig } from './api.js';
import { el, errorBlock, refreshTimes } from './dom.js';
import * as integrity from './integrity.js';
import * as router from './router.js';
import * as session from './session.js';
import { renderActivity } from './views/activity.js';
import { renderSignIn } from './views/signin.js';
import { renderTimeline } from './views/timeline.js';
import { renderUsers } from './views/users.js';

const VIEWS = {
    users: { title: 'Users', render: renderUsers },
    timeline: { title: 'Timeline', render: renderTimeline },
    activity: { title: 'Activity', render: renderActivity },
    integrity: { title: 'Integrity', render: (main) => integrity.renderIntegrityView(main) },
};

let stopView = null;
let lastKey = null;
let shown = false; // the first view of a page load does not take the focus

function show(route, { force = false } = {}) {
    const main = document.getElementById('view');
    const signedIn = Boolean(session.me());
    const key = `${signedIn}|${router.href(route)}`;
    if (key === lastKey && !force) return;
    lastKey = key;
    if (stopView) stopView();
    stopView = null;
    const view = VIEWS[route.view];
    const m = session.me();
    const mine = (nav) => nav !== 'activity' || !route.actor || (m && route.actor === `users:${m.id}`);
    for (const a of document.querySelectorAll('nav a[data-nav]')) {
        if (a.dataset.nav === route.view && mine(a.dataset.nav)) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    if (!signedIn) {
        document.title = 'Sign in · auditlog';
        stopView = renderSignIn(main, route);
    } else if (!view) {
        document.title = 'Not found · auditlog';
        main.replaceChildren(el('h1', { tabindex: '-1' }, 'No such page'),
            errorBlock(new Error(`There is no view "${route.view}".`)), el('p', {}, el('a', { href: '/' }, 'Go to the users')));
    } else {
        document.title = `${view.title} · auditlog`;
        try {
            stopView = view.render(main, route);
        } catch (e) {
            main.replaceChildren(errorBlock(e));
        }
    }
    // Move focus to the new view's heading, so that a screen reader
    // announces it and Tab goes on from there (the link that was followed
    // is gone with the old view).
    const h1 = main.querySelector('h1');
    if (h1 && shown) h1.focus({ preventScroll: true });
    shown = true;
}

async function boot() {
    await loadConfig();
    router.start();
    session.start();
    const badge = document.getElementById('integrity-badge');
    session.onSessionChange((m) => {
        badge.hidden = !m;
        if (m) integrity.start();
        else integrity.stop();
        show(router.route(), { force: true });
    });
    router.onRouteChange((r) => show(r));
    badge.hidden = !session.me();
    if (session.me()) integrity.start();
    show(router.route());
    setInterval(() => refreshTimes(), 30000);
}

boot().catch((e) => {
    document.getElementById('view').replaceChildren(errorBlock(e));
});
