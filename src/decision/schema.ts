// The decision request as a published JSON Schema (draft 2020-12), served at
// GET /v1/schema/decision-request. Built from the parser's own constants (request.ts, ids.ts),
// so the schema and what the sidecar accepts cannot drift; the `satisfies` clauses make the
// compiler refuse a schema whose properties are not exactly the parser's fields.
import { MAX_ID_LENGTH } from '../ids.ts';
import {
  ACTIONS,
  DISCARDED_FIELDS,
  MAX_WORKSPACE_ROLES,
  ORG_ROLES,
  type PRINCIPAL_FIELDS,
  REQUEST_FIELDS,
  type RESOURCE_FIELDS,
  WORKSPACE_ROLES,
} from './request.ts';

export const DECISION_REQUEST_SCHEMA_PATH = '/v1/schema/decision-request';

// JSON Schema counts code points and cannot say "no invisible characters"; the parser's
// rule (src/ids.ts) is stricter, and the description says so.
const id = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_ID_LENGTH,
  description: `An opaque id: 1 to ${MAX_ID_LENGTH} UTF-16 code units of well-formed Unicode, with no control, format, line-separator or noncharacter code points.`,
};

const principal = {
  type: 'object',
  required: ['id', 'orgId', 'orgRole'],
  additionalProperties: false,
  properties: {
    id,
    orgId: id,
    orgRole: { enum: [...ORG_ROLES] },
    workspaceRoles: {
      type: ['object', 'null'],
      description: "Workspace id to the principal's role there.",
      maxProperties: MAX_WORKSPACE_ROLES,
      propertyNames: id,
      additionalProperties: { enum: [...WORKSPACE_ROLES] },
    },
  } satisfies Record<(typeof PRINCIPAL_FIELDS)[number], unknown>,
};

/** The resource object for the active bundle's resource types. */
const resource = (resourceTypes: readonly string[]) => ({
  type: 'object',
  required: ['type', 'orgId', 'workspaceId'],
  additionalProperties: false,
  properties: {
    type: { enum: [...resourceTypes], description: "One of the active bundle's resource types (GET /v1/families)." },
    orgId: id,
    workspaceId: id,
    id,
  } satisfies Record<(typeof RESOURCE_FIELDS)[number], unknown>,
});

const discarded = { description: 'Accepted and discarded: the sidecar always uses its own settings.' };

/** The JSON Schema of a decision request (the body of POST /v1/authorize, the `input` of the OPA API) for the active bundle's resource types. */
export const decisionRequestSchema = (resourceTypes: readonly string[]) =>
  ({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: DECISION_REQUEST_SCHEMA_PATH,
    title: 'Portcullis decision request',
    description:
      'The body of POST /v1/authorize and the `input` of POST /v1/data/portkey/authz/{allow,decision}. Unknown fields are refused (400 unknown_field).',
    type: 'object',
    required: [...REQUEST_FIELDS],
    additionalProperties: false,
    properties: {
      ...({ principal, action: { enum: [...ACTIONS] }, resource: resource(resourceTypes) } satisfies Record<(typeof REQUEST_FIELDS)[number], unknown>),
      ...(Object.fromEntries(DISCARDED_FIELDS.map((name) => [name, discarded])) as Record<(typeof DISCARDED_FIELDS)[number], typeof discarded>),
    },
  }) as const;
