import type { DictionaryLookup, StoredRow } from '../../flows/materialize.js';
import { rowToRecord, storedFlowKey } from '../../flows/materialize.js';
import type { FlowRecord } from '../../flows/record.js';
import { writeStoredResponse } from '../../flows/responses.js';
import type { WireWriter } from '../../flows/wire-writer.js';
import type { StoredFlow } from '../../query/engine.js';

/** A flow stored in SQLite: its row and the dictionaries its ids point into. */
export class RowFlow implements StoredFlow {
  constructor(
    private readonly row: StoredRow,
    private readonly dict: DictionaryLookup,
    /** Its record, when the filter's re-check already built it */
    private built?: FlowRecord,
  ) {}

  get seconds(): number {
    return this.row.seconds;
  }

  get nanos(): number {
    return this.row.nanos;
  }

  record(): FlowRecord {
    return (this.built ??= rowToRecord(this.row, this.dict));
  }

  writeResponse(w: WireWriter): void {
    writeStoredResponse(w, this.row, this.dict);
  }

  key(): string {
    return storedFlowKey(this.row, this.dict);
  }
}
