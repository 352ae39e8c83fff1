// Builds the customer web app into dist/: a fingerprinted bundle (JS + CSS) under app/assets/,
// app/index.html pointing at it, the PWA manifest, icon and a service worker that precaches the
// bundle (its version is the bundle's hash, so a new build replaces the old cache).
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { writeDocuments } from './documents.mjs';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const out = 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/app/assets`, { recursive: true });

const result = await esbuild.build({
  entryPoints: ['src/main.tsx', 'src/app.css'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  entryNames: '[name]-[hash]',
  // The staff intranet (imported lazily by main.tsx) and what it alone needs go to their own files.
  splitting: true,
  chunkNames: '[name]-[hash]',
  outdir: `${out}/app/assets`,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const outputs = Object.entries(result.metafile.outputs);
const files = outputs.map(([p]) => p.replace(`${out}/app/`, ''));
const entry = (src) => outputs.find(([, o]) => o.entryPoint === src)[0].replace(`${out}/app/`, '');
const js = entry('src/main.tsx');
const css = entry('src/app.css');
// The files the entry imports statically (shared with the intranet's file): part of the first load,
// preloaded by the page and precached by the service worker like the entry itself.
const staticImports = (f, seen = new Set()) => {
  for (const i of result.metafile.outputs[`${out}/app/${f}`].imports) {
    const dep = i.path.replace(`${out}/app/`, '');
    if (i.kind === 'import-statement' && !seen.has(dep)) {
      seen.add(dep);
      staticImports(dep, seen);
    }
  }
  return [...seen];
};
const shared = staticImports(js);
const version = createHash('sha256').update(files.join(',')).digest('hex').slice(0, 12);

const preload = shared.map((f) => `<link rel="modulepreload" href="/app/${f}">\n`).join('');
const html = readFileSync('public/index.html', 'utf8').replace('%CSS%', `/app/${css}`).replace('%PRELOAD%', preload).replace('%JS%', `/app/${js}`);
writeFileSync(`${out}/app/index.html`, html);
for (const f of readdirSync('public')) if (f !== 'index.html' && f !== 'sw.js') cpSync(`public/${f}`, `${out}/app/${f}`, { recursive: true });
const precache = ['/app/', `/app/${js}`, ...shared.map((f) => `/app/${f}`), `/app/${css}`, '/app/icon.svg', '/app/manifest.webmanifest'];
const sw = readFileSync('public/sw.js', 'utf8').replace('%VERSION%', version).replace('%PRECACHE%', JSON.stringify(precache));
writeFileSync(`${out}/app/sw.js`, sw);
writeDocuments(`${out}/docs`);
// A gzip copy beside every text file that it makes smaller: the web component answers it to
// browsers that accept gzip (a phone on a slow network loads ~a quarter of the bytes).
const TEXT = /\.(js|css|html|svg|webmanifest|json|txt)$/;
const gzipAll = (dir) => {
  for (const f of readdirSync(dir)) {
    const p = `${dir}/${f}`;
    if (statSync(p).isDirectory()) gzipAll(p);
    else if (TEXT.test(f)) {
      const raw = readFileSync(p);
      const gz = gzipSync(raw, { level: 9 });
      if (gz.length < raw.length) writeFileSync(`${p}.gz`, gz);
    }
  }
};
gzipAll(out);
const size = (f) => readFileSync(`${out}/app/${f}`).length;
const first = [js, ...shared, css, 'index.html'];
const total = first.reduce((n, f) => n + size(f), 0);
const gzTotal = first.reduce((n, f) => n + size(`${f}.gz`), 0);
const later = files.filter((f) => f.endsWith('.js') && !first.includes(f));
console.log(`web: built ${js}, ${css} (first load ${(total / 1024).toFixed(1)} KiB, ${(gzTotal / 1024).toFixed(1)} KiB gzipped); loaded later: ${later.join(', ')}`);
