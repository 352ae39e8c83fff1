// The car's options: the catalog (buy), my services (live activation, cancel / withdrawal),
// linking the app to the car and reporting it stolen.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, newIdempotencyKey, type Schemas } from '../api/client';
import { fmtDate, fmtDateTime, fmtMoney, t, type Key } from '../i18n';
import { navigate } from '../router';
import { Alert, Card, Chip, ErrorBox, Field, Loading, NotFound, Page, errorText, useLoad } from '../ui';

type Option = Schemas['CatalogOptionView'];
type Service = Schemas['Service'];

function kindText(o: { kind?: string; duration_days?: number | null; duration_months?: number | null; billed_by?: string | null }): string {
  if (o.kind === 'temporary') {
    if (o.duration_months) return t('kind.temporaryMonths', { n: String(o.duration_months) });
    return t('kind.temporaryDays', { n: String(o.duration_days ?? 0) });
  }
  if (o.kind === 'subscription' && o.billed_by === 'day-used') return t('kind.usage');
  return t(o.kind === 'subscription' ? 'kind.subscription' : 'kind.permanent');
}

/** The customer's linked vehicles; the first one is the default for catalog and services. */
function useVehicles() {
  return useLoad(() => api('get', '/api/vehicles'), []);
}

/** Keeps Tab / Shift+Tab inside a modal `dialog`: from its last control to its first and back;
 * from outside it (focus lost), to its first. */
function trapTab(e: KeyboardEvent, dialog: Element | null | undefined) {
  if (!dialog) return;
  const controls = Array.from(
    dialog.querySelectorAll<HTMLElement>('button:not([disabled]), a[href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])'),
  );
  if (controls.length === 0) return;
  const first = controls[0];
  const last = controls[controls.length - 1];
  const active = document.activeElement;
  const outside = !active || !dialog.contains(active);
  if (outside || (e.shiftKey ? active === first : active === last)) {
    e.preventDefault();
    (outside || !e.shiftKey ? first : last).focus();
  }
}

