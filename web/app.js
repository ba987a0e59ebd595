'use strict';

// auditlog browser UI. Plain DOM, no innerHTML with data (strict CSP).

const MEDIA = 'application/vnd.api+json';
const TOKEN_KEY = 'auditlog.token';
const $ = (sel) => document.querySelector(sel);

let apiUrl = '';
const users = new Map();          // id -> user resource
let editing = null;               // user resource being edited
const history = { userId: null, seq: 0, next: { for: null, by: null } };

// ---------- helpers ----------

class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => e.title).join('; '));
    this.status = status;
    this.errors = errors;
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function showError(err) {
  const box = $('#error');
  box.replaceChildren();
  let errors;
  if (err instanceof ApiError) {
    errors = err.errors;
    if (err.status === 401) {
      errors = errors.concat([{ title: 'Not authorized', detail: 'Your token is missing, expired or invalid. Get a new token.' }]);
    }
  } else {
    errors = [{ title: 'Error', detail: err && err.message ? err.message : String(err) }];
  }
  for (const e of errors) {
    const p = el('p');
    p.append(el('strong', null, e.title || 'Error'));
    if (e.detail) p.append(document.createTextNode(': ' + e.detail));
    box.append(p);
  }
  box.hidden = false;
}

function clearError() {
  $('#error').replaceChildren();
  $('#error').hidden = true;
}

function showStatus(text) {
  const s = $('#status');
  s.textContent = text;
  s.hidden = !text;
}

async function parseErrors(res) {
  const fallback = [{ status: String(res.status), title: `HTTP ${res.status}`, detail: res.statusText || '' }];
  try {
    const body = JSON.parse(await res.text());
    return Array.isArray(body.errors) && body.errors.length ? body.errors : fallback;
  } catch {
    return fallback;
  }
}

async function send(url, options) {
  try {
    return await fetch(url, options);
  } catch (e) {
    throw new Error(`Could not reach the API at ${apiUrl} (${e.message})`);
  }
}

