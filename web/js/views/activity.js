// An actor's activity: everything one user (or producer) did, across all
// targets, each linking to its target's timeline; live while open.

import { splitRef } from '../api.js';
import { el } from '../dom.js';
import { nameOf } from '../names.js';
import { href, navigate } from '../router.js';
import { me } from '../session.js';
import { History } from './history.js';
import { refForm } from './timeline.js';

export function renderActivity(main, route) {
    const mine = me();
    const ref = splitRef(route.actor || (mine ? `users:${mine.id}` : ''));
    if (!ref) {
        main.replaceChildren(el('h1', { tabindex: '-1' }, 'Activity'),
            refForm('Actor (type:id)', route.actor, (actor) => navigate({ view: 'activity', actor })));
        return null;
    }
    const refText = `${ref.type}:${ref.id}`;
    const title = el('h1', { tabindex: '-1', id: 'view-title' }, `Activity of ${refText}`);
    nameOf(ref.type, ref.id).then((n) => {
        if (n.known) title.replaceChildren('Activity of ', el('bdi', {}, n.label), n.deleted ? ' (deleted)' : '');
    });
    const history = new History('actor', ref, { ...route, actor: refText });
    main.replaceChildren(
        el('div.view-head', {}, title,
            el('p.subtitle', {}, el('code', {}, refText),
                ref.type === 'users' ? [' · ', el('a', { href: href({ view: 'timeline', target: refText }) }, 'what happened to this user')] : '')),
        el('section.card.history', { 'aria-labelledby': 'activity-h' },
            el('h2', { id: 'activity-h' }, 'What they did'),
            history.elements(`activity-${ref.type}-${ref.id}`)));
    history.start();
    return () => history.stop();
}
