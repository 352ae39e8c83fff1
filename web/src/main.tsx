// The customer web app: shell (navigation), session and the screens by address.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, session, setUnauthorizedHandler, type Schemas } from './api/client';
import { LangProvider, explicitLang, setLang, t, useLang } from './i18n';
import { AccountPage, ConfirmEmail } from './pages/account';
import { ChangePassword, Forgot, Login, SetPassword } from './pages/auth';
import { Expediente, InvoicePage } from './pages/expediente';
import { Dashboard, OrderPage } from './pages/orders';
import { Catalog, Link, ServicePage, Services, Theft } from './pages/services';
import { match, navigate, onLinkClick, useLocation } from './router';
import { ErrorBox, Loading, NotFound } from './ui';

type Me = Schemas['Me'];

const NAV = [
  { href: '/app/', key: 'nav.home', icon: '⌂' },
  { href: '/app/catalog', key: 'nav.catalog', icon: '✚' },
  { href: '/app/services', key: 'nav.services', icon: '⚙' },
  { href: '/app/expediente', key: 'nav.expediente', icon: '▤' },
  { href: '/app/account', key: 'nav.account', icon: '☺' },
] as const;

const NOTICES: Record<string, Parameters<typeof t>[0]> = {
  'password-set': 'notice.passwordSet',
  'password-changed': 'notice.passwordChanged',
  linked: 'notice.linked',
};

function App() {
  useLang();
  const loc = useLocation();
  const path = loc.pathname;
  const q = loc.searchParams;
  const [me, setMe] = useState<Me | null | undefined>(session.token ? undefined : null);
  const loadMe = () => {
    if (!session.token) return setMe(null);
    api('get', '/api/auth/me').then((m) => {
      setMe(m);
      if (m.role === 'customer' && !m.must_change_password) syncLanguage();
    }, () => setMe(null));
  };
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setMe(null);
      navigate('/app/login', true);
    });
    loadMe();
  }, []);
  const notice = q.get('notice') ? t(NOTICES[q.get('notice')!] ?? 'notice.done') : undefined;

  // Screens that need no session.
  if (path === '/set-password') return <Shell me={null}>{<SetPassword token={q.get('token') ?? ''} />}</Shell>;
  if (path === '/app/forgot') return <Shell me={null}>{<Forgot />}</Shell>;
  if (path === '/confirm-email') return <Shell me={null}>{<ConfirmEmail token={q.get('token') ?? ''} />}</Shell>;
  if (me === undefined) return <Shell me={null}>{<Loading />}</Shell>;
  if (me === null || path === '/app/login') {
    if (me && path === '/app/login') navigate('/app/', true);
    return <Shell me={null}>{<Login onLogin={loadMe} notice={notice} />}</Shell>;
  }
  if (me.role !== 'customer') return <Staff me={me} path={path} q={q} />;
  if (me.must_change_password && path !== '/app/password') navigate('/app/password', true);

  let screen;
  let m: Record<string, string> | null;
  if (path === '/app/' || path === '/app') screen = <Dashboard name={me.full_name} notice={notice} />;
  else if ((m = match('/app/orders/:id', path))) screen = <OrderPage id={m.id} result={q.get('result') ?? undefined} />;
  else if (path === '/app/catalog') screen = <Catalog vin={q.get('vin') ?? undefined} />;
  else if (path === '/app/services') screen = <Services />;
  else if ((m = match('/app/services/:id', path))) screen = <ServicePage id={m.id} />;
  else if (path === '/app/link') screen = <Link />;
  else if (path === '/app/theft') screen = <Theft />;
  else if (path === '/app/expediente') screen = <Expediente />;
  else if ((m = match('/app/invoices/:number', path))) screen = <InvoicePage number={m.number} />;
  else if (path === '/app/account')
    screen = <AccountPage email={me.email} onLogout={() => setMe(null)} setupId={q.get('setup_id') ?? undefined} setupResult={q.get('result') ?? undefined} />;
  else if (path === '/app/password') screen = <ChangePassword forced={me.must_change_password} onDone={loadMe} />;
  else screen = <NotFound />;
  return <Shell me={me}>{screen}</Shell>;
}

type StaffModule = typeof import('./pages/staff');
let staffModule: Promise<StaffModule> | undefined;
const loadStaff = () => (staffModule ??= import('./pages/staff'));

/** The intranet (employees, support agents, admins): its code, a third of the app, is a separate
 * file loaded after a staff member signs in, so customers never download it. */
function Staff(props: { me: Me; path: string; q: URLSearchParams }) {
  const [mod, setMod] = useState<StaffModule | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    loadStaff().then(
      (m) => setMod(() => m),
      (e) => {
        staffModule = undefined; // a later visit tries again
        setError(e);
      },
    );
  }, []);
  if (!mod) return <Shell me={null}>{error !== undefined ? <ErrorBox error={error} /> : <Loading />}</Shell>;
  return (
    <Shell me={props.me} staffNav={mod.staffNav(props.me)}>
      {mod.staffScreen(props.me, props.path, props.q)}
    </Shell>
  );
}

/** The customer's language lives in the account (their e-mails use it too): a choice made on this
 * device before signing in is saved there; otherwise the account's language is the screen's. */
function syncLanguage() {
  api('get', '/api/account').then((a) => {
    const chosen = explicitLang();
    if (chosen && chosen !== a.language) api('patch', '/api/account/profile', { body: { language: chosen } }).catch(() => {});
    else if (!chosen) setLang(a.language, false);
  }, () => {});
}

/** A staff member's menu (made by the intranet's code): its label and entries. */
export type StaffNav = { label: string; items: { href: string; label: string }[] };

function Shell(props: { me: Me | null; staffNav?: StaffNav | null; children: preact.ComponentChildren }) {
  const path = useLocation().pathname;
  const role = props.me?.role;
  const nav = role === 'customer' && !props.me?.must_change_password;
  const staffNav = props.staffNav?.items ?? [];
  return (
    <div class="shell" onClick={(e) => onLinkClick(e as unknown as MouseEvent)}>
      <a class="skip" href="#main">
        {t('nav.skip')}
      </a>
      <header class="topbar">
        <a class="brand" href="/app/" aria-label="CaaS">
          <img src="/app/icon.svg" alt="" width="28" height="28" />
          <span>CaaS</span>
        </a>
        {staffNav.length > 0 && (
          <nav aria-label={props.staffNav?.label} class="mainnav staffnav">
            {staffNav.map((n) => (
              <a href={n.href} key={n.href} aria-current={path.startsWith(n.href) ? 'page' : undefined}>
                <span>{n.label}</span>
              </a>
            ))}
          </nav>
        )}
        {nav && (
          <nav aria-label={t('nav.main')} class="mainnav">
            {NAV.map((n) => (
              <a href={n.href} key={n.href} aria-current={path === n.href || (n.href !== '/app/' && path.startsWith(n.href)) ? 'page' : undefined}>
                <span aria-hidden="true" class="icon">
                  {n.icon}
                </span>
                <span>{t(n.key)}</span>
              </a>
            ))}
          </nav>
        )}
      </header>
      <main id="main">{props.children}</main>
    </div>
  );
}

render(
  <LangProvider>
    <App />
  </LangProvider>,
  document.getElementById('root')!,
);

if ('serviceWorker' in navigator && location.protocol === 'https:' || location.hostname === '127.0.0.1' || location.hostname === 'localhost') {
  navigator.serviceWorker?.register('/app/sw.js', { scope: '/app/' }).catch(() => {});
}
