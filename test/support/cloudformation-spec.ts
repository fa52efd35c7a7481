/**
 * A CloudFormation template checked against AWS's own resource specification (`@aws-cdk/aws-service-spec`, the
 * database the AWS CDK generates its L1 constructs from): every resource type exists, every property name exists
 * for its type, nested property types are checked recursively wherever the value is a literal (an intrinsic
 * function — Ref, Fn::GetAtt, Fn::Sub, Fn::If, … — is resolved only at deploy time and is skipped), every
 * required property is present, and no value has the wrong shape (a list where an object is expected, an
 * object where a string is, a null). Beside the specification, what CloudFormation itself rejects before it
 * creates anything: an unknown template section or resource attribute, an output without a Value, a Ref, a
 * Fn::GetAtt, a Fn::Sub variable or a DependsOn naming no resource or parameter, a Fn::GetAtt of an attribute
 * the resource type does not have. All violations are returned, each with its path in the template.
 *
 * Not checked: scalar types (CloudFormation converts "30" to 30 and "true" to true), allowed values and
 * patterns, what an intrinsic resolves to.
 */
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';

/** The parts of the specification's property types this check reads. */
type SpecType =
  | { type: 'string' | 'number' | 'integer' | 'boolean' | 'date-time' | 'null' | 'json' | 'tag' }
  | { type: 'ref'; reference: { $ref: string } }
  | { type: 'array' | 'map'; element: SpecType }
  | { type: 'union'; types: SpecType[] };
interface SpecProperty {
  type: SpecType;
  required?: boolean;
}
/** A resource or a property type (TypeDefinition): a name and its properties. */
interface SpecShape {
  name: string;
  properties: Record<string, SpecProperty>;
}
interface SpecResource extends SpecShape {
  /** What Fn::GetAtt reads: `Arn`, `Endpoint.Address`, … */
  attributes: string[];
}

export interface CloudFormationSpec {
  /** The resource type (name `AWS::SQS::Queue`), undefined when the specification has no such type. */
  resource(type: string): SpecResource | undefined;
  /** A property type (e.g. `AWS::IoT::TopicRule.SqsAction`) by its reference. */
  definition(reference: { $ref: string }): SpecShape;
}

export interface Violation {
  /** e.g. `Resources.NotifyTopicRule.Properties.TopicRulePayload.Actions[0].Sqs.QueueUrl` */
  path: string;
  message: string;
}

let loading: Promise<CloudFormationSpec> | undefined;

/** The specification, loaded once per test file (about a second: a 2.6 MB gzipped JSON database). */
export function loadCloudFormationSpec(): Promise<CloudFormationSpec> {
  loading ??= loadAwsServiceSpec().then((db) => ({
    resource: (type) => {
      const found = db.lookup('resource', 'cloudFormationType', 'equals', type);
      const resource = found.length === 1 ? found[0]! : undefined;
      return (
        resource && {
          name: resource.cloudFormationType,
          properties: resource.properties,
          attributes: Object.keys(resource.attributes),
        }
      );
    },
    definition: (reference) => db.get('typeDefinition', reference) as SpecShape,
  }));
  return loading;
}

const SECTIONS = new Set([
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Rules',
  'Mappings',
  'Conditions',
  'Transform',
  'Resources',
  'Outputs',
]);
const OUTPUT_KEYS = new Set(['Description', 'Value', 'Export', 'Condition']);
const PSEUDO_PARAMETERS = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

