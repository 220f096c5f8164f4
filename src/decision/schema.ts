// The decision request as a published JSON Schema (draft 2020-12), served at
// GET /v1/schema/decision-request. Built from the parser's own constants (request.ts, ids.ts),
// so the schema and what the sidecar accepts cannot drift; the `satisfies` clauses make the
// compiler refuse a schema whose properties are not exactly the parser's fields.
import { MAX_ID_LENGTH } from '../ids.ts';
import {
  ACTIONS,
  CREATOR_ROLES,
  DISCARDED_FIELDS,
  type KEY_PRINCIPAL_FIELDS,
  KEY_TYPES,
  type KEY_USER_FIELDS,
  MAX_SCOPE_LENGTH,
  MAX_SCOPES,
  MAX_WORKSPACE_ROLES,
  ORG_ROLES,
  type PRINCIPAL_FIELDS,
  REQUEST_FIELDS,
  type RESOURCE_FIELDS,
  SCOPE_PATTERN,
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

const workspaceRoles = {
  type: ['object', 'null'],
  description: "Workspace id to the principal's role there.",
  maxProperties: MAX_WORKSPACE_ROLES,
  propertyNames: id,
  additionalProperties: { enum: [...WORKSPACE_ROLES] },
};

const user = {
  type: 'object',
  description: 'A user (a browser session).',
  required: ['id', 'orgId', 'orgRole'],
  additionalProperties: false,
  properties: {
    type: { const: 'user' },
    id,
    orgId: id,
    orgRole: { enum: [...ORG_ROLES] },
    workspaceRoles,
  } satisfies Record<(typeof PRINCIPAL_FIELDS)[number], unknown>,
};

const apiKey = {
  type: 'object',
  description:
    'An API key, by its id (never the key itself): an organisation-service (admin) key reaches every workspace of its organization; a workspace key has a workspaceId, and a workspace-user key the user it belongs to.',
  required: ['type', 'keyType', 'id', 'orgId', 'scopes'],
  additionalProperties: false,
  properties: {
    type: { const: 'api_key' },
    keyType: { enum: [...KEY_TYPES] },
    id,
    orgId: id,
    workspaceId: { ...id, description: 'Workspace keys only (required for them).' },
    scopes: {
      type: 'array',
      maxItems: MAX_SCOPES,
      uniqueItems: true,
      items: { type: 'string', maxLength: MAX_SCOPE_LENGTH, pattern: SCOPE_PATTERN },
      description: "The permission scopes the key holds, `<resource>.<verb>` (the bundle's scope table names those each resource type and action needs).",
    },
    user: {
      type: 'object',
      description: "Workspace-user keys only (required for them): the user the key belongs to, in the key's organization.",
      required: ['id', 'orgRole'],
      additionalProperties: false,
      properties: { id, orgRole: { enum: [...ORG_ROLES] }, workspaceRoles } satisfies Record<(typeof KEY_USER_FIELDS)[number], unknown>,
    },
  } satisfies Record<(typeof KEY_PRINCIPAL_FIELDS)[number], unknown>,
  allOf: [
    { if: { properties: { keyType: { const: 'organisation-service' } } }, then: { not: { anyOf: [{ required: ['workspaceId'] }, { required: ['user'] }] } } },
    { if: { properties: { keyType: { const: 'workspace-service' } } }, then: { required: ['workspaceId'], not: { required: ['user'] } } },
    { if: { properties: { keyType: { const: 'workspace-user' } } }, then: { required: ['workspaceId', 'user'] } },
  ],
};

const principal = {
  oneOf: [user, apiKey],
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
    createdFor: { ...id, description: 'The user an API key was created for (API Key Management limits members to their own keys).' },
    createdByRole: {
      enum: [...CREATOR_ROLES],
      description: 'The role of who created an API key (API Key Management limits managers to keys created by workspace managers).',
    },
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
