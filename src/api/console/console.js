// The web console: plain JavaScript, no build step, talking only to this server's own
// API (Kibana's routes) with the session cookie the sign-in form gets.
'use strict';

// The space comes from the address, as in Kibana: /s/{space}/app/connectors.
const spaceMatch = location.pathname.match(/^\/s\/([a-z0-9_-]+)\//);
const SPACE = spaceMatch ? spaceMatch[1] : 'default';
const PREFIX = spaceMatch ? `/s/${SPACE}` : '';

// Starting values for the forms of common types (over the schema's defaults); any type
// can be edited as JSON.
const TEMPLATES = {
  '.webhook': { config: { url: '', method: 'post', headers: {}, hasAuth: false }, secrets: {}, params: { body: '{"hello":"world"}' } },
  '.server-log': { config: {}, secrets: {}, params: { message: 'Hello from the console', level: 'info' } },
  '.slack': { config: {}, secrets: { webhookUrl: '' }, params: { message: 'Hello from the console' } },
  '.email': { config: { from: '', service: 'other', host: '', port: 587, secure: false }, secrets: { user: '', password: '' }, params: { to: [], subject: 'Test', message: 'Hello from the console' } },
  '.index': { config: { index: '', refresh: false }, secrets: {}, params: { documents: [{ message: 'Hello from the console' }] } },
};

const state = { caps: null, types: [], connectors: [], sort: { key: 'name', dir: 1 }, current: null };

const $ = (id) => document.getElementById(id);
const show = (id, visible) => { $(id).hidden = !visible; };

class HttpError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

function banner(text) {
  $('banner').textContent = text || '';
  show('banner', !!text);
}

// One call to the API. Writes carry kbn-xsrf, which the server requires of them.
async function api(method, path, body) {
  // x-elastic-internal-origin, as Kibana's pages send it: the server then answers 401
  // without a Basic challenge, so the browser shows no password prompt of its own.
  const init = { method, credentials: 'same-origin', headers: { 'kbn-xsrf': 'console', 'x-elastic-internal-origin': 'Kibana' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    banner('The server cannot be reached. Check that Switchboard is running and reload the page.');
    throw error;
  }
  banner('');
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
  if (response.status === 401 && !path.endsWith('/internal/security/login')) {
    showLogin();
    throw new HttpError(401, parsed);
  }
  if (!response.ok) throw new HttpError(response.status, parsed);
  return parsed;
}

function showView(name) {
  for (const view of ['login-view', 'list-view', 'editor-view']) show(view, view === name);
}

function showLogin() {
  state.caps = null;
  show('session', false);
  showView('login-view');
  $('login-username').focus();
}

async function start() {
  try {
    state.caps = await api('GET', `${PREFIX}/internal/console/capabilities`);
  } catch (error) {
    if (!(error instanceof HttpError)) return;
    if (error.status !== 401) banner(error.message);
    return;
  }
  $('user').textContent = state.caps.security_enabled ? `Signed in as ${state.caps.username}` : '';
  show('logout', state.caps.security_enabled);
  show('session', true);
  show('create', !!state.caps.actions.save);
  await Promise.all([loadSpaces(), loadTypes()]);
  await route();
}

async function loadSpaces() {
  const select = $('space');
  select.textContent = '';
  let spaces = [];
  try { spaces = await api('GET', '/api/spaces/space'); } catch (_) { spaces = [{ id: SPACE, name: SPACE }]; }
  for (const space of spaces) {
    const option = new Option(space.name || space.id, space.id, false, space.id === SPACE);
    select.append(option);
  }
}

async function loadTypes() {
  state.types = await api('GET', `${PREFIX}/api/actions/connector_types`);
}

function typeName(id) {
  const type = state.types.find((it) => it.id === id);
  return type ? type.name : id;
}

async function route() {
  const hash = location.hash;
  if (hash === '#/create') return openEditor(null);
  const edit = hash.match(/^#\/connector\/(.+)$/);
  if (edit) return openEditor(decodeURIComponent(edit[1]));
  return openList();
}

async function openList() {
  showView('list-view');
  state.connectors = await api('GET', `${PREFIX}/api/actions/connectors`);
  renderList();
}

function renderList() {
  const query = $('search').value.trim().toLowerCase();
  const { key, dir } = state.sort;
  const rows = state.connectors
    .map((it) => ({ ...it, typeName: typeName(it.connector_type_id) }))
    .filter((it) => !query || [it.name, it.connector_type_id, it.typeName].some((text) => text.toLowerCase().includes(query)))
    .sort((a, b) => dir * (key === 'type' ? a.typeName.localeCompare(b.typeName) : a.name.localeCompare(b.name)));
  const body = $('connectors').tBodies[0];
  body.textContent = '';
  for (const connector of rows) {
    const row = body.insertRow();
    const name = document.createElement('a');
    name.href = `#/connector/${encodeURIComponent(connector.id)}`;
    name.textContent = connector.name;
    row.insertCell().append(name);
    row.insertCell().textContent = connector.typeName;
    const markers = row.insertCell();
    if (connector.is_preconfigured) markers.append(badge('Preconfigured', ''));
    if (connector.is_missing_secrets) markers.append(badge('Missing secrets', 'warn'));
    if (connector.is_deprecated) markers.append(badge('Deprecated', 'warn'));
    const actions = row.insertCell();
    if (state.caps.actions.delete && !connector.is_preconfigured) {
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'danger';
      remove.textContent = 'Delete';
      remove.setAttribute('aria-label', `Delete ${connector.name}`);
      remove.addEventListener('click', () => deleteConnector(connector));
      actions.append(remove);
    }
  }
  show('empty', rows.length === 0);
  for (const th of document.querySelectorAll('#connectors th[aria-sort]')) {
    const thKey = th.querySelector('button').dataset.key;
    th.setAttribute('aria-sort', thKey === key ? (dir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

function badge(text, kind) {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

async function deleteConnector(connector) {
  if (!window.confirm(`Delete the connector "${connector.name}"? This cannot be undone.`)) return;
  try {
    await api('DELETE', `${PREFIX}/api/actions/connector/${encodeURIComponent(connector.id)}`);
  } catch (error) {
    if (error instanceof HttpError) banner(error.message);
    return;
  }
  if (location.hash) location.hash = ''; else await openList();
}

const pretty = (value) => JSON.stringify(value, null, 2);
const SECTIONS = ['config', 'secrets', 'params'];

// Forms built from a type's JSON Schema (GET /internal/console/connector_types/{id}/form).
// Each section (config, secrets, params) is a form of fields, or a JSON text area when
// the schema is beyond what the form can express or when the JSON toggle is on.
const forms = { config: null, secrets: null, params: null };

const isNull = (schema) => schema && (schema.type === 'null' || (Object.prototype.hasOwnProperty.call(schema, 'const') && schema.const === null));

// One property's field: its kind, whether it may be left empty, its choices.
function describeField(name, schema, required) {
  const field = { name, schema, required: required && !('default' in schema), kind: 'json', nullable: false };
  let inner = schema;
  if (Array.isArray(schema.anyOf)) {
    const others = schema.anyOf.filter((it) => !isNull(it));
    field.nullable = others.length < schema.anyOf.length;
    if (others.length > 0 && others.every((it) => Object.prototype.hasOwnProperty.call(it, 'const'))) {
      field.kind = 'select';
      field.choices = others.map((it) => it.const);
      return field;
    }
    if (others.length === 1) inner = others[0]; else return field;
  }
  if (Object.prototype.hasOwnProperty.call(inner, 'const')) { field.kind = 'select'; field.choices = [inner.const]; }
  else if (inner.type === 'string') field.kind = 'string';
  else if (inner.type === 'number' || inner.type === 'integer') field.kind = 'number';
  else if (inner.type === 'boolean') field.kind = 'boolean';
  return field;
}

// The fields of an object schema, or null when the section is better edited as JSON
// (not an object of known properties, sub-actions).
function describeForm(schema) {
  if (!schema || schema.type !== 'object' || !schema.properties) return null;
  if (schema.properties.subAction) return null;
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties).map(([name, property]) => describeField(name, property, required.has(name)));
}

const fieldId = (section, name) => `${section}-field-${name}`;

function renderForm(section, schema, values, { secret = false, useDefaults = true } = {}) {
  const container = $(`${section}-fields`);
  container.textContent = '';
  const fields = describeForm(schema);
  forms[section] = fields ? { fields, secret, jsonMode: false } : { fields: null, secret, jsonMode: true };
  $(section).value = pretty(values || {});
  if (fields) {
    for (const field of fields) container.append(renderField(section, field, secret));
    fillForm(section, values || {}, useDefaults);
    if (fields.length === 0) {
      const none = document.createElement('p');
      none.className = 'muted';
      none.textContent = 'Nothing to set.';
      container.append(none);
    }
  }
  setJsonMode(section, !fields);
  const toggle = document.querySelector(`.json-toggle[data-section="${section}"]`);
  toggle.disabled = !fields;
}

function renderField(section, field, secret) {
  const wrap = document.createElement('div');
  wrap.className = 'field';
  const id = fieldId(section, field.name);
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = field.name;
  let input;
  if (field.kind === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    const row = document.createElement('div');
    row.className = 'check-row';
    row.append(input, label);
    wrap.append(row);
  } else {
    const row = document.createElement('div');
    row.className = 'label-row';
    row.append(label);
    if (field.required) {
      const marker = document.createElement('span');
      marker.className = 'req';
      marker.title = 'required';
      marker.textContent = '* required';
      row.append(marker);
    }
    wrap.append(row);
    if (field.kind === 'select') {
      input = document.createElement('select');
      if (!field.required) input.append(new Option('—', ''));
      field.choices.forEach((choice, index) => input.append(new Option(choice === null ? '(none)' : String(choice), String(index))));
    } else if (field.kind === 'json') {
      input = document.createElement('textarea');
      input.rows = 3;
      input.spellcheck = false;
      input.placeholder = 'JSON';
    } else {
      input = document.createElement('input');
      input.type = field.kind === 'number' ? 'number' : (secret ? 'password' : 'text');
      if (secret) input.autocomplete = 'new-password';
    }
    wrap.append(input);
  }
  input.id = id;
  input.name = `${section}.${field.name}`;
  if (field.required) input.required = true;
  const error = document.createElement('p');
  error.id = `${id}-error`;
  error.className = 'field-error';
  error.setAttribute('role', 'alert');
  wrap.append(error);
  return wrap;
}

function fillForm(section, values, useDefaults) {
  const form = forms[section];
  if (!form || !form.fields) return;
  for (const field of form.fields) {
    const input = $(fieldId(section, field.name));
    let value = values[field.name];
    if (value === undefined && useDefaults) value = field.schema.default;
    if (field.kind === 'boolean') input.checked = value === true;
    else if (field.kind === 'select') {
      const index = field.choices.findIndex((it) => it === value);
      input.value = index >= 0 ? String(index) : (field.required ? '0' : '');
    } else if (field.kind === 'json') input.value = value === undefined || value === null ? '' : pretty(value);
    else input.value = value === undefined || value === null ? '' : String(value);
  }
}

// The section's value: from its fields (empty ones left out) or its JSON; null after
// showing what is wrong.
function readSection(section) {
  const form = forms[section];
  if (!form || form.jsonMode || !form.fields) return parseJson(section);
  const value = {};
  for (const field of form.fields) {
    const input = $(fieldId(section, field.name));
    if (field.kind === 'boolean') { value[field.name] = input.checked; continue; }
    if (field.kind === 'select') {
      if (input.value !== '') value[field.name] = field.choices[Number(input.value)];
      continue;
    }
    const text = input.value;
    if (text.trim() === '') continue;
    if (field.kind === 'number') value[field.name] = Number(text);
    else if (field.kind === 'json') {
      try { value[field.name] = JSON.parse(text); } catch (_) {
        markError(section, field.name, 'Enter JSON, for example {"key": "value"}.');
        return null;
      }
    } else value[field.name] = text;
  }
  return value;
}

function setJsonMode(section, on) {
  const form = forms[section];
  if (form) form.jsonMode = on;
  show(`${section}-fields`, !on);
  show(`${section}-json`, on);
  const toggle = document.querySelector(`.json-toggle[data-section="${section}"]`);
  toggle.setAttribute('aria-pressed', String(on));
  toggle.setAttribute('aria-label', `Edit ${section} as JSON`);
}

// The toggle carries what was entered across: form → JSON text, JSON text → form.
function toggleJson(section) {
  const form = forms[section];
  if (!form || !form.fields) return;
  clearErrors();
  if (form.jsonMode) {
    const value = parseJson(section);
    if (value === null) return;
    fillForm(section, value, false);
    setJsonMode(section, false);
  } else {
    const value = readSection(section);
    if (value === null) return;
    $(section).value = pretty(value);
    setJsonMode(section, true);
  }
}

function clearErrors() {
  for (const field of ['name', 'form', ...SECTIONS]) {
    $(`${field}-error`).textContent = '';
    const input = $(field);
    if (input) input.removeAttribute('aria-invalid');
  }
  for (const error of document.querySelectorAll('.fields .field-error')) error.textContent = '';
  for (const input of document.querySelectorAll('.fields [aria-invalid]')) input.removeAttribute('aria-invalid');
}

function markError(section, name, message) {
  const form = forms[section];
  let target = section;
  let errorId = `${section}-error`;
  if (name && form && form.fields && !form.jsonMode && form.fields.some((it) => it.name === name)) {
    target = fieldId(section, name);
    errorId = `${target}-error`;
  }
  $(errorId).textContent = message;
  const input = $(target);
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', errorId);
    input.focus();
  }
}

// Shows a server message by the field it names: `[request body.name]: ...`,
// `[config.url]: ...`, `error validating action type config: [url]: ...`, or by the
// section, or the form as a whole.
function showServerError(message) {
  if (/\[request body\.name\]/.test(message)) { markError('name', null, message); return; }
  let match = message.match(/\[(?:request body\.)?(config|secrets|params)\.([^\].]+)/);
  if (!match) match = message.match(/(?:action|connector) type (config|secrets|params)[^[]*?\[([^\].]+)/);
  if (!match) match = message.match(/action (params)[^[]*?\[([^\].]+)/);
  if (match) { markError(match[1], match[2], message); return; }
  let section = 'form';
  if (/\[request body\.config|action type config|connector type config/.test(message)) section = 'config';
  else if (/\[request body\.secrets|action type secrets|connector type secrets/.test(message)) section = 'secrets';
  else if (/\[request body\.params|action params/.test(message)) section = 'params';
  markError(section, null, message);
}

function fillTypes(selected) {
  const select = $('type');
  select.textContent = '';
  const usable = state.types.filter((it) => it.enabled && it.enabled_in_config !== false && it.enabled_in_license !== false);
  for (const type of usable.sort((a, b) => a.name.localeCompare(b.name))) {
    select.append(new Option(`${type.name} (${type.id})`, type.id, false, type.id === selected));
  }
}

const schemaCache = new Map();
async function typeForm(typeId) {
  if (!schemaCache.has(typeId)) {
    schemaCache.set(typeId, await api('GET', `${PREFIX}/internal/console/connector_types/${encodeURIComponent(typeId)}/form`));
  }
  return schemaCache.get(typeId);
}

async function applyType(typeId) {
  clearErrors();
  const template = TEMPLATES[typeId] || { config: {}, secrets: {}, params: {} };
  let schema = {};
  try { schema = await typeForm(typeId); } catch (_) { schema = {}; }
  renderForm('config', schema.config, template.config);
  renderForm('secrets', schema.secrets, template.secrets, { secret: true });
}

async function openEditor(id) {
  clearErrors();
  showView('editor-view');
  show('result', false);
  const canSave = !!state.caps.actions.save;
  if (id === null) {
    if (!canSave) { location.hash = ''; return; }
    state.current = null;
    $('editor-title').textContent = 'Create connector';
    show('type-row', true);
    show('type-shown', false);
    fillTypes('.webhook');
    $('name').value = '';
    await applyType($('type').value);
    $('secrets-help').textContent = 'Stored encrypted; never shown again.';
    setReadOnly(false);
    show('delete', false);
    show('test-panel', false);
    show('log-panel', false);
    $('type').focus();
    return;
  }
  const connector = await api('GET', `${PREFIX}/api/actions/connector/${encodeURIComponent(id)}`);
  state.current = connector;
  $('editor-title').textContent = connector.name;
  show('type-row', false);
  $('type-shown').textContent = `Type: ${typeName(connector.connector_type_id)} (${connector.connector_type_id})`;
  show('type-shown', true);
  $('name').value = connector.name;
  let schema = {};
  try { schema = await typeForm(connector.connector_type_id); } catch (_) { schema = {}; }
  renderForm('config', schema.config, connector.config || {}, { useDefaults: false });
  // Write-only: nothing is shown, nothing pre-filled.
  renderForm('secrets', schema.secrets, {}, { secret: true, useDefaults: false });
  $('secrets').value = '';
  $('secrets-help').textContent = 'Secrets are not shown. Enter them again when you save (empty sends none).';
  const template = TEMPLATES[connector.connector_type_id];
  renderForm('params', schema.params, template ? template.params : {});
  const readOnly = connector.is_preconfigured || !canSave;
  setReadOnly(readOnly);
  show('readonly-note', !!connector.is_preconfigured);
  show('delete', !!state.caps.actions.delete && !connector.is_preconfigured);
  show('test-panel', !!state.caps.actions.execute);
  show('log-panel', true);
  $('name').focus();
  await loadLog();
}

function setReadOnly(readOnly) {
  for (const field of ['name', 'config', 'secrets']) $(field).readOnly = readOnly;
  for (const section of ['config', 'secrets']) {
    for (const input of $(`${section}-fields`).querySelectorAll('input, select, textarea')) input.disabled = readOnly;
  }
  show('save', !readOnly);
  show('readonly-note', false);
}

function parseJson(field) {
  const text = $(field).value.trim();
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch (_) {
    $(`${field}-error`).textContent = 'Enter a JSON object, for example {"key": "value"}.';
    $(field).setAttribute('aria-invalid', 'true');
    $(field).setAttribute('aria-describedby', `${field}-error`);
    $(field).focus();
    return null;
  }
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  const config = readSection('config');
  if (config === null) return;
  const secrets = readSection('secrets');
  if (secrets === null) return;
  const name = $('name').value;
  $('save').disabled = true;
  try {
    let saved;
    if (state.current) {
      saved = await api('PUT', `${PREFIX}/api/actions/connector/${encodeURIComponent(state.current.id)}`, { name, config, secrets });
    } else {
      saved = await api('POST', `${PREFIX}/api/actions/connector`, { name, connector_type_id: $('type').value, config, secrets });
    }
    location.hash = `#/connector/${encodeURIComponent(saved.id)}`;
    if (state.current && state.current.id === saved.id) await openEditor(saved.id);
    $('form-error').textContent = '';
  } catch (error) {
    if (error instanceof HttpError && error.status !== 401) showServerError(error.message);
  } finally {
    $('save').disabled = false;
  }
}

async function run() {
  clearErrors();
  const params = readSection('params');
  if (params === null) return;
  $('run').disabled = true;
  try {
    const result = await api('POST', `${PREFIX}/api/actions/connector/${encodeURIComponent(state.current.id)}/_execute`, { params });
    $('result-status').textContent = result.status;
    $('result-status').className = result.status === 'ok' ? 'ok' : 'error';
    $('result-message').textContent = result.message || '—';
    $('result-service-message').textContent = result.service_message || '—';
    $('result-data').textContent = result.data === undefined ? '—' : pretty(result.data);
    show('result', true);
    await loadLog();
  } catch (error) {
    if (error instanceof HttpError && error.status !== 401) {
      const message = error.message || '';
      const match = message.match(/\[(?:request body\.)?params\.([^\].]+)/) || message.match(/action params[^[]*?\[([^\].]+)/);
      markError('params', match ? match[1] : null, message);
    }
  } finally {
    $('run').disabled = false;
  }
}

async function loadLog() {
  if (!state.current) return;
  const body = $('log').tBodies[0];
  body.textContent = '';
  let page;
  try {
    page = await api('GET', `${PREFIX}/api/actions/connector/${encodeURIComponent(state.current.id)}/_execution_log?per_page=20&sort_order=desc`);
  } catch (_) {
    show('log-panel', false);
    return;
  }
  for (const entry of page.data || []) {
    const row = body.insertRow();
    row.insertCell().textContent = new Date(entry.timestamp).toLocaleString();
    const outcome = row.insertCell();
    outcome.textContent = entry.outcome;
    outcome.className = entry.outcome === 'success' ? 'ok' : 'error';
    row.insertCell().textContent = `${entry.duration_ms} ms`;
    row.insertCell().textContent = [entry.message, entry.error_message, entry.service_message].filter(Boolean).join(' — ');
  }
  if (!page.data || page.data.length === 0) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = 4;
    cell.textContent = 'No runs yet.';
  }
}

async function login(event) {
  event.preventDefault();
  $('login-error').textContent = '';
  const username = $('login-username').value;
  const password = $('login-password').value;
  if (!username || !password) {
    $('login-error').textContent = 'Enter your username and password.';
    return;
  }
  try {
    await api('POST', '/internal/security/login', {
      providerType: 'basic', providerName: 'basic', currentURL: location.pathname,
      params: { username, password },
    });
  } catch (error) {
    if (error instanceof HttpError) {
      $('login-error').textContent = error.status === 401 ? 'Wrong username or password.' : error.message;
    }
    return;
  }
  $('login-password').value = '';
  await start();
}

async function logout() {
  try { await api('POST', '/api/security/logout'); } catch (_) { /* signed out anyway */ }
  location.hash = '';
  showLogin();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('editor-form').addEventListener('submit', save);
  $('run').addEventListener('click', run);
  $('log-refresh').addEventListener('click', loadLog);
  $('back').addEventListener('click', () => { location.hash = ''; });
  $('create').addEventListener('click', () => { location.hash = '#/create'; });
  $('delete').addEventListener('click', () => state.current && deleteConnector(state.current));
  $('type').addEventListener('change', () => { applyType($('type').value).catch(() => {}); });
  for (const toggle of document.querySelectorAll('.json-toggle')) {
    toggle.addEventListener('click', () => toggleJson(toggle.dataset.section));
  }
  $('search').addEventListener('input', renderList);
  for (const button of document.querySelectorAll('button.sort')) {
    button.addEventListener('click', () => {
      const key = button.dataset.key;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      renderList();
    });
  }
  $('space').addEventListener('change', () => {
    const id = $('space').value;
    location.href = id === 'default' ? '/app/connectors' : `/s/${id}/app/connectors`;
  });
  window.addEventListener('hashchange', () => { if (state.caps) route().catch(() => {}); });
  start();
});
