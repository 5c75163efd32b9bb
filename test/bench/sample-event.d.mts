export type SampleEvent = {
  event_id: string;
  session_id: string;
  name: string;
  occurred_at: string;
  seq: number;
  page: { url: string; referrer: string | null; title: string };
  context?: Record<string, unknown>;
  params?: Record<string, unknown>;
};
export function sampleEvent(i: number, session: string, id: string, now: string): SampleEvent;
export function toWire(e: SampleEvent): Record<string, unknown>;
