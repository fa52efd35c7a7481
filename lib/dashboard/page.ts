/**
 * The dashboard: one static HTML page served at `/` by the API router, with no
 * data in it (only where the API is and how to sign in), and nothing fetched
 * from elsewhere but the sign-in provider's. The console's script
 * (static/console.js, served beside it) signs in and adds its panels; this
 * page's own script reads the console's routes (`/console/v1/api/…`, the same
 * REST API as any client's) through it:
 *
 * - the kinds from `GET /v1/api/orchestrations` when that route exists, else
 *   the defaults Thing and Rule;
 * - `GET /v1/api/orchestrations/{resource}` every 2 s: instances with a
 *   used/count bar, CPU and memory (percent of the request, as the last
 *   reconcile run sampled them), a draining badge, heartbeat age, pod and
 *   phase, restarts and the crash-loop back-off, last action; per kind the
 *   autoscaler: enabled or not, current and desired instances, the last
 *   decision with its reason, moves in progress and pending resources;
 * - `POST …/{resource}/orchestrate` with the three legacy options, reporting
 *   "Orchestration succeeded" or the failure with the server's message, as the
 *   legacy console did;
 * - `GET …/{resource}/{id}/instances` for "Which instance runs …?", "N/A" on
 *   any failure, as the legacy console did.
 *
 * Elements the end-to-end test reads carry `data-testid`s; keep them stable.
 * The client script avoids template literals so it can live in this template.
 */

const STYLE = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #4b5563; --line: #d0d7de; --bg: #f6f8fa; --card: #fff;
  --ok: #116329; --ok-bg: #dafbe1; --bad: #a40e26; --bad-bg: #ffebe9; --warn: #7d4e00; --warn-bg: #fff8c5;
  --info: #0a3069; --info-bg: #ddf4ff; --bar: #0969da; --bar-full: #6639ba; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; justify-content: space-between; padding: .9rem 1.5rem; background: #24292f; color: #fff; }
