import { describe, expect, it } from 'vitest';
import { jsonChunks } from '../src/storage/json-upsert';
import { createSource, customerEvent, postEvents, unique } from './fixtures/api';
import { d1Events, runAlarm } from './fixtures/sessions';

const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;
/** 5,000 CJK characters: 15,000 bytes as UTF-8, within the 16 KB a context may hold. */
const CJK = '商品説明'.repeat(1250);

describe("D1 writes stay within D1's statement limits", () => {
  it('chunks are cut by UTF-8 bytes, not UTF-16 units: non-Latin text is up to 3 bytes a character', () => {
    const rows = Array.from({ length: 200 }, (_, i) => ({ i, text: CJK }));
    const chunks = jsonChunks(rows, 900_000);
    for (const chunk of chunks) expect(utf8(chunk)).toBeLessThanOrEqual(900_000);
    expect(chunks.flatMap((c) => JSON.parse(c) as unknown[])).toEqual(rows);
  });

  it('a session of large Cyrillic and CJK contexts reaches D1 whole', async () => {
    const source = await createSource();
    const sessionId = unique('s');
    const contexts = [CJK, 'описание товара '.repeat(480)];
    for (let b = 0; b < 4; b++) {
      const batch = Array.from({ length: 50 }, (_, i) =>
        customerEvent(sessionId, 'product_view', -5 + (b * 50 + i) / 100, 'cust-1', {
          context: { type: 'product', id: `p${b}-${i}`, description: contexts[i % 2] },
        }),
      );
      expect((await postEvents(source.secret_key, batch)).body.results.every((r) => r.status === 'accepted')).toBe(true);
    }
    await runAlarm(source.id, sessionId);
    expect(await d1Events(source.id, sessionId)).toHaveLength(200);
  });
});
