import { describe, expect, it } from 'vitest';
import { call } from './fixtures/api';

describe('API description', () => {
  it('serves an OpenAPI 3.1 document of the REST routes, generated from the zod schemas', async () => {
    const res = await call('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { required?: string[] }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/web-events',
        '/api/v1/sessions/{source_id}/{session_id}',
        '/api/v1/customers/{customer_id}/sessions',
        '/api/v1/admin/sources',
        '/api/v1/admin/sources/{id}/rotate-keys',
        '/api/v1/segments/preview',
        '/api/v1/segments/{id}/export',
      ]),
    );
    expect(Object.keys(doc.paths['/api/v1/web-events']!)).toEqual(expect.arrayContaining(['get', 'post']));
    expect(doc.components.schemas.EventInput!.required).toEqual(expect.arrayContaining(['session_id', 'name', 'occurred_at']));
  });

  it('serves a readable API reference at /docs', async () => {
    const res = await call('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('/openapi.json');
  });
});
