// Bundles the `roamwatch` CLI (agent, processor, watch, doctor, replay) and every dependency
// (kafkajs, zod, winston, rxjs, commander, yaml, the InfluxDB client) into one ES module, for
// the .deb and the tarball (scripts/package.sh; docs/install.md). Input: the compiled
// JavaScript of `npm run build` (cli/dist/main.js and the workspaces' dist/).
//
// Three places in the compiled code find files relative to their own module at run time, which
// a bundle cannot keep; each is rewritten here, and the build fails if its pattern is gone
// (so that a change in the source cannot silently ship a broken package):
//  - agent/dist/rtnetlink/source.js: the rtnl-pipe helper (`../../native/build/rtnl-pipe`) is
//    shipped next to the bundle (`./rtnl-pipe`);
//  - agent/dist/sinks/kafkajs-idle-fix.js: `require('kafkajs/src/network/requestQueue/index.js')`
//    through createRequire becomes a static import, so that the patch reaches the RequestQueue
//    that the bundled kafkajs uses (one module instance in the bundle);
//  - agent/dist/agent/version.js and cli/dist/version.js: `require('…/package.json')` for the
//    version becomes a static JSON import.
//
// Usage: node scripts/package/bundle.mjs OUTFILE
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));
const outfile = process.argv[2];
if (!outfile) {
  process.stderr.write('usage: node scripts/package/bundle.mjs OUTFILE\n');
  process.exit(2);
}

/** file (relative to the repository) → [pattern, replacement] rewrites that must each match. */
const REWRITES = {
  'agent/dist/rtnetlink/source.js': [[`new URL('../../native/build/rtnl-pipe', import.meta.url)`, `new URL('./rtnl-pipe', import.meta.url)`]],
  'agent/dist/sinks/kafkajs-idle-fix.js': [[`require('kafkajs/src/network/requestQueue/index.js')`, '__rwRequestQueue']],
  'agent/dist/agent/version.js': [[`require('../../package.json')`, '__rwPackageJson']],
  'cli/dist/version.js': [[`require('../package.json')`, '__rwPackageJson']],
};
const IMPORTS = {
  '__rwRequestQueue': 'kafkajs/src/network/requestQueue/index.js',
  '__rwPackageJson': null, // the file's own package.json, below
};

const rewrite = {
  name: 'roamwatch-rewrite',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const rel = path.relative(root, args.path).split(path.sep).join('/');
      const rules = REWRITES[rel];
      if (!rules) return undefined;
      let text = await readFile(args.path, 'utf8');
      const imports = [];
      for (const [from, to] of rules) {
        if (!text.includes(from)) throw new Error(`${rel}: expected \`${from}\` (the bundle rewrites it; update scripts/package/bundle.mjs)`);
        text = text.split(from).join(to);
        if (to in IMPORTS) {
          const spec = IMPORTS[to] ?? from.slice("require('".length, -"')".length);
          imports.push(`import ${to} from ${JSON.stringify(spec)};`);
        }
      }
      return { contents: `${imports.join('\n')}\n${text}`, loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};

await build({
  entryPoints: [path.join(root, 'cli/bin/roamwatch.js')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  // CommonJS dependencies (kafkajs, winston) require Node's built-in modules: give the bundle a
  // real `require` for them.
  banner: { js: "import { createRequire as __rwCreateRequire } from 'node:module'; const require = __rwCreateRequire(import.meta.url);" },
  legalComments: 'eof',
  logLevel: 'warning',
  plugins: [rewrite],
});
