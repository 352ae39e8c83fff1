// The customer web app: shell (navigation), session and the screens by address.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, session, setUnauthorizedHandler, type Schemas } from './api/client';
import { LangProvider, LanguagePicker, explicitLang, setLang, t, useLang } from './i18n';
import { AccountPage, ConfirmEmail } from './pages/account';
import { ChangePassword, Forgot, Login, SetPassword } from './pages/auth';
import { Expediente, InvoicePage } from './pages/expediente';
import { Dashboard, OrderPage } from './pages/orders';
import { Catalog, Link, ServicePage, Services, Theft } from './pages/services';
import { Audit, CatalogAdmin, Collections, Ledger, Dashboard as AdminDashboard, Deliveries, PriceList, Reconciliation, Escalations, STAFF_NAV, SaleForm, SaleLookup, StaffAccounts, StaffOrders, SupportQueue, TicketPage, st } from './pages/staff';
import { match, navigate, onLinkClick, useLocation } from './router';
import { Loading, NotFound } from './ui';

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
  if (me.role !== 'customer') return <Shell me={me}>{staffScreen(me, path, q)}</Shell>;
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

/** The intranet's screens for employees, support agents and admins (by role). */
function staffScreen(me: Me, path: string, q: URLSearchParams) {
  const nav = STAFF_NAV[me.role];
  let m: Record<string, string> | null;
  if (me.must_change_password || path === '/app/password') return <ChangePassword forced={me.must_change_password} onDone={() => navigate('/app/', true)} />;
  if (path === '/app/' || path === '/app') {
    if (nav[0]) navigate(nav[0].href, true);
    return <Loading />;
  }
  const allowed = (href: string) => nav.some((n) => n.href === href);
  if (path === '/app/staff/support' && allowed(path)) return <SupportQueue status={q.get('status') ?? undefined} />;
  if ((m = match('/app/staff/support/:id', path)) && allowed('/app/staff/support')) return <TicketPage id={m.id} role={me.role} />;
  if (path === '/app/staff/deliveries' && allowed(path)) return <Deliveries />;
  if (path === '/app/staff/new-sale' && allowed(path)) return <SaleForm />;
  if (path === '/app/staff/price-list' && allowed(path)) return <PriceList />;
  if (path === '/app/staff/orders' && allowed(path)) return <StaffOrders role={me.role} />;
  if ((m = match('/app/staff/orders/:id', path)) && allowed('/app/staff/orders')) return <StaffOrders id={m.id} role={me.role} />;
  if (path === '/app/staff/sale' && allowed(path)) return <SaleLookup id={q.get('id') ?? undefined} role={me.role} />;
  if (path === '/app/staff/escalations' && allowed(path)) return <Escalations />;
  if (path === '/app/staff/audit' && allowed(path)) return <Audit />;
  if (path === '/app/staff/accounts' && allowed(path)) return <StaffAccounts />;
  if (path === '/app/staff/catalog' && allowed(path)) return <CatalogAdmin />;
  if (path === '/app/staff/reconciliation' && allowed(path)) return <Reconciliation />;
  if (path === '/app/staff/dashboard' && allowed(path)) return <AdminDashboard />;
  if (path === '/app/staff/ledger' && allowed(path)) return <Ledger reference={q.get('reference') ?? undefined} customer={q.get('customer') ?? undefined} />;
  if (path === '/app/staff/collections' && allowed(path)) return <Collections />;
  if (path === '/app/account') return <StaffAccount me={me} />;
  return <NotFound />;
}

function StaffAccount(props: { me: Me }) {
  const logout = async () => {
    await api('post', '/api/auth/logout').catch(() => {});
    session.clear();
    window.location.assign('/app/login');
  };
  return (
    <section class="page">
      <h1>{t('nav.account')}</h1>
      <div class="card">
        <p>
          {props.me.email} · {props.me.role}
        </p>
        <LanguagePicker />
        <div class="row">
          <a class="button" href="/app/password">
            {t('password.title')}
          </a>
          <button class="button" id="logout" onClick={logout}>
            {t('nav.logout')}
          </button>
        </div>
      </div>
    </section>
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

function Shell(props: { me: Me | null; children: preact.ComponentChildren }) {
  const path = useLocation().pathname;
  const role = props.me?.role;
  const nav = role === 'customer' && !props.me?.must_change_password;
  const staffNav = role && role !== 'customer' && !props.me?.must_change_password ? [...STAFF_NAV[role].map((n) => ({ href: n.href, label: st(n.key) })), { href: '/app/account', label: t('nav.account') }] : [];
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
          <nav aria-label={st('staff.home')} class="mainnav staffnav">
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
