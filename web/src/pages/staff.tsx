// The staff intranet (first screens): technical support's queue of failed activations, the
// delivery worklist, a sale's summary with the credential re-issue, escalations and the audit log.
// Staff texts in English and Spanish (French and German staff see English).
import { useState } from 'preact/hooks';
import { api, ApiError, newIdempotencyKey, type Schemas } from '../api/client';
import { fmtDateTime, lang } from '../i18n';
import { Alert, Card, Chip, ErrorBox, Field, Loading, NotFound, Page, useLoad } from '../ui';
import { statusLabel } from './orders';

const EN = {
  'staff.home': 'Intranet',
  'staff.support': 'Support queue',
  'staff.deliveries': 'Deliveries',
  'staff.orders': 'Orders',
  'staff.newSale': 'New sale',
  'staff.sale': 'Find a sale',
  'staff.escalations': 'Escalations',
  'staff.audit': 'Audit log',
  'staff.accounts': 'Staff accounts',
  'staff.catalog': 'Catalog',
  'staff.dashboard': 'Dashboard',
  'staff.numbers': 'The numbers',
  'staff.reconciliation': 'Reconciliation',
  'staff.requeue': 'Run the job again',
  'staff.requeued': 'Re-queued',
  'staff.handled': 'Handled',
  'staff.markHandled': 'Mark handled',
  'staff.open': 'Open',
  'staff.assigned': 'Assigned',
  'staff.closed': 'Closed',
  'staff.none': 'Nothing here.',
  'staff.attempts': 'Attempts',
  'staff.lastError': 'Last error',
  'staff.vehicle': 'Vehicle now',
  'staff.unreachable': 'IoT platform unreachable',
  'staff.customer': 'Customer',
  'staff.service': 'Service',
  'staff.payment': 'Payment',
  'staff.notes': 'Notes',
  'staff.note': 'Note',
  'staff.addNote': 'Add note',
  'staff.assign': 'Assign to me',
  'staff.retry': 'Retry activation',
  'staff.close': 'Close as failed',
  'staff.closeNote': 'Why it is closed (the customer is told; nothing is charged)',
  'staff.done': 'Done.',
  'staff.readOnly': 'Read only: only support agents act on tickets.',
  'staff.orderId': 'Order id',
  'staff.open.sale': 'Open',
  'staff.reissue': 'Re-issue credentials',
  'staff.reissued': 'A new set-password link was e-mailed to {email}; every session of the customer has ended.',
  'staff.event': 'Delivery event',
  'staff.when': 'Planned date',
  'staff.record': 'Record',
  'staff.recorded': 'Recorded.',
  'staff.actor': 'Who',
  'staff.action': 'What',
  'staff.target': 'On',
} as const;
type SKey = keyof typeof EN;
const ES: Record<SKey, string> = {
  'staff.home': 'Intranet',
  'staff.support': 'Cola de soporte',
  'staff.deliveries': 'Entregas',
  'staff.orders': 'Pedidos',
  'staff.newSale': 'Nueva venta',
  'staff.sale': 'Buscar una venta',
  'staff.escalations': 'Escalados',
  'staff.audit': 'Registro de auditoría',
  'staff.accounts': 'Cuentas del personal',
  'staff.catalog': 'Catálogo',
  'staff.dashboard': 'Panel',
  'staff.numbers': 'Las cifras',
  'staff.reconciliation': 'Conciliación',
  'staff.requeue': 'Volver a ejecutar la tarea',
  'staff.requeued': 'Reencolada',
  'staff.handled': 'Resuelta',
  'staff.markHandled': 'Marcar como resuelta',
  'staff.open': 'Abiertas',
  'staff.assigned': 'Asignadas',
  'staff.closed': 'Cerradas',
  'staff.none': 'No hay nada aquí.',
  'staff.attempts': 'Intentos',
  'staff.lastError': 'Último error',
  'staff.vehicle': 'Vehículo ahora',
  'staff.unreachable': 'Plataforma IoT inaccesible',
  'staff.customer': 'Cliente',
  'staff.service': 'Servicio',
  'staff.payment': 'Pago',
  'staff.notes': 'Notas',
  'staff.note': 'Nota',
  'staff.addNote': 'Añadir nota',
  'staff.assign': 'Asignármela',
  'staff.retry': 'Reintentar la activación',
  'staff.close': 'Cerrar como fallida',
  'staff.closeNote': 'Motivo del cierre (se informa al cliente; no se cobra nada)',
  'staff.done': 'Hecho.',
  'staff.readOnly': 'Solo lectura: solo los agentes de soporte actúan sobre las incidencias.',
  'staff.orderId': 'Id. del pedido',
  'staff.open.sale': 'Abrir',
  'staff.reissue': 'Reenviar credenciales',
  'staff.reissued': 'Se ha enviado un nuevo enlace para elegir contraseña a {email}; todas las sesiones del cliente se han cerrado.',
  'staff.event': 'Evento de entrega',
  'staff.when': 'Fecha prevista',
  'staff.record': 'Registrar',
  'staff.recorded': 'Registrado.',
  'staff.actor': 'Quién',
  'staff.action': 'Qué',
  'staff.target': 'Sobre',
};
export function st(k: SKey, vars: Record<string, string> = {}): string {
  const s = lang() === 'es' ? ES[k] : EN[k];
  return s.replace(/\{(\w+)\}/g, (_, v: string) => vars[v] ?? '');
}

