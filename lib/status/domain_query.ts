/**
 * Paging and search of the domains for `/status` and the status page: at 16,700 domains the whole list
 * is megabytes per request, so both show a page of matches and a detail view per domain.
 *
 * @module
 */
import { z } from "zod";
import type { Domain } from "../model/model.ts";

/** Largest page a request may ask for. */
export const MAX_LIMIT = 1000;
/** Page size when none is asked for. */
export const DEFAULT_LIMIT = 100;

/** Query parameters of a domain list: `q` (search), `offset`, `limit`. */
export const DomainQuery = z.object({
  q: z.string().trim().max(253, { error: "q is longer than 253 characters" }).default(""),
  offset: z.coerce.number({ error: "offset is not a number" }).int({ error: "offset is not a whole number" })
    .min(0, { error: "offset is negative" }).default(0),
  limit: z.coerce.number({ error: "limit is not a number" }).int({ error: "limit is not a whole number" })
    .min(1, { error: "limit is below 1" }).max(MAX_LIMIT, { error: `limit is above ${MAX_LIMIT}` })
    .default(DEFAULT_LIMIT),
});
/** Query parameters of a domain list. */
export type DomainQuery = z.infer<typeof DomainQuery>;

/** A page of domains. */
export interface DomainPage {
  /** The query it answers. */
  query: DomainQuery;
  /** Domains in the model. */
  total: number;
  /** Domains matching `q`. */
  matched: number;
  /** The page: matches from `offset`, at most `limit`, in the model's order. */
  entries: [string, Domain][];
}

/**
 * Parses list query parameters; throws a `RangeError` naming the parameter when one is invalid.
 *
 * @example
 * ```ts
 * const query = parseDomainQuery({ q: c.req.query("q"), offset: c.req.query("offset") });
 * ```
 */
export function parseDomainQuery(params: Record<string, string | undefined>): DomainQuery {
  const parsed = DomainQuery.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new RangeError(`Invalid query: ${issue?.message ?? "bad parameters"}`);
}

/** Whether a domain matches a search: its name or `namespace/name` contains `q` (any case). */
function matches(name: string, domain: Domain, q: string): boolean {
  if (q === "") return true;
  const needle = q.toLowerCase();
  return name.toLowerCase().includes(needle) || `${domain.namespace}/${domain.name}`.includes(needle);
}

/** The page of `domains` a query asks for. */
export function pageOfDomains(domains: Record<string, Domain>, query: DomainQuery): DomainPage {
  const entries: [string, Domain][] = [];
  let matched = 0;
  let total = 0;
  for (const name in domains) {
    total++;
    const domain = domains[name]!;
    if (!matches(name, domain, query.q)) continue;
    if (matched >= query.offset && entries.length < query.limit) entries.push([name, domain]);
    matched++;
  }
  return { query, total, matched, entries };
}

/** The query string of another page of the same search (for links), e.g. `?q=web&offset=100`. */
export function pageLink(query: DomainQuery, offset: number): string {
  const params = new URLSearchParams();
  if (query.q !== "") params.set("q", query.q);
  if (offset > 0) params.set("offset", String(offset));
  if (query.limit !== DEFAULT_LIMIT) params.set("limit", String(query.limit));
  const text = params.toString();
  return text === "" ? "?" : `?${text}`;
}
