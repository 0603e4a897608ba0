/* playground.js: the /playground page: edit code, send it to POST /execute, show its output and returned files. */
'use strict';

(function () {
  const { request, errorLines, el, formatBytes } = window.SPS;
  const $ = (id) => document.getElementById(id);

  // A first click on Run should show output, stdin, args and a returned file.
  const DEFAULT_CODE = [
    '# Hello from the SimplePySandbox playground.',
    'import os',
    'import platform',
    'import sys',
    '',
    'print("Hello, SimplePySandbox!")',
    'print("Python", platform.python_version())',
    'print("args:", sys.argv[1:])',
    'print("files here:", sorted(os.listdir(".")))',
    '',
    'name = sys.stdin.readline().strip() or "world"',
    'print(f"Hello, {name}!")',
    '',
    '# Files the program writes in its working directory come back in the response.',
    'with open("out.txt", "w") as f:',
    '    f.write(f"Hello, {name}! Written inside the sandbox.\\n")',
    'print("wrote out.txt")',
    '',
  ].join('\n');

  const PREVIEW_TEXT_MAX = 64 * 1024; // larger text files: download only
  const PREVIEW_IMAGE_MAX = 4 * 1024 * 1024;
  const IMAGE_TYPES = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', bmp: 'image/bmp' };

  const inputFiles = new Map(); // name -> {size, b64 (null while being read)}
  const pendingReads = new Set();
  let blobUrls = [];
  let maxTimeout = 300;
  let running = false;
  let tabLeavesEditor = false;

  /* ---- the code editor ---- */

  function insertText(textarea, text) {
    textarea.focus();
    // execCommand keeps the browser's undo history; setRangeText is the fallback where it is gone.
    let done = false;
    try {
      done = document.execCommand('insertText', false, text);
    } catch (e) {
      done = false;
    }
    if (!done) {
      textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, 'end');
      textarea.dispatchEvent(new Event('input', { bubbles: true }));
    }
  }

  function onCodeKeydown(ev) {
    if (ev.key === 'Escape') {
      tabLeavesEditor = true; // so keyboard users are never trapped in the editor
      return;
    }
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.ctrlKey && !ev.altKey && !ev.metaKey) {
      if (tabLeavesEditor) {
        tabLeavesEditor = false;
        return;
      }
      ev.preventDefault();
      insertText(ev.target, '    ');
      return;
    }
    if (!['Shift', 'Control', 'Alt', 'Meta'].includes(ev.key)) tabLeavesEditor = false;
  }

  function onDocumentKeydown(ev) {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      run();
    }
  }

  /* ---- service information: limits and environments ---- */

  async function loadHealth() {
    let res;
    try {
      res = await request('GET', '/health');
    } catch (e) {
      return; // the run itself reports an unreachable service
    }
    const d = res.data;
    if (d && d.status === 'unhealthy') {
      const note = $('service-note');
      note.textContent = 'The service reports itself unhealthy' + (d.reason ? ': ' + d.reason : '') + '. Runs will fail.';
      note.classList.add('error');
      note.hidden = false;
    }
    const max = d && d.limits && Number(d.limits.max_timeout);
    if (max > 0) {
      maxTimeout = max;
      $('timeout').max = String(max);
      $('timeout-hint').textContent = 'more than 0, at most ' + max;
    }
  }

  async function loadEnvironments() {
    const select = $('environment');
    const note = $('environment-note');
    // Keep the choice across reloads; a link from the environments page may preselect one.
    const wanted = select.value || new URLSearchParams(location.search).get('environment') || '';
    let res;
    try {
      res = await request('GET', '/environments');
    } catch (e) {
      note.textContent = 'Could not load environments (network error).';
      return;
    }
    if (!res.ok || !res.data || !Array.isArray(res.data.environments)) {
      note.textContent = 'Could not load environments: ' + errorLines(res).join(' ');
      return;
    }
    const ready = res.data.environments.filter((env) => env && env.status === 'ready' && typeof env.name === 'string');
    select.replaceChildren(
      el('option', { value: '' }, '(none)'),
      ...ready.map((env) =>
        el('option', { value: env.name, title: env.description || null },
          env.name + (env.python_version ? ' (Python ' + env.python_version + ')' : ''))),
    );
    if (ready.some((env) => env.name === wanted)) select.value = wanted;
    note.textContent = ready.length ? '' : 'No ready environments yet.';
  }

  /* ---- input files ---- */

  function readAsBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.addEventListener('load', () => {
        // A data: URL is "data:TYPE;base64,PAYLOAD"; an empty file may have no payload at all.
        const url = String(reader.result);
        const comma = url.indexOf(',');
        resolve(comma < 0 ? '' : url.slice(comma + 1));
      });
      reader.addEventListener('error', () => reject(reader.error || new Error('read failed')));
      reader.readAsDataURL(file);
    });
  }

  function onFilesPicked() {
    const input = $('file-input');
    const note = $('input-files-note');
    note.textContent = '';
    for (const file of Array.from(input.files || [])) {
      const entry = { size: file.size, b64: null };
      inputFiles.set(file.name, entry); // a file picked again under the same name replaces the old one
      const p = readAsBase64(file)
        .then((b64) => {
          entry.b64 = b64;
        }, (err) => {
          if (inputFiles.get(file.name) === entry) inputFiles.delete(file.name);
          note.textContent = 'Could not read ' + file.name + ': ' + (err && err.message ? err.message : err);
        })
        .finally(() => {
          pendingReads.delete(p);
          renderInputFiles();
        });
      pendingReads.add(p);
    }
    input.value = ''; // so that picking the same file again fires "change"
    renderInputFiles();
  }

  function renderInputFiles() {
    const list = $('input-files');
    const items = [];
    for (const [name, entry] of inputFiles) {
      items.push(el('li', { dataset: { name } },
        el('span', { className: 'name' }, name),
        ' ',
        el('span', { className: 'size' }, formatBytes(entry.size)),
        entry.b64 === null ? el('span', { className: 'hint' }, ' reading…') : null,
        ' ',
        el('button', {
          type: 'button',
          className: 'small remove',
          'aria-label': 'Remove ' + name,
          onclick: () => {
            inputFiles.delete(name);
            renderInputFiles();
          },
        }, 'Remove')));
    }
    list.replaceChildren(...items);
  }

  /* ---- running ---- */

  function parseArgs() {
    return $('args').value.split(/\r?\n/).filter((line) => line !== '');
  }

  function setText(id, text) {
    $(id).textContent = text == null ? '' : String(text);
  }

  function setStatus(text, state) {
    const node = $('status');
    node.textContent = text;
    node.dataset.status = state;
  }

  function clearResult() {
    for (const id of ['exit-code', 'signal', 'time', 'cpu-time', 'max-rss', 'round-trip', 'error',
      'stdout', 'stderr', 'stdout-note', 'stderr-note', 'files-note']) setText(id, '');
    // Object URLs keep their blobs alive until revoked: free the previous run's files.
    for (const url of blobUrls) URL.revokeObjectURL(url);
    blobUrls = [];
    $('files').replaceChildren();
    $('files-empty').hidden = false;
    $('files-empty').textContent = 'None yet.';
  }

  function seconds(v) {
    return typeof v === 'number' ? v + ' s' : '';
  }

  async function run() {
    if (running) return;
    const timeoutInput = $('timeout');
    const timeout = Number(timeoutInput.value);
    if (timeoutInput.value.trim() === '' || !(timeout > 0 && timeout <= maxTimeout)) {
      clearResult();
      setStatus('not sent', 'invalid');
      setText('error', 'The timeout must be more than 0 and at most ' + maxTimeout + ' seconds.');
      timeoutInput.focus();
      return;
    }

    running = true;
    $('run').disabled = true;
    $('result').setAttribute('aria-busy', 'true');
    clearResult();
    setStatus('running…', 'running');
    try {
      if (pendingReads.size) await Promise.allSettled(Array.from(pendingReads));
      const files = {};
      for (const [name, entry] of inputFiles) if (entry.b64 !== null) files[name] = entry.b64;
      const body = { code: $('code').value, timeout, stdin: $('stdin').value, files, args: parseArgs() };
      const environment = $('environment').value;
      if (environment) body.environment = environment;

      const started = performance.now();
      let res;
      try {
        res = await request('POST', '/execute', body);
      } catch (e) {
        setStatus('network error', 'network-error');
        setText('error', 'Could not reach the service' + (e && e.message ? ' (' + e.message + ')' : '') + '.');
        return;
      }
      setText('round-trip', Math.round(performance.now() - started) + ' ms');
      if (res.ok && res.data && typeof res.data === 'object' && 'success' in res.data) showResult(res.data);
      else showHttpError(res);
    } finally {
      running = false;
      $('run').disabled = false;
      $('result').removeAttribute('aria-busy');
    }
  }

  function showHttpError(res) {
    setStatus('HTTP ' + res.status, 'http-error');
    setText('error', errorLines(res).join('\n'));
  }

  function showResult(d) {
    const status = typeof d.status === 'string' ? d.status : (d.success ? 'ok' : 'error');
    setStatus(status + (d.success ? ' (success)' : ' (failed)'), status);
    $('status').dataset.success = String(!!d.success);
    setText('exit-code', d.exit_code);
    setText('signal', d.signal);
    setText('error', d.error);
    setText('time', seconds(d.execution_time));
    const r = d.resources || {};
    setText('cpu-time', seconds(r.cpu_time));
    setText('max-rss', typeof r.max_rss_kb === 'number' ? r.max_rss_kb + ' KB' : '');
    setText('stdout', d.stdout);
    setText('stderr', d.stderr);
    const t = d.truncated || {};
    if (t.stdout) setText('stdout-note', '(truncated)');
    if (t.stderr) setText('stderr-note', '(truncated)');
    if (t.files) setText('files-note', '(not all files were returned)');
    renderReturnedFiles(d.files || {});
  }

  function base64ToBytes(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  /* UTF-8 text without control characters (tabs, newlines and form feeds aside) is shown; the rest is binary. */
  function asText(bytes) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      return /[\u0000-\u0008\u000e-\u001f\u007f]/.test(text) ? null : text;
    } catch (e) {
      return null;
    }
  }

  function objectUrl(bytes, type) {
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    blobUrls.push(url);
    return url;
  }

  function renderReturnedFiles(files) {
    const list = $('files');
    const names = Object.keys(files).sort();
    const items = [];
    for (const name of names) {
      let bytes;
      try {
        bytes = base64ToBytes(String(files[name]));
      } catch (e) {
        items.push(el('li', { dataset: { name } }, el('span', { className: 'name' }, name), ' ',
          el('span', { className: 'hint' }, '(could not decode its base64)')));
        continue;
      }
      // octet-stream so the browser saves the file rather than rendering it.
      const link = el('a', { className: 'returned-file', href: objectUrl(bytes, 'application/octet-stream'), download: name }, name);
      const item = el('li', { dataset: { name } }, link, ' ', el('span', { className: 'size' }, formatBytes(bytes.length)));
      const ext = (name.split('.').pop() || '').toLowerCase();
      const text = bytes.length > 0 && bytes.length <= PREVIEW_TEXT_MAX ? asText(bytes) : null;
      if (text !== null) {
        item.append(el('details', { className: 'preview', open: bytes.length <= 4096 },
          el('summary', {}, 'Preview'), el('pre', { className: 'output' }, text)));
      } else if (IMAGE_TYPES[ext] && bytes.length <= PREVIEW_IMAGE_MAX) {
        item.append(el('details', { className: 'preview', open: true },
          el('summary', {}, 'Preview'), el('img', { src: objectUrl(bytes, IMAGE_TYPES[ext]), alt: 'Preview of ' + name })));
      }
      items.push(item);
    }
    list.replaceChildren(...items);
    $('files-empty').hidden = items.length > 0;
    $('files-empty').textContent = 'No files were returned.';
  }

  /* ---- start-up ---- */

  function init() {
    const code = $('code');
    code.value = DEFAULT_CODE;
    code.addEventListener('keydown', onCodeKeydown);
    document.addEventListener('keydown', onDocumentKeydown);
    $('run-form').addEventListener('submit', (ev) => {
      ev.preventDefault(); // the CSP forbids form submission (form-action 'none'); fetch() does the work
      run();
    });
    $('file-input').addEventListener('change', onFilesPicked);
    $('environment-refresh').addEventListener('click', loadEnvironments);
    loadHealth();
    loadEnvironments();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
