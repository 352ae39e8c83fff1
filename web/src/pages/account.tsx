// The account: profile (phone, address, e-mail change by a confirmed link), language,
// notification preferences, saved payment cards (added on the gateway's hosted page), password,
// sign out, and the theft report.
import { useEffect, useState } from 'preact/hooks';
import { api, session, type Schemas } from '../api/client';
import { LanguagePicker, fmtDate, t, type Key, type Lang } from '../i18n';
import { navigate } from '../router';
import { Alert, Card, Chip, ErrorBox, Field, Loading, Page, errorText, useLoad } from '../ui';

type Account = Schemas['Account'];
type Address = Schemas['Address'];

export function AccountPage(props: { email?: string; onLogout: () => void; setupId?: string; setupResult?: string }) {
  const account = useLoad(() => api('get', '/api/account'), []);
  const logout = async () => {
    try {
      await api('post', '/api/auth/logout');
    } catch {
      /* the session ends locally either way */
    }
    session.clear();
    props.onLogout();
    navigate('/app/login', true);
  };
  const saveLanguage = async (language: Lang) => {
    try {
      await api('patch', '/api/account/profile', { body: { language } });
    } catch {
      /* the screen language changed anyway; the account keeps its previous choice */
    }
  };
  return (
    <Page title={t('nav.account')}>
      <Card title={t('account.language')}>
        <LanguagePicker onChange={saveLanguage} />
        <p class="muted small">{t('account.languageNote')}</p>
      </Card>
      {account.loading && <Loading />}
      {account.error !== undefined && <ErrorBox error={account.error} />}
      {account.data && <Profile account={account.data} onSaved={account.reload} />}
      <PaymentMethods setupId={props.setupId} setupResult={props.setupResult} />
      {account.data && <Preferences account={account.data} />}
      <Card title={t('account.security')}>
        <p>{props.email}</p>
        <SignInActions onLogout={logout} />
      </Card>
      <Card title={t('theft.title')}>
        <p>{t('theft.short')}</p>
        <a class="button danger" href="/app/theft">
          {t('theft.start')}
        </a>
      </Card>
    </Page>
  );
}

