/**
 * Reading Prometheus text exposition in tests with parse-prometheus-text-format (the package ships no
 * types; these are the shapes it returns): parse, index the families by name, find a sample by its
 * exact label set.
 *
 * ```ts
 * const families = familiesByName(parsePrometheus(await res.text()));
 * const family = families.get("haconfd_domains");
 * assert.ok(family);
 * assert.equal(Number(findSample(family)?.value), 2);
 * ```
 *
 * @module
 */

import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One sample as parse-prometheus-text-format returns it. */
export interface Sample {
  /** The value of a counter, gauge or untyped sample, as written. */
  value?: string;
  /** The sample's labels. */
  labels?: Record<string, string>;
  /** Histogram buckets: upper bound → cumulative count. */
  buckets?: Record<string, string>;
  /** Histogram or summary count. */
  count?: string;
  /** Histogram or summary sum. */
  sum?: string;
}

/** One family as parse-prometheus-text-format returns it. */
export interface Family {
  /** The metric name. */
  name: string;
  /** The `# HELP` text. */
  help: string;
  /** The `# TYPE`, upper case. */
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  /** The family's samples, in the order of the text. */
  metrics: Sample[];
}

const parse = parsePrometheusTextFormat as unknown as (text: string) => Family[];

/** Parses Prometheus text exposition into its metric families; throws on malformed text. */
export function parsePrometheus(text: string): Family[] {
  return parse(text);
}

/** `families` keyed by name. */
export function familiesByName(families: readonly Family[]): Map<string, Family> {
  return new Map(families.map((family) => [family.name, family]));
}

/** The first sample of `family` whose labels are exactly `labels` (no more, no fewer), if any. */
export function findSample(family: Family, labels: Record<string, string> = {}): Sample | undefined {
  return family.metrics.find((m) =>
    Object.keys(m.labels ?? {}).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
}
