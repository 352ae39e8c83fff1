// The intranet's screens by address and role, and its menu: loaded by the app (main.tsx) only
// after a staff member signs in.
import { api, session, type Schemas } from '../../api/client';
import { LanguagePicker, t } from '../../i18n';
import { match, navigate } from '../../router';
import { Loading, NotFound } from '../../ui';
import { SignInActions } from '../account';
import { ChangePassword } from '../auth';
import { STAFF_NAV, st } from './i18n';
import { SupportQueue, TicketPage } from './support';
import { Deliveries, SaleLookup, StaffOrders } from './orders';
import { PriceList, SaleForm } from './sale';
import { Audit, CatalogAdmin, Dashboard as AdminDashboard, Reconciliation, StaffAccounts } from './admin';
import { Collections, Escalations, Ledger } from './money';

type Me = Schemas['Me'];

/** The menu for `me`'s role (none while the password must be changed). */
export function staffNav(me: Me): { label: string; items: { href: string; label: string }[] } | null {
  if (me.role === 'customer' || me.must_change_password) return null;
  return { label: st('staff.home'), items: [...STAFF_NAV[me.role].map((n) => ({ href: n.href, label: st(n.key) })), { href: '/app/account', label: t('nav.account') }] };
}

/** The intranet's screens for employees, support agents and admins (by role). */
export function staffScreen(me: Me, path: string, q: URLSearchParams) {
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
        <SignInActions onLogout={logout} />
      </div>
    </section>
  );
}

