/** The limits of the web event contract (DESIGN §2, §4). */
export const LIMITS = {
  /** Events in one request, on every channel. */
  batchEvents: 500,
  /** Request body bytes, checked before parsing. */
  requestBytes: 1024 * 1024,
  /** Serialized context bytes. */
  contextBytes: 16 * 1024,
  /** Keys in `params`. */
  paramsKeys: 50,
  /** Serialized `device` bytes. */
  deviceBytes: 2 * 1024,
  /** An `occurred_at` further ahead of the server clock than this is clamped. */
  futureSkewMs: 5 * 60 * 1000,
} as const;

export const NAME_PATTERN = /^[a-z0-9_.:-]{1,64}$/;
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
