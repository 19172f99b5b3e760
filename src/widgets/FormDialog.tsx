import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';

/**
 * Renders the fields of a form for its current value.
 */
export type FormRenderer<T> = (
  value: T,
  update: (change: Partial<T>) => void
) => JSX.Element;

/**
 * The body of a form dialog: React fields over one value object.
 *
 * The dialog's accept button is disabled while `validate` finds a problem,
 * so a person sees at once why the form cannot be sent yet.
 */
export class FormBody<T extends object>
  extends ReactWidget
  implements Dialog.IBodyWidget<T>
{
  constructor(options: FormBody.IOptions<T>) {
    super();
    this._value = options.initial;
    this._render = options.render;
    this._validate = options.validate ?? (() => null);
    this.addClass('pennlayer-Form');
  }

  getValue(): T {
    return this._value;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._syncAccept();
  }

  render(): JSX.Element {
    return this._render(this._value, change => {
      this._value = { ...this._value, ...change };
      this.update();
      this._syncAccept();
    });
  }

  private _syncAccept(): void {
    const accept = this.node
      .closest('.jp-Dialog-content')
      ?.querySelector<HTMLButtonElement>('.jp-Dialog-footer .jp-mod-accept');
    if (accept) {
      const problem = this._validate(this._value);
      accept.disabled = problem !== null;
      accept.title = problem ?? '';
    }
  }

  private _render: FormRenderer<T>;
  private _validate: (value: T) => string | null;
  private _value: T;
}

/**
 * A namespace for `FormBody` statics.
 */
export namespace FormBody {
  export interface IOptions<T> {
    initial: T;
    render: FormRenderer<T>;
    /** Why the value cannot be sent yet, or `null`. */
    validate?: (value: T) => string | null;
  }
}

/**
 * Show a form until it is cancelled or `submit` succeeds.
 *
 * A value that does not validate, or that the server refuses, shows the
 * problem (the server's own message) and opens the form again with what
 * the person typed.
 *
 * @returns whether the form was submitted successfully
 */
export async function showForm<T extends object>(options: {
  title: string;
  acceptLabel: string;
  initial: T;
  render: FormRenderer<T>;
  validate?: (value: T) => string | null;
  submit: (value: T) => Promise<void>;
  focusNodeSelector?: string;
}): Promise<boolean> {
  let value = options.initial;
  for (;;) {
    const body = new FormBody<T>({
      initial: value,
      render: options.render,
      validate: options.validate
    });
    const result = await showDialog<T>({
      title: options.title,
      body,
      focusNodeSelector: options.focusNodeSelector ?? 'input, textarea, select',
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: options.acceptLabel })
      ]
    });
    if (!result.button.accept || result.value === null) {
      return false;
    }
    value = result.value;
    const problem = options.validate?.(value) ?? null;
    if (problem !== null) {
      await showErrorMessage(options.title, problem);
      continue;
    }
    try {
      await options.submit(value);
      return true;
    } catch (reason) {
      await showErrorMessage(options.title, errorText(reason));
    }
  }
}

/**
 * The sentence to show for a failed request: the server's message if any.
 */
export function errorText(reason: unknown): string {
  if (reason instanceof Error && reason.message) {
    return reason.message;
  }
  return String(reason);
}
