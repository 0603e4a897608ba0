/* environments.js: the /playground/environments page: list, create and delete environments, follow build logs live. */
'use strict';

(function () {
  const { request, errorLines, el, formatBytes, timeEl } = window.SPS;
  const $ = (id) => document.getElementById(id);

  const NAME_RE = /^[A-Za-z0-9_-]{1,50}$/;
  const POLL_MS = 500;
  const LOG_PAGE = 1000; // the server's default page size: a full page means more is waiting
  const LIST_REFRESH_MS = 3000; // while something builds, so its row's status moves on by itself

  let follow = null; // the build log being followed: {name, offset, stopped, timer, failures}
  let listTimer = 0;
  let listGeneration = 0; // a newer refresh supersedes one still in flight (no stale rows, one timer)

  function path(name) {
    return '/environments/' + encodeURIComponent(name);
  }

  // source 'list': a failure to load the list, which the next successful load takes away again.
  function message(text, kind, source) {
    const node = $('env-message');
    node.textContent = text;
    node.className = 'banner' + (kind ? ' ' + kind : '');
    node.dataset.source = source || '';
    node.hidden = !text;
  }

  /* ---- the list ---- */

  async function refresh() {
    clearTimeout(listTimer);
    const generation = ++listGeneration;
    let res;
    try {
      res = await request('GET', '/environments');
    } catch (e) {
      if (generation !== listGeneration) return;
      message('Could not load the environments (network error).', 'error', 'list');
      return;
    }
    if (generation !== listGeneration) return;
    if (!res.ok || !res.data || !Array.isArray(res.data.environments)) {
      message('Could not load the environments: ' + errorLines(res).join(' '), 'error', 'list');
      return;
    }
    if ($('env-message').dataset.source === 'list') message('');
    const envs = res.data.environments.filter((env) => env && typeof env.name === 'string');
    renderTable(envs);
    const total = typeof res.data.total === 'number' ? res.data.total : envs.length;
    $('env-total').textContent = '(' + total + ')';
    if (envs.some((env) => env.status === 'building')) listTimer = setTimeout(refresh, LIST_REFRESH_MS);
  }

  function renderTable(envs) {
    const tbody = $('env-table').tBodies[0];
    if (!envs.length) {
      tbody.replaceChildren(el('tr', { className: 'placeholder' },
        el('td', { colspan: 9 }, 'No environments yet. Create one below.')));
      return;
    }
    tbody.replaceChildren(...envs.map(row));
  }

  function row(env) {
    const status = String(env.status || 'unknown');
    const statusCell = el('td', {}, el('span', { className: 'badge', dataset: { status } }, status));
    if (env.error) statusCell.append(el('div', { className: 'env-error' }, env.error));
    const buildTime = typeof env.build_seconds === 'number' ? env.build_seconds.toFixed(1) + ' s' : '';
    return el('tr', { dataset: { name: env.name, status } },
      el('th', { scope: 'row' }, env.name),
      statusCell,
      el('td', {}, env.python_version || ''),
      el('td', { className: 'description' }, env.description || ''),
      el('td', {}, timeEl(env.created_at)),
      el('td', {}, timeEl(env.last_used)),
      el('td', { className: 'num' }, typeof env.size_bytes === 'number' ? formatBytes(env.size_bytes) : ''),
      el('td', { className: 'num' }, buildTime),
      el('td', { className: 'actions' },
        el('button', { type: 'button', className: 'small log', 'aria-label': 'Log of ' + env.name,
          onclick: () => startFollow(env.name) }, 'Log'),
        status === 'ready'
          ? el('a', { className: 'button small', href: '/playground?environment=' + encodeURIComponent(env.name),
            'aria-label': 'Use ' + env.name + ' in the playground' }, 'Use')
          : null,
        el('button', { type: 'button', className: 'small danger delete', 'aria-label': 'Delete ' + env.name,
          onclick: () => remove(env.name) }, 'Delete')));
  }

  async function remove(name) {
    // confirm() is plain and keyboard-accessible; a deleted environment cannot be brought back.
    if (!window.confirm('Delete the environment "' + name + '"? A build in progress is cancelled.')) return;
    let res;
    try {
      res = await request('DELETE', path(name));
    } catch (e) {
      message('Could not delete "' + name + '" (network error).', 'error');
      return;
    }
    if (res.ok) {
      message(res.data && res.data.message ? String(res.data.message) : 'Deleted "' + name + '".', 'ok');
      if (follow && follow.name === name) {
        stopFollow();
        setBuildStatus('deleted', 'deleted');
      }
    } else {
      message('Could not delete "' + name + '": ' + errorLines(res).join('\n'), 'error');
    }
    refresh();
  }

  /* ---- creating ---- */

  async function create(ev) {
    ev.preventDefault(); // the CSP forbids form submission (form-action 'none'); fetch() does the work
    const nameInput = $('env-name');
    const name = nameInput.value.trim();
    const script = $('env-script').value;
    if (!NAME_RE.test(name)) {
      message('The name must be 1 to 50 letters, digits, "_" or "-".', 'error');
      nameInput.focus();
      return;
    }
    if (!script.trim()) {
      message('The setup script must not be blank.', 'error');
      $('env-script').focus();
      return;
    }
    const body = { name, description: $('env-description').value, setup_script: script };
    const python = $('env-python').value.trim();
    if (python) body.python_version = python; // absent: the server's default interpreter

    const button = $('env-create');
    button.disabled = true;
    let res;
    try {
      res = await request('POST', '/environments', body);
    } catch (e) {
      message('Could not create "' + name + '" (network error).', 'error');
      return;
    } finally {
      button.disabled = false;
    }
    if (!res.ok) {
      message('Could not create "' + name + '":\n' + errorLines(res).join('\n'), 'error');
      return;
    }
    message('Created "' + name + '"; it is building.', 'ok');
    refresh();
    startFollow(name);
  }

  async function loadInterpreters() {
    let res;
    try {
      res = await request('GET', '/health');
    } catch (e) {
      return; // the field just stays free text
    }
    const list = res.data && Array.isArray(res.data.interpreters) ? res.data.interpreters : [];
    const options = [];
    let fallback = '';
    for (const it of list) {
      if (!it || typeof it.version !== 'string') continue;
      options.push(el('option', { value: it.version }, it.version + (it.default ? ' (default)' : '')));
      if (it.default) fallback = it.version + (it.release ? ' (' + it.release + ')' : '');
    }
    $('env-python-list').replaceChildren(...options);
    if (options.length) {
      $('env-python-hint').textContent = 'available: ' + list.map((it) => it.version).join(', ') +
        (fallback ? '; empty: the default, ' + fallback : '');
      if (fallback) $('env-python').placeholder = 'default: ' + fallback;
    }
  }

  /* ---- following a build log ---- */

  function setBuildStatus(text, state) {
    const node = $('build-status');
    node.textContent = text;
    node.dataset.status = state;
  }

  function stopFollow() {
    if (!follow) return;
    follow.stopped = true;
    clearTimeout(follow.timer);
    follow = null;
  }

  function startFollow(name) {
    stopFollow();
    const f = { name, offset: 0, stopped: false, timer: 0, failures: 0 };
    follow = f;
    $('build-name').textContent = '· ' + name;
    $('build-log').replaceChildren();
    setBuildStatus('loading…', 'loading');
    $('build').scrollIntoView({ block: 'nearest' });
    poll(f);
  }

  function schedule(f, ms) {
    if (!f.stopped) f.timer = setTimeout(() => poll(f), ms);
  }

  function retryDelay(f, res) {
    const after = res && Number(res.retryAfter);
    if (after > 0) return after * 1000;
    return Math.min(10000, POLL_MS * 2 ** Math.min(f.failures, 5)); // back off while the service is away
  }

  async function poll(f) {
    if (f.stopped) return;
    let res;
    try {
      res = await request('GET', path(f.name) + '/logs?offset=' + f.offset);
    } catch (e) {
      if (f.stopped) return;
      f.failures++;
      setBuildStatus('network error; retrying…', 'retrying');
      schedule(f, retryDelay(f, null));
      return;
    }
    if (f.stopped) return;
    if (res.status === 404) {
      setBuildStatus('"' + f.name + '" does not exist (deleted?)', 'deleted');
      follow = null;
      refresh();
      return;
    }
    if (!res.ok || !res.data || typeof res.data !== 'object') {
      f.failures++;
      setBuildStatus(errorLines(res).join(' ') + '; retrying…', 'retrying');
      schedule(f, retryDelay(f, res));
      return;
    }
    f.failures = 0;
    const d = res.data;
    const lines = Array.isArray(d.lines) ? d.lines : [];
    appendLines(lines);
    if (typeof d.next_offset === 'number' && d.next_offset >= f.offset) f.offset = d.next_offset;
    if (d.complete) {
      await showFinal(f, d.status);
      return;
    }
    setBuildStatus(d.status === 'building' ? 'building…' : String(d.status || 'building…'), 'building');
    schedule(f, lines.length >= LOG_PAGE ? 0 : POLL_MS);
  }

  function appendLines(lines) {
    if (!lines.length) return;
    const log = $('build-log');
    // Keep following the tail unless the reader has scrolled up to look at something.
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    const frag = document.createDocumentFragment();
    for (const l of lines) {
      const stream = l && typeof l.stream === 'string' ? l.stream : 'stdout';
      frag.append(el('span', { className: 'log-line', dataset: { stream }, title: l && l.ts ? stream + ' · ' + l.ts : stream },
        (l && l.line != null ? String(l.line) : '') + '\n'));
    }
    log.append(frag);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  async function showFinal(f, logStatus) {
    let env = null;
    try {
      const res = await request('GET', path(f.name));
      if (res.ok && res.data && typeof res.data === 'object') env = res.data;
    } catch (e) {
      env = null; // fall back to the status the log reported
    }
    if (f.stopped) return;
    follow = null;
    const status = String((env && env.status) || logStatus || 'unknown');
    let text = status;
    if (status === 'failed') {
      text += env && env.error ? ': ' + env.error : '';
    } else if (env) {
      const extra = [];
      if (typeof env.build_seconds === 'number') extra.push('built in ' + env.build_seconds.toFixed(1) + ' s');
      if (typeof env.size_bytes === 'number') extra.push(formatBytes(env.size_bytes));
      if (extra.length) text += ' (' + extra.join(', ') + ')';
    }
    setBuildStatus(text, status);
    refresh();
  }

  /* ---- start-up ---- */

  function init() {
    $('env-refresh').addEventListener('click', refresh);
    $('env-form').addEventListener('submit', create);
    refresh();
    loadInterpreters();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
