// Administrators: audit log, staff accounts, catalog, reconciliation and the dashboard.
import { useState } from 'preact/hooks';
import { api } from '../../api/client';
import { fmtDateTime, fmtMoney, fmtMoneyShort } from '../../i18n';
import { Alert, Card, Chip, ErrorBox, Field, Loading, Page, useLoad } from '../../ui';
import { st, type SKey } from './i18n';
import { euroCents } from './sale';

export function Audit() {
  const list = useLoad(() => api('get', '/api/admin/audit'), []);
  return (
    <Page title={st('staff.audit')}>
      {list.error !== undefined && <ErrorBox error={list.error} />}
      <div class="table-scroll card">
        <table class="prefs" id="audit">
          <thead>
            <tr>
              <th scope="col">{st('staff.at')}</th>
              <th scope="col">{st('staff.actor')}</th>
              <th scope="col">{st('staff.action')}</th>
              <th scope="col">{st('staff.target')}</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((a) => (
              <tr key={a.id}>
                <td>{fmtDateTime(a.at)}</td>
                <td>
                  {a.actor_id} ({a.actor_role})
                </td>
                <td>{a.action}</td>
                <td class="mono">{a.target}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}

const STAFF_ROLES = ['employee', 'support', 'admin'] as const;
type StaffRole = (typeof STAFF_ROLES)[number];

export function StaffAccounts() {
  const list = useLoad(() => api('get', '/api/admin/staff'), []);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<StaffRole>('employee');
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const run = async (f: () => Promise<unknown>, ok: string) => {
    setError(undefined);
    setMsg(undefined);
    try {
      await f();
      setMsg(ok);
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const invite = (e: Event) => {
    e.preventDefault();
    run(() => api('post', '/api/admin/staff', { body: { email, role } }), st('acc.invited', { email }));
  };
  return (
    <Page title={st('acc.title')}>
      {msg && (
        <Alert tone="ok" id="staff-msg">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <Card title={st('acc.invite')}>
        <form class="row" onSubmit={invite}>
          <Field id="staff-email" label={st('acc.email')}>
            <input id="staff-email" type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
          <Field id="staff-role" label={st('acc.role')}>
            <select id="staff-role" value={role} onChange={(e) => setRole(e.currentTarget.value as StaffRole)}>
              {STAFF_ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </Field>
          <button class="button primary" type="submit" id="staff-invite">
            {st('acc.send')}
          </button>
        </form>
      </Card>
      <ul class="list card" id="staff-list">
        {list.data?.items.map((m) => (
          <li key={m.id} data-email={m.email}>
            <span>{m.email}</span>
            <span class="muted small">{m.role}</span>
            <Chip tone={m.disabled_at ? 'muted' : 'ok'}>{m.disabled_at ? st('acc.disabled') : st('acc.active')}</Chip>
            {!m.disabled_at && (
              <span class="row">
                <label class="sr-only" for={`role-${m.id}`}>
                  {st('acc.changeRole')}
                </label>
                <select
                  id={`role-${m.id}`}
                  class="inline"
                  value={m.role}
                  onChange={(e) => {
                    const r = e.currentTarget.value as StaffRole;
                    run(() => api('post', '/api/admin/staff/{staff_id}/role', { params: { staff_id: m.id }, body: { role: r } }), st('acc.saved'));
                  }}
                >
                  {STAFF_ROLES.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
                <button class="button danger small-button" onClick={() => run(() => api('post', '/api/admin/staff/{staff_id}/disable', { params: { staff_id: m.id } }), st('acc.saved'))}>
                  {st('acc.disable')}
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
    </Page>
  );
}

/** Administrators' catalog: add, reprice (future purchases only), retire. */
export function CatalogAdmin() {
  const list = useLoad(() => api('get', '/api/catalog/admin/options'), []);
  const [f, setF] = useState({ code: '', name: '', description: '', price: '', kind: 'permanent', days: '', maintenance: false });
  const [prices, setPrices] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const run = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    setMsg(undefined);
    try {
      await fn();
      setMsg(st('cat.saved'));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const add = (e: Event) => {
    e.preventDefault();
    const kind = f.kind as 'temporary' | 'permanent' | 'subscription';
    run(() =>
      api('post', '/api/catalog/admin/options', {
        body: {
          code: f.code.trim(),
          name: f.name,
          description: f.description,
          price: { amount_minor: euroCents(f.price) ?? 0, currency: 'EUR' },
          kind,
          duration_days: kind === 'temporary' ? Number(f.days) || null : null,
          duration_months: null,
          requires_maintenance: f.maintenance,
        },
      }),
    );
  };
  const set = (k: 'code' | 'name' | 'description' | 'price' | 'kind' | 'days') => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <Page title={st('cat.title')}>
      {msg && (
        <Alert tone="ok" id="catalog-msg">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <ul class="list card" id="catalog-admin">
        {list.data?.options?.map((o) => (
          <li key={o.code} data-code={o.code}>
            <span>
              <strong>{o.name}</strong> <span class="mono small">{o.code}</span>
            </span>
            <span>{fmtMoney(o.price.amount_minor, 'EUR')}</span>
            <Chip tone={o.status === 'retired' ? 'muted' : 'ok'}>{o.status === 'retired' ? st('cat.retired') : st('cat.onSale')}</Chip>
            {o.status !== 'retired' && (
              <span class="row">
                <label class="sr-only" for={`price-${o.code}`}>
                  {st('cat.reprice')}
                </label>
                <input id={`price-${o.code}`} class="inline price-input" placeholder={st('cat.reprice')} value={prices[o.code] ?? ''} onInput={(e) => setPrices({ ...prices, [o.code]: e.currentTarget.value })} />
                <button
                  class="button small-button reprice"
                  disabled={!euroCents(prices[o.code] ?? '')}
                  onClick={() => run(() => api('post', '/api/catalog/admin/options/{code}/price', { params: { code: o.code }, body: { amount_minor: euroCents(prices[o.code] ?? '') ?? 0, currency: 'EUR' } }))}
                >
                  {st('cat.reprice')}
                </button>
                <button class="button danger small-button retire" onClick={() => run(() => api('post', '/api/catalog/admin/options/{code}/retire', { params: { code: o.code } }))}>
                  {st('cat.retire')}
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      <Card title={st('cat.add')}>
        <form class="form" onSubmit={add}>
          <Field id="opt-code" label={st('cat.code')}>
            <input id="opt-code" value={f.code} onInput={set('code')} />
          </Field>
          <Field id="opt-name" label={st('cat.name')}>
            <input id="opt-name" value={f.name} onInput={set('name')} />
          </Field>
          <Field id="opt-description" label={st('cat.description')}>
            <input id="opt-description" value={f.description} onInput={set('description')} />
          </Field>
          <Field id="opt-price" label={st('cat.price')}>
            <input id="opt-price" value={f.price} onInput={set('price')} />
          </Field>
          <Field id="opt-kind" label={st('cat.kind')}>
            <select id="opt-kind" value={f.kind} onChange={set('kind')}>
              <option value="permanent">permanent</option>
              <option value="temporary">temporary</option>
              <option value="subscription">subscription</option>
            </select>
          </Field>
          {f.kind === 'temporary' && (
            <Field id="opt-days" label={st('cat.days')}>
              <input id="opt-days" inputMode="numeric" value={f.days} onInput={set('days')} />
            </Field>
          )}
          <label class="check">
            <input type="checkbox" id="opt-maintenance" checked={f.maintenance} onChange={(e) => setF({ ...f, maintenance: e.currentTarget.checked })} /> {st('cat.maintenance')}
          </label>
          <button class="button primary" type="submit" id="opt-add">
            {st('cat.add')}
          </button>
        </form>
      </Card>
    </Page>
  );
}

/** The ledger against the payment gateway's records: every difference, with both sides. */
export function Reconciliation() {
  const r = useLoad(() => api('get', '/api/admin/reconciliation'), []);
  return (
    <Page title={st('staff.reconciliation')}>
      {r.loading && <Loading />}
      {r.error !== undefined && <ErrorBox error={r.error} />}
      {r.data && (
        <>
          <Card>
            <p id="reconciliation-summary">
              {st('rec.summary', {
                payments: String(r.data.gateway_payments),
                checked: String(r.data.reconciliation.checked),
                pending: String(r.data.reconciliation.pending),
                parked: String(r.data.reconciliation.parked),
                differences: String(r.data.reconciliation.differences.length),
              })}
            </p>
          </Card>
          <div class="table-scroll card">
            <table class="prefs" id="differences">
              <thead>
                <tr>
                  <th scope="col">{st('money.reference')}</th>
                  <th scope="col">{st('rec.gateway')}</th>
                  <th scope="col">{st('rec.ledger')}</th>
                  <th scope="col">{st('rec.payments')}</th>
                </tr>
              </thead>
              <tbody>
                {r.data.reconciliation.differences.map((d) => (
                  <tr key={d.reference}>
                    <td class="mono">{d.reference}</td>
                    <td>{fmtMoney(d.gateway_kept_minor, 'EUR')}</td>
                    <td>{fmtMoney(d.ledger_net_minor, 'EUR')}</td>
                    <td class="mono small">{d.payment_ids.join(', ') || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Page>
  );
}

type Point = { label: string; value: number };

/** A bar chart (inline SVG: no library, no outside request) with its numbers one click away.
 * `numbers` replaces the table behind the chart (e.g. counts behind a percentage). */
function Bars(props: {
  id: string;
  title: string;
  points: Point[];
  money?: boolean;
  unit?: string;
  tone?: string;
  numbers?: { label: string; text: string }[];
}) {
  const max = Math.max(1, ...props.points.map((p) => p.value));
  const w = 560;
  const h = 160; // the tallest bar
  const top = 30; // room for the tallest bar's value
  const n = Math.max(1, props.points.length);
  const slot = (w - 20) / n;
  const bw = Math.min(56, slot - 8);
  const fmt = (v: number) => (props.money ? fmtMoney(v, 'EUR') : `${v}${props.unit ?? ''}`);
  const short = (v: number) => (props.money ? fmtMoneyShort(v, 'EUR') : `${v}${props.unit ?? ''}`);
  // A bar stands in the middle of its slot and its axis label fits the slot (14px text, ~8px a
  // character): dates drop their year, other labels are cut with an ellipsis; the whole label is
  // in the bar's tooltip and the table.
  const fits = Math.max(4, Math.floor(slot / 8));
  const axis = (label: string) =>
    label.length <= fits ? label : /^\d{4}-\d{2}/.test(label) ? label.slice(5) : `${label.slice(0, fits - 1)}…`;
  const rows = props.numbers ?? props.points.map((p) => ({ label: p.label, text: fmt(p.value) }));
  return (
    <Card title={props.title} class="chart" id={props.id}>
      {props.points.length === 0 ? (
        <p class="muted">{st('staff.none')}</p>
      ) : (
        <svg viewBox={`0 0 ${w} ${top + h + 34}`} role="img" aria-label={`${props.title}: ${props.points.map((p) => `${p.label} ${fmt(p.value)}`).join(', ')}`}>
          {props.points.map((p, i) => {
            const bh = Math.round((p.value / max) * h);
            const x = 10 + i * slot + (slot - bw) / 2;
            return (
              <g key={p.label}>
                <title>{`${p.label}: ${fmt(p.value)}`}</title>
                <rect x={x} y={top + h - bh} width={bw} height={Math.max(bh, 1)} rx="4" class={`bar ${props.tone ?? ''}`} />
                <text x={x + bw / 2} y={top + h + 24} text-anchor="middle" class="axis">
                  {axis(p.label)}
                </text>
                <text x={x + bw / 2} y={top + h - bh - 8} text-anchor="middle" class="value">
                  {short(p.value)}
                </text>
              </g>
            );
          })}
        </svg>
      )}
      {rows.length > 0 && (
        <details>
          <summary>{st('staff.numbers')}</summary>
          <table class="prefs">
            <tbody>
              {rows.map((r) => (
                <tr key={r.label}>
                  <th scope="row">{r.label}</th>
                  <td>{r.text}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </Card>
  );
}

type OptionRate = { option_code: string; name: string; activated: number; failed: number; pending: number };

/** Activation success per option: only options with a finished activation are charted (an option
 * whose services all wait has no rate yet); the table behind it has every option's counts. */
function OtaChart(props: { options: OptionRate[] }) {
  const finished = props.options.filter((o) => o.activated + o.failed > 0);
  const rate = (o: OptionRate) => Math.round((100 * o.activated) / (o.activated + o.failed));
  // Two options may carry one name (a legacy plan code and the catalog's option): then the code tells them apart.
  const label = (o: OptionRate) => (props.options.filter((x) => x.name === o.name).length > 1 ? `${o.name} (${o.option_code})` : o.name);
  return (
    <Bars
      id="chart-ota"
      title={st('dash.ota')}
      unit="%"
      points={finished.map((o) => ({ label: label(o), value: rate(o) }))}
      numbers={props.options.map((o) => ({
        label: label(o),
        text: st(o.activated + o.failed ? 'dash.otaCountsRate' : 'dash.otaCounts', {
          activated: String(o.activated),
          failed: String(o.failed),
          pending: String(o.pending),
          rate: o.activated + o.failed ? String(rate(o)) : '',
        }),
      }))}
    />
  );
}

/** The server's labels for the funnel's steps and the escalations' ages, in the staff's language. */
const FUNNEL_STEPS: Record<string, SKey> = {
  registered: 'dash.registered',
  reserved: 'dash.reserved',
  'paid-in-full': 'dash.paid',
  delivered: 'dash.delivered',
  connected: 'dash.connected',
};
const AGES: Record<string, SKey> = { 'under 1 day': 'dash.ageDay', '1-7 days': 'dash.ageWeek', 'over 7 days': 'dash.ageOlder' };
const worded = (points: Point[], words: Record<string, SKey>): Point[] =>
  points.map((p) => ({ ...p, label: words[p.label] ? st(words[p.label]) : p.label }));

export function Dashboard() {
  const d = useLoad(() => api('get', '/api/admin/dashboard'), []);
  if (d.loading) return <Loading />;
  if (d.error !== undefined) return <ErrorBox error={d.error} />;
  const x = d.data!;
  return (
    <Page title={st('staff.dashboard')}>
      <div class="grid charts">
        <Bars id="chart-sales" title={st('dash.sales')} points={x.sales_per_week} />
        <Bars id="chart-funnel" title={st('dash.funnel')} points={worded(x.funnel, FUNNEL_STEPS)} />
        <OtaChart options={x.ota_by_option} />
        <Bars id="chart-escalations" title={st('dash.escalations')} points={worded(x.open_escalations_by_age, AGES)} tone="warn" />
        <Bars id="chart-revenue" title={st('dash.revenue')} points={x.revenue_per_month} money />
        <Bars id="chart-refunds" title={st('dash.refunds')} points={x.refunds_per_month} money tone="warn" />
      </div>
      <Card title={st('dash.collections')}>
        <p id="collections">
          {x.collections_open} · {fmtMoney(x.collections_open_minor, 'EUR')}
        </p>
      </Card>
      <Breakers />
    </Page>
  );
}

const BREAKER_STATE: Record<string, SKey> = { closed: 'brk.state.closed', open: 'brk.state.open', 'half-open': 'brk.state.half-open' };

/** The circuit breakers of the external systems: which one is failing and what the app does meanwhile. */
function Breakers() {
  const b = useLoad(() => api('get', '/api/admin/breakers'), []);
  if (b.loading) return <Loading />;
  if (b.error !== undefined) return <ErrorBox error={b.error} />;
  const x = b.data!;
  return (
    <Card title={st('brk.title')}>
      <p class="muted">
        {st('brk.policy', { failures: String(x.policy.failures_to_open), cooldown: String(x.policy.cooldown_seconds) })}
      </p>
      <table class="prefs data" id="breakers">
        <thead>
          <tr>
            <th>{st('brk.system')}</th>
            <th>{st('brk.state')}</th>
            <th>{st('brk.failures')}</th>
            <th>{st('staff.lastError')}</th>
            <th>{st('brk.whileOpen')}</th>
          </tr>
        </thead>
        <tbody>
          {x.breakers.map((r) => (
            <tr key={r.system} data-system={r.system}>
              <td>{r.label}</td>
              <td>
                <Chip tone={r.state === 'closed' ? 'ok' : r.state === 'open' ? 'bad' : 'warn'}>{BREAKER_STATE[r.state] ? st(BREAKER_STATE[r.state]!) : r.state}</Chip>
                {r.state === 'open' && r.open_until ? ` ${st('brk.until', { when: fmtDateTime(r.open_until) })}` : ''}
              </td>
              <td>{r.consecutive_failures}</td>
              <td>{r.last_error ?? ''}</td>
              <td>{r.while_open}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

/** Find orders (customer, e-mail, VIN, plate, id; state; dates) and open one: its timeline,
 * payments, messages sent, and the dealership's cancellation while the car is not paid for. */
