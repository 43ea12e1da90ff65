// Ferry operator dashboard: polls the operator routes with the admin token and renders them.
// Everything is written with textContent (never as HTML), and no token or key is ever shown.
'use strict';

(function () {
  const TOKEN_KEY = 'ferry-admin-token';
  const POLL_MS = 3000;
  const KIND_LABELS = {
    online: 'Online balances',
    float: 'Offline floats (secure wallets)',
    bond: 'Bonds',
    insurance: 'Insurance fund',
    in_transit: 'In transit',
    fees: 'Fees',
    agent: 'Agent floats',
    cash_out_reserve: 'Cash-out reserve (USSD codes)',
    voucher: 'Vouchers outstanding',
    issuance: 'Issuance (mirror of money issued)',
  };
  const CHANNEL_LABELS = {
    face_to_face: 'Face to face (claims and journal syncs)',
    mesh: 'Mesh (remote, via a bridge)',
    ussd: 'USSD (feature phones)',
    voucher: 'Voucher redemptions',
    order: 'Deferred orders',
  };
  const MASKED_SMS = new Set(['cash_out_code', 'link_code']);

  let token = null;
  let timer = null;
  let money = { currency: '', exponent: 2 };
  let lastSettled = null;
  let transferQuery = '?limit=25';

  const $ = (id) => document.getElementById(id);

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c));
    return tr;
  }

  function fill(tbodyId, rows, emptyText, columns) {
    const body = $(tbodyId);
    body.replaceChildren();
    if (rows.length === 0) {
      const td = el('td', emptyText);
      td.colSpan = columns;
      body.appendChild(row([td]));
      return;
    }
    for (const r of rows) body.appendChild(r);
  }

  // Minor units as a decimal string, exactly (no floating point).
  function fmt(minor) {
    const neg = minor < 0;
    let digits = String(Math.abs(minor));
    const exp = money.exponent;
    let text = digits;
    if (exp > 0) {
      digits = digits.padStart(exp + 1, '0');
      text = digits.slice(0, -exp) + '.' + digits.slice(-exp);
    }
    return (neg ? '−' : '') + text + ' ' + money.currency;
  }

  function amountCell(minor, signed) {
    const td = el('td', (signed && minor > 0 ? '+' : '') + fmt(minor), 'num');
    if (signed) td.classList.add(minor < 0 ? 'debit' : 'credit');
    return td;
  }

  function when(secs) {
    if (secs === null || secs === undefined) return '—';
    return new Date(secs * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function kindOf(key) {
    const prefix = key.split(':')[0];
    const map = { online: 'online', float: 'float', bond: 'bond', 'in-transit': 'in_transit',
      agent: 'agent', 'cash-out-reserve': 'cash_out_reserve', voucher: 'voucher', fees: 'fees',
      insurance: 'insurance', issuance: 'issuance' };
    return KIND_LABELS[map[prefix]] || prefix;
  }

  function status(text, isError) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('error', Boolean(isError));
  }

  class Unauthorized extends Error {}

  async function api(path) {
    const resp = await fetch(path, {
      headers: { authorization: 'Bearer ' + token, accept: 'application/json' },
      cache: 'no-store',
    });
    if (resp.status === 401) throw new Unauthorized('the admin token was refused');
    if (!resp.ok) {
      let detail = 'HTTP ' + resp.status;
      try {
        const body = await resp.json();
        if (body && body.error) detail = body.error.code + ': ' + body.error.message;
      } catch (_) { /* not JSON */ }
      throw new Error(path.split('?')[0] + ': ' + detail);
    }
    return resp.json();
  }

  function renderAudit(overview, audit) {
    const byKind = {};
    for (const t of overview.totals) byKind[t.kind] = t;
    const rows = [];
    const issuedRow = row([el('th', 'Money issued'), amountCell(overview.issued)]);
    issuedRow.firstChild.scope = 'row';
    rows.push(issuedRow);
    for (const kind of ['online', 'float', 'bond', 'insurance', 'in_transit', 'fees', 'agent', 'cash_out_reserve', 'voucher']) {
      const t = byKind[kind] || { balance: 0, accounts: 0 };
      const th = el('th', '+ ' + KIND_LABELS[kind] + ' (' + t.accounts + ')');
      th.scope = 'row';
      rows.push(row([th, amountCell(t.balance)]));
    }
    const accTh = el('th', '= Accounted for');
    accTh.scope = 'row';
    const accRow = row([accTh, amountCell(overview.accounted)]);
    accRow.className = 'total';
    rows.push(accRow);
    const diffTh = el('th', 'Difference (issued − accounted for)');
    diffTh.scope = 'row';
    rows.push(row([diffTh, amountCell(overview.issued - overview.accounted)]));
    fill('audit-body', rows, '', 2);

    const findings = [];
    if (overview.issued !== overview.accounted) {
      findings.push('Money issued differs from money accounted for by ' + fmt(overview.issued - overview.accounted));
    }
    for (const s of audit.sums) {
      if (s.sum !== '0') findings.push('The ledger in ' + s.currency + ' sums to ' + s.sum + ', not 0');
    }
    for (const n of audit.negative) findings.push('Account ' + n.account + ' is negative: ' + n.balance + ' ' + n.currency);
    for (const t of audit.unbalanced_transfers) findings.push('Transfer ' + t + ' does not balance');
    for (const a of audit.drifted_accounts) findings.push('Account ' + a + ' differs from its postings');
    if (!audit.clean && findings.length === 0) findings.push('The server reports the audit unclean');
    $('inconsistencies').textContent = String(findings.length);
    const list = $('audit-findings');
    list.replaceChildren(...findings.map((f) => el('li', f)));
    const verdict = $('audit-verdict');
    const clean = findings.length === 0;
    verdict.textContent = clean
      ? 'Clean: every unit of money issued is accounted for, every transfer balances, no balance drifted from its postings.'
      : 'NOT CLEAN: ' + findings.length + ' inconsistencies found.';
    verdict.className = 'verdict ' + (clean ? 'clean' : 'unclean');
  }

  function renderOverview(overview) {
    $('transfer-count').textContent = String(overview.transfers);
    $('case-count').textContent = String(overview.fraud_cases);
    fill('debits-body', overview.debits.map((d) => {
      const td = el('td', d.count, 'num');
      return row([d.kind, d.status, td]);
    }), 'No payments yet.', 3);
    fill('channels-body', (overview.channels || []).map((c) => row([
      CHANNEL_LABELS[c.channel] || c.channel, c.status, el('td', c.count, 'num'), amountCell(c.amount),
    ])), 'No payment yet.', 4);
    fill('kinds-body', overview.transfer_kinds.map((k) => row([k.kind, el('td', k.count, 'num')])),
      'No transfer yet.', 2);
    $('accounts-note').textContent = overview.nonzero_accounts + ' accounts hold a balance' +
      (overview.accounts.length < overview.nonzero_accounts ? '; the ' + overview.accounts.length + ' largest are listed.' : '.');
    fill('accounts-body', overview.accounts.map((a) => row([el('td', a.account, 'id'), kindOf(a.account), amountCell(a.balance)])),
      'The ledger is empty.', 3);
    const revoked = overview.revoked_wallets;
    $('revoked-list').replaceChildren(...(revoked.length
      ? revoked.map((w) => el('li', 'wallet ' + w))
      : [el('li', 'No wallet is revoked.')]));
  }

  function renderTransfers(body) {
    fill('transfers-body', body.transfers.map((t) => {
      const list = el('ul', null, 'postings');
      for (const p of t.postings) {
        const li = el('li');
        li.appendChild(el('span', p.account, 'mono'));
        li.appendChild(el('span', (p.amount > 0 ? '+' : '') + fmt(p.amount), p.amount < 0 ? 'num debit' : 'num credit'));
        list.appendChild(li);
      }
      const postings = el('td');
      postings.appendChild(list);
      return row([el('td', t.id, 'num'), when(t.posted_at), t.kind, el('td', t.reference, 'id'), postings]);
    }), 'No transfer matches.', 5);
  }

  function renderCases(cases) {
    fill('fraud-body', cases.map((c) => row([
      el('td', c.id, 'num'), c.kind, el('td', c.ta_id, 'id'), el('td', c.account_id, 'id'),
      amountCell(c.exposure.amount), amountCell(c.covered.amount), when(c.opened_at), c.detail,
    ])), 'No fraud case.', 8);
  }

  // An alert's evidence as `key: value` text (ids and counts; no secret is ever recorded).
  function evidence(value) {
    if (value === null || typeof value !== 'object') return String(value);
    return Object.entries(value)
      .map(([k, v]) => k + ': ' + (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)))
      .join('; ');
  }

  function renderVouchers(body) {
    fill('vouchers-body', body.vouchers.map((v) => row([
      el('td', v.id, 'id'), el('td', v.emitter, 'id'), amountCell(v.initial_amount), amountCell(v.remaining),
      v.state + (v.state_reason ? ' (' + v.state_reason + ')' : ''), el('td', v.failures, 'num'),
      when(v.created_at), when(v.expires_at),
    ])), 'No voucher.', 8);
  }

  const START_LABELS = { unregistered: 'not registered', no_pin: 'no PIN yet', ready: 'ready', locked: 'locked' };

  function renderUssd(body) {
    fill('ussd-body', body.sessions.map((u) => row([
      el('td', u.session, 'mono'), el('td', u.phone, 'mono'), when(u.created_at),
      START_LABELS[u.start] || u.start, el('td', u.answered, 'num'),
    ])), 'No USSD session kept.', 5);
  }

  function renderAlerts(body) {
    fill('alerts-body', body.alerts.slice(0, 100).map((a) => row([
      el('td', a.id, 'num'), when(a.at), a.channel, a.rule, a.action, el('td', a.account_id, 'id'),
      el('td', evidence(a.evidence), 'mono'),
    ])), 'No risk alert.', 7);
  }

  function mask(kind, text) {
    return MASKED_SMS.has(kind) ? text.replace(/\d{4,}/g, (m) => '•'.repeat(m.length)) : text;
  }

  function renderSms(outbox) {
    fill('sms-body', outbox.messages.map((m) => row([
      el('td', m.id, 'num'), el('td', m.phone, 'mono'), m.kind, mask(m.kind, m.text),
      m.delivered_at ? when(m.delivered_at) : 'stored (no gateway)',
    ])), 'No SMS notice.', 5);
  }

  // The samples the OpenMetrics text has for `name` (label text → value).
  function samples(metricsText, name) {
    const out = [];
    for (const line of metricsText.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== ' ' && rest[0] !== '{') continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (!Number.isFinite(value)) continue;
      const labels = {};
      if (rest[0] === '{') {
        const body = rest.slice(1, rest.indexOf('}'));
        for (const m of body.matchAll(/([a-z_]+)="([^"]*)"/g)) labels[m[1]] = m[2];
      }
      out.push({ labels, value });
    }
    return out;
  }

  function renderOutcomes(items) {
    const rows = items.filter((s) => s.value > 0)
      .sort((a, b) => (a.labels.kind + a.labels.outcome).localeCompare(b.labels.kind + b.labels.outcome))
      .map((s) => row([s.labels.kind, s.labels.outcome, el('td', s.value, 'num')]));
    fill('outcomes-body', rows, 'Nothing settled since the server started.', 3);
  }

  const SVG = 'http://www.w3.org/2000/svg';
  const CHART_POINTS = 40;
  let series = [];

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // One line chart: the values (null where there is none), scaled to the largest.
  function drawChart(id, label, values, unit, className) {
    const svg = $(id);
    const w = 300;
    const h = 90;
    const top = 14;
    const max = Math.max(1e-9, ...values.filter((v) => v !== null));
    const shown = values.filter((v) => v !== null);
    const last = shown.length ? shown[shown.length - 1] : null;
    const title = label + ': ' + (last === null ? 'no sample yet' : last.toFixed(1) + ' ' + unit) +
      ' (peak ' + (shown.length ? max.toFixed(1) : '0') + ' ' + unit + ', last ' + values.length + ' refreshes)';
    const children = [svgEl('title', { id: id + '-label' }, title),
      svgEl('line', { x1: 0, y1: h - 1, x2: w, y2: h - 1, class: 'axis' }),
      svgEl('text', { x: 4, y: 11 }, label + ' (peak ' + (shown.length ? max.toFixed(1) : '0') + ' ' + unit + ')')];
    const points = [];
    const span = Math.max(values.length - 1, 1);
    values.forEach((v, i) => {
      if (v === null) return;
      const x = 4 + (i / span) * (w - 8);
      const y = h - 3 - (v / max) * (h - top - 6);
      points.push([x.toFixed(1), y.toFixed(1)]);
    });
    if (points.length > 1) {
      children.push(svgEl('polyline', { points: points.map((p) => p.join(',')).join(' '), class: 'line ' + className }));
    }
    for (const [cx, cy] of points) children.push(svgEl('circle', { cx, cy, r: 2.5, class: 'dot ' + className }));
    svg.replaceChildren(...children);
    svg.dataset.points = String(points.length);
    svg.dataset.peak = String(shown.length ? Math.max(...shown) : 0);
    return title;
  }

  function renderThroughput(metricsText) {
    const now = performance.now();
    const items = samples(metricsText, 'settlement_items_total');
    renderOutcomes(items);
    const settled = items.filter((s) => s.labels.outcome === 'settled').reduce((a, s) => a + s.value, 0);
    const batchSum = samples(metricsText, 'settlement_batch_seconds_sum').reduce((a, s) => a + s.value, 0);
    const batchCount = samples(metricsText, 'settlement_batch_seconds_count').reduce((a, s) => a + s.value, 0);
    $('settled-total').textContent = String(settled);
    if (lastSettled) {
      const secs = (now - lastSettled.at) / 1000;
      const rate = secs > 0 ? Math.max(0, settled - lastSettled.count) / secs : 0;
      const batches = batchCount - lastSettled.batches;
      const latency = batches > 0 ? ((batchSum - lastSettled.batchSum) / batches) * 1000 : null;
      $('throughput').textContent = rate.toFixed(1) + ' items/s';
      series.push({ rate, latency });
      if (series.length > CHART_POINTS) series = series.slice(-CHART_POINTS);
      const a = drawChart('chart-throughput', 'Throughput', series.map((p) => p.rate), 'items/s', 'throughput');
      const b = drawChart('chart-latency', 'Mean batch latency', series.map((p) => p.latency), 'ms', 'latency');
      $('chart-summary').textContent = a + '. ' + b + '.';
    } else {
      $('throughput').textContent = 'measuring…';
    }
    lastSettled = { at: now, count: settled, batches: batchCount, batchSum };
  }

  async function refreshMesh() {
    const resp = await fetch('/v1/demo/mesh', { cache: 'no-store' });
    if (resp.status === 404) {
      $('mesh-status').textContent = 'The demo mesh is off (ferry serve --demo turns it on).';
      $('mesh-live').hidden = true;
      return;
    }
    if (!resp.ok) throw new Error('/v1/demo/mesh: HTTP ' + resp.status);
    const mesh = await resp.json();
    const carried = new Set();
    const bridged = new Set();
    for (const node of mesh.nodes) {
      for (const h of node.held) {
        carried.add(h.envelope_id);
        if (node.bridge) bridged.add(h.envelope_id);
      }
    }
    $('mesh-status').textContent = 'A simulated mesh of phones carrying sealed payments to bridges.';
    $('mesh-round').textContent = String(mesh.round);
    $('mesh-nodes').textContent = String(mesh.nodes.length);
    $('mesh-bridges').textContent = String(mesh.nodes.filter((n) => n.bridge).length);
    $('mesh-injected').textContent = String(mesh.injected);
    $('mesh-carried').textContent = String(carried.size);
    $('mesh-bridged').textContent = String(bridged.size);
    $('mesh-uploaded').textContent = String(mesh.uploaded);
    renderFunnel(mesh);
    renderNodeChoice(mesh.nodes);
    $('mesh-live').hidden = false;
  }

  // created → relayed → bridged → settled / duplicate / pending / invalid, since the last reset.
  function renderFunnel(mesh) {
    const relayed = new Set();
    const bridged = new Set();
    for (const node of mesh.nodes) {
      for (const h of node.held) {
        if (h.hops > 0) relayed.add(h.envelope_id);
        if (node.bridge) bridged.add(h.envelope_id);
      }
    }
    const o = mesh.outcomes || { settled: 0, duplicate: 0, pending: 0, rejected: 0, invalid: 0 };
    $('funnel-created').textContent = String(mesh.injected);
    $('funnel-relayed').textContent = String(relayed.size);
    $('funnel-bridged').textContent = String(bridged.size);
    $('funnel-settled').textContent = String(o.settled);
    $('funnel-duplicate').textContent = String(o.duplicate);
    $('funnel-pending').textContent = String(o.pending);
    $('funnel-invalid').textContent = String(o.rejected + o.invalid);
  }

  // The phones an envelope can be injected into (kept as chosen across polls).
  function renderNodeChoice(nodes) {
    const select = $('mesh-node');
    if (select.options.length === nodes.length) return;
    const chosen = select.value;
    select.replaceChildren(...nodes.map((n) => {
      const option = el('option', (n.bridge ? 'Bridge ' : 'Phone ') + n.index);
      option.value = String(n.index);
      return option;
    }));
    if (chosen && nodes.some((n) => String(n.index) === chosen)) select.value = chosen;
  }

  function base64url(bytes) {
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function injectEnvelope() {
    const file = $('mesh-envelope-file').files[0];
    let envelope = $('mesh-envelope').value.trim();
    if (file) envelope = base64url(new Uint8Array(await file.arrayBuffer()));
    if (!envelope) {
      $('mesh-result').textContent = 'Choose an envelope file or paste an envelope first.';
      return;
    }
    const node = Number($('mesh-node').value || '0');
    try {
      const resp = await fetch('/v1/demo/mesh/inject', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ node, envelope }),
        cache: 'no-store',
      });
      if (!resp.ok) {
        let detail = 'HTTP ' + resp.status;
        try {
          const body = await resp.json();
          if (body && body.error) detail = body.error.message;
        } catch (_) { /* not JSON */ }
        throw new Error(detail);
      }
      $('mesh-envelope').value = '';
      $('mesh-envelope-file').value = '';
      $('mesh-result').textContent = 'Payment injected into ' + $('mesh-node').selectedOptions[0].textContent + '.';
      await refreshMesh();
    } catch (e) {
      $('mesh-result').textContent = 'Inject failed: ' + e.message;
    }
  }

  async function meshAction(path, describe) {
    try {
      const resp = await fetch(path, { method: 'POST', cache: 'no-store' });
      if (!resp.ok) throw new Error(path + ': HTTP ' + resp.status);
      $('mesh-result').textContent = describe(await resp.json());
      await refreshMesh();
    } catch (e) {
      $('mesh-result').textContent = 'Failed: ' + e.message;
    }
  }

  async function refreshTransfers() {
    try {
      renderTransfers(await api('/v1/admin/transfers' + transferQuery));
      $('transfers-error').hidden = true;
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $('transfers-error').textContent = e.message;
      $('transfers-error').hidden = false;
    }
  }

  async function refresh() {
    try {
      const [overview, audit, cases, outbox, alerts, vouchers, ussd] = await Promise.all([
        api('/v1/admin/overview'), api('/v1/audit'), api('/v1/fraud/cases'), api('/v1/sms/outbox?limit=50'),
        api('/v1/fraud/alerts'), api('/v1/admin/vouchers'), api('/v1/admin/ussd/sessions'),
      ]);
      money = { currency: overview.currency, exponent: overview.exponent };
      renderAudit(overview, audit);
      renderOverview(overview);
      renderCases(cases);
      renderSms(outbox);
      renderAlerts(alerts);
      renderVouchers(vouchers);
      renderUssd(ussd);
      await refreshTransfers();
      await refreshMesh();
      const signed = await fetch('/v1/revocations', { cache: 'no-store' });
      $('revocations-signed').textContent = signed.ok
        ? 'The issuer-signed list devices download (/v1/revocations) is served; it names these wallets:'
        : 'The signed list (/v1/revocations) did not load: HTTP ' + signed.status;
      const metrics = await fetch('/metrics', { cache: 'no-store' });
      if (metrics.ok) renderThroughput(await metrics.text());
      status('Updated ' + new Date().toISOString().slice(11, 19) + ' UTC.');
    } catch (e) {
      if (e instanceof Unauthorized) {
        signOut('The admin token was refused; enter it again.');
        return;
      }
      status('Could not refresh: ' + e.message, true);
    }
  }

  function signIn(t) {
    token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('login').hidden = true;
    $('main').hidden = false;
    $('forget').hidden = false;
    status('Loading…');
    refresh();
    clearInterval(timer);
    timer = setInterval(refresh, POLL_MS);
  }

  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(timer);
    $('main').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('token').value = '';
    status(message, true);
    $('token').focus();
  }

  function tokenFromFragment() {
    const hash = window.location.hash;
    if (!hash.startsWith('#token=')) return null;
    let t = null;
    try { t = decodeURIComponent(hash.slice('#token='.length)); } catch (_) { t = null; }
    // Take the token out of the address bar (and history) at once.
    history.replaceState(null, '', window.location.pathname + window.location.search);
    return t && t.trim() ? t.trim() : null;
  }

  function start() {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      $('token').value = '';
      if (t) signIn(t);
    });
    $('forget').addEventListener('click', () => signOut('Signed out.'));
    $('mesh-inject-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      injectEnvelope();
    });
    $('mesh-round-button').addEventListener('click', () => meshAction('/v1/demo/mesh/round',
      (r) => 'Round ' + r.round + ': ' + r.contacts + ' contacts, ' + r.items_moved + ' envelopes moved.'));
    $('mesh-flush-button').addEventListener('click', () => meshAction('/v1/demo/mesh/flush',
      (r) => r.uploads.length + ' envelopes uploaded: ' +
        (r.uploads.map((u) => (u.outcome && u.outcome.outcome) || 'unknown').join(', ') || 'none') + '.'));
    $('mesh-reset-button').addEventListener('click', () => meshAction('/v1/demo/mesh/reset',
      () => 'The mesh was reset.'));
    $('transfer-filter').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const params = new URLSearchParams();
      const kind = $('filter-kind').value.trim();
      const account = $('filter-account').value.trim();
      const limit = $('filter-limit').value.trim();
      if (limit) params.set('limit', limit);
      if (kind) params.set('kind', kind);
      if (account) params.set('account', account);
      const q = params.toString();
      transferQuery = q ? '?' + q : '';
      refreshTransfers().catch(() => signOut('The admin token was refused; enter it again.'));
    });
    const t = tokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
    if (t) signIn(t); else $('token').focus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
