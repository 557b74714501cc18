import { echo } from '../errors.js';
import protobuf from 'protobufjs';

/**
 * Conversion between protobufjs messages and the protojson form Hubble prints
 * (`hubble observe -o jsonpb`: proto field names, enum names, 64-bit integers as
 * strings, RFC3339 timestamps, bare wrapper values, zero values left out).
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const WRAPPERS = new Set([
  'google.protobuf.BoolValue',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.StringValue',
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
]);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

/** The last second formatted: flows come in time order, thousands per second, and Date's toISOString on each was most of the cost of formatting its time. */
let lastSecond = NaN;
let lastSecondText = '';

function secondText(seconds: number): string {
  if (seconds !== lastSecond) {
    lastSecondText = new Date(seconds * 1000).toISOString().slice(0, 19);
    lastSecond = seconds;
  }
  return lastSecondText;
}

/** RFC3339 in UTC with 0, 3, 6 or 9 fractional digits, as Go's protojson writes it. */
export function formatTimestamp(seconds: number, nanos: number): string {
  const base = secondText(seconds);
  if (nanos === 0) return base + 'Z';
  let frac = String(nanos).padStart(9, '0');
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  return `${base}.${frac}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$/;

/** Parses an RFC3339 timestamp to seconds and nanos; null when it is not one. */
export function parseTimestamp(text: string): { seconds: number; nanos: number } | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const zone = m[4].toUpperCase() === 'Z' ? 'Z' : m[4];
  const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(ms)) return null;
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  return { seconds: Math.floor(ms / 1000), nanos };
}

function isZero(value: unknown): boolean {
  if (value === 0 || value === '' || value === false) return true;
  if (typeof value === 'object' && value !== null && 'low' in value && 'high' in value) {
    const long = value as { low: number; high: number };
    return long.low === 0 && long.high === 0;
  }
  return value instanceof Uint8Array && value.length === 0;
}

type Kind = 'message' | 'timestamp' | 'wrapper' | 'enum' | 'long' | 'bytes' | 'scalar';

/** How to print one field, worked out once per message type (the hot path of live streaming). */
interface FieldPlan {
  name: string;
  repeated: boolean;
  kind: Kind;
  type?: protobuf.Type;
  enumById?: Record<number, string>;
  /** For wrappers: how to print the wrapped value. */
  inner?: FieldPlan;
}

const plans = new WeakMap<protobuf.Type, FieldPlan[]>();

function planField(field: protobuf.Field): FieldPlan {
  field.resolve();
  const rt = field.resolvedType;
  const base = { name: field.name, repeated: field.repeated };
  if (rt instanceof protobuf.Type) {
    const name = fullName(rt);
    if (name === 'google.protobuf.Timestamp') return { ...base, kind: 'timestamp' };
    if (WRAPPERS.has(name)) return { ...base, kind: 'wrapper', inner: planField(rt.fields.value) };
    return { ...base, kind: 'message', type: rt };
  }
  if (rt instanceof protobuf.Enum) return { ...base, kind: 'enum', enumById: rt.valuesById };
  if (LONG_TYPES.has(field.type)) return { ...base, kind: 'long' };
  if (field.type === 'bytes') return { ...base, kind: 'bytes' };
  return { ...base, kind: 'scalar' };
}

function planOf(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (!plan) {
    plan = type.fieldsArray.map(planField);
    plans.set(type, plan);
  }
  return plan;
}

function bytesText(value: Uint8Array): string {
  return Buffer.from(value).toString('base64');
}

/** A decoded protobufjs message (or plain object of the same shape) to Hubble's protojson. */
export function messageToJsonpb(type: protobuf.Type, message: Record<string, unknown>): JsonObject {
  return converterOf(type)(message);
}

export type Converter = (message: Record<string, unknown>) => JsonObject;

/** messageToJsonpb for `type` over only the fields `keep` selects (by name): what it gives, less the other keys. */
export function partialConverter(type: protobuf.Type, keep: (name: string) => boolean): Converter {
  return compileConverter(type, keep);
}

const converters = new WeakMap<protobuf.Type, Converter>();

function converterOf(type: protobuf.Type): Converter {
  let converter = converters.get(type);
  if (!converter) {
    // A type that contains itself reaches this trampoline while it is being compiled.
    let compiled: Converter | null = null;
    converters.set(type, (m) => compiled!(m));
    compiled = compileConverter(type);
    converters.set(type, compiled);
    converter = compiled;
  }
  return converter;
}

/** A 64-bit integer as protobufjs decodes it (a number, or a Long when the long package is present) as a number. */
export function longToNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v) {
    const long = v as { low: number; high: number; unsigned?: boolean };
    return (long.unsigned ? long.high >>> 0 : long.high) * 4294967296 + (long.low >>> 0);
  }
  return Number(v);
}

/** A 64-bit integer in protojson: a decimal string (Long's own toString is slow; below 2^53 the number says the same). */
function longText(v: unknown): string {
  const n = longToNumber(v);
  return Number.isSafeInteger(n) ? String(n) : String(v);
}

function timestampText(v: { seconds?: unknown; nanos?: unknown }): string {
  return formatTimestamp(longToNumber(v.seconds ?? 0), longToNumber(v.nanos ?? 0));
}

/**
 * Compiles a message type's conversion to one function that reads and writes
 * each field by its constant name. Live streaming converts every flow, and a
 * generic loop over field names (`message[name]`) spends most of its time in
 * V8's keyed lookups: the compiled form is several times faster. The code is
 * generated from the proto schema only; names are embedded as JSON string
 * literals. Output (keys, their order, values) is what the generic loop it
 * replaced gave: the same JSON text, byte for byte, on every fixture flow and
 * 20,000 simulator flows.
 */
function compileConverter(type: protobuf.Type, keep: (name: string) => boolean = () => true): Converter {
  const deps: unknown[] = [];
  const dep = (value: unknown): string => {
    deps.push(value);
    return `d[${deps.length - 1}]`;
  };
  const expr = (plan: FieldPlan, v: string): string => {
    switch (plan.kind) {
      case 'message':
        return `${dep(converterOf(plan.type!))}(${v})`;
      case 'timestamp':
        return `${dep(timestampText)}(${v})`;
      case 'enum':
        return `(${dep(plan.enumById)}[${v}] ?? ${v})`;
      case 'long':
        return `${dep(longText)}(${v})`;
      case 'wrapper':
        return expr(plan.inner!, `(${v}.value ?? 0)`);
      case 'bytes':
        return `${dep(bytesText)}(${v})`;
      case 'scalar':
        return v;
    }
  };
  const lines = ['const o = {};', 'let v;'];
  for (const plan of planOf(type).filter((p) => keep(p.name))) {
    const key = JSON.stringify(plan.name);
    lines.push(`v = m[${key}];`);
    if (plan.repeated) {
      lines.push(`if (v !== undefined && v !== null && v.length !== 0) { const a = new Array(v.length); for (let i = 0; i < v.length; i++) a[i] = ${expr(plan, 'v[i]')}; o[${key}] = a; }`);
      continue;
    }
    // proto3: scalars at their zero value are left out; set messages (even empty) are printed.
    const zero = plan.kind === 'scalar' || plan.kind === 'enum' ? ' && v !== 0 && v !== \'\' && v !== false' : plan.kind === 'long' || plan.kind === 'bytes' ? ` && !${dep(isZero)}(v)` : '';
    lines.push(`if (v !== undefined && v !== null${zero}) o[${key}] = ${expr(plan, 'v')};`);
  }
  lines.push('return o;');
  return new Function('d', `return function convert(m) {\n${lines.join('\n')}\n};`)(deps) as Converter;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

/** A protojson integer: a JSON number or a decimal string, within `min`..`max`. */
function integerFromJson(value: JsonValue, path: string, min: number, max: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d{1,20}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new TypeError(`${path}: expected an integer from ${min} to ${max}, got ${echo(value)}`);
  return n;
}

/** Checks a protojson scalar against the field's type: wrong types are errors, never passed on. */
function scalarFromJson(field: protobuf.Field, value: JsonValue, path: string): unknown {
  if (field.resolvedType instanceof protobuf.Enum) {
    if (typeof value === 'number') return integerFromJson(value, path, -2147483648, 2147483647);
    if (typeof value === 'string') {
      const n = field.resolvedType.values[value];
      if (n === undefined) throw new TypeError(`${path}: unknown ${field.resolvedType.name} value ${echo(value)} (one of ${Object.keys(field.resolvedType.values).join(', ')})`);
      return n;
    }
    throw new TypeError(`${path}: expected an enum name or number`);
  }
  const type = field.type;
  if (type === 'string') {
    if (typeof value !== 'string') throw new TypeError(`${path}: expected a string, got ${echo(value)}`);
    return value;
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw new TypeError(`${path}: expected true or false, got ${echo(value)}`);
    return value;
  }
  if (type === 'bytes') {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new TypeError(`${path}: expected base64 bytes`);
    return Buffer.from(value, 'base64');
  }
  if (INT32.has(type)) return integerFromJson(value, path, -2147483648, 2147483647);
  if (UINT32.has(type)) return integerFromJson(value, path, 0, 4294967295);
  if (INT64.has(type)) return integerFromJson(value, path, type.startsWith('u') || type.startsWith('fixed') ? 0 : Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (type === 'double' || type === 'float') {
    const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
    if (Number.isNaN(n) && value !== 'NaN') throw new TypeError(`${path}: expected a number, got ${echo(value)}`);
    return n;
  }
  return value;
}

function valueFromJson(field: protobuf.Field, value: JsonValue, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) {
    const name = cachedFullName(rt);
    if (name === 'google.protobuf.Timestamp') {
      if (typeof value !== 'string') throw new TypeError(`${path}: expected an RFC3339 timestamp string`);
      const ts = parseTimestamp(value);
      if (!ts) throw new TypeError(`${path}: "${value}" is not an RFC3339 timestamp`);
      return ts;
    }
    if (WRAPPERS.has(name)) return { value: scalarFromJson(rt.fields.value, value, path) };
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TypeError(`${path}: expected an object`);
    }
    return jsonpbToPlain(rt, value, path);
  }
  return scalarFromJson(field, value, path);
}

const byNameCache = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

/** A message's fields by proto name and lowerCamel JSON name (built once per type: encoding is a hot path). */
function fieldsByName(type: protobuf.Type): Map<string, protobuf.Field> {
  let byName = byNameCache.get(type);
  if (!byName) {
    byName = new Map();
    for (const f of type.fieldsArray) {
      f.resolve();
      byName.set(f.name, f);
      byName.set(camel(f.name), f);
    }
    byNameCache.set(type, byName);
  }
  return byName;
}

const fullNames = new WeakMap<protobuf.ReflectionObject, string>();

function cachedFullName(t: protobuf.ReflectionObject): string {
  let name = fullNames.get(t);
  if (name === undefined) {
    name = fullName(t);
    fullNames.set(t, name);
  }
  return name;
}

/**
 * Hubble protojson to a plain object protobufjs' `fromObject` accepts. Accepts
 * proto names and lowerCamel JSON names, as protojson does; unknown keys are an error.
 */
export function jsonpbToPlain(type: protobuf.Type, json: JsonObject, path = type.name): Record<string, unknown> {
  const byName = fieldsByName(type);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = byName.get(key);
    if (!field) throw new TypeError(`${path}: unknown field "${key}"`);
    if (value === null) continue;
    const fieldPath = `${path}.${key}`;
    if (field.repeated) {
      if (!Array.isArray(value)) throw new TypeError(`${fieldPath}: expected an array`);
      out[field.name] = value.map((v, i) => valueFromJson(field, v, `${fieldPath}[${i}]`));
    } else {
      out[field.name] = valueFromJson(field, value, fieldPath);
    }
  }
  return out;
}

/** Encodes a protojson object as the binary message of `type`. */
export function encodeJsonpb(type: protobuf.Type, json: JsonObject): Uint8Array {
  return type.encode(type.fromObject(jsonpbToPlain(type, json))).finish();
}
