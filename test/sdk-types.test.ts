import type { z } from '@hono/zod-openapi';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EventInput } from '../src/events/schema';
import type { SdkEvent } from '../src/sdk';

/** The SDK's own types (src/sdk/types.ts, so the package carries no schema library) against the event model: no drift. */
describe("the SDK's types", () => {
  it('describe an event the collector takes, in type and at run time', () => {
    expectTypeOf<SdkEvent>().toExtend<z.input<typeof EventInput>>();
    const sent: SdkEvent = {
      event_id: crypto.randomUUID(),
      session_id: 's-1',
      name: 'product_view',
      occurred_at: new Date().toISOString(),
      seq: 1,
      customer_id: 'cust-1',
      customer_hash: 'a'.repeat(64),
      context: { type: 'product', id: 'sku-1', price: 9.5 },
      params: { rating: 2, gift: false, note: null },
    };
    expect(EventInput.safeParse(sent).success).toBe(true);
  });
});
