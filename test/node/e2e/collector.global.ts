// vitest globalSetup of the e2e project: one collector (wrangler dev, local D1 and Durable
// Objects) for every end-to-end file; each test makes its own sources, so they share it safely.
import type { TestProject } from 'vitest/node';
import { startCollector } from './harness';

export default async function setup(project: TestProject) {
  const collector = await startCollector();
  project.provide('collectorUrl', collector.url);
  return () => collector.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    collectorUrl: string;
  }
}
