// The sale form: customer, address, model from the price list, plan comercial, deposit, discount
// and financing terms; and the read-only price list.
import { useState } from 'preact/hooks';
import { api, newIdempotencyKey } from '../../api/client';
import { fmtMoney } from '../../i18n';
import { Alert, Card, ErrorBox, Field, Loading, Page, useLoad } from '../../ui';
import { st } from './i18n';

const loadModels = () => api('get', '/api/sales/models');

const COUNTRY_LANG: Record<string, 'es' | 'fr' | 'de'> = { ES: 'es', FR: 'fr', DE: 'de' };

/** Parses "1.500,00" / "1500.00" / "1500" euros into cents (null when not a positive amount). */
export function euroCents(v: string): number | null {
  const s = v.trim().replace(/\s/g, '');
  if (!s) return null;
  const normalized = /,\d{1,2}$/.test(s) ? s.replace(/\./g, '').replace(',', '.') : s.replace(/,/g, '');
  const n = Number(normalized);
  return Number.isFinite(n) && n > 0 ? Math.round(n * 100) : null;
}

export function SaleForm() {
  const models = useLoad(loadModels, []);
  const [f, setF] = useState({
    full_name: '', email: '', phone: '', national_id: '', line1: '', city: '', postal_code: '', country: 'ES', model: '',
    deposit: '1500', discount: '', reason: '', financed: '', term: '', monthly: '', lender: '',
  });
  const [financing, setFinancing] = useState(false);
  const [language, setLanguage] = useState<'es' | 'fr' | 'de' | 'en'>('es');
  const [plan, setPlan] = useState<string[]>([]);
  const [key] = useState(() => newIdempotencyKey());
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<{ order: string; email: string; returning: boolean }>();
  const set = (k: keyof typeof f) => (e: Event) => {
    const v = (e.currentTarget as HTMLInputElement).value;
    setF({ ...f, [k]: v });
    if (k === 'country') setLanguage(COUNTRY_LANG[v] ?? 'en');
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const discount = euroCents(f.discount);
    try {
      const r = await api('post', '/api/sales', {
        idempotencyKey: key,
        body: {
          customer: { full_name: f.full_name, email: f.email, phone: f.phone, national_id: f.national_id },
          delivery_address: { line1: f.line1, city: f.city, postal_code: f.postal_code, country: f.country as 'ES' },
          country: f.country as 'ES',
          model: f.model,
          plan_options: plan,
          prices: { deposit_minor: euroCents(f.deposit) ?? 0, currency: 'EUR' },
          language,
          ...(discount ? { discount: { amount_minor: discount, reason: f.reason } } : {}),
          ...(financing
            ? {
                financing: {
                  financed_amount_minor: euroCents(f.financed) ?? 0,
                  term_months: Number.parseInt(f.term, 10) || 0,
                  monthly_amount_minor: euroCents(f.monthly) ?? 0,
                  lender_reference: f.lender,
                },
              }
            : {}),
        },
      });
      setDone({ order: r.order_id, email: r.customer_email, returning: r.returning_customer === true });
    } catch (err) {
      setError(err);
    }
  };
  if (done)
    return (
      <Page title={st('sale.title')}>
        <Alert tone="ok" id="sale-done">
          {st(done.returning ? 'sale.doneReturning' : 'sale.done', { order: done.order, email: done.email })}
        </Alert>
        <a class="button" href={`/app/staff/sale?id=${encodeURIComponent(done.order)}`}>
          {st('staff.open.sale')}
        </a>
      </Page>
    );
  const input = (k: keyof typeof f, label: string, type = 'text', auto?: string) => (
    <Field id={`sale-${k}`} label={label}>
      <input id={`sale-${k}`} type={type} autocomplete={auto} value={f[k]} onInput={set(k)} />
    </Field>
  );
  return (
    <Page title={st('sale.title')}>
      {error !== undefined && <ErrorBox error={error} />}
      <form class="form wide" onSubmit={submit}>
        <fieldset>
          <legend>{st('sale.customer')}</legend>
          {input('full_name', st('sale.fullName'), 'text', 'off')}
          {input('email', st('sale.email'), 'email', 'off')}
          {input('phone', st('sale.phone'), 'tel', 'off')}
          {input('national_id', st('sale.nationalId'), 'text', 'off')}
        </fieldset>
        <fieldset>
          <legend>{st('sale.address')}</legend>
          {input('line1', st('sale.line1'))}
          {input('postal_code', st('sale.postal'))}
          {input('city', st('sale.city'))}
          <Field id="sale-country" label={st('sale.country')}>
            <select id="sale-country" value={f.country} onChange={set('country')}>
              <option value="ES">España</option>
              <option value="FR">France</option>
              <option value="DE">Deutschland</option>
            </select>
          </Field>
          <Field id="sale-language" label={st('sale.language')}>
            <select id="sale-language" value={language} onChange={(e) => setLanguage(e.currentTarget.value as 'es')}>
              <option value="es">Español</option>
              <option value="fr">Français</option>
              <option value="de">Deutsch</option>
              <option value="en">English</option>
            </select>
          </Field>
        </fieldset>
        <fieldset>
          <legend>{st('sale.vehicle')}</legend>
          <Field id="sale-model" label={st('sale.model')}>
            <select id="sale-model" value={f.model} onChange={set('model')}>
              <option value="">—</option>
              {models.data?.models.map((m) => (
                <option key={m.code} value={m.code}>
                  {m.name} · {m.list_prices.map((p) => fmtMoney(p.amount_minor, p.currency)).join(' / ')}
                </option>
              ))}
            </select>
          </Field>
          <fieldset class="plain">
            <legend>{st('sale.plan')}</legend>
            {models.data?.plan_options.map((o) => (
              <label class="check" key={o.code}>
                <input
                  type="checkbox"
                  id={`plan-${o.code}`}
                  checked={plan.includes(o.code)}
                  onChange={(e) => setPlan(e.currentTarget.checked ? [...plan, o.code] : plan.filter((c) => c !== o.code))}
                />{' '}
                {o.name}
              </label>
            ))}
          </fieldset>
          {input('deposit', st('sale.deposit'), 'text', 'off')}
          {input('discount', st('sale.discount'), 'text', 'off')}
          {f.discount && input('reason', st('sale.discountReason'))}
        </fieldset>
        <fieldset>
          <legend>{st('sale.financing')}</legend>
          <label class="check">
            <input type="checkbox" id="sale-financing" checked={financing} onChange={(e) => setFinancing(e.currentTarget.checked)} />{' '}
            {st('sale.financed')}
          </label>
          {financing && (
            <>
              {input('lender', st('sale.lender'), 'text', 'off')}
              {input('financed', st('sale.financedAmount'), 'text', 'off')}
              {input('term', st('sale.term'), 'text', 'off')}
              {input('monthly', st('sale.monthly'), 'text', 'off')}
              <p class="muted small">{st('sale.financingNote')}</p>
            </>
          )}
        </fieldset>
        <button class="button primary" type="submit" id="sale-submit">
          {st('sale.submit')}
        </button>
      </form>
    </Page>
  );
}