/** The keys a resource entry may have. */
const RESOURCE_ATTRIBUTES = new Set([
  'Type',
  'Properties',
  'DependsOn',
  'Condition',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'UpdatePolicy',
  'CreationPolicy',
  'Metadata',
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `{ Ref: … }`, `{ 'Fn::GetAtt': … }`, `{ 'Fn::Sub': … }`, … : its value is known only at deploy time. */
function isIntrinsic(value: unknown): boolean {
  if (!isObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}

/** `{ Ref: 'AWS::NoValue' }`: the property is left out. */
const isNoValue = (value: unknown): boolean => isObject(value) && value.Ref === 'AWS::NoValue';

const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value);

/** What a walk through one resource's properties carries. */
interface Walk {
  spec: CloudFormationSpec;
  /** The resource type, which names its property types: `AWS::IoT::TopicRule.SqsAction`. */
  resourceType: string;
  out: Violation[];
}

function definition(reference: { $ref: string }, walk: Walk): SpecShape {
  const shape = walk.spec.definition(reference);
  return { name: `${walk.resourceType}.${shape.name}`, properties: shape.properties };
}

function describeType(type: SpecType, walk: Walk): string {
  switch (type.type) {
    case 'ref':
      return `an object (${definition(type.reference, walk).name})`;
    case 'array':
      return `a list of ${describeType(type.element, walk)}`;
    case 'map':
      return `a map of ${describeType(type.element, walk)}`;
    case 'union':
      return type.types.map((t) => describeType(t, walk)).join(' or ');
    case 'tag':
      return 'a tag ({Key, Value})';
    case 'integer':
      return 'an integer';
    default:
      return `a ${type.type}`;
  }
}

const TAG: SpecShape = {
  name: 'Tag',
  properties: {
    Key: { type: { type: 'string' }, required: true },
    Value: { type: { type: 'string' }, required: true },
  },
};

function checkValue(value: Json, type: SpecType, path: string, walk: Walk): void {
  if (isIntrinsic(value)) return;
  const fits =
    type.type === 'json' ||
    type.type === 'union' ||
    (type.type === 'array'
      ? Array.isArray(value)
      : type.type === 'ref' || type.type === 'tag' || type.type === 'map'
        ? isObject(value)
        : // A scalar: CloudFormation converts between strings, numbers and booleans, not from a list or an object.
          value !== null && typeof value !== 'object');
  if (!fits) {
    walk.out.push({ path, message: `is ${kindOf(value)}, expected ${describeType(type, walk)}` });
    return;
  }
  if (type.type === 'union') {
    // The branch that fits; else the violations of the branch that fits best.
    let best: Violation[] | undefined;
    for (const branch of type.types) {
      const found: Violation[] = [];
      checkValue(value, branch, path, { ...walk, out: found });
      if (found.length === 0) return;
      if (!best || found.length < best.length) best = found;
    }
    walk.out.push(...(best ?? []));
  } else if (type.type === 'ref' && isObject(value)) {
    checkObject(value, definition(type.reference, walk), path, walk);
  } else if (type.type === 'tag' && isObject(value)) {
    checkObject(value, TAG, path, walk);
  } else if (type.type === 'array' && Array.isArray(value)) {
    for (const [i, element] of value.entries()) checkValue(element, type.element, `${path}[${i}]`, walk);
  } else if (type.type === 'map' && isObject(value)) {
    for (const [key, element] of Object.entries(value)) checkValue(element, type.element, `${path}.${key}`, walk);
  }
}

function checkObject(value: JsonObject, shape: SpecShape, path: string, walk: Walk): void {
  for (const [key, element] of Object.entries(value)) {
    const property = shape.properties[key];
    if (!property) walk.out.push({ path: `${path}.${key}`, message: `${shape.name} has no property ${key}` });
    else if (!isNoValue(element)) checkValue(element, property.type, `${path}.${key}`, walk);
  }
  for (const [key, property] of Object.entries(shape.properties))
    if (property.required && (!(key in value) || isNoValue(value[key])))
      walk.out.push({ path: `${path}.${key}`, message: `required by ${shape.name}, missing` });
}

/** The resources and parameters a template's references may name. */
interface Names {
  resources: Map<string, SpecResource | 'custom' | undefined>;
  parameters: Set<string>;
}

/** `via`: how the template reads the attribute, `Fn::GetAtt of X.Arn` or `Fn::Sub variable ${X.Arn}`. */
function checkGetAtt(target: string, attribute: Json, via: string, path: string, names: Names, out: Violation[]): void {
  const resource = names.resources.get(target);
  if (!names.resources.has(target)) out.push({ path, message: `${via}: no resource ${target}` });
  else if (typeof attribute === 'string' && typeof resource === 'object' && !resource.attributes.includes(attribute))
    out.push({ path, message: `${via}: ${resource.name} has no attribute ${attribute}` });
}

const isNamed = (name: string, names: Names): boolean =>
  names.resources.has(name) || names.parameters.has(name) || PSEUDO_PARAMETERS.has(name);

/** Every Ref, Fn::GetAtt and Fn::Sub variable under `value` names a resource, a parameter or a pseudo parameter. */
function checkReferences(value: Json, path: string, names: Names, out: Violation[]): void {
  if (Array.isArray(value)) {
    for (const [i, element] of value.entries()) checkReferences(element, `${path}[${i}]`, names, out);
    return;
  }
  if (!isObject(value)) return;
  const [key, argument] = isIntrinsic(value) ? Object.entries(value)[0]! : [];
  if (key === 'Ref') {
    if (typeof argument !== 'string' || !isNamed(argument, names))
      out.push({ path, message: `Ref of ${JSON.stringify(argument)}: no such resource or parameter` });
  } else if (key === 'Fn::GetAtt') {
    const [target, attribute] =
      typeof argument === 'string' ? argument.split(/\.(.*)/s) : Array.isArray(argument) ? argument : [];
    if (typeof target !== 'string' || attribute === undefined)
      out.push({ path, message: 'Fn::GetAtt needs [resource, attribute]' });
    else {
      checkGetAtt(
        target,
        attribute,
        `Fn::GetAtt of ${target}.${typeof attribute === 'string' ? attribute : JSON.stringify(attribute)}`,
        path,
        names,
        out,
      );
      checkReferences(attribute, `${path}.Fn::GetAtt[1]`, names, out);
    }
  } else if (key === 'Fn::Sub') {
    const [text, variables] = Array.isArray(argument) ? argument : [argument, {}];
    if (typeof text !== 'string' || !isObject(variables))
      out.push({ path, message: 'Fn::Sub needs a string or [string, variables]' });
    else {
      // `${!Literal}` is text, not a variable.
      for (const [, name] of text.matchAll(/\$\{([^!}][^}]*)\}/g)) {
        const dot = name!.indexOf('.');
        if (name! in variables) continue;
        const via = `Fn::Sub variable \${${name}}`;
        if (dot >= 0) checkGetAtt(name!.slice(0, dot), name!.slice(dot + 1), via, path, names, out);
        else if (!isNamed(name!, names)) out.push({ path, message: `${via}: no such resource or parameter` });
      }
      checkReferences(variables, `${path}.Fn::Sub[1]`, names, out);
    }
  } else {
    for (const [child, element] of Object.entries(value)) checkReferences(element, `${path}.${child}`, names, out);
  }
}

