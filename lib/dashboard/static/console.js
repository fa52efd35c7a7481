/**
 * The console's own script, served as a static file (lib/dashboard/assets.ts) and loaded before the
 * dashboard's (lib/dashboard/page.ts), which reaches it as `window.iotaConsole`. It
 *
 * - signs in with OpenID Connect when the page names a provider: authorization code + PKCE with
 *   oidc-client-ts, the signed-in user kept per browser tab (its default), every API call carrying the
 *   access token;
 * - shows the kinds as tabs, each with its counts (healthy, stale, pods pending, …) and the capacity
 *   its instances hold now, and filters and sorts the instance rows the dashboard renders;
 * - shows the newest alerts kept in the store in a banner, each with its time;
 * - opens one instance from its row: pod, heartbeat, last reconcile record and its resource ids,
 *   searched and paged by the API.
 *
 * Elements the end-to-end test reads carry `data-testid`s; keep them stable.
 */
(() => {
  const config = JSON.parse(document.getElementById('console-config').textContent);
  const ALERTS_SHOWN = 5;
  const ALERTS_EVERY_MS = 5000;
  const IDS_PER_PAGE = 100;
  const SEEN_ALERTS_KEY = 'iota-console.alerts-seen-until';

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs ?? {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
    }
    return node;
  }
  const time = (at) => new Date(at).toLocaleTimeString();
  const dateTime = (at) => new Date(at).toLocaleString();
  function ago(ms) {
    if (ms < 1000) return 'just now';
    if (ms < 90_000) return `${Math.round(ms / 1000)} s ago`;
    if (ms < 5_400_000) return `${Math.round(ms / 60_000)} min ago`;
    return `${Math.round(ms / 3_600_000)} h ago`;
  }

  /* ------------------------------------------------------------ sign-in */

  let manager = null;
  let user = null;
  let markReady;
  const ready = new Promise((resolve) => {
    markReady = resolve;
  });
  const signinPanel = document.getElementById('signin');
  const account = document.getElementById('account');

  function showSignIn(reason) {
    signinPanel.replaceChildren(
      el('h2', null, 'Sign in to the orchestrator console'),
      el(
        'p',
        { class: 'muted', 'data-testid': 'signin-reason' },
        reason ?? `Sign in with ${new URL(config.signIn.issuer).host}.`,
      ),
      el(
        'button',
        { type: 'button', 'data-testid': 'signin-button', onclick: () => manager.signinRedirect() },
        'Sign in',
      ),
    );
    signinPanel.hidden = false;
    account.replaceChildren();
  }

  function showAccount() {
    signinPanel.hidden = true;
    const { profile } = user;
    const name = profile.preferred_username ?? profile['cognito:username'] ?? profile.email ?? profile.sub;
    account.replaceChildren(
      ' · signed in as ',
      el('strong', { 'data-testid': 'account-name' }, name),
      ' ',
      el(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          'data-testid': 'signout-button',
          onclick: () => manager.removeUser().then(() => signedOut('Signed out.')),
        },
        'Sign out',
      ),
    );
  }

  function signedOut(reason) {
    user = null;
    showSignIn(reason);
  }

  async function startSignIn() {
    if (!config.signIn) {
      markReady();
      return;
    }
    manager = new window.oidc.UserManager({
      authority: config.signIn.issuer,
      client_id: config.signIn.clientId,
      scope: config.signIn.scope,
      redirect_uri: window.location.origin + window.location.pathname,
      response_type: 'code',
      // The page asks for nothing but the tokens. It renews them itself, with the refresh token (apiFetch):
      // oidc-client-ts' automatic renewal would fall back to a hidden iframe, which this page cannot answer.
      loadUserInfo: false,
      automaticSilentRenew: false,
    });
    const returned = new URLSearchParams(window.location.search);
    if (returned.has('state') && (returned.has('code') || returned.has('error'))) {
      try {
        user = await manager.signinRedirectCallback();
      } catch (error) {
        showSignIn(`Sign-in failed: ${error.message}`);
        return;
      } finally {
        // The code is single-use: a reload must not present it again.
        window.history.replaceState(null, '', window.location.pathname + window.location.hash);
      }
    } else {
      user = await manager.getUser();
    }
    if (!user || user.expired) {
      showSignIn(user ? 'Your sign-in expired.' : undefined);
      return;
    }
    showAccount();
    markReady();
  }

  /** An access token this close to expiry is renewed before it is sent. */
  const RENEW_BEFORE_SECONDS = 60;
  let renewing = null;

  /**
   * The signed-in user, its access token renewed with the refresh token when it is about to expire (one
   * renewal at a time); null when there is no sign-in to use, or it could not be renewed.
   */
  async function currentUser() {
    if (!user) return null;
    const expiresIn = user.expires_in ?? 0;
    if (expiresIn > RENEW_BEFORE_SECONDS) return user;
    if (!user.refresh_token) return user.expired ? null : user;
    renewing ??= manager
      .signinSilent()
      .then((renewed) => {
        user = renewed;
        return renewed;
      })
      .catch(() => (user && !user.expired ? user : null))
      .finally(() => {
        renewing = null;
      });
    return renewing;
  }

  /** fetch with the access token; a 401, or an expired token that could not be renewed, signs the page out. */
  async function apiFetch(path, init) {
    if (!manager) return fetch(path, init);
    const signedIn = await currentUser();
    if (!signedIn) {
      if (user) signedOut('Your sign-in expired.');
      throw new Error('not signed in');
    }
    const headers = { ...init.headers, authorization: `Bearer ${signedIn.access_token}` };
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401) signedOut('The API refused the sign-in: sign in again.');
    return response;
  }

  async function getJson(path) {
    const response = await apiFetch(path, { method: 'GET', headers: { accept: 'application/json' } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(body?.message ?? `HTTP ${response.status}`);
    return body;
  }

  /* --------------------------------------------------------------- tabs */

  const tabs = document.getElementById('tabs');
  const tabOf = {};
  const sectionOf = (kind) => document.querySelector(`[data-testid="kind-${kind}"]`);

  function select(kind) {
    for (const [name, tab] of Object.entries(tabOf)) {
      const selected = name === kind;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      const section = sectionOf(name);
      if (section) section.hidden = !selected;
    }
    if (window.location.hash !== `#${kind}`) window.history.replaceState(null, '', `#${kind}`);
  }

  function kindsShown(kinds) {
    for (const kind of kinds) {
      const section = sectionOf(kind);
      section.id ||= `kind-${kind}`;
      section.setAttribute('role', 'tabpanel');
      section.setAttribute('aria-labelledby', `tab-${kind}`);
      tabOf[kind] = el(
        'button',
        {
          type: 'button',
          role: 'tab',
          id: `tab-${kind}`,
          'aria-controls': section.id,
          'data-testid': `tab-${kind}`,
          onclick: () => select(kind),
        },
        el('span', null, kind),
        el('span', { class: 'tab-counts', 'data-testid': `tab-counts-${kind}` }),
      );
    }
    tabs.replaceChildren(...Object.values(tabOf));
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    select(kinds.includes(wanted) ? wanted : kinds[0]);
  }

  /* ------------------------------------------------- counts and capacity */

  function countsOf(view) {
    const counts = { healthy: 0, stale: 0, unknown: 0, 'not-monitored': 0, pending: 0, draining: 0, backoff: 0 };
    for (const instance of view.instances) {
      counts[instance.health]++;
      if (instance.pod?.phase === 'Pending') counts.pending++;
      if (instance.draining) counts.draining++;
      if (instance.backoff?.waiting) counts.backoff++;
    }
    return counts;
  }

  /** The capacity the serving instances hold now (a legacy orchestrate may have stored less than the limit). */
  function capacityNow(view) {
    const held = [...new Set(view.instances.filter((i) => !i.draining).map((i) => i.count))].sort((a, b) => a - b);
    if (held.length === 0) return 'no instances yet';
    const each = held.length === 1 ? `${held[0]}` : `${held[0]} to ${held[held.length - 1]}`;
    return `${each} per instance now`;
  }

  function countPanel(view, panels) {
    const kind = view.resource;
    const counts = countsOf(view);
    const item = (name, value, label, tone) =>
      el(
        'div',
        { class: `count ${tone ?? ''}`, 'data-testid': `count-${name}-${kind}`, 'data-value': value },
        el('dt', null, label),
        el('dd', null, value),
      );
    const monitored = view.heartbeat;
    const items = [
      item('instances', view.totals.instances, 'instances'),
      monitored
        ? item('healthy', counts.healthy, 'healthy', 'ok')
        : item('not-monitored', counts['not-monitored'], 'not monitored'),
      monitored ? item('stale', counts.stale, 'stale', counts.stale ? 'bad' : '') : null,
      monitored ? item('unknown', counts.unknown, 'no heartbeat yet', counts.unknown ? 'warn' : '') : null,
      item('pods-pending', counts.pending, 'pods pending', counts.pending ? 'warn' : ''),
      item('draining', counts.draining, 'draining', counts.draining ? 'warn' : ''),
      item('backoff', counts.backoff, 'in back-off', counts.backoff ? 'bad' : ''),
      item('resources', `${view.totals.resources} / ${view.totals.capacity}`, 'resources / slots'),
      item('resources-pending', view.totals.pending, 'resources pending', view.totals.pending ? 'bad' : ''),
    ];
    panels.counts.replaceChildren(...items.filter(Boolean));
    panels.capacity.replaceChildren(
      el('strong', null, 'Capacity: '),
      el('span', { 'data-testid': `capacity-now-${kind}` }, capacityNow(view)),
      ` · new instances hold ${view.limits.resourcePerInstance} · at most ${view.limits.maxInstances} instances`,
    );
    const tabCounts = tabOf[kind]?.querySelector('.tab-counts');
    if (tabCounts) {
      tabCounts.textContent = ` ${view.totals.instances}${counts.stale ? ` · ${counts.stale} stale` : ''}`;
      tabCounts.className = `tab-counts${counts.stale || view.totals.pending ? ' alarm' : ''}`;
    }
  }

  /* ----------------------------------------------------- filter and sort */

  const FILTERS = {
    all: () => true,
    healthy: (row) => row.dataset.health === 'healthy',
    stale: (row) => row.dataset.health === 'stale',
    unknown: (row) => row.dataset.health === 'unknown',
    pending: (row) => row.dataset.phase === 'Pending',
    draining: (row) => row.dataset.draining === 'true',
    backoff: (row) => row.querySelector('[data-backoff-waiting="true"]') !== null,
  };
  const number = (value) => (value === undefined || value === '' ? Number.NaN : Number(value));
  const restartsOf = (row) => number(row.querySelector('[data-restarts]')?.dataset.restarts) || 0;
  /** Never heard from reads as the oldest. */
  const heartbeatAgeOf = (row) => {
    const age = number(row.dataset.heartbeatAgeMs);
    return Number.isNaN(age) ? Number.POSITIVE_INFINITY : age;
  };
  const HEALTH_ORDER = { stale: 0, unknown: 1, healthy: 2, 'not-monitored': 3 };
  const SORTS = {
    id: (a, b) => number(a.dataset.testid.split('-').pop()) - number(b.dataset.testid.split('-').pop()),
    used: (a, b) => number(b.dataset.used) - number(a.dataset.used),
    // Oldest first; two that never sent one are a tie (NaN), settled by id.
    heartbeat: (a, b) => heartbeatAgeOf(b) - heartbeatAgeOf(a) || 0,
    health: (a, b) => HEALTH_ORDER[a.dataset.health] - HEALTH_ORDER[b.dataset.health],
    restarts: (a, b) => restartsOf(b) - restartsOf(a),
  };

  function toolbar(kind, state, apply) {
    // A select whose choice is kept in state[key]: `options` are [value, label] pairs.
    const choice = (key, id, options) => {
      const select = el(
        'select',
        {
          id,
          'data-testid': id,
          onchange: () => {
            state[key] = select.value;
            apply();
          },
        },
        ...options.map(([value, label]) => el('option', { value }, label)),
      );
      return select;
    };
    const show = choice('filter', `filter-${kind}`, [
      ['all', 'all'],
      ['healthy', 'healthy'],
      ['stale', 'stale'],
      ['unknown', 'no heartbeat yet'],
      ['pending', 'pod pending'],
      ['draining', 'draining'],
      ['backoff', 'in back-off'],
    ]);
    const text = el('input', {
      id: `filter-text-${kind}`,
      type: 'search',
      placeholder: 'instance or pod',
      'data-testid': `filter-text-${kind}`,
      oninput: () => {
        state.text = text.value.trim().toLowerCase();
        apply();
      },
    });
    const sort = choice('sort', `sort-${kind}`, [
      ['id', 'instance id'],
      ['used', 'most resources'],
      ['heartbeat', 'oldest heartbeat'],
      ['health', 'stale first'],
      ['restarts', 'most restarts'],
    ]);
    return el(
      'div',
      { class: 'toolbar', role: 'search', 'aria-label': `Filter ${kind} instances` },
      el('label', { class: 'field', for: `filter-${kind}` }, 'Show', show),
      el('label', { class: 'field', for: `filter-text-${kind}` }, 'Search', text),
      el('label', { class: 'field', for: `sort-${kind}` }, 'Sort by', sort),
      state.shown,
    );
  }

  function arrange(tbody, state) {
    const rows = [...tbody.querySelectorAll('tr[data-testid^="instance-"]')];
    const keep = FILTERS[state.filter];
    let shown = 0;
    for (const row of rows) {
      const id = row.dataset.testid.split('-').pop();
      const matches = keep(row) && (!state.text || id.includes(state.text) || row.dataset.pod.includes(state.text));
      row.hidden = !matches;
      if (matches) shown++;
    }
    tbody.append(...rows.sort((a, b) => SORTS[state.sort](a, b) || SORTS.id(a, b)));
    state.shown.textContent = `showing ${shown} of ${rows.length}`;
    state.shown.dataset.shown = String(shown);
  }

  /* ----------------------------------------------------- each kind's view */

  const panelsOf = {};

  function panelsFor(kind, section) {
    if (panelsOf[kind]) return panelsOf[kind];
    const state = {
      filter: 'all',
      text: '',
      sort: 'id',
      shown: el('span', { class: 'muted', 'data-testid': `shown-${kind}` }),
    };
    const tbody = section.querySelector('tbody');
    const panels = {
      counts: el('dl', { class: 'counts', 'aria-label': `Counts of ${kind}`, 'data-testid': `counts-${kind}` }),
      capacity: el('p', { class: 'capacity', 'data-testid': `capacity-${kind}` }),
      arrange: () => arrange(tbody, state),
    };
    section.querySelector('h2').after(panels.counts, panels.capacity);
    section.querySelector('table').before(toolbar(kind, state, panels.arrange));
    panelsOf[kind] = panels;
    return panels;
  }

  function rendered(view, section) {
    const panels = panelsFor(view.resource, section);
    countPanel(view, panels);
    panels.arrange();
  }

  /* ------------------------------------------------------------- alerts */

  const alertsBanner = document.getElementById('alerts');
  const seenUntil = () => Number(window.localStorage.getItem(SEEN_ALERTS_KEY) ?? 0);
  let shownAlerts = '';

  function showAlerts(alerts) {
    const newest = alerts[0]?.at ?? 0;
    if (alerts.length === 0 || newest <= seenUntil()) {
      alertsBanner.hidden = true;
      return;
    }
    // Left alone while the same alerts stand: a banner rebuilt every poll would pull its button from under a click.
    const key = alerts.map((alert) => alert.id).join(' ');
    if (key === shownAlerts && !alertsBanner.hidden) return;
    shownAlerts = key;
    alertsBanner.className = `alerts ${alerts.some((a) => a.level === 'critical') ? 'critical' : 'warning'}`;
    alertsBanner.replaceChildren(
      el(
        'div',
        { class: 'alerts-head' },
        el('strong', null, `Alerts: the last ${alerts.length}`),
        el(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            'data-testid': 'alerts-dismiss',
            onclick: () => {
              window.localStorage.setItem(SEEN_ALERTS_KEY, String(newest));
              alertsBanner.hidden = true;
            },
          },
          'Dismiss until a new one',
        ),
      ),
      el(
        'ol',
        { 'data-testid': 'alerts-list' },
        ...alerts.map((alert) =>
          el(
            'li',
            { 'data-testid': 'alert', 'data-type': alert.type, 'data-at': alert.at, 'data-level': alert.level },
            el('time', { datetime: new Date(alert.at).toISOString(), title: dateTime(alert.at) }, time(alert.at)),
            ' ',
            el('span', { class: `badge ${alert.level}` }, alert.level),
            ' ',
            el('strong', null, alert.title),
            `: ${alert.content}`,
          ),
        ),
      ),
    );
    alertsBanner.hidden = false;
  }

  async function pollAlerts() {
    try {
      showAlerts((await getJson(`${config.api}/alerts?limit=${ALERTS_SHOWN}`)).alerts);
    } catch {
      // The dashboard's own banner says when the API cannot be reached.
    }
    setTimeout(pollAlerts, ALERTS_EVERY_MS);
  }

  /* ------------------------------------------------------ instance view */

  const dialog = document.getElementById('instance');
  let opened = null;

  function field(label, value, testid) {
    return el('div', null, el('dt', null, label), el('dd', { 'data-testid': testid }, value));
  }

  function detailFields(detail) {
    const { instance, pod, heartbeat, record } = detail;
    const extra = heartbeat?.extra ? Object.entries(heartbeat.extra).map(([k, v]) => `${k}=${JSON.stringify(v)}`) : [];
    return el(
      'dl',
      { class: 'detail' },
      field(
        'Used / count',
        `${instance.used} / ${instance.count}${instance.draining ? ' (draining)' : ''}`,
        'instance-used',
      ),
      field('Reloads', instance.reloadTimes, 'instance-reloads'),
      field('Health', el('span', { class: `badge ${instance.health}` }, instance.health), 'instance-health'),
      field(
        'Pod',
        pod
          ? el('span', null, el('code', null, pod.name), ' ', el('span', { class: `badge ${pod.phase}` }, pod.phase))
          : 'none yet',
        'instance-pod',
      ),
      field(
        'Heartbeat',
        heartbeat
          ? `${dateTime(heartbeat.at)} (${ago(heartbeat.ageMs)})${extra.length ? ` · ${extra.join(' ')}` : ''}`
          : 'never',
        'instance-heartbeat',
      ),
      field(
        'Last action',
        record
          ? `${record.action}: ${record.reason} · ${dateTime(record.at)} · generation ${record.generation}` +
              `${record.restarts ? ` · ${record.restarts} restarts` : ''}${record.error ? ` · error: ${record.error}` : ''}`
          : 'none',
        'instance-record',
      ),
    );
  }

  async function loadIds(more) {
    const { kind, id, query, nextCursor } = opened;
    const params = new URLSearchParams({ limit: String(IDS_PER_PAGE) });
    if (query) params.set('q', query);
    if (more && nextCursor) params.set('cursor', nextCursor);
    const path = `${config.api}/orchestrations/${encodeURIComponent(kind)}/instances/${encodeURIComponent(id)}?${params}`;
    const detail = await getJson(path);
    if (opened?.kind !== kind || opened.id !== id || opened.query !== query) return;
    const page = detail.resources;
    opened.nextCursor = page.nextCursor;
    opened.detail.replaceChildren(detailFields(detail));
    if (!more) opened.list.replaceChildren();
    opened.list.append(...page.ids.map((resourceId) => el('li', { 'data-testid': 'instance-resource' }, resourceId)));
    const listed = opened.list.children.length;
    opened.count.textContent = `${listed} listed of ${page.matched}${page.query ? ` matching "${page.query}"` : ''} · ${page.total} on the instance`;
    opened.count.dataset.listed = String(listed);
    opened.count.dataset.matched = String(page.matched);
    opened.count.dataset.total = String(page.total);
    opened.more.hidden = page.nextCursor === null;
  }

  function openInstance(kind, id) {
    const search = el('input', {
      id: 'instance-search',
      type: 'search',
      placeholder: `${kind} id contains…`,
      autocomplete: 'off',
      'data-testid': 'instance-search',
    });
    const status = el('p', { class: 'result', role: 'status', 'data-testid': 'instance-status' });
    opened = {
      kind,
      id,
      query: '',
      nextCursor: null,
      detail: el('div', { 'data-testid': 'instance-detail' }, 'Loading…'),
      list: el('ol', { class: 'ids', 'data-testid': 'instance-resources' }),
      count: el('p', { class: 'muted', 'data-testid': 'instance-resources-count' }),
      more: el(
        'button',
        { type: 'button', class: 'secondary', 'data-testid': 'instance-more', hidden: true },
        'Load more',
      ),
    };
    const failed = (error) => {
      status.textContent = `Could not load instance ${id}: ${error.message}`;
      status.className = 'result bad';
    };
    opened.more.addEventListener('click', () => loadIds(true).catch(failed));
    let typing;
    search.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        opened.query = search.value.trim();
        loadIds(false).catch(failed);
      }, 250);
    });
    dialog.replaceChildren(
      el(
        'div',
        { class: 'dialog-head' },
        el('h2', { id: 'instance-title' }, `${kind} instance ${id}`),
        el(
          'button',
          { type: 'button', class: 'secondary', 'data-testid': 'instance-close', onclick: () => dialog.close() },
          'Close',
        ),
      ),
      opened.detail,
      status,
      el('h3', null, 'Resources'),
      el('label', { class: 'field', for: 'instance-search' }, 'Search ids', search),
      opened.count,
      opened.list,
      opened.more,
    );
    dialog.showModal();
    loadIds(false).catch(failed);
  }

  dialog.addEventListener('close', () => {
    opened = null;
  });

  window.iotaConsole = { api: config.api, ready, fetch: apiFetch, kindsShown, rendered, openInstance };
  startSignIn().catch((error) => showSignIn(`Sign-in failed: ${error.message}`));
  ready.then(pollAlerts);
})();
