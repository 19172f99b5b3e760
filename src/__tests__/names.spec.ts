import { nameMessage, nameProblem } from '../names';

describe('nameProblem', () => {
  it.each([
    'hg38-reference',
    'scientific-stack',
    'resnet50',
    'a',
    'a'.repeat(63)
  ])('accepts %s', name => {
    expect(nameProblem(name)).toBeNull();
  });

  it.each([
    ['', 'the layer name is empty'],
    ['a'.repeat(64), 'the layer name is 64 characters long'],
    ['../x', "the layer name contains a path separator or '..'"],
    ['a/b', "the layer name contains a path separator or '..'"],
    ['café', 'the layer name contains non-ASCII characters'],
    ['Hg38', 'the layer name contains uppercase letters'],
    ['-x', 'the layer name starts or ends with a dash'],
    ['x-', 'the layer name starts or ends with a dash'],
    ['a--b', 'the layer name contains two dashes in a row'],
    [
      'my_layer',
      "the layer name contains characters other than a-z, 0-9 and '-'"
    ],
    ['a b', "the layer name contains characters other than a-z, 0-9 and '-'"]
  ])('refuses %j: %s', (name, problem) => {
    expect(nameProblem(name)).toBe(problem);
  });
});

describe('nameMessage', () => {
  it("words the message like the server's", () => {
    expect(nameMessage('Bad')).toBe(
      "Invalid layer name 'Bad': the layer name contains uppercase letters; a layer name uses lowercase letters a-z, digits 0-9 and single dashes between them (for example 'hg38-reference'), at most 63 characters."
    );
    // an empty name too, as the server says it (Invalid layer name '': ...)
    expect(nameMessage('')).toBe(
      "Invalid layer name '': the layer name is empty; a layer name uses lowercase letters a-z, digits 0-9 and single dashes between them (for example 'hg38-reference'), at most 63 characters."
    );
  });

  it('is null for a valid name', () => {
    expect(nameMessage('hg38')).toBeNull();
  });

  it('shortens very long names', () => {
    const message = nameMessage('x'.repeat(100)) ?? '';
    expect(
      message.startsWith(`Invalid layer name '${'x'.repeat(60)}'...: `)
    ).toBe(true);
  });
});
