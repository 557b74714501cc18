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
/** Most evaluation steps one expression may take per flow (a static estimate; see evaluationCost). */
export const MAX_CEL_COST = 100_000;
/** Elements assumed in a list the flow supplies (labels, names, headers): generous for real flows. */
const FLOW_LIST_SIZE = 256;

/** The parts of CEL's syntax tree the cost estimate walks. */
interface Node {
  exprKind: { case?: string; value?: unknown };
}
interface Comprehension {
  iterRange?: Node;
  accuInit?: Node;
  loopCondition?: Node;
  loopStep?: Node;
  result?: Node;
}

/**
 * An upper estimate of the steps one evaluation takes: comprehensions (all,
 * exists, map, filter) multiply the cost of their body by the size of what they
 * iterate, a literal's length or FLOW_LIST_SIZE for a list from the flow. The
 * CEL library has no cost limit of its own, so this keeps a nested
 * comprehension over a long literal from pinning the service.
 */
function evaluationCost(node: Node | undefined): number {
  if (!node) return 0;
  const v = node.exprKind.value as Record<string, unknown> | undefined;
  const sum = (nodes: unknown): number => ((nodes as Node[] | undefined) ?? []).reduce((n, c) => n + evaluationCost(c), 0);
  switch (node.exprKind.case) {
    case 'selectExpr':
      return 1 + evaluationCost(v!.operand as Node);
    case 'callExpr':
      return 1 + evaluationCost(v!.target as Node | undefined) + sum(v!.args);
    case 'listExpr':
      return 1 + sum(v!.elements);
    case 'structExpr':
      return 1 + ((v!.entries as { value?: Node; keyKind?: { case?: string; value?: Node } }[]) ?? [])
        .reduce((n, e) => n + evaluationCost(e.value) + (e.keyKind?.case === 'mapKey' ? evaluationCost(e.keyKind.value) : 0), 0);
    case 'comprehensionExpr': {
      const c = v as Comprehension;
      const range = c.iterRange?.exprKind;
      const rangeValue = range?.value as { elements?: unknown[]; entries?: unknown[] } | undefined;
      const size = range?.case === 'listExpr' ? rangeValue!.elements!.length : range?.case === 'structExpr' ? rangeValue!.entries!.length : FLOW_LIST_SIZE;
      return evaluationCost(c.iterRange) + evaluationCost(c.accuInit) + size * (1 + evaluationCost(c.loopCondition) + evaluationCost(c.loopStep)) + evaluationCost(c.result);
    }
    default:
      return 1;
  }
}

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

function makeEnvironment() {
  const types = flowDescriptor();
  return { types, env: celEnv({ namespace: 'flow', registry: types.registry, variables: { _flow: objectType(types.flow) } }) };
}

/** Built on first use: most processes never see a CEL filter. */
let environmentOnce: ReturnType<typeof makeEnvironment> | null = null;
const environment = (): ReturnType<typeof makeEnvironment> => (environmentOnce ??= makeEnvironment());

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
      const parsed = parse(text);
      const cost = evaluationCost(parsed.expr as unknown as Node);
      if (cost > MAX_CEL_COST) bad(`expression too expensive: about ${cost} steps per flow (at most ${MAX_CEL_COST})`);
      program = plan(e, parsed) as unknown as (ctx: { _flow: Message }) => unknown;
    } catch (err) {
      if (err instanceof FlowkeeperError) throw err;
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