export function Catalog(props: { vin?: string }) {
  const vehicles = useVehicles();
  const vin = props.vin || vehicles.data?.items[0]?.vin;
  const catalog = useLoad(() => (vin ? api('get', '/api/catalog', { query: { vin } }) : Promise.resolve(undefined)), [vin]);
  const [choice, setChoice] = useState<Option>();
  const [error, setError] = useState<unknown>();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  // The confirmation is a modal dialog: focus moves into it as it opens (a layout effect: before
  // the dialog is painted, so a key pressed once it shows lands in it), Tab and Shift+Tab stay in
  // it, Escape closes it, focus returns to the option's button.
  const confirmRef = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLElement | null>(null);
  useLayoutEffect(() => {
    if (!choice) return;
    confirmRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') close();
      else if (e.key === 'Tab') trapTab(e, confirmRef.current?.closest('[role="dialog"]'));
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [choice]);
  const close = () => {
    setChoice(undefined);
    opener.current?.focus();
  };
  if (vehicles.loading) return <Loading />;
  if (!vin)
    return (
      <Page title={t('nav.catalog')}>
        <Card>
          <p>{t('catalog.noVehicle')}</p>
          <a class="button primary" href="/app/link">
            {t('nav.link')}
          </a>
        </Card>
      </Page>
    );
  const buy = async () => {
    if (!choice) return;
    setBusy(true);
    setError(undefined);
    try {
      const s = await api('post', '/api/services', { body: { vin, option_code: choice.code }, idempotencyKey: key });
      navigate(`/app/services/${encodeURIComponent(s.id ?? '')}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Page title={t('nav.catalog')}>
      {catalog.loading && <Loading />}
      {catalog.error !== undefined && <ErrorBox error={catalog.error} />}
      {catalog.data?.maintenance && (
        <p class="muted">
          {t('catalog.maintenance')}: {t(`maintenance.${catalog.data.maintenance.status}` as Key)}
        </p>
      )}
      {choice && (
        <div class="dialog-backdrop">
          <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="buy-title">
            <h2 id="buy-title">{t('catalog.confirmTitle', { name: choice.name })}</h2>
            <p>
              <strong>{fmtMoney(choice.price.amount_minor, choice.price.currency)}</strong> · {kindText(choice)}
            </p>
            <p>{choice.kind === 'subscription' ? t('catalog.subscriptionTerms') : t('catalog.oneTimeTerms')}</p>
            <p class="muted">{t('catalog.withdrawalNote')}</p>
            {error !== undefined && <Alert tone="bad">{errorText(error)}</Alert>}
            <div class="row">
              <button class="button primary" id="confirm-buy" onClick={buy} disabled={busy} ref={confirmRef}>
                {t('catalog.confirm')}
              </button>
              <button class="button" onClick={close}>
                {t('common.cancel')}
              </button>
            </div>
          </div>
        </div>
      )}
      <ul class="options">
        {catalog.data?.options?.map((o) => (
          <li class="card option" key={o.code} data-code={o.code}>
            <div class="row spread">
              <h2>{o.name}</h2>
              <strong>
                {fmtMoney(o.price.amount_minor, o.price.currency)}
                {o.kind === 'subscription' ? ` ${t(o.billed_by === 'day-used' ? 'catalog.perDayUsed' : 'catalog.perMonth')}` : ''}
              </strong>
            </div>
            <p>{o.description}</p>
            <p class="muted small">
              {kindText(o)}
              {o.requires_maintenance ? ` · ${t('catalog.needsMaintenance')}` : ''}
            </p>
            {o.available === false ? (
              <p class="blocked" id={`blocked-${o.code}`}>
                {o.blocked_reason ? t(`blocked.${o.blocked_reason}` as Key) : ''} {o.blocked_message}
              </p>
            ) : (
              <button
                class="button primary"
                id={`buy-${o.code}`}
                onClick={(e) => {
                  opener.current = e.currentTarget;
                  setError(undefined);
                  setKey(newIdempotencyKey());
                  setChoice(o);
                }}
              >
                {t('catalog.buy')}
              </button>
            )}
          </li>
        ))}
      </ul>
    </Page>
  );
}

function stateTone(s?: string): 'ok' | 'warn' | 'bad' | 'info' | 'muted' {
  if (s === 'active') return 'ok';
  if (s === 'pending-activation' || s === 'pending-payment' || s?.startsWith('deactivating') || s === 'cancellation-scheduled') return 'info';
  if (s === 'failed' || s === 'refused') return 'bad';
  return 'muted';
}

const stateText = (s?: string) => t(`svc.${s ?? 'unknown'}` as Key);

/** "Next charge 1 Jan 2027: €4.83 (part of the month)", as the server computed it (business time, pro rata). */
function nextChargeText(c: Service['next_charge']): string {
  if (!c) return '';
  const text = t('services.nextCharge', { date: fmtDate(c.due_at), amount: fmtMoney(c.amount_minor, c.currency) });
  return c.prorated ? `${text} ${t('services.partOfMonth')}` : text;
}

export function Services() {
  const services = useLoad(() => api('get', '/api/services'), []);
  if (services.loading) return <Loading />;
  if (services.error !== undefined) return <ErrorBox error={services.error} />;
  const all = services.data?.services ?? [];
  const groups: { key: Key; items: Service[] }[] = [
    { key: 'services.active', items: all.filter((s) => s.state === 'active' || s.state === 'cancellation-scheduled') },
    { key: 'services.pending', items: all.filter((s) => s.state === 'pending-activation' || s.state === 'pending-payment' || s.state?.startsWith('deactivating')) },
    { key: 'services.ended', items: all.filter((s) => ['expired', 'cancelled', 'withdrawn', 'failed', 'refused', 'aborted'].includes(s.state ?? '')) },
  ];
  return (
    <Page title={t('nav.services')}>
      {all.length === 0 && (
        <Card>
          <p>{t('services.none')}</p>
          <a class="button primary" href="/app/catalog">
            {t('nav.catalog')}
          </a>
        </Card>
      )}
      {groups
        .filter((g) => g.items.length)
        .map((g) => (
          <Card title={t(g.key)} key={g.key}>
            <ul class="list">
              {g.items.map((s) => (
                <li key={s.id}>
                  <a href={`/app/services/${encodeURIComponent(s.id ?? '')}`}>{s.name ?? s.option_code}</a>
                  <span class="muted small">
                    {s.next_charge
                      ? nextChargeText(s.next_charge)
                      : s.ends_at
                        ? t('services.until', { date: fmtDate(s.ends_at) })
                        : ''}
                  </span>
                  <Chip tone={stateTone(s.state)}>{stateText(s.state)}</Chip>
                </li>
              ))}
            </ul>
          </Card>
        ))}
    </Page>
  );
}

const LIVE = ['pending-activation', 'pending-payment', 'deactivating-expired', 'deactivating-cancelled', 'deactivating-withdrawn'];

export function ServicePage(props: { id: string }) {
  const svc = useLoad(() => api('get', '/api/services/{id}', { params: { id: props.id } }), [props.id], (s) => (LIVE.includes(s.state ?? '') ? 1500 : false));
  const [confirming, setConfirming] = useState(false);
  const [outcome, setOutcome] = useState<Schemas['CancellationOutcome']>();
  const [error, setError] = useState<unknown>();
  if (svc.loading && !svc.data) return <Loading />;
  if (svc.error instanceof ApiError && svc.error.status === 404) return <NotFound />;
  if (svc.error !== undefined && !svc.data) return <ErrorBox error={svc.error} />;
  const s = svc.data!;
  const cancel = async () => {
    setError(undefined);
    try {
      const r = await api('post', '/api/services/{id}/cancel', { params: { id: props.id } });
      setOutcome(r.decision);
      setConfirming(false);
      svc.reload();
    } catch (e) {
      setError(e);
      setConfirming(false);
    }
  };
  const activation = s.activation ?? undefined;
  // Bought services, and the plan's subscriptions (cancel anytime).
  const planSubscription = s.source === 'plan' && s.kind === 'subscription';
  const cancellable = (s.source === 'purchase' || planSubscription) && ['active', 'pending-activation', 'pending-payment'].includes(s.state ?? '');
  // By the server's business time (the development clock may run ahead of this browser's).
  const withinWindow = s.within_withdrawal_window ?? false;
  return (
    <Page title={s.name ?? s.option_code ?? ''} back={{ href: '/app/services', label: t('nav.services') }}>
      <Card>
        <div class="row spread">
          <span class="mono">{s.vin}</span>
          <Chip tone={stateTone(s.state)}>
            <span id="service-state">{stateText(s.state)}</span>
          </Chip>
        </div>
        {s.state === 'pending-activation' && (
          <Alert tone="info" id="activation-live">
            {t('activation.inProgress')}
            {activation?.attempts ? ` ${t('activation.attempts', { n: String(activation.attempts) })}` : ''}
            {activation?.reason_code ? ` ${t('activation.lastError', { error: t(`activation.reason.${activation.reason_code}` as Key) })}` : ''}
            {activation?.attempts && activation.next_attempt_at ? ` ${t('activation.nextTry', { at: fmtDateTime(activation.next_attempt_at) })}` : ''}
          </Alert>
        )}
        {s.state === 'active' && <Alert tone="ok">{t('activation.done', { at: s.activated_at ? fmtDateTime(s.activated_at) : '' })}</Alert>}
        {(s.state === 'failed' || s.state === 'refused') && (
          <Alert tone="bad" id="activation-failed">
            {t('activation.failed')}
            {activation?.attempts ? ` ${t('activation.attempts', { n: String(activation.attempts) })}` : ''}
            {activation?.reason_code ? ` ${t('activation.lastError', { error: t(`activation.reason.${activation.reason_code}` as Key) })}` : ''}
            {activation?.support_ticket ? ` ${t('activation.ticket', { id: activation.support_ticket })}` : ''}
          </Alert>
        )}
        <dl class="facts">
          <dt>{t('service.price')}</dt>
          <dd id="service-price">
            {planSubscription && s.price && s.included_until
              ? t('service.includedUntil', { date: fmtDate(s.included_until), price: fmtMoney(s.price.amount_minor, s.price.currency) })
              : planSubscription && s.price && s.included_months
                ? t('service.includedMonths', { n: String(s.included_months), price: fmtMoney(s.price.amount_minor, s.price.currency) })
                : s.price
                  ? fmtMoney(s.price.amount_minor, s.price.currency) + (s.kind === 'subscription' ? ` ${t(s.billed_by === 'day-used' ? 'catalog.perDayUsed' : 'catalog.perMonth')}` : '')
                  : t('service.included')}
          </dd>
          <dt>{t('service.kind')}</dt>
          <dd>{kindText({ kind: s.kind, billed_by: s.billed_by })}</dd>
          {s.next_charge && (
            <>
              <dt>{t('service.nextCharge')}</dt>
              <dd id="service-next-charge">{nextChargeText(s.next_charge)}</dd>
            </>
          )}
          {s.purchased_at && (
            <>
              <dt>{t('service.bought')}</dt>
              <dd>{fmtDateTime(s.purchased_at)}</dd>
            </>
          )}
          {s.ends_at && (
            <>
              <dt>{t('service.ends')}</dt>
              <dd>{fmtDate(s.ends_at)}</dd>
            </>
          )}
          {s.payment_status && (
            <>
              <dt>{t('service.payment')}</dt>
              <dd id="service-payment">{t(`svcPay.${s.payment_status}` as Key)}</dd>
            </>
          )}
        </dl>
      </Card>
      {outcome && (
        <Alert tone="ok" id="cancel-outcome">
          {outcome.refund.amount_minor ? t('cancel.refunded', { amount: fmtMoney(outcome.refund.amount_minor ?? 0, outcome.refund.currency ?? 'EUR') }) : t('cancel.noRefund')}{' '}
          {outcome.explanation}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {cancellable && !confirming && (
        <button class="button danger" id="cancel-service" onClick={() => setConfirming(true)}>
          {t('cancel.button')}
        </button>
      )}
      {confirming && (
        <Card title={t('cancel.title')} id="cancel-confirm">
          <p>
            {s.state !== 'active'
              ? t('cancel.rule.notActive')
              : withinWindow
                ? t('cancel.rule.withdrawal')
                : s.kind === 'subscription'
                  ? t('cancel.rule.subscription')
                  : t('cancel.rule.oneTime')}
          </p>
          <div class="row">
            <button class="button danger" id="confirm-cancel" onClick={cancel}>
              {t('cancel.confirm')}
            </button>
            <button class="button" onClick={() => setConfirming(false)}>
              {t('common.keep')}
            </button>
          </div>
        </Card>
      )}
      {s.ledger && s.ledger.length > 0 && (
        <Card title={t('service.money')}>
          <ul class="list">
            {s.ledger.map((l, i) => {
              const e = l as { kind?: string; amount_minor?: number; currency?: string; created_at?: number };
              return (
                <li key={i}>
                  <span>{t(`ledger.${e.kind}` as Key)}</span>
                  <span>{fmtMoney(e.amount_minor ?? 0, e.currency ?? 'EUR')}</span>
                  <span class="muted small">{e.created_at ? fmtDate(e.created_at) : ''}</span>
                </li>
              );
            })}
          </ul>
        </Card>
      )}
    </Page>
  );
}

export function Link() {
  const [vin, setVin] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('post', '/api/vehicles/link', { body: { vin: vin.trim().toUpperCase(), link_code: code.trim() } });
      navigate('/app/?notice=linked');
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Page title={t('link.title')}>
      <Card>
        <p>{t('link.lead')}</p>
        {error !== undefined && <ErrorBox error={error} />}
        <form class="form" onSubmit={submit}>
          <Field id="vin" label={t('link.vin')} hint={t('link.vinHint')}>
            <input id="vin" required minLength={17} maxLength={17} autocapitalize="characters" aria-describedby="vin-hint" value={vin} onInput={(e) => setVin(e.currentTarget.value)} />
          </Field>
          <Field id="link-code" label={t('link.code')} hint={t('link.codeHint')}>
            <input id="link-code" required autocomplete="off" aria-describedby="link-code-hint" value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          </Field>
          <button class="button primary" type="submit" id="link-submit">
            {t('link.submit')}
          </button>
        </form>
      </Card>
    </Page>
  );
}

export function Theft() {
  const vehicles = useVehicles();
  const [vin, setVin] = useState('');
  const [confirm, setConfirm] = useState(false);
  const [report, setReport] = useState<Schemas['TheftReport']>();
  const [error, setError] = useState<unknown>();
  const chosen = vin || vehicles.data?.items[0]?.vin || '';
  const send = async () => {
    setError(undefined);
    try {
      setReport(await api('post', '/api/theft-reports', { body: { vin: chosen } }));
      setConfirm(false);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={t('theft.title')}>
      <Card>
        {report ? (
          <div id="theft-outcome">
            <Alert tone="ok">{t('theft.recorded', { id: report.id })}</Alert>
            {report.services.length === 0 ? (
              <p>{t('theft.nothing')}</p>
            ) : (
              <ul class="list">
                {report.services.map((d) => (
                  <li key={d.service_id}>{d.explanation ?? d.rule}</li>
                ))}
              </ul>
            )}
          </div>
        ) : (
          <>
            <p>{t('theft.lead')}</p>
            {error !== undefined && <ErrorBox error={error} />}
            {(vehicles.data?.items.length ?? 0) > 1 && (
              <Field id="theft-vin" label={t('link.vin')}>
                <select id="theft-vin" value={chosen} onChange={(e) => setVin(e.currentTarget.value)}>
                  {vehicles.data!.items.map((v) => (
                    <option value={v.vin} key={v.vin}>
                      {v.model} · {v.plate ?? v.vin}
                    </option>
                  ))}
                </select>
              </Field>
            )}
            {!chosen ? (
              <p class="muted">{t('catalog.noVehicle')}</p>
            ) : confirm ? (
              <div role="alertdialog" aria-labelledby="theft-q" class="confirm">
                <p id="theft-q">
                  <strong>{t('theft.confirmQ')}</strong>
                </p>
                <div class="row">
                  <button class="button danger" id="theft-confirm" onClick={send}>
                    {t('theft.confirm')}
                  </button>
                  <button class="button" onClick={() => setConfirm(false)}>
                    {t('common.cancel')}
                  </button>
                </div>
              </div>
            ) : (
              <button class="button danger" id="theft-start" onClick={() => setConfirm(true)}>
                {t('theft.start')}
              </button>
            )}
          </>
        )}
      </Card>
    </Page>
  );
}
