/**
 * verifyLogFile verifies a file decision log of any size, every segment in
 * order (segments.ts), reading it in chunks: memory stays flat whatever the
 * size. The checks and messages are verifyLog's; in a log of more than one
 * segment each message starts with the segment's file name, a segment
 * missing from the numbering is reported as such, and a segment that does
 * not end with a whole record is a torn tail there.
 */
import { logSegments, type ReadLogOptions, walkSegments } from './segments.ts';
import { ChainVerifier, type VerifyOptions, type VerifyResult } from './verify.ts';

export type FileVerifyResult = VerifyResult & {
  /** Segments read. */
  readonly segments: number;
};

/** verifyLogFile verifies the log at `base`. File errors (ENOENT, EACCES…) are thrown as they are. */
export function verifyLogFile(base: string, options: VerifyOptions & ReadLogOptions = {}): FileVerifyResult {
  const segments = logSegments(base, options.end);
  const verifier = new ChainVerifier({ ...options, named: segments.length > 1 });
  walkSegments(
    base,
    segments,
    {
      segment: (segment, missing, last) => verifier.beginSegment(segment.name, missing?.name, last),
      line: (bytes, kind) => verifier.line(bytes, kind),
      done: () => verifier.done,
    },
    options,
  );
  return { ...verifier.finish(), segments: segments.length };
}