type Role = Schemas['Role'];
export const STAFF_NAV: Record<Role, { href: string; key: SKey }[]> = {
  customer: [],
  employee: [
    { href: '/app/staff/new-sale', key: 'staff.newSale' },
    { href: '/app/staff/orders', key: 'staff.orders' },
    { href: '/app/staff/deliveries', key: 'staff.deliveries' },
    { href: '/app/staff/sale', key: 'staff.sale' },
  ],
  support: [{ href: '/app/staff/support', key: 'staff.support' }],
  admin: [
    { href: '/app/staff/dashboard', key: 'staff.dashboard' },
    { href: '/app/staff/support', key: 'staff.support' },
    { href: '/app/staff/escalations', key: 'staff.escalations' },
    { href: '/app/staff/audit', key: 'staff.audit' },
    { href: '/app/staff/accounts', key: 'staff.accounts' },
    { href: '/app/staff/catalog', key: 'staff.catalog' },
    { href: '/app/staff/reconciliation', key: 'staff.reconciliation' },
  ],
};

type Ticket = Schemas['SupportTicket'];

export function SupportQueue(props: { status?: string }) {
  const status = (props.status ?? 'open') as 'open' | 'assigned' | 'closed';
  const list = useLoad(() => api('get', '/api/support/tickets', { query: { status } }), [status]);
  return (
    <Page title={st('staff.support')}>
      <nav class="row tabs" aria-label={st('staff.support')}>
        {(['open', 'assigned', 'closed'] as const).map((s) => (
          <a key={s} class="button" href={`/app/staff/support?status=${s}`} aria-current={s === status ? 'page' : undefined}>
            {st(`staff.${s}`)}
          </a>
        ))}
      </nav>
      {list.loading && <Loading />}
      {list.error !== undefined && <ErrorBox error={list.error} />}
      {list.data && list.data.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      <ul class="list card" id="tickets">
        {list.data?.items.map((k) => (
          <li key={k.id}>
            <a href={`/app/staff/support/${encodeURIComponent(k.id)}`}>{k.service.name}</a>
            <span class="mono small">{k.service.vin}</span>
            <span>{k.customer.full_name}</span>
            <span class="muted small">{fmtDateTime(k.created_at)}</span>
            <Chip tone={k.status === 'closed' ? 'muted' : k.status === 'assigned' ? 'info' : 'warn'}>{st(`staff.${k.status}`)}</Chip>
          </li>
        ))}
      </ul>
    </Page>
  );
}

export function TicketPage(props: { id: string; role: Role }) {
  const ticket = useLoad(() => api('get', '/api/support/tickets/{ticket_id}', { params: { ticket_id: props.id } }), [props.id]);
  const [note, setNote] = useState('');
  const [done, setDone] = useState<string>();
  const [error, setError] = useState<unknown>();
  if (ticket.loading && !ticket.data) return <Loading />;
  if (ticket.error instanceof ApiError && ticket.error.status === 404) return <NotFound />;
  if (ticket.error !== undefined && !ticket.data) return <ErrorBox error={ticket.error} />;
  const k = ticket.data! as Ticket & { notes?: { at?: number; author?: string; text?: string }[] };
  const act = async (what: 'assign' | 'notes' | 'retry' | 'close') => {
    setError(undefined);
    setDone(undefined);
    try {
      const params = { ticket_id: k.id };
      if (what === 'assign') await api('post', '/api/support/tickets/{ticket_id}/assign', { params });
      if (what === 'notes') await api('post', '/api/support/tickets/{ticket_id}/notes', { params, body: { text: note } });
      if (what === 'retry') await api('post', '/api/support/tickets/{ticket_id}/retry', { params });
      if (what === 'close') await api('post', '/api/support/tickets/{ticket_id}/close', { params, body: { note } });
      setNote('');
      setDone(st('staff.done'));
      ticket.reload();
    } catch (e) {
      setError(e);
    }
  };
  const canAct = props.role === 'support' && k.status !== 'closed';
  return (
    <Page title={k.service.name} back={{ href: '/app/staff/support', label: st('staff.support') }}>
      {done && <Alert tone="ok">{done}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
      <Card>
        <div class="row spread">
          <span class="mono">{k.id}</span>
          <Chip tone={k.status === 'closed' ? 'muted' : 'warn'}>
            <span id="ticket-status">{st(`staff.${k.status}`)}</span>
          </Chip>
        </div>
        <p>{k.summary}</p>
        <dl class="facts">
          <dt>{st('staff.customer')}</dt>
          <dd>
            {k.customer.full_name} · {k.customer.email}
          </dd>
          <dt>{st('staff.service')}</dt>
          <dd>
            {k.service.option_code} · {k.service.state ?? '—'}
          </dd>
          <dt>{st('staff.payment')}</dt>
          <dd>{k.service.payment_status ?? '—'}</dd>
          <dt>{st('staff.attempts')}</dt>
          <dd>{k.attempts}</dd>
          <dt>{st('staff.lastError')}</dt>
          <dd>{k.last_error}</dd>
          <dt>{st('staff.vehicle')}</dt>
          <dd id="vehicle-status">{k.vehicle_status ? JSON.stringify(k.vehicle_status) : `${st('staff.unreachable')} ${k.vehicle_status_note ?? ''}`}</dd>
        </dl>
      </Card>
      <Card title={st('staff.notes')}>
        <ul class="list">
          {(k.notes ?? []).map((n, i) => (
            <li key={i}>
              <span>{n.text}</span>
              <span class="muted small">{n.at ? fmtDateTime(n.at) : ''}</span>
            </li>
          ))}
        </ul>
        {canAct ? (
          <div class="form">
            <Field id="ticket-note" label={`${st('staff.note')} / ${st('staff.closeNote')}`}>
              <input id="ticket-note" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
            </Field>
            <div class="row">
              {k.status === 'open' && (
                <button class="button" id="ticket-assign" onClick={() => act('assign')}>
                  {st('staff.assign')}
                </button>
              )}
              <button class="button" id="ticket-note-add" onClick={() => act('notes')} disabled={!note}>
                {st('staff.addNote')}
              </button>
              <button class="button primary" id="ticket-retry" onClick={() => act('retry')}>
                {st('staff.retry')}
              </button>
              <button class="button danger" id="ticket-close" onClick={() => act('close')} disabled={!note}>
                {st('staff.close')}
              </button>
            </div>
          </div>
        ) : (
          k.status !== 'closed' && <p class="muted">{st('staff.readOnly')}</p>
        )}
      </Card>
    </Page>
  );
}

type WorkItem = { order_id: string; order_status: string; model: string; vin?: string | null; plate?: string | null; customer?: { full_name?: string; phone?: string }; delivery?: { state?: string; planned_at?: number | null } | null };

export function Deliveries() {
  const list = useLoad(() => api('get', '/api/delivery'), []);
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const record = async (orderId: string, event: string, when: string) => {
    setError(undefined);
    setMsg(undefined);
    try {
      const body: Record<string, unknown> = { event };
      if (event === 'scheduled' || event === 'rescheduled') body['at'] = when;
      await api('post', '/api/delivery/{order_id}/events', { params: { order_id: orderId }, body: body as never });
      setMsg(st('staff.recorded'));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={st('staff.deliveries')}>
      {msg && <Alert tone="ok">{msg}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
      {list.loading && <Loading />}
      {list.data && list.data.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      {(list.data?.items as WorkItem[] | undefined)?.map((w) => (
        <DeliveryRow key={w.order_id} w={w} onRecord={record} />
      ))}
    </Page>
  );
}

function DeliveryRow(props: { w: WorkItem; onRecord: (id: string, ev: string, when: string) => void }) {
  const w = props.w;
  const [ev, setEv] = useState('scheduled');
  const [when, setWhen] = useState('');
  const id = w.order_id;
  return (
    <Card class="delivery-row">
      <div class="row spread">
        <strong>
          {w.model} · {w.plate ?? '—'}
        </strong>
        <Chip tone="info">{statusLabel(w.order_status)}</Chip>
      </div>
      <p class="muted small">
        <span class="mono">{id}</span> · {w.customer?.full_name} · {w.customer?.phone} {w.delivery?.state ? `· ${w.delivery.state}` : ''}
        {w.delivery?.planned_at ? ` · ${fmtDateTime(w.delivery.planned_at)}` : ''}
      </p>
      <div class="row">
        <label class="sr-only" for={`ev-${id}`}>
          {st('staff.event')}
        </label>
        <select id={`ev-${id}`} value={ev} onChange={(e) => setEv(e.currentTarget.value)} class="inline">
          {['scheduled', 'rescheduled', 'delivered', 'absent', 'returned', 'picked-up'].map((x) => (
            <option key={x} value={x}>
              {x}
            </option>
          ))}
        </select>
        {(ev === 'scheduled' || ev === 'rescheduled') && (
          <>
            <label class="sr-only" for={`when-${id}`}>
              {st('staff.when')}
            </label>
            <input id={`when-${id}`} type="date" class="inline" value={when} onInput={(e) => setWhen(e.currentTarget.value)} />
          </>
        )}
        <button class="button primary" onClick={() => props.onRecord(id, ev, when)}>
          {st('staff.record')}
        </button>
      </div>
    </Card>
  );
}

export function SaleLookup(props: { id?: string; role: Role }) {
  const [id, setId] = useState(props.id ?? '');
  const [query, setQuery] = useState(props.id ?? '');
  const sale = useLoad(() => (query ? api('get', '/api/sales/{order_id}', { params: { order_id: query } }) : Promise.resolve(undefined)), [query]);
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const reissue = async (customerId: string) => {
    setError(undefined);
    try {
      const r = await api('post', '/api/staff/customers/{customer_id}/reissue-credentials', { params: { customer_id: customerId } });
      setMsg(st('staff.reissued', { email: r.email }));
    } catch (e) {
      setError(e);
    }
  };
  const s = sale.data;
  return (
    <Page title={st('staff.sale')}>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setMsg(undefined);
          setQuery(id.trim());
        }}
      >
        <Field id="sale-id" label={st('staff.orderId')}>
          <input id="sale-id" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </Field>
        <button class="button primary" type="submit" id="sale-open">
          {st('staff.open.sale')}
        </button>
      </form>
      {sale.error !== undefined && <ErrorBox error={sale.error} />}
      {msg && (
        <Alert tone="ok" id="reissued">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {s && (
        <Card title={`${s.model} · ${statusLabel(s.status)}`}>
          <dl class="facts">
            <dt>{st('staff.customer')}</dt>
            <dd>
              {s.customer.full_name} · {s.customer.email} · {s.customer.phone}
            </dd>
          </dl>
          <ol class="timeline">
            {s.timeline.map((e, i) => (
              <li key={i}>
                <time>{fmtDateTime(e.at)}</time>
                <span>{e.detail || e.kind}</span>
              </li>
            ))}
          </ol>
          {props.role === 'employee' && (
            <button class="button" id="reissue" onClick={() => reissue(s.customer.id)}>
              {st('staff.reissue')}
            </button>
          )}
        </Card>
      )}
    </Page>
  );
}


export function Escalations() {
  const list = useLoad(() => api('get', '/api/admin/escalations'), []);
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const act = async (id: string, what: 'requeue' | 'handled') => {
    setError(undefined);
    setMsg(undefined);
    try {
      if (what === 'requeue') await api('post', '/api/admin/escalations/{escalation_id}/requeue', { params: { escalation_id: id } });
      else await api('post', '/api/admin/escalations/{escalation_id}/handled', { params: { escalation_id: id }, body: { note: notes[id] ?? '' } });
      setMsg(st('staff.done'));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={st('staff.escalations')}>
      {msg && <Alert tone="ok">{msg}</Alert>}
      {error !== undefined && <ErrorBox error={error} />}
      {list.data && list.data.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      {list.data?.items.map((e) => (
        <Card key={e.id} class="escalation" id={`esc-${e.id}`}>
          <div class="row spread">
            <strong>{e.kind}</strong>
            <Chip tone={e.resolution ? 'muted' : 'warn'}>{e.resolution ? st(e.resolution === 'requeued' ? 'staff.requeued' : 'staff.handled') : st('staff.open')}</Chip>
          </div>
          <p>{e.detail}</p>
          <p class="muted small">
            {fmtDateTime(e.created_at)} · <span class="mono">{e.job_id}</span>
            {e.note ? ` · ${e.note}` : ''}
          </p>
          {!e.resolution && (
            <div class="row">
              {e.requeueable && (
                <button class="button primary requeue" onClick={() => act(e.id, 'requeue')}>
                  {st('staff.requeue')}
                </button>
              )}
              <label class="sr-only" for={`note-${e.id}`}>
                {st('staff.note')}
              </label>
              <input id={`note-${e.id}`} class="inline" placeholder={st('staff.note')} value={notes[e.id] ?? ''} onInput={(ev) => setNotes({ ...notes, [e.id]: ev.currentTarget.value })} />
              <button class="button" onClick={() => act(e.id, 'handled')} disabled={!notes[e.id]}>
                {st('staff.markHandled')}
              </button>
            </div>
          )}
        </Card>
      ))}
    </Page>
  );
}

export function Audit() {
  const list = useLoad(() => api('get', '/api/admin/audit'), []);
  return (
    <Page title={st('staff.audit')}>
      {list.error !== undefined && <ErrorBox error={list.error} />}
      <div class="table-scroll card">
        <table class="prefs" id="audit">
          <thead>
            <tr>
              <th scope="col">{st('staff.when')}</th>
              <th scope="col">{st('staff.actor')}</th>
              <th scope="col">{st('staff.action')}</th>
              <th scope="col">{st('staff.target')}</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((a) => (
              <tr key={a.id}>
                <td>{fmtDateTime(a.at)}</td>
                <td>
                  {a.actor_id} ({a.actor_role})
                </td>
                <td>{a.action}</td>
                <td class="mono">{a.target}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}

const SALE_EN = {
  'sale.title': 'Register a sale',
  'sale.customer': 'Customer',
  'sale.fullName': 'Full name',
  'sale.email': 'E-mail',
  'sale.phone': 'Mobile phone',
  'sale.nationalId': 'ID document number',
  'sale.language': 'Customer language',
  'sale.address': 'Delivery address',
  'sale.line1': 'Address',
  'sale.city': 'City',
  'sale.postal': 'Postcode',
  'sale.country': 'Country',
  'sale.vehicle': 'Vehicle',
  'sale.model': 'Model',
  'sale.plan': 'Plan comercial (included options)',
  'sale.deposit': 'Reservation deposit (€)',
  'sale.discount': 'Discount (€, optional)',
  'sale.discountReason': 'Reason for the discount',
  'sale.submit': 'Register the sale',
  'sale.done': 'Sale {order} registered. The customer receives an e-mail at {email} to choose a password.',
} as const;
type SaleKey = keyof typeof SALE_EN;
const SALE_ES: Record<SaleKey, string> = {
  'sale.title': 'Registrar una venta',
  'sale.customer': 'Cliente',
  'sale.fullName': 'Nombre completo',
  'sale.email': 'Correo electrónico',
  'sale.phone': 'Teléfono móvil',
  'sale.nationalId': 'Número de documento de identidad',
  'sale.language': 'Idioma del cliente',
  'sale.address': 'Dirección de entrega',
  'sale.line1': 'Dirección',
  'sale.city': 'Ciudad',
  'sale.postal': 'Código postal',
  'sale.country': 'País',
  'sale.vehicle': 'Vehículo',
  'sale.model': 'Modelo',
  'sale.plan': 'Plan comercial (opciones incluidas)',
  'sale.deposit': 'Señal de reserva (€)',
  'sale.discount': 'Descuento (€, opcional)',
  'sale.discountReason': 'Motivo del descuento',
  'sale.submit': 'Registrar la venta',
  'sale.done': 'Venta {order} registrada. El cliente recibe un correo en {email} para elegir su contraseña.',
};
const sx = (k: SaleKey, vars: Record<string, string> = {}) => (lang() === 'es' ? SALE_ES[k] : SALE_EN[k]).replace(/\{(\w+)\}/g, (_, v: string) => vars[v] ?? '');

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
      <Page title={sx('sale.title')}>
        <Alert tone="ok" id="sale-done">
          {sx('sale.done', { order: done.order, email: done.email })}
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
    <Page title={sx('sale.title')}>
      {error !== undefined && <ErrorBox error={error} />}
      <form class="form wide" onSubmit={submit}>
        <fieldset>
          <legend>{sx('sale.customer')}</legend>
          {input('full_name', sx('sale.fullName'), 'text', 'off')}
          {input('email', sx('sale.email'), 'email', 'off')}
          {input('phone', sx('sale.phone'), 'tel', 'off')}
          {input('national_id', sx('sale.nationalId'), 'text', 'off')}
        </fieldset>
        <fieldset>
          <legend>{sx('sale.address')}</legend>
          {input('line1', sx('sale.line1'))}
          {input('postal_code', sx('sale.postal'))}
          {input('city', sx('sale.city'))}
          <Field id="sale-country" label={sx('sale.country')}>
            <select id="sale-country" value={f.country} onChange={set('country')}>
              <option value="ES">España</option>
              <option value="FR">France</option>
              <option value="DE">Deutschland</option>
            </select>
          </Field>
          <Field id="sale-language" label={sx('sale.language')}>
            <select id="sale-language" value={language} onChange={(e) => setLanguage(e.currentTarget.value as 'es')}>
              <option value="es">Español</option>
              <option value="fr">Français</option>
              <option value="de">Deutsch</option>
              <option value="en">English</option>
            </select>
          </Field>
        </fieldset>
        <fieldset>
          <legend>{sx('sale.vehicle')}</legend>
          <SaleModelField value={f.model} onInput={set('model')} />
          <fieldset class="plain">
            <legend>{sx('sale.plan')}</legend>
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
          {input('deposit', sx('sale.deposit'), 'text', 'off')}
          {input('discount', sx('sale.discount'), 'text', 'off')}
          {f.discount && input('reason', sx('sale.discountReason'))}
        </fieldset>
        <button class="button primary" type="submit" id="sale-submit">
          {sx('sale.submit')}
        </button>
      </form>
    </Page>
  );
}

/** The model: a free code today (the price list route joins it when the API offers it). */
function SaleModelField(props: { value: string; onInput: (e: Event) => void }) {
  return (
    <Field id="sale-model" label={sx('sale.model')}>
      <input id="sale-model" value={props.value} onInput={props.onInput} autocomplete="off" />
    </Field>
  );
}

const ACC_EN = {
  'acc.title': 'Staff accounts',
  'acc.invite': 'Invite a staff member',
  'acc.email': 'E-mail',
  'acc.role': 'Role',
  'acc.send': 'Send invitation',
  'acc.invited': 'Invitation sent to {email}.',
  'acc.disable': 'Disable',
  'acc.disabled': 'Disabled',
  'acc.active': 'Active',
  'acc.changeRole': 'Change role',
  'acc.saved': 'Saved; their sessions have ended.',
} as const;
type AccKey = keyof typeof ACC_EN;
const ACC_ES: Record<AccKey, string> = {
  'acc.title': 'Cuentas del personal',
  'acc.invite': 'Invitar a un miembro del personal',
  'acc.email': 'Correo electrónico',
  'acc.role': 'Rol',
  'acc.send': 'Enviar invitación',
  'acc.invited': 'Invitación enviada a {email}.',
  'acc.disable': 'Desactivar',
  'acc.disabled': 'Desactivada',
  'acc.active': 'Activa',
  'acc.changeRole': 'Cambiar el rol',
  'acc.saved': 'Guardado; sus sesiones se han cerrado.',
};
const ax = (k: AccKey, vars: Record<string, string> = {}) => (lang() === 'es' ? ACC_ES[k] : ACC_EN[k]).replace(/\{(\w+)\}/g, (_, v: string) => vars[v] ?? '');
const STAFF_ROLES = ['employee', 'support', 'admin'] as const;
type StaffRole = (typeof STAFF_ROLES)[number];

export function StaffAccounts() {
  const list = useLoad(() => api('get', '/api/admin/staff'), []);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<StaffRole>('employee');
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const run = async (f: () => Promise<unknown>, ok: string) => {
    setError(undefined);
    setMsg(undefined);
    try {
      await f();
      setMsg(ok);
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const invite = (e: Event) => {
    e.preventDefault();
    run(() => api('post', '/api/admin/staff', { body: { email, role } }), ax('acc.invited', { email }));
  };
  return (
    <Page title={ax('acc.title')}>
      {msg && (
        <Alert tone="ok" id="staff-msg">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <Card title={ax('acc.invite')}>
        <form class="row" onSubmit={invite}>
          <Field id="staff-email" label={ax('acc.email')}>
            <input id="staff-email" type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
          <Field id="staff-role" label={ax('acc.role')}>
            <select id="staff-role" value={role} onChange={(e) => setRole(e.currentTarget.value as StaffRole)}>
              {STAFF_ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </Field>
          <button class="button primary" type="submit" id="staff-invite">
            {ax('acc.send')}
          </button>
        </form>
      </Card>
      <ul class="list card" id="staff-list">
        {list.data?.items.map((m) => (
          <li key={m.id} data-email={m.email}>
            <span>{m.email}</span>
            <span class="muted small">{m.role}</span>
            <Chip tone={m.disabled_at ? 'muted' : 'ok'}>{m.disabled_at ? ax('acc.disabled') : ax('acc.active')}</Chip>
            {!m.disabled_at && (
              <span class="row">
                <label class="sr-only" for={`role-${m.id}`}>
                  {ax('acc.changeRole')}
                </label>
                <select
                  id={`role-${m.id}`}
                  class="inline"
                  value={m.role}
                  onChange={(e) => {
                    const r = e.currentTarget.value as StaffRole;
                    run(() => api('post', '/api/admin/staff/{staff_id}/role', { params: { staff_id: m.id }, body: { role: r } }), ax('acc.saved'));
                  }}
                >
                  {STAFF_ROLES.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
                <button class="button danger small-button" onClick={() => run(() => api('post', '/api/admin/staff/{staff_id}/disable', { params: { staff_id: m.id } }), ax('acc.saved'))}>
                  {ax('acc.disable')}
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
    </Page>
  );
}

const CAT_EN = {
  'cat.title': 'Catalog',
  'cat.add': 'Add an option',
  'cat.code': 'Code',
  'cat.name': 'Name',
  'cat.description': 'Description',
  'cat.price': 'Price (€)',
  'cat.kind': 'Kind',
  'cat.days': 'Days (temporary)',
  'cat.maintenance': 'Needs up-to-date maintenance',
  'cat.reprice': 'New price',
  'cat.retire': 'Stop selling',
  'cat.retired': 'Retired',
  'cat.onSale': 'On sale',
  'cat.saved': 'Saved. Sold services keep their price.',
} as const;
type CatKey = keyof typeof CAT_EN;
const CAT_ES: Record<CatKey, string> = {
  'cat.title': 'Catálogo',
  'cat.add': 'Añadir una opción',
  'cat.code': 'Código',
  'cat.name': 'Nombre',
  'cat.description': 'Descripción',
  'cat.price': 'Precio (€)',
  'cat.kind': 'Tipo',
  'cat.days': 'Días (temporal)',
  'cat.maintenance': 'Requiere mantenimiento al día',
  'cat.reprice': 'Nuevo precio',
  'cat.retire': 'Dejar de vender',
  'cat.retired': 'Retirada',
  'cat.onSale': 'A la venta',
  'cat.saved': 'Guardado. Los servicios vendidos mantienen su precio.',
};
const cx = (k: CatKey) => (lang() === 'es' ? CAT_ES[k] : CAT_EN[k]);

/** Administrators' catalog: add, reprice (future purchases only), retire. */
export function CatalogAdmin() {
  const list = useLoad(() => api('get', '/api/catalog/admin/options'), []);
  const [f, setF] = useState({ code: '', name: '', description: '', price: '', kind: 'permanent', days: '', maintenance: false });
  const [prices, setPrices] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const run = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    setMsg(undefined);
    try {
      await fn();
      setMsg(cx('cat.saved'));
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const add = (e: Event) => {
    e.preventDefault();
    const kind = f.kind as 'temporary' | 'permanent' | 'subscription';
    run(() =>
      api('post', '/api/catalog/admin/options', {
        body: {
          code: f.code.trim(),
          name: f.name,
          description: f.description,
          price: { amount_minor: euroCents(f.price) ?? 0, currency: 'EUR' },
          kind,
          duration_days: kind === 'temporary' ? Number(f.days) || null : null,
          duration_months: null,
          requires_maintenance: f.maintenance,
        },
      }),
    );
  };
  const set = (k: 'code' | 'name' | 'description' | 'price' | 'kind' | 'days') => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <Page title={cx('cat.title')}>
      {msg && (
        <Alert tone="ok" id="catalog-msg">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <ul class="list card" id="catalog-admin">
        {list.data?.options?.map((o) => (
          <li key={o.code} data-code={o.code}>
            <span>
              <strong>{o.name}</strong> <span class="mono small">{o.code}</span>
            </span>
            <span>{fmtMoneyEur(o.price.amount_minor)}</span>
            <Chip tone={o.status === 'retired' ? 'muted' : 'ok'}>{o.status === 'retired' ? cx('cat.retired') : cx('cat.onSale')}</Chip>
            {o.status !== 'retired' && (
              <span class="row">
                <label class="sr-only" for={`price-${o.code}`}>
                  {cx('cat.reprice')}
                </label>
                <input id={`price-${o.code}`} class="inline price-input" placeholder={cx('cat.reprice')} value={prices[o.code] ?? ''} onInput={(e) => setPrices({ ...prices, [o.code]: e.currentTarget.value })} />
                <button
                  class="button small-button reprice"
                  disabled={!euroCents(prices[o.code] ?? '')}
                  onClick={() => run(() => api('post', '/api/catalog/admin/options/{code}/price', { params: { code: o.code }, body: { amount_minor: euroCents(prices[o.code] ?? '') ?? 0, currency: 'EUR' } }))}
                >
                  {cx('cat.reprice')}
                </button>
                <button class="button danger small-button retire" onClick={() => run(() => api('post', '/api/catalog/admin/options/{code}/retire', { params: { code: o.code } }))}>
                  {cx('cat.retire')}
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      <Card title={cx('cat.add')}>
        <form class="form" onSubmit={add}>
          <Field id="opt-code" label={cx('cat.code')}>
            <input id="opt-code" value={f.code} onInput={set('code')} />
          </Field>
          <Field id="opt-name" label={cx('cat.name')}>
            <input id="opt-name" value={f.name} onInput={set('name')} />
          </Field>
          <Field id="opt-description" label={cx('cat.description')}>
            <input id="opt-description" value={f.description} onInput={set('description')} />
          </Field>
          <Field id="opt-price" label={cx('cat.price')}>
            <input id="opt-price" value={f.price} onInput={set('price')} />
          </Field>
          <Field id="opt-kind" label={cx('cat.kind')}>
            <select id="opt-kind" value={f.kind} onChange={set('kind')}>
              <option value="permanent">permanent</option>
              <option value="temporary">temporary</option>
              <option value="subscription">subscription</option>
            </select>
          </Field>
          {f.kind === 'temporary' && (
            <Field id="opt-days" label={cx('cat.days')}>
              <input id="opt-days" inputMode="numeric" value={f.days} onInput={set('days')} />
            </Field>
          )}
          <label class="check">
            <input type="checkbox" id="opt-maintenance" checked={f.maintenance} onChange={(e) => setF({ ...f, maintenance: e.currentTarget.checked })} /> {cx('cat.maintenance')}
          </label>
          <button class="button primary" type="submit" id="opt-add">
            {cx('cat.add')}
          </button>
        </form>
      </Card>
    </Page>
  );
}

const fmtMoneyEur = (minor: number) => new Intl.NumberFormat(lang() === 'es' ? 'es-ES' : 'en-GB', { style: 'currency', currency: 'EUR' }).format(minor / 100);

/** The ledger against the payment gateway's records: every difference, with both sides. */
export function Reconciliation() {
  const r = useLoad(() => api('get', '/api/admin/reconciliation'), []);
  const es = lang() === 'es';
  return (
    <Page title={st('staff.reconciliation')}>
      {r.loading && <Loading />}
      {r.error !== undefined && <ErrorBox error={r.error} />}
      {r.data && (
        <>
          <Card>
            <p id="reconciliation-summary">
              {es
                ? `${r.data.gateway_payments} pagos en la pasarela · ${r.data.reconciliation.checked} referencias comparadas · ${r.data.reconciliation.pending} pendientes · ${r.data.reconciliation.parked} ya en gestión · ${r.data.reconciliation.differences.length} diferencias`
                : `${r.data.gateway_payments} gateway payments · ${r.data.reconciliation.checked} references compared · ${r.data.reconciliation.pending} pending · ${r.data.reconciliation.parked} already being worked on · ${r.data.reconciliation.differences.length} differences`}
            </p>
          </Card>
          <div class="table-scroll card">
            <table class="prefs" id="differences">
              <thead>
                <tr>
                  <th scope="col">{es ? 'Referencia' : 'Reference'}</th>
                  <th scope="col">{es ? 'Pasarela' : 'Gateway kept'}</th>
                  <th scope="col">{es ? 'Contabilidad' : 'Ledger'}</th>
                  <th scope="col">{es ? 'Pagos' : 'Payments'}</th>
                </tr>
              </thead>
              <tbody>
                {r.data.reconciliation.differences.map((d) => (
                  <tr key={d.reference}>
                    <td class="mono">{d.reference}</td>
                    <td>{fmtMoneyEur(d.gateway_kept_minor)}</td>
                    <td>{fmtMoneyEur(d.ledger_net_minor)}</td>
                    <td class="mono small">{d.payment_ids.join(', ') || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Page>
  );
}

/** A bar chart (inline SVG: no library, no outside request) with its numbers one click away. */
function Bars(props: { id: string; title: string; points: { label: string; value: number }[]; money?: boolean; tone?: string }) {
  const max = Math.max(1, ...props.points.map((p) => p.value));
  const w = 560;
  const h = 180;
  const n = Math.max(1, props.points.length);
  const bw = Math.min(56, (w - 20) / n - 8);
  const fmt = (v: number) => (props.money ? fmtMoneyEur(v) : String(v));
  return (
    <Card title={props.title} class="chart" id={props.id}>
      {props.points.length === 0 ? (
        <p class="muted">{st('staff.none')}</p>
      ) : (
        <svg viewBox={`0 0 ${w} ${h + 40}`} role="img" aria-label={`${props.title}: ${props.points.map((p) => `${p.label} ${fmt(p.value)}`).join(', ')}`}>
          {props.points.map((p, i) => {
            const bh = Math.round((p.value / max) * h);
            const x = 10 + i * ((w - 20) / n) + 4;
            return (
              <g key={p.label}>
                <rect x={x} y={h - bh + 10} width={bw} height={Math.max(bh, 1)} rx="4" class={`bar ${props.tone ?? ''}`} />
                <text x={x + bw / 2} y={h + 30} text-anchor="middle" class="axis">
                  {p.label.length > 10 ? p.label.slice(5) : p.label}
                </text>
                <text x={x + bw / 2} y={h - bh + 4} text-anchor="middle" class="value">
                  {props.money ? Math.round(p.value / 100) : p.value}
                </text>
              </g>
            );
          })}
        </svg>
      )}
      <details>
        <summary>{st('staff.numbers')}</summary>
        <table class="prefs">
          <tbody>
            {props.points.map((p) => (
              <tr key={p.label}>
                <th scope="row">{p.label}</th>
                <td>{fmt(p.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </Card>
  );
}

export function Dashboard() {
  const d = useLoad(() => api('get', '/api/admin/dashboard'), []);
  if (d.loading) return <Loading />;
  if (d.error !== undefined) return <ErrorBox error={d.error} />;
  const x = d.data!;
  const es = lang() === 'es';
  return (
    <Page title={st('staff.dashboard')}>
      <div class="grid charts">
        <Bars id="chart-sales" title={es ? 'Ventas por semana' : 'Sales per week'} points={x.sales_per_week} />
        <Bars id="chart-funnel" title={es ? 'Embudo: reserva → conectado' : 'Funnel: reservation → connected'} points={x.funnel} />
        <Bars
          id="chart-ota"
          title={es ? 'Activaciones OTA con éxito por opción (%)' : 'OTA activation success per option (%)'}
          points={x.ota_by_option.map((o) => ({ label: o.option_code, value: o.activated + o.failed ? Math.round((100 * o.activated) / (o.activated + o.failed)) : 0 }))}
        />
        <Bars id="chart-escalations" title={es ? 'Escalados abiertos por antigüedad' : 'Open escalations by age'} points={x.open_escalations_by_age} tone="warn" />
        <Bars id="chart-revenue" title={es ? 'Ingresos por mes' : 'Revenue per month'} points={x.revenue_per_month} money />
        <Bars id="chart-refunds" title={es ? 'Devoluciones por mes' : 'Refunds per month'} points={x.refunds_per_month} money tone="warn" />
      </div>
      <Card title={es ? 'Cobros en riesgo' : 'Collections at risk'}>
        <p id="collections">
          {x.collections_open} · {fmtMoneyEur(x.collections_open_minor)}
        </p>
      </Card>
    </Page>
  );
}

/** Find orders (customer, e-mail, VIN, plate, id; state; dates) and open one: its timeline,
 * payments, messages sent, and the dealership's cancellation while the car is not paid for. */
export function StaffOrders(props: { id?: string; role: Role }) {
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState({ q: '', status: '' });
  const list = useLoad(() => api('get', '/api/staff/orders', { query: { q: search.q || undefined, status: search.status || undefined } }), [search.q, search.status]);
  const es = lang() === 'es';
  if (props.id) return <StaffOrderPage id={props.id} />;
  return (
    <Page title={es ? 'Pedidos' : 'Orders'}>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch({ q: q.trim(), status });
        }}
      >
        <Field id="order-q" label={es ? 'Cliente, correo, VIN, matrícula o pedido' : 'Customer, e-mail, VIN, plate or order'}>
          <input id="order-q" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </Field>
        <Field id="order-status" label={es ? 'Estado' : 'State'}>
          <select id="order-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">—</option>
            {['reservation-pending', 'reserved', 'factory-ordered', 'vehicle-available', 'fully-paid', 'delivered', 'operational', 'unassigned', 'abandoned', 'cancelled'].map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </Field>
        <button class="button primary" type="submit" id="order-search">
          {es ? 'Buscar' : 'Search'}
        </button>
      </form>
      {list.error !== undefined && <ErrorBox error={list.error} />}
      {list.data && list.data.items.length === 0 && <p class="muted">{st('staff.none')}</p>}
      <ul class="list card" id="orders">
        {list.data?.items.map((o) => (
          <li key={o.order_id}>
            <a href={`/app/staff/orders/${encodeURIComponent(o.order_id)}`}>{o.customer_name}</a>
            <span class="muted small">{o.customer_email}</span>
            <span>
              {o.model} · {o.plate ?? o.vin ?? '—'}
            </span>
            <Chip tone="info">{statusLabel(o.status)}</Chip>
          </li>
        ))}
      </ul>
    </Page>
  );
}

function StaffOrderPage(props: { id: string }) {
  const o = useLoad(() => api('get', '/api/staff/orders/{order_id}', { params: { order_id: props.id } }), [props.id]);
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<unknown>();
  const es = lang() === 'es';
  if (o.loading && !o.data) return <Loading />;
  if (o.error instanceof ApiError && o.error.status === 404) return <NotFound />;
  if (o.error !== undefined && !o.data) return <ErrorBox error={o.error} />;
  const x = o.data!;
  const cancel = async () => {
    setError(undefined);
    try {
      const r = await api('post', '/api/staff/orders/{order_id}/cancel', { params: { order_id: props.id }, body: { reason } });
      setMsg(
        (es ? 'Venta cancelada.' : 'Sale cancelled.') +
          (r.deposit_refund ? ` ${es ? 'Señal reembolsada' : 'Deposit refunded'}: ${fmtMoneyEur(r.deposit_refund.amount_minor)}.` : '') +
          (r.payments_voided.length ? ` ${es ? 'Pagos anulados' : 'Payments voided'}: ${r.payments_voided.length}.` : ''),
      );
      o.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Page title={`${x.customer.full_name} · ${x.order.model}`} back={{ href: '/app/staff/orders', label: es ? 'Pedidos' : 'Orders' }}>
      {msg && (
        <Alert tone="ok" id="cancel-done">
          {msg}
        </Alert>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <Card>
        <div class="row spread">
          <span class="mono">{x.order.order_id}</span>
          <Chip tone="info">
            <span id="staff-order-status">{statusLabel(x.order.status)}</span>
          </Chip>
        </div>
        <dl class="facts">
          <dt>{st('staff.customer')}</dt>
          <dd>
            {x.customer.email} · {x.customer.phone}
          </dd>
          <dt>{es ? 'Precio' : 'Price'}</dt>
          <dd>{fmtMoneyEur(x.pricing.vehicle_price_minor)}</dd>
        </dl>
      </Card>
      <Card title={st('staff.payment')}>
        <ul class="list">
          {(x.payments as { payment_id?: string; kind?: string; status?: string; amount_minor?: number }[]).map((p) => (
            <li key={p.payment_id}>
              <span class="mono small">{p.payment_id}</span>
              <span>{p.kind}</span>
              <span>{fmtMoneyEur(p.amount_minor ?? 0)}</span>
              <Chip tone={p.status === 'settled' ? 'ok' : 'muted'}>{p.status}</Chip>
            </li>
          ))}
        </ul>
      </Card>
      <Card title={es ? 'Mensajes enviados' : 'Messages sent'}>
        <ul class="list">
          {x.messages.map((m) => (
            <li key={m.message_id}>
              <span>{m.subject || m.template}</span>
              <span class="muted small">
                {m.channel} · {m.status}
              </span>
            </li>
          ))}
        </ul>
      </Card>
      {x.cancellable && (
        <Card title={es ? 'Cancelar la venta' : 'Cancel the sale'}>
          <div class="form">
            <Field id="cancel-reason" label={es ? 'Motivo (queda registrado; se informa al cliente)' : 'Reason (recorded; the customer is told)'}>
              <input id="cancel-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </Field>
            <button class="button danger" id="cancel-sale" onClick={cancel} disabled={reason.trim().length < 3}>
              {es ? 'Cancelar la venta' : 'Cancel the sale'}
            </button>
          </div>
        </Card>
      )}
    </Page>
  );
}