/** Every violation in the template, resources first in template order, then outputs and references. */
export function checkTemplate(template: unknown, spec: CloudFormationSpec): Violation[] {
  const out: Violation[] = [];
  if (!isObject(template)) return [{ path: '', message: `the template is ${kindOf(template)}, expected an object` }];
  for (const section of Object.keys(template))
    if (!SECTIONS.has(section)) out.push({ path: section, message: 'not a template section' });
  const resources = template.Resources;
  if (!isObject(resources) || Object.keys(resources).length === 0)
    return [...out, { path: 'Resources', message: 'missing or empty' }];
  const names: Names = {
    resources: new Map(),
    parameters: new Set(isObject(template.Parameters) ? Object.keys(template.Parameters) : []),
  };

  for (const [id, resource] of Object.entries(resources)) {
    const path = `Resources.${id}`;
    names.resources.set(id, undefined);
    if (!isObject(resource)) {
      out.push({ path, message: `is ${kindOf(resource)}, expected an object` });
      continue;
    }
    for (const key of Object.keys(resource))
      if (!RESOURCE_ATTRIBUTES.has(key)) out.push({ path: `${path}.${key}`, message: 'not a resource attribute' });
    const type = resource.Type;
    if (typeof type !== 'string') {
      out.push({ path: `${path}.Type`, message: 'missing' });
      continue;
    }
    // A custom resource takes whatever properties its provider reads.
    if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') {
      names.resources.set(id, 'custom');
      continue;
    }
    const shape = spec.resource(type);
    if (!shape) {
      out.push({ path: `${path}.Type`, message: `${type} is not a resource type of the specification` });
      continue;
    }
    names.resources.set(id, shape);
    const properties = resource.Properties ?? {};
    if (!isObject(properties)) out.push({ path: `${path}.Properties`, message: `is ${kindOf(properties)}` });
    else checkObject(properties, shape, `${path}.Properties`, { spec, resourceType: type, out });
  }

  const outputs = template.Outputs ?? {};
  if (!isObject(outputs)) out.push({ path: 'Outputs', message: `is ${kindOf(outputs)}, expected an object` });
  else
    for (const [id, output] of Object.entries(outputs)) {
      if (!isObject(output) || !('Value' in output)) out.push({ path: `Outputs.${id}.Value`, message: 'missing' });
      else
        for (const key of Object.keys(output))
          if (!OUTPUT_KEYS.has(key)) out.push({ path: `Outputs.${id}.${key}`, message: 'not an output field' });
    }

  for (const [id, resource] of Object.entries(resources)) {
    if (!isObject(resource)) continue;
    const dependsOn = resource.DependsOn ?? [];
    for (const target of Array.isArray(dependsOn) ? dependsOn : [dependsOn])
      if (typeof target !== 'string' || !names.resources.has(target))
        out.push({ path: `Resources.${id}.DependsOn`, message: `${JSON.stringify(target)}: no such resource` });
    checkReferences(resource.Properties ?? null, `Resources.${id}.Properties`, names, out);
  }
  checkReferences(outputs, 'Outputs', names, out);
  return out;
}

export const formatViolations = (violations: Violation[]): string =>
  violations.map(({ path, message }) => `${path}: ${message}`).join('\n');
