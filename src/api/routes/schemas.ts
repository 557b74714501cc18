import { FILTER_PARAMETERS } from '../../query/shorthands.js';

const list = { type: 'array', items: { type: 'string' } } as const;

/** Query-string schema of the hubble-observe-like filter shorthands (documented in OpenAPI). */
export function filterQueryProperties(): Record<string, object> {
  const props: Record<string, object> = {};
  for (const name of FILTER_PARAMETERS) {
    props[name] = { ...list, description: `hubble observe --${name.replace(/_/g, '-')}` };
    props[`not_${name}`] = { ...list, description: `exclude: hubble observe --not --${name.replace(/_/g, '-')}` };
  }
  return props;
}

export const timeProperties = {
  since: { type: 'string', description: 'RFC3339, Unix seconds, or relative like 15m (default: until minus --query-max-range)' },
  until: { type: 'string', description: 'RFC3339, Unix seconds, or relative (default: now)' },
};

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, parameter: { type: 'string' } },
};

export const flowFilterListSchema = {
  type: 'array',
  maxItems: 64,
  items: { type: 'object', additionalProperties: true, description: 'a Hubble FlowFilter in protojson, as hubble observe --print-raw-filters prints it' },
};
