import { createMiddleware } from 'hono/factory';
import { LIMITS, nestsDeeper } from '../events/limits';
import { ApiError } from './errors';

const tooLarge = (limit: number) => new ApiError(413, 'payload_too_large', `the body is larger than ${limit} bytes`);

/**
 * Reads a body no larger than the limit, counting bytes as they stream in (and before, from
 * Content-Length). A gzip body (`Content-Encoding: gzip`) is limited after decompression too,
 * so a small bomb cannot become a large parse.
 */
export async function readText(request: Request, limit: number = LIMITS.requestBytes): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return '';
  const encoding = request.headers.get('content-encoding')?.toLowerCase();
  if (encoding && encoding !== 'gzip' && encoding !== 'identity')
    throw new ApiError(415, 'unsupported_encoding', `Content-Encoding ${encoding} is not supported: send gzip or none`);

  // A body framed by its Content-Length (checked above) cannot grow past it: read it natively.
  // Chunked or compressed bodies are counted as they stream in.
  if (!encoding && request.headers.has('content-length')) {
    const text = await unreadable(request.text());
    if (text.length > limit / 3 && new TextEncoder().encode(text).byteLength > limit) throw tooLarge(limit);
    return text;
  }
  const stream = encoding === 'gzip' ? request.body.pipeThrough(new DecompressionStream('gzip')) : request.body;
  return new TextDecoder().decode(await collect(stream, limit, encoding));
}

/** A body's raw bytes within the limit (a client that compresses without saying so: PostHog's `?compression=gzip-js`). */
export async function readBytes(request: Request, limit: number = LIMITS.requestBytes): Promise<Uint8Array> {
  if (Number(request.headers.get('content-length') ?? 0) > limit) throw tooLarge(limit);
  return request.body ? collect(request.body, limit) : new Uint8Array();
}

/** Gunzips bytes, limited after decompression like a `Content-Encoding: gzip` body. */
export const gunzip = async (bytes: Uint8Array, limit: number = LIMITS.requestBytes) =>
  new TextDecoder().decode(await collect(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')), limit, 'gzip'));

async function collect(stream: ReadableStream<Uint8Array>, limit: number, encoding?: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += chunk.byteLength;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(400, 'invalid_body', `the body could not be read${encoding ? ` as ${encoding}` : ''}`);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

/** Reads and parses a JSON body within the limit (see readText). */
export const readJson = async (request: Request, limit: number = LIMITS.requestBytes): Promise<unknown> => parse(await readText(request, limit));

async function unreadable(text: Promise<string>): Promise<string> {
  try {
    return await text;
  } catch {
    throw new ApiError(400, 'invalid_body', 'the body could not be read');
  }
}

export function parse(text: string): unknown {
  if (!text.trim()) throw new ApiError(400, 'invalid_json', 'the body is empty: expected JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'invalid_json', 'the body is not valid JSON');
  }
}

/** Bodies of the routes validated as a whole (admin, segments, links, triggers) are small. */
const ROUTE_BODY_BYTES = 64 * 1024;

/**
 * For routes whose JSON body a zod schema validates as a whole: the body is read within a size
 * limit and refused when nested deeper than LIMITS.bodyDepth, before a recursive schema walks it.
 * The validator then reads the same text from the request this puts in place of the original.
 */
const guarded = new WeakSet<Request>();
export const guardJson = createMiddleware(async (c, next) => {
  if (c.req.method === 'GET' || c.req.method === 'HEAD' || guarded.has(c.req.raw)) return next();
  const text = await readText(c.req.raw, ROUTE_BODY_BYTES);
  if (text.trim() && /json/i.test(c.req.header('content-type') ?? '')) {
    if (nestsDeeper(parse(text), LIMITS.bodyDepth)) throw new ApiError(400, 'invalid_json', `the body nests deeper than ${LIMITS.bodyDepth} levels`);
  }
  c.req.raw = new Request(c.req.raw, { body: text });
  guarded.add(c.req.raw);
  await next();
});
