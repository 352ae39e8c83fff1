// The order from reservation to the car in the customer's hands: where it stands, what to do
// next, and paying the reservation and the final payment on the gateway's hosted page.
import { useState } from 'preact/hooks';
import { api, type Schemas } from '../api/client';
import { fmtDate, fmtDateTime, fmtMoney, t, type Key } from '../i18n';
import { Alert, Card, Chip, ErrorBox, Loading, NotFound, Page, errorText, useLoad } from '../ui';
import { ApiError } from '../api/client';

type Order = Schemas['Order'];
type Financing = Schemas['Financing'];

/** The financing terms agreed at the sale (lender, financed amount, term, monthly), as facts. */
export function FinancingFacts(props: { financing?: Financing | null; currency: string }) {
  const f = props.financing;
  if (!f) return null;
  return (
    <>
      <dt>{t('order.lender')}</dt>
      <dd class="financing-lender">{f.lender_reference}</dd>
      <dt>{t('order.financed')}</dt>
      <dd class="financing-amount">{fmtMoney(f.financed_amount_minor, props.currency)}</dd>
      <dt>{t('order.term')}</dt>
      <dd class="financing-term">{t('order.termMonths', { n: String(f.term_months) })}</dd>
      <dt>{t('order.monthly')}</dt>
      <dd class="financing-monthly">{fmtMoney(f.monthly_amount_minor, props.currency)}</dd>
    </>
  );
}
type Status = Schemas['OrderStatus'];

const STEPS: { key: Key; states: Status[] }[] = [
  { key: 'step.reservation', states: ['reservation-pending'] },
  { key: 'step.factory', states: ['reserved', 'factory-ordered', 'in-production', 'quality-control', 'ready-to-ship', 'shipped'] },
  { key: 'step.finalPayment', states: ['vehicle-available'] },
  { key: 'step.registration', states: ['fully-paid', 'registering', 'matriculated'] },
  { key: 'step.delivery', states: ['in-transit', 'returned-to-dealer', 'delivered'] },
  { key: 'step.linked', states: ['operational'] },
];

export const statusLabel = (s: string) => t(`status.${s}` as Key);

function stepIndex(s: Status): number {
  return STEPS.findIndex((st) => st.states.includes(s));
}

export function Steps(props: { status: Status }) {
  const cur = stepIndex(props.status);
  const ended = props.status === 'unassigned' || props.status === 'abandoned' || props.status === 'cancelled';
  return (
    <ol class="steps" aria-label={t('order.progress')}>
      {STEPS.map((s, i) => {
        const state = ended ? 'todo' : i < cur ? 'done' : i === cur ? (props.status === 'operational' ? 'done' : 'current') : 'todo';
        return (
          <li class={`step step-${state}`} aria-current={state === 'current' ? 'step' : undefined} key={s.key}>
            <span class="dot" aria-hidden="true">
              {state === 'done' ? '✓' : i + 1}
            </span>
            <span class="label">{t(s.key)}</span>
            <span class="sr-only">{t(`stepState.${state}` as Key)}</span>
          </li>
        );
      })}
    </ol>
  );
}

function tone(s: Status): 'ok' | 'warn' | 'bad' | 'info' {
  if (s === 'operational' || s === 'delivered') return 'ok';
  if (s === 'unassigned' || s === 'abandoned' || s === 'cancelled') return 'bad';
  if (s === 'reservation-pending' || s === 'vehicle-available' || s === 'returned-to-dealer') return 'warn';
  return 'info';
}

/** What the customer should do (or expect) now, in a sentence. */
export function nextStep(o: Order): string {
  const p = o.prices;
  const cur = p.currency ?? 'EUR';
  switch (o.status) {
    case 'reservation-pending':
      return t('next.payReservation', { amount: fmtMoney(p.deposit_minor ?? 0, cur) });
    case 'vehicle-available':
      return t('next.payFinal', { amount: fmtMoney(p.final_payment_minor ?? 0, cur), date: o.final_payment_due_at ? fmtDate(o.final_payment_due_at) : '—' });
    case 'delivered':
      return t('next.link');
    case 'operational':
      return t('next.operational');
    case 'unassigned':
      return t('next.unassigned');
    case 'abandoned':
      return t('next.abandoned');
    case 'cancelled':
      return t('next.cancelled');
    case 'returned-to-dealer':
      return t('next.returned');
    case 'fully-paid':
    case 'registering':
      return t('next.registering');
    case 'matriculated':
    case 'in-transit':
      return t('next.delivery', { plate: o.plate ?? '—' });
    default:
      return o.estimated_date ? t('next.buildingEta', { date: fmtDate(o.estimated_date) }) : t('next.building');
  }
}