/** The price list (employees and admins, read-only): models with their list prices, and the
 * catalog options a plan comercial may include with their catalog prices. */
export function PriceList() {
  const x = useLoad(loadModels, []);
  if (x.loading && !x.data) return <Loading />;
  if (x.error !== undefined && !x.data) return <ErrorBox error={x.error} />;
  const d = x.data!;
  return (
    <Page title={st('sale.priceList')}>
      <Card title={st('sale.models')}>
        <table class="prefs data" id="price-list-models">
          <thead>
            <tr>
              <th scope="col">{st('sale.model')}</th>
              <th scope="col">{st('sale.code')}</th>
              <th scope="col" class="num">{st('sale.listPrice')}</th>
            </tr>
          </thead>
          <tbody>
            {d.models.map((m) => (
              <tr key={m.code} id={`model-${m.code}`}>
                <td>{m.name}</td>
                <td class="mono">{m.code}</td>
                <td class="num">{m.list_prices.map((p) => fmtMoney(p.amount_minor, p.currency)).join(' / ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="muted small">{st('sale.maxDiscount', { percent: String(d.max_discount_percent) })}</p>
      </Card>
      <Card title={st('sale.planOptions')}>
        <table class="prefs data" id="price-list-options">
          <thead>
            <tr>
              <th scope="col">{st('sale.option')}</th>
              <th scope="col">{st('sale.code')}</th>
              <th scope="col" class="num">{st('sale.catalogPrice')}</th>
            </tr>
          </thead>
          <tbody>
            {d.plan_options.map((o) => (
              <tr key={o.code} id={`option-${o.code}`}>
                <td>{o.name}</td>
                <td class="mono">{o.code}</td>
                <td class="num">
                  {fmtMoney(o.price.amount_minor, o.price.currency)}
                  {o.kind === 'subscription' ? ` ${st('sale.perMonth')}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </Page>
  );
}
