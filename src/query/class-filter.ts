import type { FilterSet } from './filter.js';

/**
 * FlowFilter fields whose answer is the same for every flow of a policy class
 * (src/store/class-key.ts): they read only the endpoints, addresses, DNS names,
 * services, verdict, drop reason, direction, event type, protocol and L7 record
 * the class is keyed on, so filters made of them can select classes instead of
 * flows. Ports are not among them (a class keys on the service port only), nor
 * is `reply` (the legacy reply flag is not keyed).
 */
const CLASS_FIELDS = new Set([
  'verdict', 'drop_reason_desc', 'traffic_direction', 'protocol', 'dns_query', 'http_method', 'http_path', 'http_url',
  ...['pod', 'label', 'workload', 'cluster_name', 'identity', 'ip', 'fqdn', 'service'].flatMap((f) => [`source_${f}`, `destination_${f}`]),
]);

/** Whether every filter of the set selects whole classes. */
export function decidedByClass(filters: FilterSet): boolean {
  return [...filters.whitelist, ...filters.blacklist].every((f) => Object.entries(f.fields).every(([field, value]) => {
    if (field === 'experimental') return ((value as { cel_expression?: unknown[] }).cel_expression ?? []).length === 0;
    if (!Array.isArray(value)) return false;
    if (value.length === 0) return true;
    // An event type with a sub-type reads event_sub, which classes do not key on.
    if (field === 'event_type') return (value as { match_sub_type?: boolean }[]).every((e) => !e.match_sub_type);
    return CLASS_FIELDS.has(field);
  }));
}
