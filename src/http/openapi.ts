// The OpenAPI 3.1 document of the whole HTTP API, served at GET /v1/openapi.json and kept in
// docs/openapi.json (make openapi; a test fails when the file is stale). Built from what the
// server itself uses where it has it: the decision request's JSON Schema (schema.ts), the
// parsers' constants (roles, actions, limits, field names), the route paths the routers
// export and the active bundle's families (resource types, family names), so a route, a
// field or a resource type cannot change without the document changing with it. Response
// bodies are described as the routes write them; the contract test checks every response
// of a broad set of requests against this document.
import { Router } from 'express';
import { DECISION_APIS } from '../decision/record.ts';
import { MIN_SETTINGS_VERSION_FIELD, MIN_SETTINGS_VERSION_HEADER } from '../decision/freshness.ts';
import { MAX_PERMISSION_WORKSPACES, type PERMISSIONS_FIELDS } from '../decision/permissions.ts';
import { ACTIONS, KEY_TYPES, MAX_SCOPES, ORG_ROLES, SCOPE_PATTERN, WORKSPACE_ROLES } from '../decision/request.ts';
import { decisionRequestSchema, DECISION_REQUEST_SCHEMA_PATH } from '../decision/schema.ts';
import type { ActivePolicy } from '../engine/active.ts';
import type { Families } from '../engine/families.ts';
import { ADMIN_PATHS } from './admin-routes.ts';
import { PERMISSIONS_PATH } from './decide.ts';
import { methodNotAllowed } from './directory.ts';
import { FAMILIES_PATH, REASONS_PATH } from './families.ts';

export const OPENAPI_PATH = '/v1/openapi.json';

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);
const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), extra = true): Schema => ({
  type: 'object',
  required,
  properties,
  ...(extra ? {} : { additionalProperties: false }),
});
const anyObject: Schema = { type: 'object' };
const cursor: Schema = { type: ['string', 'null'], description: 'Pass back as `cursor` for the next page; null at the end.' };

/** The errors every route can answer, besides its own. */
const COMMON_ERRORS = {
  '400': error('Bad input: the message and `errors` name every bad field.'),
  '404': error('No such route or document.'),
  '405': error('Another method: `Allow` names the ones the path takes.'),
  '503': error('Not ready (no bundle yet) or a dependency cannot answer.'),
};
const ADMIN_ERRORS = { ...COMMON_ERRORS, '401': error('No or unknown admin token.'), '403': error('The token lacks the scope or the organization.') };

/** What a decision names beside allow and reason: the setting that decided, the scope a key needed, what a read may show. */
const DECIDED_BY: Record<string, Schema> = {
  setting: { type: 'string' },
  source: { enum: ['workspace', 'org', 'default'] },
  scope: { type: 'string', description: 'The scope the request needed (API key principals).' },
  visibility: { enum: ['all', 'own_api_keys'], description: 'Data Visibility, on allowed reads of the data it governs.' },
  visibleTo: object({ userId: { type: 'string' }, apiKeyIds: { type: 'array', items: { type: 'string' } } }, ['userId'], false),
};

const path = (template: string) => template.replace(/:(\w+)/g, '{$1}');
const param = (name: string, where: 'path' | 'query' | 'header' = 'path', schema: Schema = { type: 'string' }, description?: string) => ({
  name,
  in: where,
  required: where === 'path',
  schema,
  ...(description ? { description } : {}),
});
const minVersionHeader = param(
  MIN_SETTINGS_VERSION_HEADER,
  'header',
  { type: 'string', pattern: '^[0-9]{1,15}$' },
  'Decide only with settings at least this version (what a settings write answered); 503 settings_stale otherwise.',
);

