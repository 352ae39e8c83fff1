// The expediente: the car, its plates and documents, the manufacturing timeline, payments and
// invoices (each printable), the maintenance record from the workshop system, messages sent.
import { api, download, type Schemas } from '../api/client';
import { fmtDate, fmtDateTime, fmtMoney, t, type Key } from '../i18n';
import { Card, Chip, ErrorBox, Loading, NotFound, Page, useLoad } from '../ui';
import { FinancingFacts, eventText, statusLabel } from './orders';

type Summary = Schemas['ExpedienteSummary'];
type Invoice = NonNullable<Summary['invoices']>[number];
type Item = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

export function Expediente() {
  const x = useLoad(() => api('get', '/api/expediente'), []);
  if (x.loading) return <Loading />;
  if (x.error !== undefined) return <ErrorBox error={x.error} />;
  const e = x.data!;
  return (
    <Page title={t('nav.expediente')}>
      {e.orders.map((o) => (
        <Card title={`${o.vehicle?.model ?? ''}`} key={o.order_id}>
          <dl class="facts">
            <dt>{t('order.status')}</dt>
            <dd>{statusLabel(o.status ?? '')}</dd>
            <dt>{t('order.vin')}</dt>
            <dd class="mono">{o.vehicle?.vin ?? '—'}</dd>
            <dt>{t('order.plate')}</dt>
            <dd>{o.vehicle?.plate ?? '—'}</dd>
            <dt>{t('exp.plan')}</dt>
            <dd>{o.plan_comercial?.options?.join(', ') || '—'}</dd>
            <FinancingFacts financing={o.financing} currency={o.prices?.currency ?? 'EUR'} />
          </dl>
          {o.maintenance && (
            <section aria-label={t('exp.maintenance')}>
              <h3>{t('exp.maintenance')}</h3>
              <p>
                <Chip tone={o.maintenance.status === 'current' ? 'ok' : o.maintenance.status === 'overdue' ? 'bad' : 'muted'}>{t(`maintenance.${o.maintenance.status}` as Key)}</Chip>{' '}
                {o.maintenance.last_service && t('exp.lastService', { date: fmtDate(o.maintenance.last_service) })}{' '}
                {o.maintenance.next_due && t('exp.nextDue', { date: fmtDate(o.maintenance.next_due) })}
              </p>
              {o.maintenance.warranty && (
                <p class="warranty">
                  <Chip tone={o.maintenance.warranty.state === 'void' ? 'bad' : 'ok'}>{t(o.maintenance.warranty.state === 'void' ? 'exp.warrantyVoid' : 'exp.warrantyValid')}</Chip>{' '}
                  {o.maintenance.warranty.state === 'void' &&
                    t('exp.warrantyVoidSince', { date: fmtDate(o.maintenance.warranty.void_since ?? ''), due: fmtDate(o.maintenance.warranty.missed_due_date ?? '') })}
                </p>
              )}
              {(o.maintenance.history ?? []).length > 0 && (
                <>
                  <h4>{t('exp.serviceHistory')}</h4>
                  <ul class="list history">
                    {[...(o.maintenance.history ?? [])].reverse().map((h) => (
                      <li key={`${h.date}-${h.workshop}`}>
                        <time dateTime={h.date}>{fmtDate(h.date)}</time>
                        <span>
                          {h.workshop} · {h.work}
                        </span>
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </section>
          )}
          <h3>{t('exp.documents')}</h3>
          <ul class="list docs">
            {(o.documents ?? []).map((d) => (
              <li key={d.id}>
                <a href={d.url} target="_blank" rel="noopener">
                  {d.title}
                </a>
                <span class="muted small">PDF</span>
              </li>
            ))}
          </ul>
          <h3>{t('exp.manufacturing')}</h3>
          <ol class="timeline">
            {(o.manufacturing?.timeline ?? []).map((ev, i) => (
              <li key={i}>
                <time>{fmtDateTime(ev.at)}</time>
                <span>{eventText(ev.kind, ev.detail)}</span>
              </li>
            ))}
          </ol>
        </Card>
      ))}
      <Card title={t('exp.invoices')}>
        {e.invoices.length === 0 ? (
          <p class="muted">{t('exp.noInvoices')}</p>
        ) : (
          <ul class="list" id="invoices">
            {e.invoices.map((inv) => (
              <li key={inv.number}>
                <a href={`/app/invoices/${encodeURIComponent(inv.number ?? '')}`}>{inv.number}</a>
                <span>{inv.concept}</span>
                <span>{fmtMoney(inv.amount_minor ?? 0, inv.currency ?? 'EUR')}</span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <MonthlyInvoices />
      <Card title={t('exp.payments')}>
        <ul class="list">
          {(e.payments.items as Item[]).map((p) => (
            <li key={str(p['payment_id'])}>
              <span>{t(`pay.kind.${str(p['kind'])}` as Key)}</span>
              <span>{fmtMoney(num(p['amount_minor']), str(p['currency']) || 'EUR')}</span>
              <Chip tone={p['status'] === 'settled' ? 'ok' : p['status'] === 'pending' ? 'info' : 'muted'}>{t(`payStatus.${str(p['status'])}` as Key)}</Chip>
            </li>
          ))}
        </ul>
      </Card>
      <Card title={t('exp.messages')}>
        <ul class="list">
          {(e.notifications.items as Item[]).map((n) => (
            <li key={str(n['message_id'])}>
              <span>{str(n['subject']) || str(n['template'])}</span>
              <span class="muted small">{t(`channel.${str(n['channel'])}` as Key)}</span>
            </li>
          ))}
        </ul>
      </Card>
    </Page>
  );
}

/** The monthly VAT invoices and credit notes (issue 10), each downloadable as a printable document. */
function MonthlyInvoices() {
  const x = useLoad(() => api('get', '/api/expediente/invoices'), []);
  if (x.loading) return <Loading />;
  if (x.error !== undefined) return <ErrorBox error={x.error} />;
  const items = x.data!.items;
  return (
    <Card title={t('exp.monthly')}>
      {items.length === 0 ? (
        <p class="muted">{t('exp.noMonthly')}</p>
      ) : (
        <ul class="list" id="monthly-invoices">
          {items.map((inv) => (
            <li key={inv.number}>
              <span class="mono">{inv.number}</span>
              <span>{inv.kind === 'credit-note' ? t('exp.creditNote') : inv.period}</span>
              <span>{fmtMoney(inv.gross_minor, inv.currency)}</span>
              <button class="button" onClick={() => void download(inv.document_url, `${inv.number}.html`)}>
                {t('exp.download')}
              </button>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

/** An invoice as a document a person would file: print it or save it as PDF from the browser. */
export function InvoicePage(props: { number: string }) {
  const x = useLoad(() => api('get', '/api/expediente'), []);
  if (x.loading) return <Loading />;
  if (x.error !== undefined) return <ErrorBox error={x.error} />;
  const inv: Invoice | undefined = x.data!.invoices.find((i) => i.number === props.number);
  if (!inv) return <NotFound />;
  const p = x.data!.profile;
  return (
    <Page title={t('invoice.title', { number: inv.number ?? '' })} back={{ href: '/app/expediente', label: t('nav.expediente') }}>
      <article class="card invoice" id="invoice">
        <header class="row spread">
          <div>
            <strong>CaaS Motors S.L.</strong>
            <br />
            {t('invoice.issuer')}
          </div>
          <div class="right">
            <strong>{t('invoice.number')}</strong> {inv.number}
            <br />
            <strong>{t('invoice.date')}</strong> {fmtDate(inv.issued_at ?? 0)}
          </div>
        </header>
        <section>
          <h2>{t('invoice.billedTo')}</h2>
          <p>
            {p.full_name}
            <br />
            {p.email}
            {p.national_id ? (
              <>
                <br />
                {p.national_id}
              </>
            ) : null}
          </p>
        </section>
        <table class="lines">
          <thead>
            <tr>
              <th scope="col">{t('invoice.concept')}</th>
              <th scope="col" class="right">
                {t('invoice.amount')}
              </th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td>{inv.concept}</td>
              <td class="right">{fmtMoney(inv.amount_minor ?? 0, inv.currency ?? 'EUR')}</td>
            </tr>
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">{t('invoice.total')}</th>
              <td class="right">
                <strong>{fmtMoney(inv.amount_minor ?? 0, inv.currency ?? 'EUR')}</strong>
              </td>
            </tr>
          </tfoot>
        </table>
        <p class="muted small">{t('invoice.vatNote')}</p>
      </article>
      <button class="button primary no-print" onClick={() => window.print()} id="print-invoice">
        {t('invoice.print')}
      </button>
    </Page>
  );
}
