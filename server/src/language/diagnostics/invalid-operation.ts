// invalid-operation: an operator with no meaning for its operands. The checker finds the
// operator and the operands' types (values.ts typeName); the messages are written here.

export function article(word: string): string {
  return /^[AEIOU]/.test(word) ? `an ${word}` : `a ${word}`;
}

/** `weights + 1`: a number added to or subtracted from a Model, a Vector or a combination. */
export function numberWithWeightsMessage(operator: '+' | '-', weights: string): string {
  return `cannot ${operator === '+' ? 'add a number to' : 'subtract a number from'} ${article(weights)}: scale it with '*' instead (e.g. 0.5*tau)`;
}

export function weightsProductMessage(left: string, right: string): string {
  return `cannot multiply ${article(left)} by ${article(right)}: weights are combined linearly (add, subtract, scale by numbers)`;
}

export function divisionByWeightsMessage(divisor: string): string {
  return `cannot divide by ${article(divisor)}`;
}

/** An Ensemble of `members` models as an operand of arithmetic. */
export function ensembleOperandMessage(operator: string, members: number): string {
  return `'${operator}' cannot use an Ensemble: it mixes the predictions of its ${members} models (${members} forward passes per token) and has no weights to combine; ` +
    "to average the models' weights into one Model use mean(...) (with the same weights=)";
}

export const cancelledTermsMessage = 'the terms cancel out: this is the zero vector';
