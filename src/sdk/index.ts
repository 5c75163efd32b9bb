/** web-events/sdk: the client for mobile apps and other JavaScript runtimes. */
export { WebEventsClient, type ClientOptions, type EventData, type EventOptions } from './client';
export { MemoryStorage, type SdkStorage } from './storage';
export { backoffMs, retryAfterMs } from './retry';
