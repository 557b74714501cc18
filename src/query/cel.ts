import { createRequire } from 'node:module';
import { createFileRegistry, fromBinary, fromJson } from '@bufbuild/protobuf';
import type { DescMessage, FileRegistry, JsonValue, Message } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { celEnv, isCelError, objectType, parse, plan } from '@bufbuild/cel';
import type protobuf from 'protobufjs';
import { FlowkeeperError } from '../errors.js';
import type { FlowRecord } from '../flows/record.js';
import { root } from '../flows/schema.js';
import type { Dimension } from './model.js';

/**
 * CEL filters (`experimental.cel_expression`) as Hubble runs them: each
 * expression sees the flow as `_flow` (a `flow.Flow`, in the `flow` container,
 * so `Verdict.DROPPED` resolves), a flow matches when any expression is true,
 * and an evaluation error counts as "no match". SQL cannot say, so the other
 * fields of the filter narrow the scan and the query budget bounds the rest.
 */

/** Longest CEL expression accepted. */
export const MAX_CEL_LENGTH = 4096;

interface DescriptorTree {
  file: { name: string; package?: string; dependency?: string[]; messageType?: MessageTree[] }[];
}
interface MessageTree {
  name: string;
  field?: { name: string; typeName?: string }[];
  nestedType?: MessageTree[];
}

/** flow.Flow for @bufbuild/protobuf, built from the same proto/ files the rest of flowkeeper reads. */
function flowDescriptor(): { registry: FileRegistry; flow: DescMessage } {
  const require = createRequire(import.meta.url);
  // Adds Root#toDescriptor and exposes the descriptor.proto types.
  const descriptor = require('protobufjs/ext/descriptor/index.js') as { FileDescriptorSet: protobuf.Type };
  const set = (root as unknown as { toDescriptor(edition: string): DescriptorTree }).toDescriptor('proto3');
  // protobufjs writes type names relative to their scope and no imports: qualify them and add the imports.
  const owner = new Map<string, string>();
  const visit = (file: string, scope: string, messages: MessageTree[] | undefined, fn: (m: MessageTree, full: string) => void): void => {
    for (const m of messages ?? []) {
      const full = `${scope}.${m.name}`;
      fn(m, full);
      visit(file, full, m.nestedType, fn);
    }
  };
  for (const f of set.file) {
    visit(f.name, f.package ? `.${f.package}` : '', f.messageType, (_m, full) => owner.set(full, f.name));
    for (const e of (f as { enumType?: { name: string }[] }).enumType ?? []) owner.set(`.${f.package}.${e.name}`, f.name);
  }
  const requires = new Map<string, Set<string>>();
  for (const f of set.file) {
    const deps = new Set<string>();
    visit(f.name, f.package ? `.${f.package}` : '', f.messageType, (m, full) => {
      const type = root.lookupType(full.slice(1));
      for (const field of m.field ?? []) {
        if (!field.typeName) continue;
        field.typeName = (type.fields[field.name].resolvedType as protobuf.ReflectionObject).fullName;
        const file = owner.get(field.typeName) ?? [...owner.entries()].find(([name]) => field.typeName!.startsWith(`${name}.`))?.[1];
        if (file && file !== f.name) deps.add(file);
      }
    });
    f.dependency = [...deps];
    requires.set(f.name, deps);
  }
  const ordered: string[] = [];
  const place = (name: string): void => {
    if (ordered.includes(name)) return;
    for (const d of requires.get(name) ?? []) place(d);
    ordered.push(name);
  };
  set.file.forEach((f) => place(f.name));
  set.file.sort((a, b) => ordered.indexOf(a.name) - ordered.indexOf(b.name));
  const bytes = descriptor.FileDescriptorSet.encode(set as unknown as protobuf.Message).finish();
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  return { registry, flow: registry.getMessage('flow.Flow')! };
}

let flowTypes: ReturnType<typeof flowDescriptor> | null = null;
let env: ReturnType<typeof makeEnv> | null = null;

function makeEnv(types: ReturnType<typeof flowDescriptor>) {
  return celEnv({ namespace: 'flow', registry: types.registry, variables: { _flow: objectType(types.flow) } });
}

function environment(): { env: NonNullable<typeof env>; types: ReturnType<typeof flowDescriptor> } {
  flowTypes ??= flowDescriptor();
  env ??= makeEnv(flowTypes);
  return { env, types: flowTypes };
}

function bad(message: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `experimental.cel_expression: ${message}`, 'cel_expression');
}

/** The flow as a flow.Flow message (once per record: several expressions may read it). */
const messages = new WeakMap<FlowRecord, Message>();
function asMessage(flow: FlowRecord, types: ReturnType<typeof flowDescriptor>): Message {
  let m = messages.get(flow);
  if (!m) {
    m = fromJson(types.flow, flow as unknown as JsonValue, { registry: types.registry, ignoreUnknownFields: true });
    messages.set(flow, m);
  }
  return m;
}

export function celDimension(expressions: string[]): Dimension {
  const { env: e, types } = environment();
  const empty = fromJson(types.flow, {}, { registry: types.registry });
  const programs = expressions.map((text) => {
    if (text.length > MAX_CEL_LENGTH) bad(`expression longer than ${MAX_CEL_LENGTH} characters`);
    let program: (ctx: { _flow: Message }) => unknown;
    try {
      program = plan(e, parse(text)) as unknown as (ctx: { _flow: Message }) => unknown;
    } catch (err) {
      return bad(`error compiling CEL expression: ${(err as Error).message}`);
    }
    // No static type checker is available here: a dry run on an empty flow finds
    // unknown fields and non-boolean results, which Hubble's checker refuses.
    const probe = program({ _flow: empty });
    if (isCelError(probe) && /not found|undeclared|unresolved|no such|unknown/i.test(probe.message)) bad(`error compiling CEL expression: ${probe.message}`);
    if (!isCelError(probe) && typeof probe !== 'boolean') bad(`got ${typeof probe === 'bigint' ? 'int' : typeof probe}, wanted bool result type`);
    return program;
  });
  return {
    name: 'cel_expression',
    match: (flow) => {
      const m = asMessage(flow, types);
      return programs.some((p) => p({ _flow: m }) === true);
    },
    sql: () => null,
  };
}
