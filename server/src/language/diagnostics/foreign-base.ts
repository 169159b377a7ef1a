// foreign-base: task vectors computed from one model applied to another. The checker
// finds which models; the message is written here.

export interface ForeignBaseFacts {
  /** Names of the models the task vectors were computed from. */
  readonly bases: readonly string[];
  /** Names of the models they are applied to. */
  readonly origins: readonly string[];
}

export function foreignBaseMessage(facts: ForeignBaseFacts): string {
  return `a task vector computed from ${facts.bases.join(', ')} is applied to ${facts.origins.join(', ')}: task vectors are meant for the model they were computed from ` +
    '(add them all to the same base, e.g. base + (a - base) + (b - base))';
}
