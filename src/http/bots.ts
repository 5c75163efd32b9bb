import { isbot } from 'isbot';

/** isbot's pattern is long and user agents repeat: remember the verdicts (bounded). */
const verdicts = new Map<string, boolean>();

/** Whether a user agent is a crawler, a monitor or a mail scanner (isbot's list). */
export function isBot(userAgent: string): boolean {
  let verdict = verdicts.get(userAgent);
  if (verdict === undefined) {
    if (verdicts.size >= 1000) verdicts.clear();
    verdicts.set(userAgent, (verdict = isbot(userAgent)));
  }
  return verdict;
}