function Profile(props: { account: Account; onSaved: () => void }) {
  const a = props.account;
  const [phone, setPhone] = useState(a.phone);
  const [addr, setAddr] = useState<Address>(a.address);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>();
  const [newEmail, setNewEmail] = useState('');
  const [emailSent, setEmailSent] = useState<string>();
  const [emailError, setEmailError] = useState<unknown>();
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    setError(undefined);
    try {
      const address: Address = { ...addr, line2: addr.line2 || null };
      await api('patch', '/api/account/profile', { body: { phone, address } });
      setSaved(true);
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  const changeEmail = async (e: Event) => {
    e.preventDefault();
    setEmailError(undefined);
    try {
      const r = await api('post', '/api/account/email-change', { body: { new_email: newEmail } });
      setEmailSent(r.new_email);
    } catch (err) {
      setEmailError(err);
    }
  };
  const set = (k: keyof Address) => (e: Event) => setAddr({ ...addr, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <Card title={t('account.profile')}>
      <p>
        <strong>{a.full_name}</strong>
        <br />
        {a.email}
      </p>
      {saved && <Alert tone="ok">{t('account.saved')}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
      <form class="form" onSubmit={save}>
        <Field id="phone" label={t('account.phone')}>
          <input id="phone" type="tel" autocomplete="tel" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
        </Field>
        <Field id="line1" label={t('account.line1')}>
          <input id="line1" autocomplete="address-line1" value={addr.line1} onInput={set('line1')} />
        </Field>
        <Field id="line2" label={t('account.line2')}>
          <input id="line2" autocomplete="address-line2" value={addr.line2 ?? ''} onInput={set('line2')} />
        </Field>
        <div class="row two">
          <Field id="postal" label={t('account.postalCode')}>
            <input id="postal" autocomplete="postal-code" value={addr.postal_code} onInput={set('postal_code')} />
          </Field>
          <Field id="city" label={t('account.city')}>
            <input id="city" autocomplete="address-level2" value={addr.city} onInput={set('city')} />
          </Field>
        </div>
        <button class="button primary" type="submit" id="save-profile">
          {t('account.save')}
        </button>
      </form>
      <h3>{t('account.changeEmail')}</h3>
      {emailSent ? (
        <Alert tone="ok" id="email-change-sent">
          {t('account.emailSent', { email: emailSent })}
        </Alert>
      ) : (
        <form class="form" onSubmit={changeEmail}>
          {emailError !== undefined && <ErrorBox error={emailError} />}
          <Field id="new-email" label={t('account.newEmail')}>
            <input id="new-email" type="email" autocomplete="email" required value={newEmail} onInput={(e) => setNewEmail(e.currentTarget.value)} />
          </Field>
          <button class="button" type="submit" id="change-email">
            {t('account.sendLink')}
          </button>
        </form>
      )}
    </Card>
  );
}

function PaymentMethods(props: { setupId?: string; setupResult?: string }) {
  const [notice, setNotice] = useState<{ tone: 'ok' | 'bad' | 'warn'; text: string }>();
  const [confirmed, setConfirmed] = useState(!props.setupId);
  const methods = useLoad(() => api('get', '/api/account/payment-methods'), [confirmed]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (!props.setupId) return;
    if (props.setupResult !== 'succeeded') {
      setNotice({ tone: props.setupResult === 'declined' ? 'bad' : 'warn', text: t(props.setupResult === 'declined' ? 'card.declined' : 'card.abandoned') });
      setConfirmed(true);
      return;
    }
    api('post', '/api/account/payment-methods/confirm', { body: { setup_id: props.setupId } }).then(
      (m) => {
        setNotice({ tone: 'ok', text: t('card.saved', { card: `${m.brand} •••• ${m.last4}` }) });
        setConfirmed(true);
        navigate('/app/account', true);
      },
      (e) => {
        setNotice({ tone: 'bad', text: errorText(e) });
        setConfirmed(true);
      },
    );
  }, [props.setupId]);
  const add = async () => {
    setError(undefined);
    try {
      const r = await api('post', '/api/account/payment-methods', { body: { return_path: '/app/account' } });
      window.location.assign(r.checkout_url);
    } catch (e) {
      setError(e);
    }
  };
  const remove = async (id: string) => {
    setError(undefined);
    try {
      await api('delete', '/api/account/payment-methods/{payment_method_id}', { params: { payment_method_id: id } });
      methods.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Card title={t('card.title')} id="payment-methods">
      {notice && (
        <Alert tone={notice.tone} id="card-notice">
          {notice.text}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <p class="muted small">{t('card.lead')}</p>
      {methods.data && methods.data.payment_methods.length === 0 && <p>{t('card.none')}</p>}
      <ul class="list">
        {methods.data?.payment_methods.map((m) => (
          <li key={m.id} class="card-row">
            <span>
              <strong class="brand-name">{m.brand}</strong> •••• {m.last4}
            </span>
            <span class="muted small">{t('card.added', { date: fmtDate(m.created_at) })}</span>
            {m.is_default && <Chip tone="ok">{t('card.default')}</Chip>}
            <button class="button small-button" onClick={() => remove(m.id)} aria-label={t('card.removeLabel', { card: `${m.brand} ${m.last4}` })}>
              {t('card.remove')}
            </button>
          </li>
        ))}
      </ul>
      <button class="button primary" id="add-card" onClick={add}>
        {methods.data?.payment_methods.length ? t('card.change') : t('card.add')}
      </button>
    </Card>
  );
}

function Preferences(props: { account: Account }) {
  const p = props.account.preferences;
  const [sms, setSms] = useState(p.sms_opt_in);
  const [channels, setChannels] = useState(p.channels);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>();
  const kinds = Object.keys(p.channels);
  const save = async () => {
    setSaved(false);
    setError(undefined);
    try {
      await api('put', '/api/account/preferences', { body: { sms_opt_in: sms, channels } });
      setSaved(true);
    } catch (e) {
      setError(e);
    }
  };
  const toggle = (kind: string, ch: 'email' | 'push' | 'sms') => (e: Event) =>
    setChannels({ ...channels, [kind]: { ...channels[kind], [ch]: (e.currentTarget as HTMLInputElement).checked } });
  return (
    <Card title={t('prefs.title')} id="preferences">
      {saved && <Alert tone="ok">{t('account.saved')}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
      <label class="check">
        <input type="checkbox" id="sms-opt-in" checked={sms} onChange={(e) => setSms(e.currentTarget.checked)} /> {t('prefs.smsOptIn')}
      </label>
      <div class="table-scroll">
        <table class="prefs">
          <caption class="sr-only">{t('prefs.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('prefs.kind')}</th>
              <th scope="col">{t('channel.email')}</th>
              <th scope="col">{t('channel.push')}</th>
              <th scope="col">{t('channel.sms')}</th>
            </tr>
          </thead>
          <tbody>
            {kinds.map((k) => (
              <tr key={k}>
                <th scope="row">{t(`kindName.${k}` as Key)}</th>
                {(['email', 'push', 'sms'] as const).map((ch) => {
                  const cell = channels[k]?.[ch];
                  const mandatory = (p.mandatory[k] ?? []).includes(ch);
                  return (
                    <td key={ch}>
                      {cell === undefined ? (
                        <span aria-label={t('prefs.notSent')}>—</span>
                      ) : (
                        <input
                          type="checkbox"
                          checked={cell || mandatory}
                          disabled={mandatory}
                          aria-label={`${t(`kindName.${k}` as Key)}: ${t(`channel.${ch}` as Key)}${mandatory ? ` (${t('prefs.always')})` : ''}`}
                          onChange={toggle(k, ch)}
                        />
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="muted small">{t('prefs.note')}</p>
      <button class="button primary" id="save-preferences" onClick={save}>
        {t('account.save')}
      </button>
    </Card>
  );
}

/** The page of the e-mailed confirmation link (new address). */
export function ConfirmEmail(props: { token: string }) {
  const [state, setState] = useState<{ email?: string; error?: unknown }>();
  useEffect(() => {
    api('post', '/api/account/email-change/confirm', { body: { token: props.token } }).then(
      (r) => setState({ email: r.email }),
      (error) => setState({ error }),
    );
  }, [props.token]);
  return (
    <Page title={t('account.changeEmail')}>
      <Card>
        {!state && <Loading />}
        {state?.email && (
          <Alert tone="ok" id="email-confirmed">
            {t('account.emailChanged', { email: state.email })}
          </Alert>
        )}
        {state?.error !== undefined && <ErrorBox error={state.error} />}
        <a class="button" href="/app/">
          {t('nav.home')}
        </a>
      </Card>
    </Page>
  );
}

/** Change the password, or sign out: the customer's account page and the staff's. */
export function SignInActions(props: { onLogout: () => void }) {
  return (
    <div class="row">
      <a class="button" href="/app/password">
        {t('password.title')}
      </a>
      <button class="button" id="logout" onClick={props.onLogout}>
        {t('nav.logout')}
      </button>
    </div>
  );
}
