# METADATA
# title: Portkey Security-tab permissions
# description: |
#   Who may create, update, delete and read the resources of the Security tab's
#   permission families (AI integrations, MCP integrations and servers, prompts,
#   guardrails, analytics, logs) in a workspace. Organization owners always may;
#   organization admins may unless a setting for admins says otherwise; workspace
#   managers and members may as the family's settings say (policies/families.rego,
#   data.portkey.families). Everything else is denied.
#
#   input: {principal, action, resource, settings: {org, workspace}} where settings
#   are supplied by the sidecar from its own store, never by the caller.
package portkey.authz

actions := {"create", "update", "delete", "read"}

write_actions := {"create", "update", "delete"}

org_roles := {"owner", "admin", "member"}

org_admin_roles := {"owner", "admin"}

workspace_roles := {"admin", "manager", "member"}

# Which workspace roles count as managers is operator configuration (bundle data).
manager_roles := {role | some role in data.portkey.config.manager_roles}

# The reason of a decision a setting decided, by the role the setting governs, the
# access it governs and its effective value.
setting_reason_table := {
	["manager", "read", true]: "manager_read_enabled",
	["manager", "read", false]: "manager_read_disabled",
	["manager", "write", true]: "manager_write_enabled",
	["manager", "write", false]: "manager_write_disabled",
	["member", "read", true]: "member_read_enabled",
	["member", "read", false]: "member_read_disabled",
	["member", "write", true]: "member_write_enabled",
	["member", "write", false]: "member_write_disabled",
	["org_admin", "read", true]: "org_admin_read_enabled",
	["org_admin", "read", false]: "org_admin_read_disabled",
	["org_admin", "write", true]: "org_admin_write_enabled",
	["org_admin", "write", false]: "org_admin_write_disabled",
}

# Reasons that grant without a setting; a setting that decides grants when it is true;
# every other reason denies.
allowing_reasons := {"org_admin", "workspace_read", "data_plane", "admin_api_key", "service_api_key"}

# METADATA
# title: Messages
# description: The sentence of every reason code the policy answers with (GET /v1/reasons).
# entrypoint: true
messages := {
	"invalid_input": "The input is not an object with principal, action and resource.",
	"unknown_action": "The action is not one of create, update, delete, read.",
	"unknown_resource_type": "The resource type is not one that a permission family (data.portkey.families) has.",
	"unsupported_action": "The resource type does not have this action: its permission family does not list it.",
	"invalid_principal": "The principal needs a non-empty id and orgId and a known orgRole.",
	"invalid_resource": "The resource needs a non-empty orgId and workspaceId.",
	"invalid_workspace_roles": "The principal's workspaceRoles must map workspace ids to admin, manager or member.",
	"cross_org": "The principal belongs to another organization.",
	"org_admin": "Organization owners and admins may manage every workspace of their organization.",
	"no_workspace_access": "The principal has no role in the workspace.",
	"workspace_read": "Every role in the workspace may read.",
	"read_only_role": "The principal's workspace role may read but not write.",
	"manager_read_enabled": "Workspace managers may view this resource type.",
	"manager_read_disabled": "Workspace managers may not view this resource type (nor write it: a write needs view).",
	"manager_write_enabled": "Workspace managers may write this resource type.",
	"manager_write_disabled": "The organization does not let workspace managers write this resource type.",
	"member_read_enabled": "Workspace members may view this resource type.",
	"member_read_disabled": "Workspace members may not view this resource type (nor write it: a write needs view).",
	"member_write_enabled": "Workspace members may write this resource type.",
	"member_write_disabled": "The settings do not let workspace members write this resource type.",
	"org_admin_read_enabled": "Organization admins may view this resource type in every workspace of their organization.",
	"org_admin_read_disabled": "Organization admins may not view this resource type (nor write it: a write needs view).",
	"org_admin_write_enabled": "Organization admins may write this resource type in every workspace of their organization.",
	"org_admin_write_disabled": "The settings do not let organization admins write this resource type.",
	"data_plane": "Every role in the workspace may call the data plane (completions, prompt renders, MCP, agents, guardrail checks, log writes).",
	"invalid_api_key": "The API key principal needs a known keyType, an id, an orgId and a scopes list, a workspaceId for a workspace key, and a valid user for a workspace user key.",
	"admin_key_data_plane": "An admin API key never calls the data plane: use a workspace API key.",
	"scope_not_for_key_type": "The API key's type may not hold the scope this request needs.",
	"missing_scope": "Your API key is missing the required permission scope.",
	"key_workspace_mismatch": "A workspace API key acts only in its own workspace.",
	"admin_api_key": "An admin API key with the required scope may act in every workspace of its organization.",
	"service_api_key": "A workspace service API key with the required scope may act in its workspace.",
	"no_access_for_role": "No setting of this resource type's family grants the principal's workspace role anything.",
	"not_created_for_principal": "The setting lets this role see or manage only the keys created for the principal; this one was not (resource.createdFor).",
	"not_created_by_manager": "The setting lets this role see or manage only keys created by workspace managers and admins; this one was not (resource.createdByRole).",
}

