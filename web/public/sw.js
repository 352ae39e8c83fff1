// CaaS service worker: the app shell works offline (cached at install); API calls always go to
// the network (never cached: they carry personal data and must be current).
const CACHE = 'caas-%VERSION%';
const PRECACHE = %PRECACHE%;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || !url.pathname.startsWith('/app/')) return;
  if (event.request.mode === 'navigate') {
    // Screens: the network first (fresh index), the cached shell when offline.
    event.respondWith(fetch(event.request).catch(() => caches.match('/app/')));
    return;
  }
  event.respondWith(caches.match(event.request).then((hit) => hit || fetch(event.request)));
});
