// Shared pieces of the screens: page frame, cards, status chips, alerts, loading and errors.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api/client';
import { t } from './i18n';

export function Page(props: { title: string; children: ComponentChildren; back?: { href: string; label: string } }) {
  const h = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · CaaS`;
    h.current?.focus();
  }, [props.title]);
  return (
    <section class="page">
      {props.back && (
        <a class="back" href={props.back.href}>
          ← {props.back.label}
        </a>
      )}
      <h1 tabIndex={-1} ref={h}>
        {props.title}
      </h1>
      {props.children}
    </section>
  );
}

export function Card(props: { title?: string; children: ComponentChildren; class?: string; id?: string }) {
  return (
    <article class={`card ${props.class ?? ''}`} id={props.id}>
      {props.title && <h2>{props.title}</h2>}
      {props.children}
    </article>
  );
}

export function Chip(props: { tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted'; children: ComponentChildren }) {
  return <span class={`chip chip-${props.tone}`}>{props.children}</span>;
}

export function Alert(props: { tone: 'ok' | 'warn' | 'bad' | 'info'; children: ComponentChildren; id?: string }) {
  return (
    <div class={`alert alert-${props.tone}`} role={props.tone === 'bad' ? 'alert' : 'status'} id={props.id}>
      {props.children}
    </div>
  );
}

/** The human message of a failed call (the API's problem detail, or what went wrong). */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return t('error.offline');
    if (e.status === 404) return t('error.notFound');
    if (e.status === 429) return e.detail || t('error.tooMany');
    if (e.status >= 500) return t('error.unavailable');
    return e.detail || e.title;
  }
  return t('error.unexpected');
}

export function ErrorBox(props: { error: unknown }) {
  return <Alert tone="bad">{errorText(props.error)}</Alert>;
}

export function Loading() {
  return (
    <p class="loading" role="status">
      {t('common.loading')}
    </p>
  );
}

/** Loads `f()` (again when `deps` change, and after the delay `poll` gives for the value, if any). */
export function useLoad<T>(f: () => Promise<T>, deps: unknown[], poll?: (v: T) => number | false) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    const run = () =>
      f().then(
        (data) => {
          if (!live) return;
          setState({ data, loading: false });
          const again = poll ? poll(data) : false;
          if (again) timer = window.setTimeout(run, again);
        },
        (error) => live && setState({ error, loading: false }),
      );
    run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

export function NotFound() {
  return (
    <Page title={t('notFound.title')}>
      <Card>
        <p>{t('notFound.body')}</p>
        <a class="button" href="/app/">
          {t('nav.home')}
        </a>
      </Card>
    </Page>
  );
}

export function Field(props: { id: string; label: string; children: ComponentChildren; hint?: string }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </small>
      )}
    </div>
  );
}
