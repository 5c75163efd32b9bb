// Applies the migrations of this folder to every D1 binding in wrangler.toml (each shard):
//   node migrations/apply.mjs --local    (npm start)
//   node migrations/apply.mjs --remote   (npm run deploy)
// Further arguments go to each `wrangler d1 migrations apply` (the tests pass --persist-to).
// Wrangler reads only the .sql files here; this script is not one of them.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { unstable_readConfig } from 'wrangler';

const [where, ...rest] = process.argv.slice(2);
if (where !== '--local' && where !== '--remote') {
  console.error('usage: node migrations/apply.mjs --local|--remote');
  process.exit(2);
}
const root = path.join(import.meta.dirname, '..');
const config = unstable_readConfig({ config: path.join(root, 'wrangler.toml') });
const wrangler = path.join(root, 'node_modules', '.bin', 'wrangler');
for (const { binding } of config.d1_databases) {
  console.log(`migrations: ${binding} (${where.slice(2)})`);
  execFileSync(wrangler, ['d1', 'migrations', 'apply', binding, where, ...rest], { cwd: root, stdio: 'inherit', env: { ...process.env, CI: 'true' } });
}
