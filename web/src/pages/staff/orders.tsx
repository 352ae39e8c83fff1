// Dealership employees' order screens: the delivery worklist, the sale lookup with the credential
// re-issue, order search and an order with its timeline, payments, ledger and messages.
import { useState } from 'preact/hooks';
import { api, ApiError } from '../../api/client';
import { fmtDateTime, fmtMoney } from '../../i18n';
import { Alert, Card, Chip, ErrorBox, Field, Loading, NotFound, Page, useLoad } from '../../ui';
import { statusLabel } from '../orders';
import { st, type Role } from './i18n';

type WorkItem = { order_id: string; order_status: string; model: string; vin?: string | null; plate?: string | null; customer?: { full_name?: string; phone?: string }; delivery?: { state?: string; planned_at?: number | null } | null };

export function Deliveries() {
  const list = useLoad(() => api('get', '/api/delivery'), []);
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const record = async (orderId: string, event: string, when: string) => {
    setError(undefined);
    setMsg(undefined);
    try {
      const body: Record<string, unknown> = { event };
      if (event === 'scheduled' || event === 'rescheduled') body['at'] = when;
      await api('post', '/api/delivery/{order_id}/events', { params: { order_id: orderId }, body: body as never });
      setMsg(st('staff.recorded'));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={st('staff.deliveries')}>
      {msg && <Alert tone="ok">{msg}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
      {list.loading && <Loading />}
      {list.data && list.data.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      {(list.data?.items as WorkItem[] | undefined)?.map((w) => (
        <DeliveryRow key={w.order_id} w={w} onRecord={record} />
      ))}
    </Page>
  );
}

function DeliveryRow(props: { w: WorkItem; onRecord: (id: string, ev: string, when: string) => void }) {
  const w = props.w;
  const [ev, setEv] = useState('scheduled');
  const [when, setWhen] = useState('');
  const id = w.order_id;
  return (
    <Card class="delivery-row">
      <div class="row spread">
        <strong>
          {w.model} · {w.plate ?? '—'}
        </strong>
        <Chip tone="info">{statusLabel(w.order_status)}</Chip>
      </div>
      <p class="muted small">
        <span class="mono">{id}</span> · {w.customer?.full_name} · {w.customer?.phone} {w.delivery?.state ? `· ${w.delivery.state}` : ''}
        {w.delivery?.planned_at ? ` · ${fmtDateTime(w.delivery.planned_at)}` : ''}
      </p>
      <div class="row">
        <label class="sr-only" for={`ev-${id}`}>
          {st('staff.event')}
        </label>
        <select id={`ev-${id}`} value={ev} onChange={(e) => setEv(e.currentTarget.value)} class="inline">
          {['scheduled', 'rescheduled', 'delivered', 'absent', 'returned', 'picked-up'].map((x) => (
            <option key={x} value={x}>
              {x}
            </option>
          ))}
        </select>
        {(ev === 'scheduled' || ev === 'rescheduled') && (
          <>
            <label class="sr-only" for={`when-${id}`}>
              {st('staff.when')}
            </label>
            <input id={`when-${id}`} type="date" class="inline" value={when} onInput={(e) => setWhen(e.currentTarget.value)} />
          </>
        )}
        <button class="button primary" onClick={() => props.onRecord(id, ev, when)}>
          {st('staff.record')}
        </button>
      </div>
    </Card>
  );
}

export function SaleLookup(props: { id?: string; role: Role }) {
  const [id, setId] = useState(props.id ?? '');
  const [query, setQuery] = useState(props.id ?? '');
  const sale = useLoad(() => (query ? api('get', '/api/sales/{order_id}', { params: { order_id: query } }) : Promise.resolve(undefined)), [query]);
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const reissue = async (customerId: string) => {
    setError(undefined);
    try {
      const r = await api('post', '/api/staff/customers/{customer_id}/reissue-credentials', { params: { customer_id: customerId } });
      setMsg(st('staff.reissued', { email: r.email }));
    } catch (e) {
      setError(e);
    }
  };
  const s = sale.data;
  return (
    <Page title={st('staff.sale')}>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setMsg(undefined);
          setQuery(id.trim());
        }}
      >
        <Field id="sale-id" label={st('staff.orderId')}>
          <input id="sale-id" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </Field>
        <button class="button primary" type="submit" id="sale-open">
          {st('staff.open.sale')}
        </button>
      </form>
      {sale.error !== undefined && <ErrorBox error={sale.error} />}
      {msg && (
        <Alert tone="ok" id="reissued">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {s && (
        <Card title={`${s.model} · ${statusLabel(s.status)}`}>
          <dl class="facts">
            <dt>{st('staff.customer')}</dt>
            <dd>
              {s.customer.full_name} · {s.customer.email} · {s.customer.phone}
            </dd>
          </dl>
          <ol class="timeline">
            {s.timeline.map((e, i) => (
              <li key={i}>
                <time>{fmtDateTime(e.at)}</time>
                <span>{e.detail || e.kind}</span>
              </li>
            ))}
          </ol>
          {props.role === 'employee' && (
            <button class="button" id="reissue" onClick={() => reissue(s.customer.id)}>
              {st('staff.reissue')}
            </button>
          )}
        </Card>
      )}
    </Page>
  );
}

export function StaffOrders(props: { id?: string; role: Role }) {
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState({ q: '', status: '' });
  const list = useLoad(() => api('get', '/api/staff/orders', { query: { q: search.q || undefined, status: search.status || undefined } }), [search.q, search.status]);
  if (props.id) return <StaffOrderPage id={props.id} role={props.role} />;
  return (
    <Page title={st('staff.orders')}>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch({ q: q.trim(), status });
        }}
      >
        <Field id="order-q" label={st('ord.searchLabel')}>
          <input id="order-q" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </Field>
        <Field id="order-status" label={st('ord.state')}>
          <select id="order-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">—</option>
            {['reservation-pending', 'reserved', 'factory-ordered', 'vehicle-available', 'fully-paid', 'delivered', 'operational', 'unassigned', 'abandoned', 'cancelled'].map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </Field>
        <button class="button primary" type="submit" id="order-search">
          {st('ord.search')}
        </button>
      </form>
      {list.error !== undefined && <ErrorBox error={list.error} />}
      {list.data && list.data.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      <ul class="list card" id="orders">
        {list.data?.items.map((o) => (
          <li key={o.order_id}>
            <a href={`/app/staff/orders/${encodeURIComponent(o.order_id)}`}>{o.customer_name}</a>
            <span class="muted small">{o.customer_email}</span>
            <span>
              {o.model} · {o.plate ?? o.vin ?? '—'}
            </span>
            <Chip tone="info">{statusLabel(o.status)}</Chip>
          </li>
        ))}
      </ul>
    </Page>
  );
}

function StaffOrderPage(props: { id: string; role: Role }) {
  const o = useLoad(() => api('get', '/api/staff/orders/{order_id}', { params: { order_id: props.id } }), [props.id]);
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  if (o.loading && !o.data) return <Loading />;
  if (o.error instanceof ApiError && o.error.status === 404) return <NotFound />;
  if (o.error !== undefined && !o.data) return <ErrorBox error={o.error} />;
  const x = o.data!;
  const cancel = async () => {
    setError(undefined);
    try {
      const r = await api('post', '/api/staff/orders/{order_id}/cancel', { params: { order_id: props.id }, body: { reason } });
      setMsg(
        st('ord.cancelled') +
          (r.deposit_refund ? ` ${st('ord.depositRefunded', { amount: fmtMoney(r.deposit_refund.amount_minor, 'EUR') })}` : '') +
          (r.payments_voided.length ? ` ${st('ord.paymentsVoided', { count: String(r.payments_voided.length) })}` : ''),
      );
      o.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={`${x.customer.full_name} · ${x.order.model}`} back={{ href: '/app/staff/orders', label: st('staff.orders') }}>
      {msg && (
        <Alert tone="ok" id="cancel-done">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <Card>
        <div class="row spread">
          <span class="mono">{x.order.order_id}</span>
          <Chip tone="info">
            <span id="staff-order-status">{statusLabel(x.order.status)}</span>
          </Chip>
        </div>
        <dl class="facts">
          <dt>{st('staff.customer')}</dt>
          <dd>
            {x.customer.email} · {x.customer.phone}
          </dd>
          <dt>{st('ord.price')}</dt>
          <dd>{fmtMoney(x.pricing.vehicle_price_minor, 'EUR')}</dd>
          {x.order.financing && (
            <>
              <dt>{st('sale.financing')}</dt>
              <dd id="staff-order-financing">
                {st('sale.financingTerms', {
                  amount: fmtMoney(x.order.financing.financed_amount_minor, x.order.prices.currency ?? 'EUR'),
                  lender: x.order.financing.lender_reference,
                  term: String(x.order.financing.term_months),
                  monthly: fmtMoney(x.order.financing.monthly_amount_minor, x.order.prices.currency ?? 'EUR'),
                })}
              </dd>
            </>
          )}
          <dt>{st('sale.finalPayment')}</dt>
          <dd id="staff-order-final">{fmtMoney(x.order.prices.final_payment_minor ?? 0, x.order.prices.currency ?? 'EUR')}</dd>
        </dl>
        {props.role === 'admin' && (
          <p>
            <a id="order-ledger" href={`/app/staff/ledger?reference=${encodeURIComponent(x.order.order_id)}`}>
              {st('money.orderLedger')}
            </a>
          </p>
        )}
      </Card>
      <Card title={st('staff.payment')}>
        <ul class="list">
          {(x.payments as { payment_id?: string; kind?: string; status?: string; amount_minor?: number }[]).map((p) => (
            <li key={p.payment_id}>
              <span class="mono small">{p.payment_id}</span>
              <span>{p.kind}</span>
              <span>{fmtMoney(p.amount_minor ?? 0, 'EUR')}</span>
              <Chip tone={p.status === 'settled' ? 'ok' : 'muted'}>{p.status}</Chip>
            </li>
          ))}
        </ul>
      </Card>
      <Card title={st('ord.history')}>
        <ol class="timeline">
          {x.timeline.map((e, i) => (
            <li key={i}>
              <time>{fmtDateTime(e.at)}</time>
              <span>{e.detail || e.kind}</span>
            </li>
          ))}
        </ol>
      </Card>
      <Card title={st('ord.messages')}>
        <ul class="list">
          {x.messages.map((m) => (
            <li key={m.message_id}>
              <span>{m.subject || m.template}</span>
              <span class="muted small">
                {m.channel} · {m.status}
              </span>
            </li>
          ))}
        </ul>
      </Card>
      {x.cancellable && (
        <Card title={st('ord.cancel')}>
          <div class="form">
            <Field id="cancel-reason" label={st('ord.cancelReason')}>
              <input id="cancel-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </Field>
            <button class="button danger" id="cancel-sale" onClick={cancel} disabled={reason.trim().length < 3}>
              {st('ord.cancel')}
            </button>
          </div>
        </Card>
      )}
    </Page>
  );
}
