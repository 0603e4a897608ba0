/* api.js: helpers shared by the playground pages: JSON requests to this service, error text, safe DOM building. */
'use strict';

(function () {
  /*
   * Every HTTP answer, error or not, resolves to one shape so that the pages have a single code path:
   * {ok, status, statusText, data (parsed JSON or null), text, retryAfter}. Only a network failure rejects.
   */
  async function request(method, url, body) {
    const init = { method, headers: { Accept: 'application/json' }, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(url, init);
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null; // an HTML error page from a proxy, say: reported from `text` below
    }
    return {
      ok: resp.ok,
      status: resp.status,
      statusText: resp.statusText,
      data,
      text,
      retryAfter: resp.headers.get('Retry-After'),
    };
  }

  /*
   * Human-readable lines for a failed answer. 422 carries FastAPI's list of {loc, msg, type};
   * the other errors carry {"detail": "...", maybe "reason"}; 429/503 may say when to retry.
   */
  function errorLines(res) {
    const lines = [];
    const detail = res.data && typeof res.data === 'object' ? res.data.detail : undefined;
    if (Array.isArray(detail)) {
      for (const item of detail) {
        const loc = item && Array.isArray(item.loc) ? item.loc.join('.') : '';
        const msg = item && item.msg != null ? String(item.msg) : JSON.stringify(item);
        lines.push(loc ? loc + ': ' + msg : msg);
      }
    } else if (typeof detail === 'string') {
      lines.push(detail);
    } else if (detail != null) {
      lines.push(JSON.stringify(detail));
    } else {
      const snippet = (res.text || '').replace(/\s+/g, ' ').trim().slice(0, 200);
      lines.push('HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '') + (snippet ? ': ' + snippet : ''));
    }
    if (res.data && typeof res.data === 'object' && res.data.reason) lines.push('reason: ' + String(res.data.reason));
    if (res.retryAfter) lines.push('Retry after ' + res.retryAfter + ' s.');
    return lines;
  }

  /*
   * Build an element. Children that are not nodes become text nodes, so server and user data
   * never pass through an HTML parser. Props: className, dataset, on<event> (listeners, since
   * the CSP forbids inline handlers), anything else is an attribute (null/false: left out).
   */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (key === 'className') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function formatBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '';
    if (n < 1024) return n + ' B';
    const units = ['KB', 'MB', 'GB', 'TB'];
    let v = n;
    let i = -1;
    do {
      v /= 1024;
      i++;
    } while (v >= 1024 && i < units.length - 1);
    return v.toFixed(v < 10 ? 1 : 0) + ' ' + units[i];
  }

  /* The server sends ISO 8601 UTC; people read local time (the raw value goes in a title). */
  function formatDate(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function timeEl(iso) {
    if (!iso) return el('span', { className: 'muted' }, '—');
    return el('time', { datetime: iso, title: iso }, formatDate(iso));
  }

  window.SPS = { request, errorLines, el, formatBytes, formatDate, timeEl };
})();
