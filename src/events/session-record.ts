import { z } from '@hono/zod-openapi';
import { CHANNELS } from './schema';

export const DEANONYMIZED_BY = ['login', 'registration', 'event', 'campaign_link'] as const;
export type DeanonymizedBy = (typeof DEANONYMIZED_BY)[number];

/** The session record (docs/design.md §2), the same live in the session object and in D1. */
export const SessionRecord = z
  .object({
    source_id: z.string(),
    session_id: z.string(),
    channel: z.enum(CHANNELS),
    customer_id: z.string().nullable(),
    claimed_customer_id: z
      .string()
      .nullable()
      .openapi({ description: 'The first customer named on a public channel without a valid customer_hash: shown, never attributed' }),
    status: z.enum(['open', 'closed']),
    started_at: z.string(),
    last_event_at: z.string(),
    last_received_at: z.string().openapi({ description: 'When the collector last received an event of the session; retention counts from it' }),
    closed_at: z.string().nullable(),
    event_count: z.number().int(),
    landing_url: z.string().nullable(),
    referrer: z.string().nullable(),
    utm: z.record(z.string(), z.string()).nullable(),
    user_agent: z.string().nullable(),
    country: z.string().nullable(),
    deanonymized_at: z.string().nullable(),
    deanonymized_by: z.enum(DEANONYMIZED_BY).nullable(),
    identity_conflicts: z.number().int(),
  })
  .openapi('Session');
export type SessionRecord = z.infer<typeof SessionRecord>;

/** The name of a session's object (docs/design.md, rule 1): every event of the session goes to it. */
export const sessionObjectName = (sourceId: string, sessionId: string) => `${sourceId}:${sessionId}`;

/** Where a page of a session's events in session order (rule 2) starts: after this event's (occurred_at, seq, arrival). */
export type OrderCursor = [occurredAt: string, seq: string, arrival: string];
