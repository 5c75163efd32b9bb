import type { D1Migration } from 'cloudflare:test';

interface RecordedStream<T> {
  send(records: T[]): Promise<void>;
  records(sourceId: string): Promise<T[]>;
  refuse(sourceId: string, on: boolean): Promise<void>;
}

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      RECEIVER_URL: string;
      /** The same receiver on other ports (space-separated): other hosts to the webhook consumer. */
      OTHER_RECEIVER_URLS: string;
      /** The session simulation's sequences and seed ('' for the defaults). */
      SIM_OBJECT_RUNS: string;
      SIM_SEED: string;
      /** The lake's stand-ins (test/fixtures/lake-recorder.js): what was sent, per source; a switch to refuse sends. */
      LAKE: RecordedStream<import('../src/storage/lake').LakeRecord>;
      LAKE_SESSIONS: RecordedStream<import('../src/storage/lake').LakeSessionRecord>;
    }
  }
}
