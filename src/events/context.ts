import type { z } from '@hono/zod-openapi';
import { type FastValidator, fastCategory, fastContainerFields, fastOrder, fastProduct, fastSearch } from './fast-validate';
import { Category, ContainerFields, Order, Product, Search } from './schema';

/** A schema and its fast twin (fast-validate.ts), which is tried first. */
interface Validator {
  schema: z.ZodType<Record<string, unknown>>;
  fast: FastValidator;
}

/** What a preconfigured event requires of its context (docs/design.md §1). */
interface ContextRule {
  type: 'product' | 'category' | 'order' | 'search';
  snapshot: Validator;
  /** Fields of the action (not of the object) that stay at the context's top level. */
  action?: Validator;
}

const PRODUCT: Validator = { schema: Product, fast: fastProduct };
const CONTAINER: Validator = { schema: ContainerFields, fast: fastContainerFields };

const RULES: Record<string, ContextRule> = {
  product_view: { type: 'product', snapshot: PRODUCT },
  category_view: { type: 'category', snapshot: { schema: Category, fast: fastCategory } },
  container_add: { type: 'product', snapshot: PRODUCT, action: CONTAINER },
  container_remove: { type: 'product', snapshot: PRODUCT, action: CONTAINER },
  search: { type: 'search', snapshot: { schema: Search, fast: fastSearch } },
  order_complete: { type: 'order', snapshot: { schema: Order, fast: fastOrder } },
};

const NESTED_KEYS = ['product', 'category', 'order', 'search'] as const;

export type ContextResult = { ok: true; context: (Record<string, unknown> & { type: string }) | null } | { ok: false; path: string; message: string };

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

  const snapshot = validate(rule.snapshot, parts.snapshot, parts.nested ? `context.${rule.type}` : 'context');
  if (!snapshot.ok) return snapshot;
  const action = rule.action ? validate(rule.action, parts.rest, 'context') : { ok: true as const, data: {} };
  if (!action.ok) return action;
  return { ok: true, context: { type: rule.type, ...snapshot.data, ...action.data } };
}

/** The fast twin's output when it is sure; otherwise zod's, which words the refusal. */
function validate(v: Validator, raw: unknown, prefix: string): { ok: true; data: Record<string, unknown> } | Extract<ContextResult, { ok: false }> {
  const data = v.fast(raw);
  if (data) return { ok: true, data };
  const parsed = v.schema.safeParse(raw);
  return parsed.success ? { ok: true, data: parsed.data } : failure(prefix, parsed.error);
}

function failure(prefix: string, error: z.ZodError): Extract<ContextResult, { ok: false }> {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].join('.');
  return { ok: false, path, message: issue?.message ?? 'invalid' };
}
