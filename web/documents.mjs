// The vehicles' documents (owner's manual, quick start, maintenance plan, warranty) as real PDF
// files per model of the price list (shared/domain/data/vehicle_models.json), at the addresses
// the expediente lists: /docs/manuals/<model-slug>/<doc>.pdf. A tiny PDF writer: text pages in
// the standard Helvetica font, nothing fetched.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const DOCS = {
  'owners-manual': ["Owner's manual", [
    'Welcome to your new car. This manual explains its controls, its connected features and how to keep it in good shape.',
    'Connected features: optional features are switched on over the air from the CaaS app (Catalog). An activation takes a few minutes; the app shows every attempt and you are only charged when a feature is active.',
    'Linking the app: enter the VIN and the code your car displays in the app (Vehicle > Link).',
    'Driving aids assist you; you remain responsible for the vehicle at all times.',
    'Tyres: check the pressure monthly. Lights: check before long journeys.',
  ]],
  'quick-start': ['Quick start guide', [
    '1. Unlock the car with the key card and press START with your foot on the brake.',
    '2. Link the car to the CaaS app: Vehicle > Link, enter the VIN and the code on the display.',
    '3. Browse the Catalog to activate features such as heated seats or adaptive cruise control.',
    '4. Keep your maintenance current: some features need an up-to-date service record.',
  ]],
  'maintenance-plan': ['Maintenance plan', [
    'Service every 12 months or 20,000 km, whichever comes first, at an authorised workshop.',
    'The workshop records each service in the vehicle service system (VSS); the app shows your record.',
    'Features that depend on maintenance stay available while the record is current.',
  ]],
  warranty: ['Warranty booklet', [
    'Your vehicle is covered for 24 months from delivery, without mileage limit.',
    'The warranty requires maintenance as set out in the maintenance plan; missed services are recorded and may limit cover.',
    'Connected features you buy carry the EU 14-day right of withdrawal.',
  ]],
};

function wrap(text, width = 88) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if ((line + ' ' + word).trim().length > width) { lines.push(line); line = word; } else line = (line + ' ' + word).trim();
  }
  if (line) lines.push(line);
  return lines;
}

const esc = (s) => s.replace(/[\\()]/g, (c) => '\\' + c).replace(/[^\x20-\x7e]/g, '-');

export function pdf(title, subtitle, paragraphs) {
  const ops = ['BT', '/F1 20 Tf', '56 780 Td', `(${esc(title)}) Tj`, '/F1 12 Tf', '0 -24 Td', `(${esc(subtitle)}) Tj`, '/F1 11 Tf', '0 -30 Td', '15 TL'];
  for (const p of paragraphs) { for (const l of wrap(p)) ops.push(`(${esc(l)}) '`); ops.push('T*'); }
  ops.push('ET');
  const stream = ops.join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    `<< /Length ${Buffer.byteLength(stream)} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Title (${esc(title + ' - ' + subtitle)}) /Producer (CaaS) >>`,
  ];
  let body = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((o, i) => { offsets.push(Buffer.byteLength(body)); body += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = Buffer.byteLength(body);
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n` + offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

export function writeDocuments(outDir) {
  const models = JSON.parse(readFileSync('../shared/domain/data/vehicle_models.json', 'utf8')).models;
  for (const m of models) {
    const slug = m.code.toLowerCase().replace(/[^a-z0-9]/g, '-');
    mkdirSync(`${outDir}/manuals/${slug}`, { recursive: true });
    for (const [id, [title, paragraphs]] of Object.entries(DOCS)) {
      writeFileSync(`${outDir}/manuals/${slug}/${id}.pdf`, pdf(title, m.name, paragraphs));
    }
  }
  return models.length;
}
