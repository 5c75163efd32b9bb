/** @web-events/sdk: the client for mobile apps and other JavaScript runtimes (packages/sdk). */
export { type ClientOptions, type EventData, type EventOptions, WebEventsClient } from './client';
export { backoffMs, retryAfterMs } from './retry';
export { MemoryStorage, type SdkStorage } from './storage';
export type { EventContext, EventParams, SdkEvent } from './types';