export function OrderCard(props: { order: Order }) {
  const o = props.order;
  return (
    <Card class="order-card">
      <div class="row spread">
        <h2>{o.model}</h2>
        <Chip tone={tone(o.status)}>{statusLabel(o.status)}</Chip>
      </div>
      <Steps status={o.status} />
      <p class="next">{nextStep(o)}</p>
      <div class="row">
        <a class="button primary" href={`/app/orders/${encodeURIComponent(o.order_id)}`}>
          {o.status === 'reservation-pending' || o.status === 'vehicle-available' ? t('order.openAndPay') : t('order.open')}
        </a>
        {o.status === 'delivered' && (
          <a class="button" href="/app/link">
            {t('nav.link')}
          </a>
        )}
        {o.status === 'operational' && (
          <a class="button" href="/app/catalog">
            {t('nav.catalog')}
          </a>
        )}
      </div>
    </Card>
  );
}

export function Dashboard(props: { name?: string | null; notice?: string }) {
  const orders = useLoad(() => api('get', '/api/orders'), [], (d) => (d.items.some((o) => !['operational', 'unassigned', 'abandoned', 'cancelled'].includes(o.status)) ? 5000 : false));
  const vehicles = useLoad(() => api('get', '/api/vehicles'), []);
  return (
    <Page title={props.name ? t('home.hello', { name: props.name.split(' ')[0] }) : t('nav.home')}>
      {props.notice && <Alert tone="ok">{props.notice}</Alert>}
      {orders.loading && <Loading />}
      {orders.error !== undefined && <ErrorBox error={orders.error} />}
      {orders.data && orders.data.items.length === 0 && (
        <Card>
          <p>{t('home.noOrders')}</p>
        </Card>
      )}
      {orders.data?.items.map((o) => <OrderCard order={o} key={o.order_id} />)}
      {vehicles.data && vehicles.data.items.length > 0 && (
        <Card title={t('home.myCar')}>
          {vehicles.data.items.map((v) => (
            <div class="vehicle" key={v.vin}>
              <p>
                <strong>{v.model}</strong> · {v.plate ?? '—'} · <span class="mono">{v.vin}</span>
              </p>
              <p>{t('home.activeServices', { n: String(v.services.filter((s) => s.state === 'active').length) })}</p>
              <div class="row">
                <a class="button" href={`/app/catalog?vin=${encodeURIComponent(v.vin)}`}>
                  {t('nav.catalog')}
                </a>
                <a class="button" href="/app/services">
                  {t('nav.services')}
                </a>
              </div>
            </div>
          ))}
        </Card>
      )}
    </Page>
  );
}

const PAYMENT_RESULT: Record<string, { tone: 'ok' | 'warn' | 'bad'; key: Key }> = {
  succeeded: { tone: 'ok', key: 'pay.succeeded' },
  declined: { tone: 'bad', key: 'pay.declined' },
  abandoned: { tone: 'warn', key: 'pay.abandoned' },
};

