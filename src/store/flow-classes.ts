import type { Deadline } from '../query/deadline.js';
import { isBefore } from '../query/time.js';
import type { SqlFragment } from '../query/model.js';
import type { FlowRecord, FlowTime } from '../flows/record.js';

/** Flows grouped into classes that any policy judges alike (classKeyOf), as both engines answer them. */

export interface FlowClass {
  /** What makes the class (comparable between scans of the same filters) */
  key: string;
  /** One flow of the class, as stored */
  sample: FlowRecord;
  flows: number;
  first: FlowTime;
  last: FlowTime;
}

export interface FlowClassQuery {
  where: SqlFragment;
  /** Re-check of each row when `where` is only a superset of the answer (rows are then grouped in JS). */
  recheck: ((flow: FlowRecord) => boolean) | null;
  /** `where` when every filter it holds reads only columns flow_classes keeps (null: hours are grouped from raw flows). */
  classWhere: SqlFragment | null;
  since: FlowTime;
  until: FlowTime;
  withHeaders: boolean;
  /** Most classes kept; beyond it the scan stops and says so */
  maxClasses: number;
  deadline: Deadline;
}

export interface FlowClasses {
  classes: FlowClass[];
  flows: number;
  /** Why the scan stopped early: out of time, or too many classes (null: complete) */
  truncated: 'deadline' | 'classes' | null;
  /** Flows after this time were not read (when truncated) */
  readUntil: FlowTime | null;
}

/** Scans of consecutive time ranges (in order) as one: classes merged by key, the earliest sample kept. */
export function mergeFlowClasses(parts: FlowClasses[]): FlowClasses {
  const byKey = new Map<string, FlowClass>();
  let flows = 0;
  for (const part of parts) {
    flows += part.flows;
    for (const c of part.classes) {
      const seen = byKey.get(c.key);
      if (!seen) byKey.set(c.key, { ...c });
      else {
        seen.flows += c.flows;
        if (isBefore(c.first, seen.first)) {
          seen.first = c.first;
          seen.sample = c.sample;
        }
        if (isBefore(seen.last, c.last)) seen.last = c.last;
      }
    }
  }
  // The first part that stopped early decides what was read.
  const stopped = parts.find((p) => p.truncated !== null);
  return { classes: [...byKey.values()], flows, truncated: stopped?.truncated ?? null, readUntil: stopped?.readUntil ?? null };
}
