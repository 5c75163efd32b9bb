/**
 * The SDK's own types of what it sends (POST /v1/sdk/events, docs/sdk.md): plain TypeScript, so
 * that the published package carries no schema library. test/sdk-types.test.ts holds them to the
 * collector's event model, so they cannot drift apart.
 */

/** The object an event concerns: `{type, ...fields}` (a product, a category, an order…), or the nested `{product: {...}}`. */
export type EventContext = { type?: string; [field: string]: unknown };

/** Free attributes of the action itself: flat values only. */
export type EventParams = Record<string, string | number | boolean | null>;

/** One event as the SDK sends it. */
export interface SdkEvent {
  event_id: string;
  session_id: string;
  name: string;
  occurred_at: string;
  seq: number;
  customer_id?: string;
  customer_hash?: string;
  context?: EventContext;
  params?: EventParams;
}