export function OrderPage(props: { id: string; result?: string }) {
  const [payError, setPayError] = useState<unknown>();
  const [paying, setPaying] = useState(false);
  // Live: quickly while a payment settles, calmly while the order is on its way.
  const refresh = (o: Schemas['OrderDetail']) =>
    (o.payments ?? []).some((p) => p.status === 'pending') ? 1500 : ['operational', 'unassigned', 'abandoned', 'cancelled'].includes(o.status) ? false : 4000;
  const order = useLoad(() => api('get', '/api/orders/{order_id}', { params: { order_id: props.id } }), [props.id], refresh);
  if (order.loading && !order.data) return <Loading />;
  if (order.error instanceof ApiError && order.error.status === 404) return <NotFound />;
  if (order.error !== undefined && !order.data) return <ErrorBox error={order.error} />;
  const o = order.data!;
  const cur = o.prices.currency ?? 'EUR';
  const pending = (o.payments ?? []).find((p) => p.status === 'pending');
  const canPay = o.status === 'reservation-pending' || o.status === 'vehicle-available';
  const kind = o.status === 'reservation-pending' ? 'reservation' : 'final';
  const pay = async () => {
    setPaying(true);
    setPayError(undefined);
    const path = kind === 'reservation' ? '/api/orders/{order_id}/reservation-payment' : '/api/orders/{order_id}/final-payment';
    try {
      const started = await api('post', path, { params: { order_id: o.order_id }, body: { return_path: `/app/orders/${o.order_id}` } });
      const checkout = (started as { checkout_url?: string }).checkout_url;
      if (checkout) window.location.assign(checkout);
      else order.reload();
    } catch (e) {
      setPayError(e);
      setPaying(false);
    }
  };
  const result = props.result ? PAYMENT_RESULT[props.result] : undefined;
  const settled = !canPay || !pending;
  return (
    <Page title={o.model} back={{ href: '/app/', label: t('nav.home') }}>
      {result && (
        <Alert tone={result.tone} id="payment-result">
          {props.result === 'succeeded' && !settled ? t('pay.confirming') : t(result.key)}
        </Alert>
      )}
      <Card>
        <div class="row spread">
          <span class="mono">{o.order_id}</span>
          <Chip tone={tone(o.status)}>{statusLabel(o.status)}</Chip>
        </div>
        <Steps status={o.status} />
        <p class="next" id="next-step">
          {nextStep(o)}
        </p>
        {canPay && (
          <div class="pay">
            {payError !== undefined && <Alert tone="bad">{errorText(payError)}</Alert>}
            {pending && props.result !== 'abandoned' && props.result !== 'declined' ? (
              <p class="muted">{t('pay.pending')}</p>
            ) : null}
            <button class="button primary" id="pay-button" onClick={pay} disabled={paying}>
              {kind === 'reservation'
                ? t('pay.reservation', { amount: fmtMoney(o.prices.deposit_minor ?? 0, cur) })
                : t('pay.final', { amount: fmtMoney(o.prices.final_payment_minor ?? 0, cur) })}
            </button>
            <p class="muted small">{t('pay.hostedNote')}</p>
          </div>
        )}
      </Card>
      <div class="grid">
        <Card title={t('order.details')}>
          <dl class="facts">
            <dt>{t('order.price')}</dt>
            <dd>{fmtMoney(o.prices.vehicle_price_minor ?? 0, cur)}</dd>
            <dt>{t('order.deposit')}</dt>
            <dd>{fmtMoney(o.prices.deposit_minor ?? 0, cur)}</dd>
            <FinancingFacts financing={o.financing} currency={cur} />
            <dt>{t('order.finalPayment')}</dt>
            <dd id="order-final-payment">{fmtMoney(o.prices.final_payment_minor ?? 0, cur)}</dd>
            {o.final_payment_due_at && (
              <>
                <dt>{t('order.due')}</dt>
                <dd>{fmtDate(o.final_payment_due_at)}</dd>
              </>
            )}
            {o.estimated_date && (
              <>
                <dt>{t('order.eta')}</dt>
                <dd>{fmtDate(o.estimated_date)}</dd>
              </>
            )}
            <dt>{t('order.vin')}</dt>
            <dd class="mono">{o.vin ?? '—'}</dd>
            <dt>{t('order.plate')}</dt>
            <dd>{o.plate ?? '—'}</dd>
          </dl>
        </Card>
        <Card title={t('order.payments')}>
          {(o.payments ?? []).length === 0 ? (
            <p class="muted">{t('order.noPayments')}</p>
          ) : (
            <ul class="list" id="payments">
              {(o.payments ?? []).map((p) => (
                <li key={p.payment_id}>
                  <span>{t(p.kind === 'reservation' ? 'pay.kind.reservation' : 'pay.kind.final')}</span>
                  <span>{fmtMoney(p.amount_minor ?? 0, p.currency ?? cur)}</span>
                  <Chip tone={p.status === 'settled' ? 'ok' : p.status === 'pending' ? 'info' : 'bad'}>{t(`payStatus.${p.status}` as Key)}</Chip>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <Card title={t('order.timeline')}>
        <ol class="timeline" id="timeline">
          {[...(o.timeline ?? [])].reverse().map((e, i) => (
            <li key={i}>
              <time dateTime={new Date(e.at).toISOString()}>{fmtDateTime(e.at)}</time>
              <span>{eventText(e.kind, e.detail)}</span>
            </li>
          ))}
        </ol>
      </Card>
    </Page>
  );
}

/** A timeline event for people: the known kinds translated, else the detail as recorded. */
export function eventText(kind: string, detail: string): string {
  if (kind.startsWith('status:')) return t('event.status', { status: statusLabel(kind.slice(7)) });
  const k = `event.${kind}` as Key;
  const s = t(k);
  return s === k ? detail || kind : s;
}