header h1 { margin: 0; font-size: 1.2rem; }
header .meta { font-size: .85rem; color: #d0d7de; }
header label { color: #fff; }
main { padding: 1rem 1.5rem 3rem; display: grid; gap: 1.25rem; }
section.kind { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; }
section.kind h2 { margin: 0 0 .25rem; font-size: 1.15rem; }
.summary { color: var(--muted); margin: 0 0 .75rem; }
.tools { display: flex; flex-wrap: wrap; gap: 1rem 2rem; margin-bottom: 1rem; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; margin: 0; }
legend { font-weight: 600; padding: 0 .3rem; }
.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
.field { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
input { font: inherit; padding: .3rem .45rem; border: 1px solid #8c959f; border-radius: 4px; width: 9.5rem; color: var(--fg); }
button { font: inherit; padding: .35rem .9rem; border-radius: 4px; border: 1px solid #1f6f3b; background: #1f883d; color: #fff; cursor: pointer; }
button.secondary { background: #f6f8fa; color: var(--fg); border-color: #8c959f; }
button:disabled { opacity: .6; cursor: progress; }
:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.result { min-height: 1.4em; margin: .4rem 0 0; font-size: .9rem; }
.result.ok { color: var(--ok); } .result.bad { color: var(--bad); }
table { width: 100%; border-collapse: collapse; font-size: .9rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { position: relative; width: 6rem; height: .7rem; background: #eaeef2; border-radius: 4px; overflow: hidden; display: inline-block; vertical-align: middle; margin-right: .5rem; }
.bar > span { position: absolute; inset: 0 auto 0 0; background: var(--bar); }
.bar.full > span { background: var(--bar-full); }
.bar.usage { width: 4rem; margin-right: .35rem; }
.bar.usage.over > span { background: #bc4c00; }
.badge.draining { color: var(--warn); background: var(--warn-bg); margin-left: .4rem; text-transform: none; letter-spacing: normal; }
.badge.enabled { color: var(--ok); background: var(--ok-bg); }
.badge.disabled { color: var(--info); background: var(--info-bg); }
dl.scaling { display: flex; flex-wrap: wrap; gap: .2rem 1.5rem; margin: 0 0 .9rem; font-size: .9rem; }
dl.scaling[hidden] { display: none; }
dl.scaling > div { display: flex; gap: .4rem; align-items: baseline; }
dl.scaling > div.wide { flex-basis: 100%; }
dl.scaling dt { color: var(--muted); font-weight: 600; }
dl.scaling dd { margin: 0; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; }
.badge.healthy, .badge.Running { color: var(--ok); background: var(--ok-bg); }
.badge.stale, .badge.Failed, .badge.error { color: var(--bad); background: var(--bad-bg); }
.badge.Pending, .badge.Unknown, .badge.Succeeded, .badge.recycled, .badge.replaced { color: var(--warn); background: var(--warn-bg); }
.badge.unknown, .badge.not-monitored, .badge.created, .badge.none, .badge.absent { color: var(--info); background: var(--info-bg); }
.badge.backoff { color: var(--bad); background: var(--bad-bg); margin-left: .4rem; }
.muted { color: var(--muted); font-size: .85rem; }
.empty { color: var(--muted); padding: .75rem 0; }
.banner { padding: .6rem 1.5rem; background: var(--bad-bg); color: var(--bad); font-weight: 600; }
.banner[hidden] { display: none; }
code { font-size: .85rem; }
`;

const SCRIPT = `
(function () {
  'use strict';
  // The console's script (static/console.js) signs in, and takes each rendered kind for its panels.
  var consoleApi = window.iotaConsole;
  var API = consoleApi.api + '/orchestrations';
  var REFRESH_MS = 2000;
  var DEFAULT_KINDS = ['Thing', 'Rule'];
  var kinds = [];
  var sections = {};
  var paused = false;
  var timer = null;

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === 'text') el.textContent = String(value);
      else if (key === 'class') el.className = value;
      else if (key.indexOf('on') === 0) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === undefined || child === null || child === false) continue;
      el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return el;
  }

  function age(ms) {
    if (ms < 1000) return 'just now';
    if (ms < 90000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s ago';
    if (ms < 5400000) return Math.round(ms / 60000) + ' min ago';
    return Math.round(ms / 3600000) + ' h ago';
  }
  function clock(at) { return new Date(at).toLocaleTimeString(); }

  function request(method, path, body) {
    var init = { method: method, headers: { 'accept': 'application/json' } };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return consoleApi.fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: response.ok, status: response.status, data: data, text: text };
      });
    });
  }
  function messageOf(result) {
    if (result.data && typeof result.data.message === 'string') return result.data.message;
    return 'HTTP ' + result.status + (result.text ? ': ' + result.text.slice(0, 200) : '');
  }

  function kindNames(data) {
    var list = Array.isArray(data) ? data : data && (data.kinds || data.resources || data.orchestrations);
    if (!Array.isArray(list)) return null;
    var names = list.map(function (item) { return typeof item === 'string' ? item : item && item.resource; })
      .filter(function (name) { return typeof name === 'string' && /^[A-Za-z][A-Za-z0-9_]*$/.test(name); });
    return names.length ? names : null;
  }

  function setResult(el, ok, text) {
    el.textContent = text;
    el.className = 'result ' + (ok ? 'ok' : 'bad');
    el.setAttribute('data-outcome', ok ? 'success' : 'failure');
  }

  function buildSection(kind) {
    var id = function (name) { return name + '-' + kind; };
    var inputs = {};
    function option(name, hint) {
      inputs[name] = h('input', { id: id('opt-' + name), type: 'number', min: '0', step: '1', inputmode: 'numeric', placeholder: hint, 'data-testid': id(name) });
      return h('label', { class: 'field', for: id('opt-' + name) }, name, inputs[name]);
    }
    var orchestrateResult = h('p', { class: 'result', role: 'status', 'aria-live': 'polite', 'data-testid': id('orchestrate-result') });
    var orchestrateButton = h('button', { type: 'submit', 'data-testid': id('orchestrate') }, 'Orchestrate');
    var orchestrateForm = h('form', { 'aria-label': 'Orchestrate ' + kind },
      h('fieldset', null, h('legend', null, 'Orchestrate'),
        h('div', { class: 'row' }, option('initInstances', 'kind default'), option('maxInstances', 'default 100'), option('resourcePerInstance', 'default 5000'), orchestrateButton),
        orchestrateResult));
    orchestrateForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var body = {};
      for (var name in inputs) {
        var raw = inputs[name].value.trim();
        if (raw !== '') body[name] = Number(raw);
      }
      orchestrateButton.disabled = true;
      orchestrateResult.textContent = 'Orchestrating…';
      orchestrateResult.className = 'result';
      orchestrateResult.removeAttribute('data-outcome');
      request('POST', API + '/' + encodeURIComponent(kind) + '/orchestrate', body).then(function (result) {
        if (result.ok && result.data) {
          setResult(orchestrateResult, true, 'Orchestration succeeded: ' + result.data.instances + ' instances, ' +
            result.data.resourcePerInstance + ' per instance, ' + result.data.moved + ' moved');
        } else setResult(orchestrateResult, false, 'Orchestration failed: ' + messageOf(result));
        refresh();
      }, function (error) {
        setResult(orchestrateResult, false, 'Orchestration failed: ' + error.message);
      }).then(function () { orchestrateButton.disabled = false; });
    });

    var locateInput = h('input', { id: id('locate-id'), type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: kind + ' id', 'data-testid': id('locate-input') });
    var locateResult = h('p', { class: 'result', role: 'status', 'aria-live': 'polite', 'data-testid': id('locate-result') });
    var locateForm = h('form', { 'aria-label': 'Which instance runs a ' + kind },
      h('fieldset', null, h('legend', null, 'Which instance runs …?'),
        h('div', { class: 'row' }, h('label', { class: 'field', for: id('locate-id') }, kind + ' id', locateInput),
          h('button', { type: 'submit', class: 'secondary', 'data-testid': id('locate') }, 'Find')),
        locateResult));
    locateForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var resourceId = locateInput.value.trim();
      if (!resourceId) { locateInput.focus(); return; }
      request('GET', API + '/' + encodeURIComponent(kind) + '/' + encodeURIComponent(resourceId) + '/instances').then(function (result) {
        if (result.ok && result.data && result.data.runIn !== undefined) {
          setResult(locateResult, true, String(result.data.runIn));
          locateResult.setAttribute('title', resourceId + ' runs on instance ' + result.data.runIn);
        } else {
          setResult(locateResult, false, 'N/A');
          locateResult.setAttribute('title', messageOf(result));
        }
      }, function () { setResult(locateResult, false, 'N/A'); });
    });

    var summary = h('p', { class: 'summary', 'data-testid': id('summary') }, 'Loading…');
    var scaling = h('dl', { class: 'scaling', 'aria-label': 'Scaling of ' + kind, 'data-testid': id('scaling') });
    var tbody = h('tbody', { 'data-testid': id('instances') });
    var table = h('table', null,
      h('caption', { class: 'muted', style: 'text-align:left' }, 'Instances of ' + kind + ' (CPU and memory: percent of the request)'),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Instance'), h('th', { scope: 'col' }, 'Used / count'), h('th', { scope: 'col' }, 'CPU'),
        h('th', { scope: 'col' }, 'Memory'), h('th', { scope: 'col' }, 'Health'), h('th', { scope: 'col' }, 'Last heartbeat'),
        h('th', { scope: 'col' }, 'Worker (pod / process)'), h('th', { scope: 'col' }, 'Restarts'), h('th', { scope: 'col' }, 'Last action'))),
      tbody);
    var section = h('section', { class: 'kind', 'aria-labelledby': id('title'), 'data-testid': id('kind') },
      h('h2', { id: id('title') }, kind), summary, scaling,
      h('div', { class: 'tools' }, orchestrateForm, locateForm), table);
    return { kind: kind, el: section, summary: summary, scaling: scaling, tbody: tbody };
  }

  function item(label, value, wide) {
    return h('div', wide ? { class: 'wide' } : null, h('dt', null, label), h('dd', null, value));
  }

  function renderScaling(view, section) {
    var kind = view.resource;
    var s = view.scaling;
    var el = section.scaling;
    if (!s) { el.hidden = true; return; }
    el.hidden = false;
    var tid = function (name) { return name + '-' + kind; };
    var since = function (at) { return clock(at) + ' (' + age(Math.max(0, view.generatedAt - at)) + ')'; };
    el.setAttribute('data-enabled', String(s.enabled));
    el.setAttribute('data-current', String(s.current));
    el.setAttribute('data-desired', String(s.desired));
    var items = [
      item('Autoscaling', h('span', { class: 'badge ' + (s.enabled ? 'enabled' : 'disabled'), 'data-testid': tid('scaling-state') }, s.enabled ? 'enabled' : 'disabled')),
      item('Instances', h('span', null,
        h('span', { 'data-testid': tid('current'), class: 'num' }, String(s.current)), ' current · ',
        h('span', { 'data-testid': tid('desired'), class: 'num' }, String(s.desired)), ' desired',
        s.draining.length ? ' · ' + s.draining.length + ' draining (' + s.draining.join(', ') + ')' : '')),
    ];
    // A kind that does not scale shows only what it has; its moves and decisions would be noise.
    if (s.enabled || s.moves) items.push(item('Moves', s.moves
      ? h('span', { 'data-testid': tid('moves'), 'data-moved': String(s.moves.moved), 'data-remaining': String(s.moves.remaining) },
          s.moves.moved + ' moved, ' + s.moves.remaining + ' to go · since ' + since(s.moves.since))
      : h('span', { 'data-testid': tid('moves'), 'data-moved': '0', 'data-remaining': '0', class: 'muted' }, 'none in progress')));
    items.push(item('Pending', h('span', { 'data-testid': tid('pending'), class: s.pending > 0 ? '' : 'muted' }, s.pending > 0 ? s.pending + ' waiting for room' : 'none')));
    var last = s.lastDecision;
    if (s.enabled || last) items.push(item('Last decision', last
      ? h('span', { 'data-testid': tid('last-decision'), 'data-from': String(last.from), 'data-to': String(last.to), 'data-at': String(last.at) },
          h('strong', null, (last.to > last.from ? 'scaled out ' : 'scaled in ') + last.from + ' → ' + last.to), ' at ' + since(last.at) + ': ',
          h('span', { 'data-testid': tid('last-decision-reason') }, last.reason))
      : h('span', { 'data-testid': tid('last-decision'), class: 'muted' }, 'none yet'), true));
    if (s.enabled && s.lastRun)
      items.push(item('Last run', h('span', { 'data-testid': tid('last-run'), class: 'muted' }, s.lastRun.reason + ' · ' + since(s.lastRun.at)), true));
    // The catalog check: its last pass, and a pass asked for that has not run yet.
    var c = view.catalog;
    if (c && (c.lastPass || c.requestedAt)) {
      var pass = c.lastPass;
      var told = pass
        ? 'scanned ' + pass.scanned + ', ' + pass.missing + ' missing, ' + pass.extra + ' extra, ' + pass.healed + ' healed' +
          (pass.heldBack ? ', ' + pass.heldBack + ' held back' : '') + ' · ' + since(pass.at)
        : 'no pass yet';
      items.push(item('Catalog', h('span', { 'data-testid': tid('catalog'), 'data-status': pass ? pass.status : 'requested' },
        pass && pass.status === 'held' ? h('strong', null, 'held back: ') : '', told,
        c.requestedAt ? ' · pass requested ' + since(c.requestedAt) : ''), true));
    }
    el.replaceChildren.apply(el, items);
  }

  function usageCell(kind, instance, metric, value) {
    var known = typeof value === 'number' && isFinite(value);
    var attrs = { class: 'num', 'data-testid': 'usage-' + metric + '-' + kind + '-' + instance.id, 'data-value': known ? String(value) : '' };
    if (!known) return h('td', attrs, h('span', { title: 'not measured yet' }, '—'));
    var shown = Math.round(value);
    var bar = h('span', { class: 'bar usage' + (value > 100 ? ' over' : ''), role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100',
      'aria-valuenow': String(Math.min(100, shown)), 'aria-label': 'instance ' + instance.id + ' ' + metric + ' ' + shown + '% of request' });
    bar.appendChild(h('span', { style: 'width:' + Math.min(100, Math.max(0, value)) + '%' }));
    return h('td', attrs, bar, shown + '%');
  }

  // Recycles and replacements, and the crash-loop back-off: waiting (the next restart not before a time) or easing off.
  function restartsCell(kind, instance) {
    var b = instance.backoff;
    var attrs = { class: 'num', 'data-testid': 'restarts-' + kind + '-' + instance.id, 'data-restarts': String(instance.restarts || 0),
      'data-backoff-until': b ? String(b.until) : '', 'data-backoff-waiting': String(!!(b && b.waiting)) };
    var seconds = function (ms) { return Math.round(ms / 1000) + ' s'; };
    if (!b) return h('td', attrs, String(instance.restarts || 0));
    if (b.waiting) return h('td', attrs, String(instance.restarts),
      h('span', { class: 'badge backoff', title: 'restart ' + b.streak + ' in a row: the next waits ' + seconds(b.delayMs) }, 'back-off'),
      h('span', { class: 'muted' }, ' next not before ' + clock(b.until)));
    return h('td', attrs, String(instance.restarts), h('span', { class: 'muted' },
      ' · back-off ' + seconds(b.delayMs) + (b.healthySince ? ', healthy since ' + clock(b.healthySince) : '')));
  }

  function renderInstances(view, section) {
    var kind = view.resource;
    section.summary.textContent = view.instanceName + ' · ' + view.totals.instances + (view.totals.instances === 1 ? ' instance · ' : ' instances · ') + view.totals.resources + ' of ' +
      view.totals.capacity + ' slots used · max ' + view.limits.maxInstances + ' instances of ' + view.limits.resourcePerInstance + ' · ' +
      (view.heartbeat ? 'heartbeat timeout ' + Math.round(view.heartbeatTimeoutMs / 1000) + ' s' : 'no heartbeats (not monitored)') +
      (view.totals.pending > 0 ? ' · ' + view.totals.pending + ' pending (at maxInstances): ' + view.pending.slice(0, 10).join(', ') : '');
    renderScaling(view, section);
    var rows = view.instances.map(function (instance) {
      var pct = instance.count > 0 ? Math.min(100, Math.round((instance.used / instance.count) * 100)) : 0;
      var bar = h('span', { class: 'bar' + (instance.count > 0 && instance.used >= instance.count ? ' full' : ''), role: 'meter',
        'aria-valuemin': '0', 'aria-valuemax': String(instance.count), 'aria-valuenow': String(instance.used),
        'aria-label': 'instance ' + instance.id + ' uses ' + instance.used + ' of ' + instance.count });
      bar.appendChild(h('span', { style: 'width:' + pct + '%' }));
      var beat = instance.heartbeat;
      var pod = instance.pod;
      var last = instance.lastAction;
      var usage = instance.usage || {};
      return h('tr', {
          'data-testid': 'instance-' + kind + '-' + instance.id, 'data-health': instance.health,
          'data-pod': pod ? pod.name : '', 'data-phase': pod ? pod.phase : '',
          'data-heartbeat-at': beat ? String(beat.at) : '', 'data-heartbeat-age-ms': beat ? String(beat.ageMs) : '',
          'data-used': String(instance.used), 'data-count': String(instance.count), 'data-draining': String(!!instance.draining) },
        h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link', 'data-testid': 'open-' + kind + '-' + instance.id,
          title: 'open instance ' + instance.id + ': its pod, heartbeat, record and resources', onclick: function () { consoleApi.openInstance(kind, instance.id); } },
          instance.id), instance.draining ? h('span', { class: 'badge draining', 'data-testid': 'draining-' + kind + '-' + instance.id,
          title: 'a scale-in is emptying it: no new resources, removed once empty' }, 'draining') : null),
        h('td', { class: 'num' }, bar, instance.used + ' / ' + instance.count),
        usageCell(kind, instance, 'cpu', usage.cpuPercent),
        usageCell(kind, instance, 'memory', usage.memoryPercent),
        h('td', null, h('span', { class: 'badge ' + instance.health }, instance.health)),
        h('td', { class: 'num', title: beat ? clock(beat.at) : '' }, beat ? age(beat.ageMs) : (view.heartbeat ? 'never' : '—')),
        h('td', null, pod ? h('span', null, h('code', null, pod.name), ' ', h('span', { class: 'badge ' + pod.phase }, pod.phase)) : h('span', { class: 'muted' }, 'none yet')),
        restartsCell(kind, instance),
        h('td', null, last ? h('span', { title: last.error || last.reason },
          h('span', { class: 'badge ' + last.action }, last.action), ' ', h('span', { class: 'muted' }, last.reason + ' · ' + clock(last.at))) : h('span', { class: 'muted' }, '—')));
    });
    section.tbody.replaceChildren.apply(section.tbody, rows.length ? rows :
      [h('tr', null, h('td', { colspan: '9', class: 'empty' }, 'No instances yet: the first assigned ' + kind + ' creates one, or press Orchestrate.'))]);
  }

  var banner = document.getElementById('banner');
  var lastRefresh = document.getElementById('last-refresh');

  function refresh() {
    clearTimeout(timer);
    return Promise.all(kinds.map(function (kind) {
      return request('GET', API + '/' + encodeURIComponent(kind)).then(function (result) {
        if (!result.ok || !result.data) throw new Error(kind + ': ' + messageOf(result));
        renderInstances(result.data, sections[kind]);
        consoleApi.rendered(result.data, sections[kind].el);
      });
    })).then(function () {
      banner.hidden = true;
      lastRefresh.textContent = 'updated ' + new Date().toLocaleTimeString();
      lastRefresh.setAttribute('data-at', String(Date.now()));
    }, function (error) {
      banner.hidden = false;
      banner.textContent = 'Cannot reach the API (' + error.message + '); retrying every ' + REFRESH_MS / 1000 + ' s.';
    }).then(function () {
      if (!paused) timer = setTimeout(refresh, REFRESH_MS);
    });
  }

  document.getElementById('pause').addEventListener('change', function (event) {
    paused = event.target.checked;
    if (!paused) refresh(); else clearTimeout(timer);
  });

  consoleApi.ready.then(function () {
    return request('GET', API);
  }).then(function (result) {
    return (result.ok && kindNames(result.data)) || DEFAULT_KINDS;
  }, function () { return DEFAULT_KINDS; }).then(function (names) {
    kinds = names;
    var main = document.getElementById('kinds');
    kinds.forEach(function (kind) {
      sections[kind] = buildSection(kind);
      main.appendChild(sections[kind].el);
    });
    consoleApi.kindsShown(kinds);
    refresh();
  });
})();
`;

/** What the page needs to know of its deployment: no data, only where the API is and how to sign in. */
export interface DashboardConfig {
  /** Root of the routes the console calls (the JWT-authorized twin of /v1/api). */
  readonly api: string;
  /** The OpenID Connect provider and public client; null: no sign-in (`npm start` on loopback). */
  readonly signIn: { readonly issuer: string; readonly clientId: string; readonly scope: string } | null;
}

export const renderDashboard = (config: DashboardConfig): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; connect-src 'self'${config.signIn ? ` ${new URL(config.signIn.issuer).origin}` : ''}; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'">
<title>iota-orchestrator</title>
<style>${STYLE}</style>
<link rel="stylesheet" href="/console/assets/console.css">
</head>
<body>
<header>
  <h1>iota-orchestrator</h1>
  <span class="meta"><span id="last-refresh" data-testid="last-refresh">loading…</span> ·
    <label><input type="checkbox" id="pause" data-testid="pause" style="width:auto"> pause auto-refresh (every 2 s)</label>
    <span id="account" data-testid="account"></span></span>
</header>
<div id="banner" class="banner" role="alert" data-testid="banner" hidden></div>
<section id="alerts" class="alerts" aria-label="Recent alerts" data-testid="alerts" hidden></section>
<section id="signin" class="signin" data-testid="signin" hidden></section>
<nav id="tabs" class="tabs" role="tablist" aria-label="Resource kinds" data-testid="tabs"></nav>
<main id="kinds" data-testid="kinds"></main>
<dialog id="instance" class="instance" aria-labelledby="instance-title" data-testid="instance-view"></dialog>
<script type="application/json" id="console-config">${JSON.stringify(config).replace(/</g, '\\u003c')}</script>
${config.signIn ? '<script src="/console/assets/oidc-client-ts.min.js"></script>\n' : ''}<script src="/console/assets/console.js"></script>
<script>${SCRIPT}</script>
</body>
</html>
`;
