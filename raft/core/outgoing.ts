// A message as the core builds it: the sender and (by default) the current term are filled
// in when it is queued. Distributes Omit over the Message union so each variant keeps its
// own fields.
import type { Message, Term } from '../types.js';

export type Outgoing = Message extends infer M
  ? M extends Message
    ? Omit<M, 'from' | 'term'> & { term?: Term }
    : never
  : never;
