import { z } from '@hono/zod-openapi';
import { Category, ContainerFields, Order, Product, Search } from './schema';

/** What a preconfigured event requires of its context (DESIGN §2). */
interface ContextRule {
  type: 'product' | 'category' | 'order' | 'search';
  schema: z.ZodType<Record<string, unknown>>;
  /** Fields of the action (not of the object) that stay at the context's top level. */
  action?: z.ZodType<Record<string, unknown>>;
}

const RULES: Record<string, ContextRule> = {
  product_view: { type: 'product', schema: Product },
  category_view: { type: 'category', schema: Category },
  container_add: { type: 'product', schema: Product, action: ContainerFields },
  container_remove: { type: 'product', schema: Product, action: ContainerFields },
  search: { type: 'search', schema: Search },
  order_complete: { type: 'order', schema: Order },
};

const NESTED_KEYS = ['product', 'category', 'order', 'search'] as const;

export type ContextResult =
  | { ok: true; context: Record<string, unknown> & { type: string } | null }
  | { ok: false; path: string; message: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Splits the nested form `{product: {...}, container, quantity}` into the snapshot and the rest. */
function unwrap(raw: Record<string, unknown>, type: string | undefined) {
  if (raw.type !== undefined) return { type: String(raw.type), snapshot: raw, rest: raw, nested: false };
  const key = type ?? NESTED_KEYS.find((k) => isObject(raw[k]));
  if (!key || !isObject(raw[key])) return null;
  const { [key]: inner, ...rest } = raw;
  return { type: key, snapshot: inner as Record<string, unknown>, rest, nested: true };
}

/**
 * Brings a context to its canonical form `{type, ...fields}`, validating what the event's name
 * requires: a product snapshot for `product_view`, a product with `container` and `quantity` for
 * `container_add`, and so on. Custom events keep any context that says its type.
 */
export function normalizeContext(name: string, raw: Record<string, unknown> | null | undefined): ContextResult {
  const rule = RULES[name];
  if (raw == null) {
    return rule ? { ok: false, path: 'context', message: `required for ${name}: a ${rule.type} snapshot` } : { ok: true, context: null };
  }
  const parts = unwrap(raw, rule?.type);
  if (!parts) {
    return rule
      ? { ok: false, path: `context.${rule.type}`, message: `required for ${name}` }
      : { ok: false, path: 'context.type', message: 'required: say what the snapshot is (product, category, order, cart, search, page or a custom type)' };
  }
  if (!rule) return { ok: true, context: { ...parts.snapshot, type: parts.type } };
  if (parts.type !== rule.type) return { ok: false, path: 'context.type', message: `must be "${rule.type}" for ${name}` };

  const prefix = parts.nested ? `context.${rule.type}` : 'context';
  const snapshot = rule.schema.safeParse(parts.snapshot);
  if (!snapshot.success) return failure(prefix, snapshot.error);
  let action: Record<string, unknown> = {};
  if (rule.action) {
    const parsed = rule.action.safeParse(parts.rest);
    if (!parsed.success) return failure('context', parsed.error);
    action = parsed.data;
  }
  return { ok: true, context: { type: rule.type, ...snapshot.data, ...action } };
}

function failure(prefix: string, error: z.ZodError): ContextResult {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].join('.');
  return { ok: false, path, message: issue?.message ?? 'invalid' };
}