# METADATA
# title: Decision
# description: |
#   {allow, reason, message} and, when a setting decided, {setting, source} with
#   source one of workspace, org, default.
# entrypoint: true
decision := object.union_n([
	{"allow": allowed, "reason": reason, "message": messages[reason]},
	setting_fields,
	scope_fields,
	visibility_fields,
])

# METADATA
# title: Allow
# description: The boolean of the decision.
# entrypoint: true
default allow := false

allow := decision.allow

# The first clause that holds decides: malformed input, then tenancy, then API keys
# (api_keys.rego), then roles.
# Every clause states its own condition, so that an input the chain does not
# understand falls through to the default, a denial.
default reason := "invalid_input"

reason := "invalid_input" if {
	not well_formed
} else := "unknown_action" if {
	not known_action
} else := "unknown_resource_type" if {
	not known_resource_type
} else := "unsupported_action" if {
	not action_of_family
} else := "invalid_api_key" if {
	is_api_key
	not valid_api_key(input.principal)
} else := "invalid_principal" if {
	not is_api_key
	not valid_principal(input.principal)
} else := "invalid_resource" if {
	not valid_resource(input.resource)
} else := "invalid_workspace_roles" if {
	not is_api_key
	not valid_workspace_roles(object.get(input.principal, "workspaceRoles", {}))
} else := "cross_org" if {
	input.principal.orgId != input.resource.orgId
} else := "admin_key_data_plane" if {
	input.principal.keyType == "organisation-service"
	data_plane_type
} else := "scope_not_for_key_type" if {
	is_api_key
	not key_type_may_hold_scope
} else := "missing_scope" if {
	is_api_key
	not key_holds_scope
} else := "key_workspace_mismatch" if {
	input.principal.keyType in workspace_key_types
	input.principal.workspaceId != input.resource.workspaceId
} else := "admin_api_key" if {
	input.principal.keyType == "organisation-service"
} else := "service_api_key" if {
	input.principal.keyType == "workspace-service"
} else := "org_admin" if {
	# A workspace user key reaches here as its user: bound by the user's roles and settings.
	principal.orgRole in org_admin_roles
	not governing_setting
} else := "no_workspace_access" if {
	not actor_role
} else := "data_plane" if {
	data_plane_type
} else := "no_access_for_role" if {
	# A family may give roles no access but what its settings grant.
	resource_family.roles_without_a_setting == "none"
	not governing_setting
} else := "workspace_read" if {
	actor_role in {"manager", "member"}
	input.action == "read"
	not governing_setting
} else := "read_only_role" if {
	actor_role in {"manager", "member"}
	input.action in write_actions
	not governing_setting
} else := limit_reason if {
	governing_setting.value == true
} else := setting_reason if {
	governing_setting
}

# The principal's role in the target workspace; undefined when it has none.
workspace_role := principal.workspaceRoles[input.resource.workspaceId]

# The reason the governing setting gives; undefined when no setting governs the request.
setting_reason := setting_reason_table[[actor_role, governing_setting.access, governing_setting.value]]

# Whether a setting decided: its decision names the setting and its source.
setting_decided if reason == setting_reason

default allowed := false

allowed if reason in allowing_reasons

allowed if {
	setting_decided
	governing_setting.value == true
}

default setting_fields := {}

setting_fields := {"setting": governing_setting.name, "source": governing_setting.source} if setting_decided

# A key's decision names the scope the request needed, whether the key holds it or not.
default scope_fields := {}

scope_fields := {"scope": required_scope} if is_api_key

# These are rules rather than functions: `not f(x)` is undefined, not true,
# when x is undefined, while `not rule` is true whenever the rule does not hold.
well_formed if {
	is_object(input.principal)
	is_object(input.resource)
}

known_action if input.action in actions

known_resource_type if resource_family

known_resource_type if data_plane_type

action_of_family if input.action in resource_family.actions

action_of_family if {
	data_plane_type
	required_scope
}

# A user principal: an optional type "user", an id, an organization and a known role.
valid_principal(user) if {
	object.get(user, "type", "user") == "user"
	non_empty_string(user.id)
	non_empty_string(user.orgId)
	user.orgRole in org_roles
}

valid_resource(resource) if {
	non_empty_string(resource.orgId)
	non_empty_string(resource.workspaceId)
}

valid_workspace_roles(roles) if {
	is_object(roles)
	every workspace, role in roles {
		non_empty_string(workspace)
		role in workspace_roles
	}
}

non_empty_string(value) if {
	is_string(value)
	value != ""
}
