import { LIMITS } from '../events/limits';
import { ApiError } from './errors';

const tooLarge = () => new ApiError(413, 'payload_too_large', `the body is larger than ${LIMITS.requestBytes} bytes`);

/**
 * Reads a JSON body no larger than the limit, counting bytes as they stream in (and before, from
 * Content-Length), then parses it. A gzip body (`Content-Encoding: gzip`) is limited after
 * decompression too, so a small bomb cannot become a large parse.
 */
export async function readJson(request: Request, limit: number = LIMITS.requestBytes): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > limit) throw tooLarge();
  if (!request.body) throw new ApiError(400, 'invalid_json', 'the body is empty: expected JSON');
  let stream: ReadableStream<Uint8Array> = request.body;
  const encoding = request.headers.get('content-encoding')?.toLowerCase();
  if (encoding === 'gzip') stream = stream.pipeThrough(new DecompressionStream('gzip'));
  else if (encoding && encoding !== 'identity') throw new ApiError(415, 'unsupported_encoding', `Content-Encoding ${encoding} is not supported: send gzip or none`);

  // A body framed by its Content-Length (checked above) cannot grow past it: read it natively.
  // Chunked or compressed bodies are counted as they stream in.
  if (!encoding && request.headers.has('content-length')) {
    const text = await readText(request.text());
    if (text.length > limit / 3 && new TextEncoder().encode(text).byteLength > limit) throw tooLarge();
    return parse(text);
  }

  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += chunk.byteLength;
      if (size > limit) throw tooLarge();
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
  return parse(new TextDecoder().decode(bytes));
}

async function readText(text: Promise<string>): Promise<string> {
  try {
    return await text;
  } catch {
    throw new ApiError(400, 'invalid_body', 'the body could not be read');
  }
}

function parse(text: string): unknown {
  if (!text.trim()) throw new ApiError(400, 'invalid_json', 'the body is empty: expected JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'invalid_json', 'the body is not valid JSON');
  }
}
