import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { nameMessage } from '../names';
import type { ILayerSelection } from '../notebookLayers';
import {
  IBuildForm,
  IEnvironmentForm,
  IPopulateForm,
  IReferenceForm
} from '../requestBodies';
import { IEnvironment, ILayer, ProcessorType } from '../tokens';

let nextId = 0;

/**
 * A unique id for labels and descriptions of one mounted form.
 */
function useId(prefix: string): string {
  const ref = React.useRef<string>();
  if (!ref.current) {
    ref.current = `pennlayer-${prefix}-${++nextId}`;
  }
  return ref.current;
}

/**
 * Why a new layer cannot take `name`: the name rule, or a layer of that name.
 */
export function newNameProblem(
  name: string,
  existing: readonly string[]
): string | null {
  const problem = nameMessage(name.trim());
  if (problem !== null) {
    return problem;
  }
  return existing.includes(name.trim())
    ? `A layer named '${name.trim()}' exists already.`
    : null;
}

/**
 * A layer-name field that checks the name as it is typed.
 */
function NameField(props: {
  value: string;
  existing: readonly string[];
  onChange: (name: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const id = useId('name');
  const problem =
    props.value === '' ? null : newNameProblem(props.value, props.existing);
  return (
    <div className="pennlayer-Form-field">
      <label htmlFor={id}>{props.trans.__('Name')}</label>
      <input
        id={id}
        className="jp-mod-styled pennlayer-Form-input"
        type="text"
        value={props.value}
        autoComplete="off"
        spellCheck={false}
        placeholder={props.trans.__('hg38-reference')}
        aria-invalid={problem !== null}
        aria-describedby={`${id}-help`}
        onChange={event => props.onChange(event.target.value)}
      />
      <p
        id={`${id}-help`}
        className={
          problem
            ? 'pennlayer-Form-help pennlayer-mod-error'
            : 'pennlayer-Form-help'
        }
        aria-live="polite"
      >
        {problem ??
          props.trans.__(
            'Lowercase letters a-z, digits 0-9 and single dashes, at most 63 characters.'
          )}
      </p>
    </div>
  );
}

function TextField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  help?: string;
  multiline?: boolean;
  rows?: number;
}): JSX.Element {
  const id = useId('field');
  const common = {
    id,
    value: props.value,
    placeholder: props.placeholder,
    spellCheck: false,
    'aria-describedby': props.help ? `${id}-help` : undefined
  };
  return (
    <div className="pennlayer-Form-field">
      <label htmlFor={id}>{props.label}</label>
      {props.multiline ? (
        <textarea
          {...common}
          className="jp-mod-styled pennlayer-Form-textarea"
          rows={props.rows ?? 6}
          onChange={event => props.onChange(event.target.value)}
        />
      ) : (
        <input
          {...common}
          className="jp-mod-styled pennlayer-Form-input"
          type="text"
          autoComplete="off"
          onChange={event => props.onChange(event.target.value)}
        />
      )}
      {props.help && (
        <p id={`${id}-help`} className="pennlayer-Form-help">
          {props.help}
        </p>
      )}
    </div>
  );
}

