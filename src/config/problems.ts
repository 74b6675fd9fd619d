import { SecurityError } from '../core/errors.js';

/** Problems found so far, each a sentence naming a variable, never a value. */
export class Problems {
  readonly list: string[] = [];
  readonly variables: string[] = [];
  add(problem: string, ...variables: string[]): void {
    if (!this.list.includes(problem)) this.list.push(problem);
    for (const v of variables) if (!this.variables.includes(v)) this.variables.push(v);
  }
  error(): SecurityError {
    return new SecurityError('ERR_INVALID_CONFIG', `invalid security configuration: ${this.list.join('; ')}`, {
      details: { problems: [...this.list], variables: [...this.variables] },
    });
  }
}

