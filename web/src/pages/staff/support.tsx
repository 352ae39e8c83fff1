// Technical support: the queue of failed activations and a ticket.
import { useState } from 'preact/hooks';
import { api, ApiError, type Schemas } from '../../api/client';
import { fmtDateTime } from '../../i18n';
import { Alert, Card, Chip, ErrorBox, Field, Loading, NotFound, Page, useLoad } from '../../ui';
import { st, type Role } from './i18n';

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
            {k.service.name} · {k.service.state ?? '—'}
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