function SelectField<V extends string>(props: {
  label: string;
  value: V;
  options: { value: V; label: string }[];
  onChange: (value: V) => void;
}): JSX.Element {
  const id = useId('select');
  return (
    <div className="pennlayer-Form-field">
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        className="jp-mod-styled pennlayer-Form-select"
        value={props.value}
        onChange={event => props.onChange(event.target.value as V)}
      >
        {props.options.map(option => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

function CheckboxField(props: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}): JSX.Element {
  return (
    <label className="pennlayer-Form-checkbox">
      <input
        type="checkbox"
        checked={props.checked}
        onChange={event => props.onChange(event.target.checked)}
      />{' '}
      {props.label}
    </label>
  );
}

/**
 * A requirements text area with a button to load a requirements.txt file.
 */
function RequirementsField(props: {
  value: string;
  onChange: (value: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { trans } = props;
  const fileId = useId('requirements-file');
  return (
    <div className="pennlayer-Form-requirements">
      <TextField
        label={trans.__('Requirements (requirements.txt)')}
        value={props.value}
        onChange={props.onChange}
        multiline
        rows={8}
        placeholder={trans.__('numpy\npandas>=2')}
        help={trans.__(
          'One requirement per line, as pip knows them; ipykernel is added when missing.'
        )}
      />
      <label className="pennlayer-Form-upload" htmlFor={fileId}>
        {trans.__('Load from a file…')}
        <input
          id={fileId}
          type="file"
          accept=".txt,.in,text/plain"
          className="pennlayer-Form-file"
          onChange={event => {
            const file = event.target.files?.[0];
            if (file) {
              void file.text().then(text => props.onChange(text));
            }
          }}
        />
      </label>
    </div>
  );
}

/**
 * The fields of "New environment".
 */
export function EnvironmentFormFields(props: {
  value: IEnvironmentForm;
  update: (change: Partial<IEnvironmentForm>) => void;
  existing: readonly string[];
  trans: TranslationBundle;
}): JSX.Element {
  const { value, update, trans } = props;
  return (
    <div className="pennlayer-Form-fields">
      <NameField
        value={value.name}
        existing={props.existing}
        onChange={name => update({ name })}
        trans={trans}
      />
      <TextField
        label={trans.__('Description (optional)')}
        value={value.description}
        onChange={description => update({ description })}
      />
      <RequirementsField
        value={value.requirements}
        onChange={requirements => update({ requirements })}
        trans={trans}
      />
      <TextField
        label={trans.__('Python version (optional)')}
        value={value.python}
        placeholder={trans.__('3.11')}
        onChange={python => update({ python })}
        help={trans.__(
          "Empty: the node's default interpreter. Used only with requirements."
        )}
      />
    </div>
  );
}

/**
 * The fields of "New reference layer".
 */
export function ReferenceFormFields(props: {
  value: IReferenceForm;
  update: (change: Partial<IReferenceForm>) => void;
  existing: readonly string[];
  trans: TranslationBundle;
}): JSX.Element {
  const { value, update, trans } = props;
  return (
    <div className="pennlayer-Form-fields">
      <NameField
        value={value.name}
        existing={props.existing}
        onChange={name => update({ name })}
        trans={trans}
      />
      <TextField
        label={trans.__('Description (optional)')}
        value={value.description}
        onChange={description => update({ description })}
        placeholder={trans.__('GRCh38 genome')}
      />
      <p className="pennlayer-Form-help">
        {trans.__(
          'The layer starts EMPTY; fill it with a loader from its row once it exists.'
        )}
      </p>
    </div>
  );
}

/**
 * The fields of a build.
 */
export function BuildFormFields(props: {
  value: IBuildForm;
  update: (change: Partial<IBuildForm>) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { value, update, trans } = props;
  return (
    <div className="pennlayer-Form-fields">
      <RequirementsField
        value={value.requirements}
        onChange={requirements => update({ requirements })}
        trans={trans}
      />
      <TextField
        label={trans.__('Python version (optional)')}
        value={value.python}
        placeholder={trans.__('3.11')}
        onChange={python => update({ python })}
      />
      <CheckboxField
        label={trans.__('Look for the newest matching versions')}
        checked={value.refresh}
        onChange={refresh => update({ refresh })}
      />
    </div>
  );
}

const PROCESSORS: ProcessorType[] = ['copy', 'unpack', 'command', 'docker'];

/**
 * What a source may be on this node, naming the folders it allows.
 */
function sourceHelp(
  roots: readonly string[] | null,
  trans: TranslationBundle
): string {
  if (roots === null) {
    return trans.__(
      'A local path inside the allowed folders, an http(s) URL or s3://bucket/prefix.'
    );
  }
  if (roots.length === 0) {
    return trans.__(
      'An http(s) URL or s3://bucket/prefix. No local folder may be loaded on this node: an operator allows one with PennLayerApp.allowed_source_roots.'
    );
  }
  return trans.__(
    'A path inside %1, an http(s) URL or s3://bucket/prefix.',
    roots.join(', ')
  );
}

/**
 * The fields of a loader: source, processor and its settings, mode.
 */
export function PopulateFormFields(props: {
  value: IPopulateForm;
  update: (change: Partial<IPopulateForm>) => void;
  trans: TranslationBundle;
  /** The local folders the node allows; `null` or absent when unknown. */
  allowedRoots?: readonly string[] | null;
}): JSX.Element {
  const { value, update, trans } = props;
  const roots = props.allowedRoots ?? null;
  const isUrl = /^https?:\/\//i.test(value.source.trim());
  return (
    <div className="pennlayer-Form-fields">
      <TextField
        label={trans.__('Source')}
        value={value.source}
        onChange={source => update({ source })}
        placeholder={roots?.[0] ?? trans.__('/shared/genomes/hg38')}
        help={sourceHelp(roots, trans)}
      />
      {isUrl && (
        <TextField
          label={trans.__('SHA-256 of the download (optional)')}
          value={value.sha256}
          onChange={sha256 => update({ sha256 })}
        />
      )}
      <SelectField<ProcessorType>
        label={trans.__('Processor')}
        value={value.processor}
        options={PROCESSORS.map(type => ({ value: type, label: type }))}
        onChange={processor => update({ processor })}
      />
      {value.processor === 'unpack' && (
        <SelectField<string>
          label={trans.__('Archive format')}
          value={value.format || 'auto'}
          options={['auto', 'tar', 'tar.gz', 'zip', 'gz'].map(format => ({
            value: format,
            label: format
          }))}
          onChange={format => update({ format })}
        />
      )}
      {(value.processor === 'command' || value.processor === 'docker') && (
        <TextField
          label={trans.__('Command')}
          value={value.command}
          onChange={command => update({ command })}
          placeholder={trans.__('gunzip -c /input/x.gz > /output/x')}
          help={trans.__(
            'Reads the source at /input (read-only), writes the new version to /output.'
          )}
        />
      )}
      {value.processor === 'docker' && (
        <>
          <TextField
            label={trans.__('Image')}
            value={value.image}
            onChange={image => update({ image })}
            placeholder={trans.__('tools:1')}
            help={trans.__(
              "An image already on this node's Docker engine, with a shell (sh); without a command it runs its own."
            )}
          />
          <TextField
            label={trans.__('Memory limit (optional)')}
            value={value.memory}
            onChange={memory => update({ memory })}
            placeholder={trans.__('2g')}
          />
          <TextField
            label={trans.__('CPUs (optional)')}
            value={value.cpus}
            onChange={cpus => update({ cpus })}
            placeholder={trans.__('1')}
          />
          <CheckboxField
            label={trans.__('Give the container the network')}
            checked={value.network}
            onChange={network => update({ network })}
          />
        </>
      )}
      <SelectField<'replace' | 'add'>
        label={trans.__('Mode')}
        value={value.mode}
        options={[
          {
            value: 'replace',
            label: trans.__('replace: the new version holds only these files')
          },
          {
            value: 'add',
            label: trans.__('add: the previous version plus these files')
          }
        ]}
        onChange={mode => update({ mode })}
      />
    </div>
  );
}

/**
 * The field of "Edit description".
 */
export function DescriptionFormFields(props: {
  value: { description: string };
  update: (change: { description: string }) => void;
  trans: TranslationBundle;
}): JSX.Element {
  return (
    <div className="pennlayer-Form-fields">
      <TextField
        label={props.trans.__('Description')}
        value={props.value.description}
        onChange={description => props.update({ description })}
        multiline
        rows={3}
      />
    </div>
  );
}

/**
 * The fields of the layer picker: one environment, any reference layers.
 */
export function LayerPickerFields(props: {
  value: ILayerSelection;
  update: (change: Partial<ILayerSelection>) => void;
  environments: readonly IEnvironment[];
  references: readonly ILayer[];
  trans: TranslationBundle;
}): JSX.Element {
  const { value, update, trans, environments, references } = props;
  const envId = useId('environment');
  return (
    <div className="pennlayer-Form-fields pennlayer-LayerPicker">
      <div className="pennlayer-Form-field">
        <label htmlFor={envId}>{trans.__('Environment (kernel)')}</label>
        {environments.length === 0 ? (
          <p className="pennlayer-Form-help pennlayer-mod-error">
            {trans.__(
              'No environment is ready yet: create one in the Layers sidebar.'
            )}
          </p>
        ) : (
          <select
            id={envId}
            className="jp-mod-styled pennlayer-Form-select"
            value={value.environment}
            onChange={event => update({ environment: event.target.value })}
          >
            {environments.map(environment => (
              <option key={environment.name} value={environment.name}>
                {environment.display_name}
                {environment.storage_class === 'IA'
                  ? ` — ${trans.__('IA: restored before use')}`
                  : ''}
              </option>
            ))}
          </select>
        )}
      </div>
      <fieldset className="pennlayer-Form-field pennlayer-LayerPicker-layers">
        <legend>{trans.__('Reference layers')}</legend>
        {references.length === 0 ? (
          <p className="pennlayer-Form-help">
            {trans.__('No reference layer is ready yet.')}
          </p>
        ) : (
          references.map(layer => (
            <label key={layer.name} className="pennlayer-Form-checkbox">
              <input
                type="checkbox"
                checked={value.layers.includes(layer.name)}
                onChange={event =>
                  update({
                    layers: event.target.checked
                      ? [...value.layers, layer.name]
                      : value.layers.filter(name => name !== layer.name)
                  })
                }
              />{' '}
              {layer.name}
              {layer.storage_class === 'IA' && (
                <span className="pennlayer-LayerPicker-ia">
                  {' '}
                  {trans.__('(IA: needs a restore, slower first start)')}
                </span>
              )}
              {layer.description && (
                <span className="pennlayer-LayerPicker-description">
                  {' — '}
                  {layer.description}
                </span>
              )}
            </label>
          ))
        )}
      </fieldset>
      <p className="pennlayer-Form-help">
        {trans.__(
          'Each layer is mounted read-only at /mnt/layers/<name>/ when the kernel starts.'
        )}
      </p>
    </div>
  );
}
