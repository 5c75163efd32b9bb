// Which folder of src/ may import which (docs/design.md, "Layers"). `npm run typecheck` runs it;
// a wrong import fails it. Arrows point one way:
//   http/ → wire/ → sessions/ → triggers/ → segments/, links/, sources/, retention/ → storage/ → events/ (the model)
// with config.ts and encoding.ts as leaves anyone may use, and tracker/ and sdk/ apart.
const LEAVES = ['config.ts', 'encoding.ts'];
const allowed = {
  events: ['events/'],
  storage: ['storage/', 'events/', ...LEAVES],
  segments: ['segments/', 'storage/', 'events/', ...LEAVES],
  links: ['links/', 'storage/', 'events/', ...LEAVES],
  sources: ['sources/', 'storage/', 'events/', ...LEAVES],
  retention: ['retention/', 'storage/', 'events/', ...LEAVES],
  triggers: ['triggers/', 'monitor/', 'segments/', 'storage/', 'events/', ...LEAVES],
  // What the console shows: fed by the ingest path, the session objects and the queue consumer.
  monitor: ['monitor/', ...LEAVES],
  sessions: ['sessions/', 'monitor/', 'triggers/', 'links/', 'sources/', 'storage/', 'events/', ...LEAVES],
  // Segment, Snowplow and PostHog messages onto the ingest path (docs/wire.md).
  wire: ['wire/', 'monitor/', 'sessions/', 'sources/', 'storage/', 'events/', ...LEAVES],
  http: [
    'http/',
    'wire/',
    'monitor/',
    'sessions/',
    'triggers/',
    'segments/',
    'links/',
    'sources/',
    'storage/',
    'events/',
    ...LEAVES,
    'tracker/built.ts',
    'console/built.ts',
  ],
  // The browser script: nothing of the worker.
  tracker: ['tracker/'],
  // The console's page: nothing of the worker (it reads the API).
  console: ['console/'],
  // The SDK (packages/sdk): nothing of the worker; test/sdk-types.test.ts holds its types to the model.
  sdk: ['sdk/'],
};

module.exports = {
  forbidden: [
    ...Object.entries(allowed).map(([folder, may]) => ({
      name: `${folder}-imports`,
      comment: `src/${folder}/ may import only ${may.join(', ')}`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: '^src/', pathNot: may.map((m) => `^src/${m.replace('.', '\\.')}`) },
    })),
    {
      name: 'leaves-import-nothing',
      comment: 'config.ts and encoding.ts import no other module of src/',
      severity: 'error',
      from: { path: '^src/(config|encoding)\\.ts$' },
      to: { path: '^src/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'no-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true, pathNot: '^cloudflare:' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/((tracker|console)/build|built-module)\\.mjs$' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
