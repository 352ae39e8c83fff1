// Languages of the app (es, fr, de, en): every text of every screen, and the formats of money,
// numbers and dates per locale (Intl). The language is the customer's choice (kept on this
// device and, once the account offers it, in the account), else the browser's.
import { createContext, h, type ComponentChildren } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { en } from './locales/en';
import { es } from './locales/es';
import { fr } from './locales/fr';
import { de } from './locales/de';

export type Key = keyof typeof en;
export type Lang = 'es' | 'fr' | 'de' | 'en';
export const LANGS: { code: Lang; name: string }[] = [
  { code: 'es', name: 'Español' },
  { code: 'fr', name: 'Français' },
  { code: 'de', name: 'Deutsch' },
  { code: 'en', name: 'English' },
];
const DICTS: Record<Lang, Record<Key, string>> = { en, es, fr, de };
const LOCALE: Record<Lang, string> = { es: 'es-ES', fr: 'fr-FR', de: 'de-DE', en: 'en-GB' };
const STORE = 'caas.lang';

function initial(): Lang {
  const saved = localStorage.getItem(STORE);
  if (saved && saved in DICTS) return saved as Lang;
  for (const l of navigator.languages ?? [navigator.language]) {
    const c = l.slice(0, 2).toLowerCase();
    if (c in DICTS) return c as Lang;
  }
  return 'en';
}

let current: Lang = initial();
const listeners = new Set<(l: Lang) => void>();

export function lang(): Lang {
  return current;
}

/** The language chosen on this device (the picker), if any. */
export function explicitLang(): Lang | null {
  const saved = localStorage.getItem(STORE);
  return saved && saved in DICTS ? (saved as Lang) : null;
}

/** Shows the app in `l`; `remember`: the customer chose it here (kept on this device). */
export function setLang(l: Lang, remember = true) {
  if (!(l in DICTS)) return;
  current = l;
  if (remember) localStorage.setItem(STORE, l);
  document.documentElement.lang = l;
  listeners.forEach((f) => f(l));
}

/** The text `key` in the current language, `{name}` placeholders filled from `vars`. */
export function t(key: Key, vars: Record<string, string> = {}): string {
  const s = DICTS[current][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? '');
}

export function fmtMoney(minor: number, currency: string): string {
  return new Intl.NumberFormat(LOCALE[current], { style: 'currency', currency }).format(minor / 100);
}

/** A short amount for a chart's label: whole units, thousands abbreviated (€1.5K, 1,5 mil €). */
export function fmtMoneyShort(minor: number, currency: string): string {
  return new Intl.NumberFormat(LOCALE[current], { style: 'currency', currency, notation: 'compact', maximumFractionDigits: 1 }).format(minor / 100);
}

const toDate = (d: number | string) => (typeof d === 'number' ? new Date(d) : new Date(d.length === 10 ? `${d}T12:00:00Z` : d));

export function fmtDate(d: number | string): string {
  return new Intl.DateTimeFormat(LOCALE[current], { day: 'numeric', month: 'long', year: 'numeric' }).format(toDate(d));
}

export function fmtDateTime(d: number | string): string {
  return new Intl.DateTimeFormat(LOCALE[current], { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }).format(toDate(d));
}

const Ctx = createContext<Lang>(current);

/** Re-renders the app when the language changes. */
export function LangProvider(props: { children: ComponentChildren }) {
  const [l, setL] = useState(current);
  useEffect(() => {
    document.documentElement.lang = current;
    listeners.add(setL);
    return () => void listeners.delete(setL);
  }, []);
  return h(Ctx.Provider, { value: l }, props.children);
}

export function useLang(): Lang {
  return useContext(Ctx);
}

export function LanguagePicker(props: { onChange?: (l: Lang) => void }) {
  const l = useLang();
  return h(
    'div',
    { class: 'field' },
    h('label', { for: 'language' }, t('account.language')),
    h(
      'select',
      {
        id: 'language',
        value: l,
        onChange: (e: Event) => {
          const v = (e.currentTarget as HTMLSelectElement).value as Lang;
          setLang(v);
          props.onChange?.(v);
        },
      },
      LANGS.map((x) => h('option', { value: x.code, key: x.code, lang: x.code }, x.name)),
    ),
  );
}