/** The document for a bundle's families (the served one uses the active bundle's). */
export function openApiDocument(families: Families, bundleRevision: string): Record<string, unknown> {
  const resourceTypes = families.resourceTypes;
  const familyNames = families.list.map((family) => family.name);
  const decisionRequest = decisionRequestSchema(resourceTypes);
  const { $schema: _schema, $id: _id, ...decisionRequestBody } = decisionRequest;
  const org = param('orgId');
  const ws = param('workspaceId');
  const family = param('family', 'path', { enum: familyNames });
  const admin = { security: [{ adminToken: [] }] };
  const keyId = param('keyId', 'path', { type: 'string', pattern: '^key-[0-9a-f]{24}$' });
  const keyUser = object(
    {
      id: { type: 'string' },
      orgRole: { enum: [...ORG_ROLES] },
      workspaceRoles: { type: 'object', additionalProperties: { enum: [...WORKSPACE_ROLES] } },
    },
    ['id', 'orgRole'],
    false,
  );
  const settingsOps = (pathParams: unknown[], del: boolean) => ({
    parameters: pathParams,
    get: {
      ...admin,
      summary: "A family's stored settings, with defaults filled in (`stored: false` when none are stored)",
      responses: { '200': json(anyObject, "The document; ETag and X-Settings-Version name the organization's settings version."), ...ADMIN_ERRORS },
    },
    put: {
      ...admin,
      summary: "Replace a family's settings (If-Match for a conditional write)",
      requestBody: { required: true, content: { 'application/json': { schema: anyObject } } },
      responses: {
        '200': json(anyObject, 'The stored document; X-Settings-Version is the new version (the token for read-your-writes).'),
        '409': error('The workspace belongs to another organization.'),
        '412': error('If-Match names another version.'),
        ...ADMIN_ERRORS,
      },
    },
    patch: {
      ...admin,
      summary: "JSON merge patch of a family's settings",
      requestBody: { required: true, content: { 'application/json': { schema: anyObject } } },
      responses: {
        '200': json(anyObject, 'The stored document; X-Settings-Version is the new version.'),
        '412': error('If-Match names another version.'),
        ...ADMIN_ERRORS,
      },
    },
    ...(del
      ? {
          delete: {
            ...admin,
            summary: "Remove a workspace's values of a family (it inherits again)",
            responses: {
              '200': json(anyObject, 'What is left.'),
              '204': { description: 'Nothing was stored.' },
              '412': error('If-Match names another version.'),
              ...ADMIN_ERRORS,
            },
          },
        }
      : {}),
  });
  const accessRoles = ['owner', 'admin', 'member', 'workspace_admin', 'workspace_manager', 'workspace_member'];

  return {
    openapi: '3.1.0',
    info: {
      title: 'Portcullis',
      version: bundleRevision,
      description:
        "Policy-as-code authorization sidecar: decisions (Portcullis's own and OPA's API), permissions, settings, the workspace directory, the decision audit, health and status. The version is the policy bundle's revision the document was built for.",
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: {
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            "ADMIN_TOKEN or a named token of ADMIN_TOKENS_FILE with the route's scope (settings:read, settings:write, audit:read, keys:read, keys:write).",
        },
      },
      schemas: {
        Error: object(
          {
            code: { type: 'string' },
            message: { type: 'string' },
            errors: { type: 'array', items: object({ code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } }, ['code', 'message']) },
          },
          ['code', 'message'],
        ),
        DecisionRequest: decisionRequestBody,
        Decision: object(
          {
            allow: { type: 'boolean' },
            reason: { type: 'string' },
            message: { type: 'string' },
            ...DECIDED_BY,
          },
          ['allow', 'reason', 'message'],
        ),
        DecisionAnswer: {
          allOf: [
            ref('Decision'),
            object({ decisionId: { type: 'string' }, bundleRevision: { type: 'string' }, settingsVersion: { type: 'integer', minimum: 0 } }, [
              'decisionId',
              'bundleRevision',
            ]),
          ],
        },
        PermissionsRequest: object(
          {
            principal: decisionRequestBody.properties.principal as unknown as Schema,
            workspaceIds: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_PERMISSION_WORKSPACES,
              uniqueItems: true,
              items: { type: 'string' },
              description: `Default: the principal's own workspaces (at most ${MAX_PERMISSION_WORKSPACES}).`,
            },
            resourceTypes: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...resourceTypes] }, description: 'Default: every resource type.' },
            actions: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ACTIONS] }, description: 'Default: every action.' },
            [MIN_SETTINGS_VERSION_FIELD]: { type: 'integer', minimum: 0 },
          } satisfies Record<(typeof PERMISSIONS_FIELDS)[number], unknown>,
          ['principal'],
          false,
        ),
        PermissionCell: object({ allow: { type: 'boolean' }, reason: { type: 'string' }, ...DECIDED_BY }, ['allow', 'reason'], false),
        Permissions: object(
          {
            workspaces: {
              type: 'object',
              additionalProperties: {
                type: 'object',
                propertyNames: { enum: [...resourceTypes] },
                additionalProperties: { type: 'object', propertyNames: { enum: [...ACTIONS] }, additionalProperties: ref('PermissionCell') },
              },
            },
            settingsVersion: { type: ['integer', 'null'], minimum: 0 },
            bundleRevision: { type: 'string' },
          },
          ['workspaces', 'settingsVersion', 'bundleRevision'],
        ),
        AccessReview: object(
          {
            orgId: { type: 'string' },
            workspaceId: { type: 'string' },
            settingsVersion: { type: ['integer', 'null'] },
            bundleRevision: { type: 'string' },
            roles: {
              type: 'object',
              propertyNames: { enum: accessRoles },
              additionalProperties: { type: 'object', additionalProperties: { type: 'object', additionalProperties: ref('PermissionCell') } },
            },
          },
          ['orgId', 'workspaceId', 'bundleRevision', 'roles'],
        ),
        ApiKey: object(
          {
            id: { type: 'string', pattern: '^key-[0-9a-f]{24}$' },
            type: { enum: [...KEY_TYPES] },
            orgId: { type: 'string' },
            workspaceId: { type: 'string' },
            scopes: { type: 'array', items: { type: 'string', pattern: SCOPE_PATTERN } },
            user: keyUser,
            createdAt: { type: 'string' },
            createdBy: { type: 'string' },
            rotatedAt: { type: 'string' },
            rotatedBy: { type: 'string' },
            revokedAt: { type: 'string' },
            revokedBy: { type: 'string' },
          },
          ['id', 'type', 'orgId', 'scopes', 'createdAt', 'createdBy'],
          false,
        ),
        NewApiKey: object(
          {
            type: { enum: [...KEY_TYPES] },
            workspaceId: { type: 'string', description: 'Workspace keys only.' },
            scopes: { type: 'array', minItems: 1, maxItems: MAX_SCOPES, items: { type: 'string', pattern: SCOPE_PATTERN } },
            user: { ...keyUser, description: 'Workspace user keys only: the user and the roles the key acts with.' },
          },
          ['type', 'scopes'],
          false,
        ),
        IssuedApiKey: object({ key: { type: 'string', description: 'The key: shown here and never again.' }, apiKey: ref('ApiKey') }),
        DecisionRecord: object({
          decisionId: { type: 'string' },
          timestamp: { type: 'string' },
          api: { enum: [...DECISION_APIS] },
          orgId: { type: 'string' },
          allow: { type: 'boolean' },
          reason: { type: 'string' },
        }),
      },
    },
    paths: {
      '/v1/authorize': {
        post: {
          summary: 'Decide one request',
          parameters: [minVersionHeader],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { allOf: [ref('DecisionRequest')], description: `May also carry ${MIN_SETTINGS_VERSION_FIELD}.` } } },
          },
          responses: {
            '200': json(ref('DecisionAnswer'), 'The decision.'),
            '500': error('The policy could not be evaluated (recorded as denied).'),
            ...COMMON_ERRORS,
          },
        },
      },
      [PERMISSIONS_PATH]: {
        post: {
          summary: 'Every workspace x resource type x action of one principal, in one call; each cell equals /v1/authorize for the same input',
          parameters: [minVersionHeader],
          requestBody: { required: true, content: { 'application/json': { schema: ref('PermissionsRequest') } } },
          responses: { '200': json({ allOf: [ref('Permissions'), object({ decisionId: { type: 'string' } })] }, 'The matrix.'), ...COMMON_ERRORS },
        },
      },
      '/v1/data/portkey/authz/allow': {
        post: {
          summary: "OPA data API: the decision's boolean",
          parameters: [minVersionHeader],
          requestBody: { required: true, content: { 'application/json': { schema: object({ input: ref('DecisionRequest') }) } } },
          responses: { '200': json(object({ result: { type: 'boolean' }, decision_id: { type: 'string' } }), 'As OPA answers.'), ...COMMON_ERRORS },
        },
      },
      '/v1/data/portkey/authz/decision': {
        post: {
          summary: 'OPA data API: the decision document',
          parameters: [minVersionHeader],
          requestBody: { required: true, content: { 'application/json': { schema: object({ input: ref('DecisionRequest') }) } } },
          responses: { '200': json(object({ result: ref('Decision'), decision_id: { type: 'string' } }), 'As OPA answers.'), ...COMMON_ERRORS },
        },
      },
      '/v1/data/portkey/authz/permissions': {
        post: {
          summary: 'OPA data API: the permissions call',
          parameters: [minVersionHeader],
          requestBody: { required: true, content: { 'application/json': { schema: object({ input: ref('PermissionsRequest') }) } } },
          responses: { '200': json(object({ result: ref('Permissions'), decision_id: { type: 'string' } }), 'As OPA answers.'), ...COMMON_ERRORS },
        },
      },
      '/v1/batch/data/{path}': {
        parameters: [param('path', 'path', { type: 'string' }, 'portkey/authz/allow or portkey/authz/decision')],
        post: {
          summary: 'Enterprise-OPA batch API',
          parameters: [minVersionHeader],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: object({ inputs: { type: 'object', additionalProperties: ref('DecisionRequest') }, common_input: anyObject }, ['inputs']),
              },
            },
          },
          responses: {
            '200': json(
              object({
                batch_decision_id: { type: 'string' },
                responses: { type: 'object', additionalProperties: object({ http_status_code: { enum: ['200', '500'] } }) },
              }),
              'Every item decided.',
            ),
            '207': json(
              object({ batch_decision_id: { type: 'string' }, responses: anyObject }),
              'Some items failed (each carries code, message, http_status_code "500").',
            ),
            '500': json(object({ batch_decision_id: { type: 'string' }, responses: anyObject }), 'Every item failed on the server side.'),
            ...COMMON_ERRORS,
          },
        },
      },
      [DECISION_REQUEST_SCHEMA_PATH]: {
        get: {
          summary: "The decision request's JSON Schema for the active bundle",
          responses: { '200': json(anyObject, 'A JSON Schema (2020-12).'), ...COMMON_ERRORS },
        },
      },
      [OPENAPI_PATH]: {
        get: {
          summary: 'This document, for the active bundle',
          responses: { '200': json(object({ openapi: { const: '3.1.0' } }), 'OpenAPI 3.1.'), ...COMMON_ERRORS },
        },
      },
      [FAMILIES_PATH]: {
        get: {
          summary: 'The permission families of the active bundle',
          responses: {
            '200': json(
              object({
                bundleRevision: { type: 'string' },
                families: {
                  type: 'array',
                  items: object({ name: { enum: familyNames }, resourceTypes: { type: 'array', items: { enum: [...resourceTypes] } } }),
                },
              }),
              'The families table.',
            ),
            ...COMMON_ERRORS,
          },
        },
      },
      [REASONS_PATH]: {
        get: {
          summary: 'Every reason code and its sentence',
          responses: {
            '200': json(
              object({ bundleRevision: { type: 'string' }, reasons: { type: 'object', additionalProperties: { type: 'string' } } }),
              'Reason code to sentence.',
            ),
            ...COMMON_ERRORS,
          },
        },
      },
      '/health': {
        get: {
          summary: "OPA's health check: 200 once a bundle is active",
          responses: { '200': json({ type: 'object', maxProperties: 0 }, 'Healthy.'), '500': json(object({ error: { type: 'string' } }), 'No bundle yet.') },
        },
      },
      '/health/ready': {
        get: {
          summary: 'Readiness: bundle and settings store',
          responses: {
            '200': json(object({ ready: { const: true }, checks: anyObject }), 'Ready.'),
            '503': json(object({ ready: { const: false }, checks: anyObject }), 'Not ready.'),
          },
        },
      },
      '/v1/status': { get: { summary: 'Bundle, store and cache status', responses: { '200': json(anyObject, 'Status.'), ...COMMON_ERRORS } } },
      '/v1/orgs/{orgId}/settings/{family}': settingsOps([org, family], false),
      '/v1/orgs/{orgId}/workspaces/{workspaceId}/settings/{family}': settingsOps([org, ws, family], true),
      '/v1/orgs/{orgId}/workspaces/{workspaceId}/effective-settings': {
        parameters: [org, ws],
        get: {
          ...admin,
          summary: 'Every setting as it decides in the workspace, and where its value comes from',
          responses: {
            '200': json(
              object({
                orgId: { type: 'string' },
                workspaceId: { type: 'string' },
                version: { type: 'integer' },
                bundleRevision: { type: 'string' },
                families: anyObject,
              }),
              'Effective settings.',
            ),
            ...ADMIN_ERRORS,
          },
        },
      },
      '/v1/orgs/{orgId}/workspaces/{workspaceId}/access': {
        parameters: [org, ws],
        get: {
          ...admin,
          summary: `Access review: for each role (${accessRoles.join(', ')}), type and action, allowed or not and why, under the current settings`,
          responses: { '200': json(ref('AccessReview'), 'The review.'), ...ADMIN_ERRORS },
        },
        post: {
          ...admin,
          summary: 'Access review under a draft: candidate settings of some families ({<family>: {org?, workspace?}}), nothing written',
          requestBody: { required: true, content: { 'application/json': { schema: anyObject } } },
          responses: { '200': json(ref('AccessReview'), 'The review under the draft.'), ...ADMIN_ERRORS },
        },
      },
      [path('/v1/orgs/:orgId/workspaces/:workspaceId')]: {
        parameters: [org, ws],
        put: {
          ...admin,
          summary: 'Register the workspace in the directory',
          responses: {
            '200': json(object({ orgId: { type: 'string' }, workspaceId: { type: 'string' } }), 'Already registered.'),
            '201': json(object({ orgId: { type: 'string' }, workspaceId: { type: 'string' } }), 'Registered.'),
            '409': error('Another organization holds it.'),
            ...ADMIN_ERRORS,
          },
        },
        delete: { ...admin, summary: 'Remove the workspace from the directory', responses: { '204': { description: 'Removed.' }, ...ADMIN_ERRORS } },
      },
      [path('/v1/orgs/:orgId/workspaces')]: {
        parameters: [org],
        get: {
          ...admin,
          summary: "The organization's workspaces, by id (prefix: only the ids that start with it)",
          parameters: [
            param('limit', 'query'),
            param('cursor', 'query'),
            param('prefix', 'query', { type: 'string' }, 'only the workspace ids that start with it'),
          ],
          responses: { '200': json(object({ workspaces: { type: 'array', items: { type: 'string' } }, nextCursor: cursor }), 'A page.'), ...ADMIN_ERRORS },
        },
      },
      [path(ADMIN_PATHS.token)]: {
        get: {
          ...admin,
          summary: 'Who the presented admin token is (never the token itself)',
          responses: {
            '200': json(
              object({
                name: { type: 'string' },
                scopes: { type: 'array', items: { type: 'string' } },
                orgs: { type: ['array', 'null'], items: { type: 'string' }, description: 'The organizations it may act on; null: all.' },
              }),
              'The token.',
            ),
            ...ADMIN_ERRORS,
          },
        },
      },
      [path(ADMIN_PATHS.adminApi)]: {
        get: {
          ...admin,
          summary: "The admin API's route table and the words a request or a filter may use, for clients to build requests from",
          responses: {
            '200': json(
              object({
                paths: { type: 'object', additionalProperties: { type: 'string' }, description: 'Route paths by name, `:name` for a path parameter.' },
                routes: {
                  type: 'array',
                  items: object({ method: { type: 'string' }, path: { type: 'string' }, scope: { type: ['string', 'null'] } }),
                },
                enums: object(
                  Object.fromEntries(
                    ['orgRoles', 'workspaceRoles', 'actions', 'resourceTypes', 'apis'].map((name) => [name, { type: 'array', items: { type: 'string' } }]),
                  ),
                ),
                bundleRevision: { type: 'string' },
              }),
              'The table and the enums.',
            ),
            ...ADMIN_ERRORS,
          },
        },
      },
      [path(ADMIN_PATHS.apiKeys)]: {
        parameters: [org],
        post: {
          ...admin,
          summary: 'Register an API key: the answer holds the key, once (only its SHA-256 is stored)',
          requestBody: { required: true, content: { 'application/json': { schema: ref('NewApiKey') } } },
          responses: { '201': json(ref('IssuedApiKey'), 'The key and its record.'), ...ADMIN_ERRORS },
        },
        get: {
          ...admin,
          summary: "The organization's API keys by id (never a key or its hash)",
          parameters: [param('limit', 'query'), param('cursor', 'query')],
          responses: { '200': json(object({ apiKeys: { type: 'array', items: ref('ApiKey') }, nextCursor: cursor }), 'A page.'), ...ADMIN_ERRORS },
        },
      },
      [path(ADMIN_PATHS.apiKey)]: {
        parameters: [org, keyId],
        get: { ...admin, summary: 'One API key', responses: { '200': json(ref('ApiKey'), 'Its record.'), ...ADMIN_ERRORS } },
        delete: {
          ...admin,
          summary: 'Revoke the key: refused from the next request on, by every instance; the record stays',
          responses: { '200': json(ref('ApiKey'), 'The revoked record (as it was, when it already was).'), ...ADMIN_ERRORS },
        },
      },
      [path(ADMIN_PATHS.rotateApiKey)]: {
        parameters: [org, keyId],
        post: {
          ...admin,
          summary: 'A new key for the record; the old key is refused from then on',
          responses: { '200': json(ref('IssuedApiKey'), 'The new key, once, and the record.'), '409': error('The key is revoked.'), ...ADMIN_ERRORS },
        },
      },
      '/v1/audit/decisions': {
        get: {
          ...admin,
          summary: 'Decision records, newest first, filtered',
          parameters: [
            'orgId',
            'workspaceId',
            'principalId',
            'keyId',
            'keyType',
            'outcome',
            'reason',
            'resourceType',
            'action',
            'api',
            'from',
            'to',
            'limit',
            'cursor',
          ].map((name) => param(name, 'query')),
          responses: { '200': json(object({ decisions: { type: 'array', items: ref('DecisionRecord') }, nextCursor: cursor }), 'A page.'), ...ADMIN_ERRORS },
        },
      },
      '/v1/audit/decisions/{decisionId}': {
        parameters: [param('decisionId')],
        get: { ...admin, summary: 'One decision record', responses: { '200': json(ref('DecisionRecord'), 'The record.'), ...ADMIN_ERRORS } },
      },
      '/v1/audit/summary': {
        get: {
          ...admin,
          summary: 'Counts by outcome, reason and resource type',
          parameters: ['orgId', 'from', 'to', 'buckets'].map((name) => param(name, 'query')),
          responses: {
            '200': json(
              object({ orgId: { type: 'string' }, total: { type: 'integer' }, byOutcome: object({ allow: { type: 'integer' }, deny: { type: 'integer' } }) }),
              'The summary.',
            ),
            ...ADMIN_ERRORS,
          },
        },
      },
      '/v1/audit/settings-changes': {
        get: {
          ...admin,
          summary: 'Settings change records, newest first',
          parameters: ['orgId', 'workspaceId', 'from', 'to', 'limit', 'cursor'].map((name) => param(name, 'query')),
          responses: { '200': json(object({ changes: { type: 'array', items: anyObject }, nextCursor: cursor }), 'A page.'), ...ADMIN_ERRORS },
        },
      },
      '/v1/audit/replay': {
        post: {
          ...admin,
          summary: 'Replay recorded decisions with the current settings and with the candidate settings on top: the flips the candidate causes',
          requestBody: { required: true, content: { 'application/json': { schema: anyObject } } },
          responses: {
            '200': json(
              object({
                candidate: anyObject,
                baseline: {
                  enum: ['current', 'recorded'],
                  description: 'What the flips are counted against: here, the same requests decided with the settings stored now.',
                },
                evaluated: { type: 'integer' },
                unchanged: { type: 'integer' },
                skipped: { type: 'integer' },
                maskedInputs: { type: 'integer' },
                otherRevision: { type: 'integer' },
                skips: {
                  type: 'array',
                  description: 'Every record not replayed, by why.',
                  items: object({ kind: { type: 'string' }, count: { type: 'integer' }, message: { type: 'string' } }),
                },
                flips: object({ allowToDeny: { type: 'integer' }, denyToAllow: { type: 'integer' } }),
                byReason: { type: 'object', additionalProperties: { type: 'integer' } },
                examples: { type: 'array', items: anyObject },
              }),
              'What the candidate would change.',
            ),
            ...ADMIN_ERRORS,
          },
        },
      },
    },
    'x-enums': {
      orgRoles: [...ORG_ROLES],
      workspaceRoles: [...WORKSPACE_ROLES],
      actions: [...ACTIONS],
      resourceTypes: [...resourceTypes],
      families: familyNames,
    },
  };
}

/** Public, like the decision request's schema: it describes the API, not any tenant's data. */
export function openApiRoutes(policy: ActivePolicy): Router {
  const router = Router();
  router.get(OPENAPI_PATH, (_req, res) => {
    const engine = policy.require();
    res.json(openApiDocument(engine.families, engine.revision));
  });
  router.all(OPENAPI_PATH, methodNotAllowed(['GET', 'HEAD']));
  return router;
}
