// The sale form: customer, address, model from the price list, plan comercial, deposit and discount.
import { useState } from 'preact/hooks';
import { api, newIdempotencyKey } from '../../api/client';
import { Alert, ErrorBox, Field, Page, useLoad } from '../../ui';
import { st } from './i18n';

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
  const catalog = useLoad(() => api('get', '/api/catalog'), []);
  const [f, setF] = useState({ full_name: '', email: '', phone: '', national_id: '', line1: '', city: '', postal_code: '', country: 'ES', model: '', deposit: '1500', discount: '', reason: '' });
  const [language, setLanguage] = useState<'es' | 'fr' | 'de' | 'en'>('es');
  const [plan, setPlan] = useState<string[]>([]);
  const [key] = useState(() => newIdempotencyKey());
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<{ order: string; email: string }>();
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
        },
      });
      setDone({ order: r.order_id, email: r.customer_email });
    } catch (err) {
      setError(err);
    }
  };
  if (done)
    return (
      <Page title={st('sale.title')}>
        <Alert tone="ok" id="sale-done">
          {st('sale.done', { order: done.order, email: done.email })}
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
          <SaleModelField value={f.model} onInput={set('model')} />
          <fieldset class="plain">
            <legend>{st('sale.plan')}</legend>
            {catalog.data?.options?.map((o) => (
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
        <button class="button primary" type="submit" id="sale-submit">
          {st('sale.submit')}
        </button>
      </form>
    </Page>
  );
}

/** The model: a free code today (the price list route joins it when the API offers it). */
function SaleModelField(props: { value: string; onInput: (e: Event) => void }) {
  return (
    <Field id="sale-model" label={st('sale.model')}>
      <input id="sale-model" value={props.value} onInput={props.onInput} autocomplete="off" />
    </Field>
  );
}
