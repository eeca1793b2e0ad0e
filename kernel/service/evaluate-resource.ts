/**
 * The spelling /v1/evaluate takes for a path-like resource (one that starts
 * with `/`): the kernel's own canonical form (vfs/path.ts resolvePath's
 * result), `/` or `/a/b`. A rule's `paths:` glob matches the text as given,
 * so `/data/../../etc/shadow` and `/data//x` matched `/data/**` while the
 * agent outside would act on another file. Such a resource is refused, not
 * normalised: the agent acts on the text it sent, so the text decided must
 * be the one it acts on (as http.fetch refuses a URL not in its canonical
 * form). A resource that does not start with `/` is a name of the agent's
 * own and is taken as it is. The test is the policy's own for path
 * arguments (kernel/policy/path-spelling.ts).
 */
import { pathSpelling } from '../policy/path-spelling.ts';

/** RULES is what the refusal says a path must be. */
const RULES = "no '.' or '..' segments, no empty segments ('//'), no trailing '/', no NUL";

/** resourceRefusal is the 400's message (EINVAL) for a path-like `resource` not in canonical form, or undefined when it may be decided. */
export function resourceRefusal(resource: string): string | undefined {
  const why = pathSpelling(resource);
  return why === undefined ? undefined : `body/resource: a path (a resource starting with '/') must be in the kernel's canonical form, ${RULES}; ${why}. It is refused, not normalised: send the path the agent will act on, spelled so`;
}
