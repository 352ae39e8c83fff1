// The administrators' money back office: escalations (filtered, worked: re-queue, handled with a
// note, refund by hand through the gateway), the ledger (by customer, order, payment or service,
// with totals) and the collections work list (customers at risk, dunning state, close a case).
import { useEffect, useState } from 'preact/hooks';
import { api, type Schemas } from '../../api/client';
import { fmtDateTime, fmtMoney } from '../../i18n';
import { Alert, Card, Chip, ErrorBox, Field, Loading, Page } from '../../ui';
import { st, type SKey } from './i18n';
import { euroCents } from './sale';

type PageOf<T> = { items: T[]; next_cursor?: string | null };

/** A keyset-paged list: the first page when `deps` change, `more()` appends the next one. */
function usePaged<T, P extends PageOf<T>>(fetchPage: (cursor?: string) => Promise<P>, deps: unknown[]) {
  const [items, setItems] = useState<T[]>([]);
  const [last, setLast] = useState<P>();
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(undefined);
    fetchPage().then(
      (p) => {
        if (!live) return;
        setItems(p.items);
        setLast(p);
        setNext(p.next_cursor ?? null);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setError(e);
        setItems([]);
        setNext(null);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  const more = async () => {
    if (!next) return;
    try {
      const p = await fetchPage(next);
      setItems((xs) => [...xs, ...p.items]);
      setLast(p);
      setNext(p.next_cursor ?? null);
    } catch (e) {
      setError(e);
    }
  };
  return { items, last, next, loading, error, more, reload: () => setN((x) => x + 1) };
}

function More(props: { next: string | null; onMore: () => void; id: string }) {
  if (!props.next) return null;
  return (
    <button class="button" id={props.id} onClick={props.onMore}>
      {st('money.more')}
    </button>
  );
}

const ESCALATION_KINDS = ['return-payment', 'payment-mismatch', 'payment-without-effect', 'payment-failed-after-settlement', 'place-factory-order', 'register-vehicle', 'notify', 'ota'];

function resolutionLabel(r: string): string {
  if (r === 'requeued') return st('staff.requeued');
  if (r === 'handled') return st('staff.handled');
  if (r === 'refunded') return st('money.refunded');
  return r;
}

export function Escalations() {
  const [kind, setKind] = useState('');
  const [status, setStatus] = useState('all');
  const [days, setDays] = useState('');
  const [filter, setFilter] = useState({ kind: '', status: 'all', days: '' });
  const list = usePaged<Schemas['Escalation'], PageOf<Schemas['Escalation']>>(
    (cursor) =>
      api('get', '/api/admin/escalations', {
        query: { kind: filter.kind || undefined, status: filter.status, older_than_days: filter.days || undefined, cursor, limit: '25' },
      }) as Promise<PageOf<Schemas['Escalation']>>,
    [filter.kind, filter.status, filter.days],
  );
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [amounts, setAmounts] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const act = async (id: string, what: 'requeue' | 'handled' | 'refund') => {
    setError(undefined);
    setMsg(undefined);
    try {
      if (what === 'requeue') {
        await api('post', '/api/admin/escalations/{escalation_id}/requeue', { params: { escalation_id: id } });
        setMsg(st('staff.done'));
      } else if (what === 'handled') {
        await api('post', '/api/admin/escalations/{escalation_id}/handled', { params: { escalation_id: id }, body: { note: notes[id] ?? '' } });
        setMsg(st('staff.done'));
      } else {
        const a = (amounts[id] ?? '').trim();
        const r = await api('post', '/api/admin/escalations/{escalation_id}/refund', {
          params: { escalation_id: id },
          body: { note: notes[id] ?? '', amount_minor: a ? (euroCents(a) ?? 0) : null },
        });
        setMsg(
          st('money.refundDone', {
            amount: fmtMoney(r.refund.amount_minor, r.refund.currency),
            payment: r.refund.payment_id,
            state: st(`money.state.${r.refund.state}` as SKey),
          }),
        );
      }
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={st('staff.escalations')}>
      <form
        class="row"
        id="escalation-filter"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ kind, status, days: days.trim() });
        }}
      >
        <Field id="esc-kind" label={st('money.kind')}>
          <select id="esc-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">{st('money.allKinds')}</option>
            {ESCALATION_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </Field>
        <Field id="esc-status" label={st('money.status')}>
          <select id="esc-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="all">{st('money.statusAll')}</option>
            <option value="open">{st('money.statusOpen')}</option>
            <option value="resolved">{st('money.statusResolved')}</option>
          </select>
        </Field>
        <Field id="esc-days" label={st('money.olderThan')}>
          <input id="esc-days" type="number" min="0" max="3650" inputMode="numeric" value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        </Field>
        <button class="button primary" type="submit" id="esc-filter">
          {st('money.filter')}
        </button>
      </form>
      {msg && (
        <Alert tone="ok" id="escalation-msg">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {list.error !== undefined && <ErrorBox error={list.error} />}
      {list.loading && <Loading />}
      {!list.loading && list.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      {list.items.map((e) => (
        <Card key={e.id} class="escalation" id={`esc-${e.id}`}>
          <div class="row spread">
            <strong>{e.kind}</strong>
            <Chip tone={e.resolution ? 'muted' : 'warn'}>{e.resolution ? resolutionLabel(e.resolution) : st('staff.open')}</Chip>
          </div>
          <p>{e.detail}</p>
          <p class="muted small">
            {fmtDateTime(e.created_at)} · <span class="mono">{e.job_id}</span>
          </p>
          {e.resolution && (
            <p class="small resolved">
              {st('money.resolvedBy', { who: e.resolved_by ?? '—', when: e.resolved_at ? fmtDateTime(e.resolved_at) : '—' })}
              {e.note ? ` · ${e.note}` : ''}
            </p>
          )}
          {!e.resolution && (
            <div class="row">
              {e.requeueable && (
                <button class="button primary requeue" onClick={() => act(e.id, 'requeue')}>
                  {st('staff.requeue')}
                </button>
              )}
              <label class="sr-only" for={`note-${e.id}`}>
                {st('staff.note')}
              </label>
              <input id={`note-${e.id}`} class="inline" placeholder={st('staff.note')} value={notes[e.id] ?? ''} onInput={(ev) => setNotes({ ...notes, [e.id]: ev.currentTarget.value })} />
              <button class="button" onClick={() => act(e.id, 'handled')} disabled={!notes[e.id]}>
                {st('staff.markHandled')}
              </button>
              {e.refundable && (
                <>
                  <label class="sr-only" for={`amount-${e.id}`}>
                    {st('money.refundAmount')}
                  </label>
                  <input
                    id={`amount-${e.id}`}
                    class="inline"
                    inputMode="decimal"
                    placeholder={st('money.refundAmount')}
                    value={amounts[e.id] ?? ''}
                    onInput={(ev) => setAmounts({ ...amounts, [e.id]: ev.currentTarget.value })}
                  />
                  <button class="button danger refund" onClick={() => act(e.id, 'refund')} disabled={!notes[e.id]}>
                    {st('money.refund')}
                  </button>
                </>
              )}
            </div>
          )}
        </Card>
      ))}
      <More next={list.next} onMore={list.more} id="escalations-more" />
    </Page>
  );
}

type LedgerPage = PageOf<Schemas['LedgerEntry']> & {
  totals?: { currency: string; charges_minor: number; refunds_minor: number; voids_minor: number; net_minor: number; entries: number }[];
  customer?: { id: string; email: string; name: string } | null;
};

export function Ledger(props: { reference?: string; customer?: string }) {
  const [customer, setCustomer] = useState(props.customer ?? '');
  const [reference, setReference] = useState(props.reference ?? '');
  const [filter, setFilter] = useState({ customer: props.customer ?? '', reference: props.reference ?? '' });
  const list = usePaged<Schemas['LedgerEntry'], LedgerPage>(
    (cursor) =>
      api('get', '/api/admin/ledger', {
        query: { customer: filter.customer || undefined, reference: filter.reference || undefined, cursor, limit: '50' },
      }) as Promise<LedgerPage>,
    [filter.customer, filter.reference],
  );
  const totals = list.last?.totals ?? [];
  return (
    <Page title={st('money.ledger')}>
      <form
        class="row"
        id="ledger-filter"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ customer: customer.trim(), reference: reference.trim() });
        }}
      >
        <Field id="ledger-customer" label={st('money.customerFilter')}>
          <input id="ledger-customer" value={customer} onInput={(e) => setCustomer(e.currentTarget.value)} />
        </Field>
        <Field id="ledger-reference" label={st('money.referenceFilter')}>
          <input id="ledger-reference" value={reference} onInput={(e) => setReference(e.currentTarget.value)} />
        </Field>
        <button class="button primary" type="submit" id="ledger-search">
          {st('money.filter')}
        </button>
      </form>
      {list.error !== undefined && <ErrorBox error={list.error} />}
      {list.loading && <Loading />}
      {list.last?.customer && (
        <p id="ledger-customer-name">
          {list.last.customer.name} · {list.last.customer.email}
        </p>
      )}
      {totals.length > 0 && (
        <Card title={st('money.totals')}>
          <div class="table-scroll">
            <table class="prefs data" id="ledger-totals">
              <thead>
                <tr>
                  <th scope="col" class="num">{st('money.charges')}</th>
                  <th scope="col" class="num">{st('money.refunds')}</th>
                  <th scope="col" class="num">{st('money.voids')}</th>
                  <th scope="col" class="num">{st('money.net')}</th>
                  <th scope="col" class="num">{st('money.entries')}</th>
                </tr>
              </thead>
              <tbody>
                {totals.map((x) => (
                  <tr key={x.currency} data-currency={x.currency}>
                    <td class="num">{fmtMoney(x.charges_minor, x.currency)}</td>
                    <td class="num">{fmtMoney(x.refunds_minor, x.currency)}</td>
                    <td class="num">{fmtMoney(x.voids_minor, x.currency)}</td>
                    <td class="net num">{fmtMoney(x.net_minor, x.currency)}</td>
                    <td class="num">{x.entries}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      )}
      {!list.loading && list.items.length === 0 && list.error === undefined && <p class="muted">{st('staff.none')}</p>}
      {list.items.length > 0 && (
        <div class="table-scroll card">
          <table class="prefs data" id="ledger">
            <thead>
              <tr>
                <th scope="col">{st('money.kind')}</th>
                <th scope="col">{st('money.reference')}</th>
                <th scope="col" class="num">{st('money.amount')}</th>
                <th scope="col">{st('money.order')}</th>
                <th scope="col">{st('money.serviceState')}</th>
                <th scope="col">{st('money.date')}</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((r) => (
                <tr key={r.idempotency_key} class={`ledger-${r.kind}`}>
                  <td>{r.kind}</td>
                  <td class="mono small">{r.reference ?? '—'}</td>
                  <td class="num">{fmtMoney(r.kind === 'charge' ? r.amount_minor : -r.amount_minor, r.currency)}</td>
                  <td class="mono small">{r.order_id ? <a href={`/app/staff/orders/${encodeURIComponent(r.order_id)}`}>{r.order_id}</a> : '—'}</td>
                  <td>{r.service_state ?? '—'}</td>
                  <td>{fmtDateTime(r.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <More next={list.next} onMore={list.more} id="ledger-more" />
    </Page>
  );
}

type CollectionItem = Schemas['CollectionItem'];

export function Collections() {
  const [status, setStatus] = useState('open');
  const list = usePaged<CollectionItem, PageOf<CollectionItem>>(
    (cursor) => api('get', '/api/admin/collections', { query: { status, cursor, limit: '25' } }) as Promise<PageOf<CollectionItem>>,
    [status],
  );
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const close = async (id: string) => {
    setError(undefined);
    setMsg(undefined);
    try {
      await api('post', '/api/admin/collections/{collection_id}/close', { params: { collection_id: id }, body: { note: notes[id] ?? '' } });
      setMsg(st('staff.done'));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={st('money.atRisk')}>
      <div class="row">
        <Field id="col-status" label={st('money.status')}>
          <select id="col-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="open">{st('money.statusOpen')}</option>
            <option value="closed">{st('money.statusClosed')}</option>
            <option value="all">{st('money.statusAll')}</option>
          </select>
        </Field>
      </div>
      {msg && (
        <Alert tone="ok" id="collection-msg">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {list.error !== undefined && <ErrorBox error={list.error} />}
      {list.loading && <Loading />}
      {!list.loading && list.items.length === 0 && list.error === undefined && <p class="muted">{st('staff.none')}</p>}
      {list.items.map((c) => (
        <Card key={c.id} class="collection" id={`col-${c.id}`}>
          <div class="row spread">
            <strong>
              {c.customer_name ?? c.customer_id} · {c.customer_email ?? ''}
            </strong>
            <Chip tone={c.status === 'open' ? 'bad' : 'muted'}>{c.status === 'open' ? st('money.statusOpen') : st('staff.closed')}</Chip>
          </div>
          <p>
            {st(c.source === 'charge' ? 'money.charge' : 'money.case')} · {fmtMoney(c.amount_minor, c.currency)} · {c.option_name ?? c.service_id ?? '—'}
            {c.period ? ` (${c.period})` : ''}
          </p>
          <p class="muted small">
            {st('money.reason')}: {c.reason} · {st('money.since')} {fmtDateTime(c.since)}
          </p>
          {c.dunning && (
            <p class="small dunning">
              {st('money.dunning', { status: c.dunning.charge_status, failures: String(c.dunning.failures) })} ·{' '}
              {c.dunning.next_attempt_at ? st('money.nextRetry', { when: fmtDateTime(c.dunning.next_attempt_at) }) : st('money.noRetry')}
            </p>
          )}
          <p class="small">
            <a href={`/app/staff/ledger?customer=${encodeURIComponent(c.customer_id)}`}>{st('money.ledger')}</a>
          </p>
          {c.status === 'closed' && c.note && <p class="small">{st('money.closed', { note: c.note })}</p>}
          {c.status === 'open' && c.source === 'charge' && <p class="muted small">{st('money.inDunning')}</p>}
          {c.status === 'open' && c.source === 'collection' && (
            <div class="row">
              <label class="sr-only" for={`close-note-${c.id}`}>
                {st('money.closeNote')}
              </label>
              <input id={`close-note-${c.id}`} class="inline" placeholder={st('money.closeNote')} value={notes[c.id] ?? ''} onInput={(ev) => setNotes({ ...notes, [c.id]: ev.currentTarget.value })} />
              <button class="button close-case" onClick={() => close(c.id)} disabled={!notes[c.id]}>
                {st('money.close')}
              </button>
            </div>
          )}
        </Card>
      ))}
      <More next={list.next} onMore={list.more} id="collections-more" />
    </Page>
  );
}