// JSON:API request with the bearer token. Returns parsed body, or null for 204.
async function api(path, method = 'GET', body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new ApiError(401, [{ title: 'Not signed in', detail: 'Get a token first.' }]);
  const headers = { Accept: MEDIA, Authorization: `Bearer ${token}` };
  const options = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = MEDIA;
    options.body = JSON.stringify(body);
  }
  const url = /^https?:\/\//.test(path) ? path : apiUrl + (path.startsWith('/') ? '' : '/') + path;
  const res = await send(url, options);
  if (!res.ok) throw new ApiError(res.status, await parseErrors(res));
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// Run an action with a control disabled; report failures in #error.
async function guarded(control, action) {
  clearError();
  showStatus('');
  if (control) control.disabled = true;
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

// ---------- config & token ----------

async function loadConfig() {
  try {
    const res = await fetch('/config.json', { cache: 'no-store' });
    if (res.ok) {
      const cfg = await res.json();
      if (cfg && typeof cfg.apiUrl === 'string' && cfg.apiUrl) apiUrl = cfg.apiUrl;
    }
  } catch { /* fall back below */ }
  if (!apiUrl) apiUrl = `${location.protocol}//${location.hostname}:3000`;
  apiUrl = apiUrl.replace(/\/+$/, '');
}

function decodeJwt(token) {
  try {
    let b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    b64 += '='.repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function renderWhoami() {
  const who = $('#whoami');
  const token = sessionStorage.getItem(TOKEN_KEY);
  const claims = token ? decodeJwt(token) : null;
  who.replaceChildren();
  $('#sign-out').hidden = !token;
  if (!token) { who.textContent = 'Not signed in.'; return; }
  if (!claims) { who.textContent = 'Signed in with an unreadable token.'; return; }
  who.append('Signed in as ', el('strong', 'who-name', claims.name ?? '?'),
    ` <${claims.email ?? '?'}> (id ${claims.id ?? '?'})`);
  if (typeof claims.exp === 'number') {
    const expired = claims.exp * 1000 <= Date.now();
    who.append(el('span', expired ? 'expiry expired' : 'expiry',
      ` — token ${expired ? 'expired' : 'expires'} ${new Date(claims.exp * 1000).toLocaleString()}`));
  }
}

async function getToken(event) {
  event.preventDefault();
  const id = $('#user-id-input').value.trim();
  if (!id) return;
  await guarded($('#get-token'), async () => {
    const res = await send(`${apiUrl}/tokens/${encodeURIComponent(id)}`, { method: 'GET' });
    if (!res.ok) throw new ApiError(res.status, await parseErrors(res));
    sessionStorage.setItem(TOKEN_KEY, (await res.text()).trim());
    renderWhoami();
    await loadUsers();
  });
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  renderWhoami();
  users.clear();
  renderUsers();
  closeEdit();
  closeHistory();
}

// ---------- users ----------

// Users come a page at a time; links.next (if any) loads the next page.
let usersNext = null;

async function loadUsers(path = '/api/users?page[size]=200') {
  const body = await api(path);
  if (path.indexOf('page[after]') < 0 && path.indexOf('page%5Bafter%5D') < 0) users.clear();
  for (const u of body.data || []) users.set(String(u.id), u);
  usersNext = (body.links && body.links.next) || null;
  $('#users-more').hidden = !usersNext;
  renderUsers();
}

function renderUsers() {
  const tbody = $('#users-table tbody');
  tbody.replaceChildren();
  for (const u of users.values()) {
    const a = u.attributes || {};
    const tr = el('tr');
    tr.dataset.userId = u.id;

    const tos = el('input', 'toggle-tos');
    tos.type = 'checkbox';
    tos.checked = Boolean(a.agreedTos);
    tos.setAttribute('aria-label', `Agreed to terms: ${a.name}`);
    const tosCell = el('td', 'center');
    tosCell.append(tos);

    const actions = el('td', 'actions');
    for (const [cls, label] of [['edit-user', 'Edit'], ['history-user', 'History'], ['delete-user', 'Delete']]) {
      const b = el('button', cls, label);
      b.type = 'button';
      b.setAttribute('aria-label', `${label} ${a.name}`);
      actions.append(b);
    }
    tr.append(el('td', null, u.id), el('td', null, a.name ?? ''), el('td', null, a.email ?? ''), tosCell, actions);
    tbody.append(tr);
  }
  if (!users.size) {
    const td = el('td', 'empty', 'No users loaded.');
    td.colSpan = 5;
    const tr = el('tr');
    tr.append(td);
    tbody.append(tr);
  }
}

// Use the server's copy of a user if it sent one, else reload the list.
async function storeUser(body) {
  if (!body || !body.data) return loadUsers();
  users.set(String(body.data.id), body.data);
  renderUsers();
}

async function onTableClick(event) {
  const button = event.target.closest('button');
  const row = event.target.closest('tr[data-user-id]');
  if (!button || !row) return;
  const user = users.get(row.dataset.userId);
  if (!user) return;
  if (button.classList.contains('edit-user')) openEdit(user);
  else if (button.classList.contains('history-user')) openHistory(user);
  else if (button.classList.contains('delete-user')) await deleteUser(user, button);
}

async function onTableChange(event) {
  const box = event.target;
  if (!box.classList.contains('toggle-tos')) return;
  const id = box.closest('tr[data-user-id]').dataset.userId;
  const wanted = box.checked;
  const ok = await guarded(box, async () => {
    const body = await api(`/api/users/${encodeURIComponent(id)}`, 'PATCH',
      { data: { type: 'users', id, attributes: { agreedTos: wanted } } });
    await storeUser(body);
    return true;
  });
  if (!ok) box.checked = !wanted;
}

async function createUser(event) {
  event.preventDefault();
  const attributes = {
    name: $('#create-name').value.trim(),
    email: $('#create-email').value.trim(),
    agreedTos: $('#create-tos').checked,
  };
  await guarded($('#create-submit'), async () => {
    const body = await api('/api/users', 'POST', { data: { type: 'users', attributes } });
    $('#create-form').reset();
    await storeUser(body);
    showStatus(body && body.data ? `Created user ${body.data.id}.` : 'User created.');
  });
}

function openEdit(user) {
  editing = user;
  $('#edit-heading').textContent = `Edit user ${user.id}`;
  $('#edit-name').value = user.attributes.name ?? '';
  $('#edit-email').value = user.attributes.email ?? '';
  $('#edit-section').hidden = false;
  $('#edit-name').focus();
}

function closeEdit() {
  editing = null;
  $('#edit-section').hidden = true;
}

async function saveEdit(event) {
  event.preventDefault();
  if (!editing) return;
  const user = editing;
  const attributes = {};
  const name = $('#edit-name').value.trim();
  const email = $('#edit-email').value.trim();
  if (name !== user.attributes.name) attributes.name = name;
  if (email !== user.attributes.email) attributes.email = email;
  if (!Object.keys(attributes).length) { closeEdit(); showStatus('Nothing changed.'); return; }
  await guarded($('#edit-submit'), async () => {
    const body = await api(`/api/users/${encodeURIComponent(user.id)}`, 'PATCH',
      { data: { type: 'users', id: String(user.id), attributes } });
    await storeUser(body);
    closeEdit();
    showStatus(`Saved user ${user.id}.`);
  });
}

async function deleteUser(user, button) {
  if (!confirm(`Delete user ${user.id} (${user.attributes.name})?`)) return;
  await guarded(button, async () => {
    await api(`/api/users/${encodeURIComponent(user.id)}`, 'DELETE');
    users.delete(String(user.id));
    renderUsers();
    if (editing && editing.id === user.id) closeEdit();
    showStatus(`Deleted user ${user.id}.`);
  });
}

// ---------- history ----------

function renderEvent(ev) {
  const a = ev.attributes || {};
  const li = el('li', 'event');
  li.dataset.eventId = ev.id;
  const when = new Date(a.timestamp);
  const time = el('time', 'time', when.toLocaleString());
  if (!Number.isNaN(when.getTime())) time.dateTime = when.toISOString();
  li.append(time, ' ', el('span', `action action-${a.action}`, a.action), ' ',
    el('span', 'who', `${a.actorType}:${a.actorId} → ${a.targetType}:${a.targetId}`));
  if (a.eventName) li.append(' ', el('span', 'event-name', a.eventName));
  if (a.targetVersion != null) li.append(' ', el('span', 'version', `v${a.targetVersion}`));
  if (a.changes) {
    const ul = el('ul', 'changes');
    for (const [field, c] of Object.entries(a.changes)) {
      ul.append(el('li', 'change', `${field}: ${JSON.stringify(c.prev)} → ${JSON.stringify(c.next)}`));
    }
    li.append(ul);
  }
  return li;
}

async function loadHistory(kind, path) {
  const seq = history.seq;
  const list = $(`#history-${kind}`);
  const more = $(`#history-${kind}-more`);
  await guarded(more, async () => {
    const body = await api(path);
    if (seq !== history.seq) return;     // a different user was opened meanwhile
    list.querySelector('.empty')?.remove();
    for (const ev of body.data || []) list.append(renderEvent(ev));
    if (!list.children.length) list.append(el('li', 'empty', 'No events.'));
    history.next[kind] = (body.links && body.links.next) || null;
  });
  if (seq === history.seq) more.hidden = !history.next[kind];
}

function openHistory(user) {
  history.seq += 1;
  history.userId = String(user.id);
  $('#history-heading').textContent = `History of user ${user.id} (${user.attributes.name})`;
  for (const kind of ['for', 'by']) {
    $(`#history-${kind}`).replaceChildren();
    $(`#history-${kind}-more`).hidden = true;
    history.next[kind] = null;
  }
  $('#history').hidden = false;
  const id = encodeURIComponent(user.id);
  loadHistory('for', `/logs/for/users/${id}?page[size]=50`);
  loadHistory('by', `/logs/by/users/${id}?page[size]=50`);
}

function closeHistory() {
  history.seq += 1;
  history.userId = null;
  $('#history').hidden = true;
}

function loadMore(kind) {
  if (history.next[kind]) loadHistory(kind, history.next[kind]);
}

// ---------- start ----------

async function init() {
  $('#login-form').addEventListener('submit', getToken);
  $('#sign-out').addEventListener('click', signOut);
  $('#refresh-users').addEventListener('click', (e) => guarded(e.currentTarget, () => loadUsers()));
  $('#users-more').addEventListener('click', (e) => guarded(e.currentTarget, () => usersNext && loadUsers(usersNext)));
  $('#users-table tbody').addEventListener('click', onTableClick);
  $('#users-table tbody').addEventListener('change', onTableChange);
  $('#create-form').addEventListener('submit', createUser);
  $('#edit-form').addEventListener('submit', saveEdit);
  $('#edit-cancel').addEventListener('click', closeEdit);
  $('#history-close').addEventListener('click', closeHistory);
  $('#history-for-more').addEventListener('click', () => loadMore('for'));
  $('#history-by-more').addEventListener('click', () => loadMore('by'));

  await loadConfig();
  renderWhoami();
  renderUsers();
  const claims = decodeJwt(sessionStorage.getItem(TOKEN_KEY) || '');
  if (claims && claims.id !== undefined) $('#user-id-input').value = claims.id;
  if (sessionStorage.getItem(TOKEN_KEY)) await guarded(null, loadUsers);
}

document.addEventListener('DOMContentLoaded', init);
