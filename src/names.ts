/**
 * The layer-name rule, the same as the server's: lowercase letters a-z,
 * digits 0-9 and single dashes between them, at most 63 characters.
 */
export const MAX_NAME_LENGTH = 63;

const NAME_RE = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * The rule, as the server words it in its messages.
 */
export const NAME_RULE = `a layer name uses lowercase letters a-z, digits 0-9 and single dashes between them (for example 'hg38-reference'), at most ${MAX_NAME_LENGTH} characters`;

/**
 * Why `name` is not a valid layer name, or `null` when it is valid.
 *
 * The problems are checked in the server's order, so the sidebar tells the
 * same reason the server would.
 */
export function nameProblem(name: string): string | null {
  if (name === '') {
    return 'the layer name is empty';
  }
  if (name.length > MAX_NAME_LENGTH) {
    return `the layer name is ${name.length} characters long`;
  }
  if (NAME_RE.test(name)) {
    return null;
  }
  if (/[/\\]/.test(name) || name.includes('..')) {
    return "the layer name contains a path separator or '..'";
  }
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name)) {
    return 'the layer name contains non-ASCII characters';
  }
  if (/[A-Z]/.test(name)) {
    return 'the layer name contains uppercase letters';
  }
  if (name.startsWith('-') || name.endsWith('-')) {
    return 'the layer name starts or ends with a dash';
  }
  if (name.includes('--')) {
    return 'the layer name contains two dashes in a row';
  }
  return "the layer name contains characters other than a-z, 0-9 and '-'";
}

/**
 * The full message for an invalid name, worded like the server's; `null`
 * when the name is valid.
 */
export function nameMessage(name: string): string | null {
  const problem = nameProblem(name);
  if (problem === null) {
    return null;
  }
  const shown = name.length <= 80 ? `'${name}'` : `'${name.slice(0, 60)}'...`;
  return `Invalid layer name ${shown}: ${problem}; ${NAME_RULE}.`;
}
