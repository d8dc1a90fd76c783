/**
 * `npm run grafana:generate`: writes the dashboards and provisioning files built by
 * grafana/src/*.ts. Run from the repository root (npm does that).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderAll } from './render.js';

const root = process.cwd();
const files = renderAll();
// Dashboards that are no longer generated must not linger in the provisioned folder.
const dashDir = join(root, 'grafana/dashboards');
mkdirSync(dashDir, { recursive: true });
for (const name of readdirSync(dashDir)) {
  if (name.endsWith('.json') && !files.has(`grafana/dashboards/${name}`)) rmSync(join(dashDir, name));
}
for (const [path, content] of files) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
  console.log(`wrote ${path}`);
}
