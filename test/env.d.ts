import type { D1Migration } from 'cloudflare:test';

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      RECEIVER_URL: string;
      /** The lake's stand-in (test/fixtures/lake-recorder.js): what was sent, per source; a switch to refuse sends. */
      LAKE: {
        send(records: import('../src/storage/lake').LakeRecord[]): Promise<void>;
        records(sourceId: string): Promise<import('../src/storage/lake').LakeRecord[]>;
        refuse(sourceId: string, on: boolean): Promise<void>;
      };
    }
  }
}
