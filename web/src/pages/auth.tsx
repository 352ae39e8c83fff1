// Signing in and everything around the password: login, the e-mailed set-password / reset
// link, the forgotten-password request and the change of password.
import { useState } from 'preact/hooks';
import { api, session } from '../api/client';
import { LanguagePicker, t } from '../i18n';
import { navigate } from '../router';
import { Alert, Card, ErrorBox, Field, Page } from '../ui';

export function Login(props: { onLogin: () => void; notice?: string }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await api('post', '/api/auth/login', { body: { email, password } });
      session.set(r.token);
      props.onLogin();
      navigate(r.must_change_password ? '/app/password' : '/app/', true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page title={t('login.title')}>
      <Card>
        <p class="lead">{t('login.lead')}</p>
        {props.notice && <Alert tone="ok">{props.notice}</Alert>}
        {error !== undefined && <ErrorBox error={error} />}
        <form onSubmit={submit} class="form">
          <Field id="email" label={t('login.email')}>
            <input id="email" name="email" type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
          <Field id="password" label={t('login.password')}>
            <input id="password" name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </Field>
          <button type="submit" class="button primary" disabled={busy} id="login-submit">
            {t('login.submit')}
          </button>
        </form>
        <p>
          <a href="/app/forgot">{t('login.forgot')}</a>
        </p>
        <LanguagePicker />
      </Card>
    </Page>
  );
}

export function Forgot() {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('post', '/api/auth/password-reset', { body: { email } });
      setSent(true);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Page title={t('forgot.title')} back={{ href: '/app/login', label: t('login.title') }}>
      <Card>
        {sent ? (
          <Alert tone="ok" id="reset-sent">
            {t('forgot.sent')}
          </Alert>
        ) : (
          <form onSubmit={submit} class="form">
            <p>{t('forgot.lead')}</p>
            {error !== undefined && <ErrorBox error={error} />}
            <Field id="email" label={t('login.email')}>
              <input id="email" type="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
            </Field>
            <button type="submit" class="button primary" id="reset-submit">
              {t('forgot.submit')}
            </button>
          </form>
        )}
      </Card>
    </Page>
  );
}

/** A new password typed twice: the mismatch is caught here, the rules by the API. */
function useNewPassword(send: (pw: string) => Promise<void>) {
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>();
  const [mismatch, setMismatch] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    if (pw !== confirm) return setMismatch(true);
    setMismatch(false);
    try {
      await send(pw);
    } catch (err) {
      setError(err);
    }
  };
  const alerts = (
    <>
      {mismatch && <Alert tone="bad">{t('password.mismatch')}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
    </>
  );
  const fields = (
    <>
      <Field id="new-password" label={t('password.new')} hint={t('password.rules')}>
        <input id="new-password" type="password" autocomplete="new-password" required aria-describedby="new-password-hint" value={pw} onInput={(e) => setPw(e.currentTarget.value)} />
      </Field>
      <Field id="confirm-password" label={t('password.confirm')}>
        <input id="confirm-password" type="password" autocomplete="new-password" required value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
      </Field>
    </>
  );
  return { submit, alerts, fields };
}

/** The page of the e-mailed link (first password, or a reset). */
export function SetPassword(props: { token: string }) {
  const np = useNewPassword(async (pw) => {
    await api('post', '/api/auth/set-password', { body: { token: props.token, new_password: pw } });
    session.clear();
    navigate('/app/login?notice=password-set', true);
  });
  return (
    <Page title={t('setPassword.title')}>
      <Card>
        <p class="lead">{t('setPassword.lead')}</p>
        {!props.token && <Alert tone="bad">{t('setPassword.noToken')}</Alert>}
        {np.alerts}
        <form onSubmit={np.submit} class="form">
          {np.fields}
          <button type="submit" class="button primary" id="set-password-submit">
            {t('setPassword.submit')}
          </button>
        </form>
        <p>
          <a href="/app/forgot">{t('setPassword.expired')}</a>
        </p>
      </Card>
    </Page>
  );
}

export function ChangePassword(props: { forced: boolean; onDone: () => void }) {
  const [current, setCurrent] = useState('');
  const np = useNewPassword(async (pw) => {
    await api('post', '/api/auth/password', { body: { current_password: current, new_password: pw } });
    props.onDone();
    navigate('/app/?notice=password-changed', true);
  });
  return (
    <Page title={t('password.title')} back={props.forced ? undefined : { href: '/app/account', label: t('nav.account') }}>
      <Card>
        {props.forced && <Alert tone="info">{t('password.forced')}</Alert>}
        {np.alerts}
        <form onSubmit={np.submit} class="form">
          <Field id="current-password" label={t('password.current')}>
            <input id="current-password" type="password" autocomplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
          </Field>
          {np.fields}
          <button type="submit" class="button primary" id="change-password-submit">
            {t('password.submit')}
          </button>
        </form>
      </Card>
    </Page>
  );
}
