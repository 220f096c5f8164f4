# METADATA
# title: Portkey integration access
# description: |
#   Who may create, update, delete and read AI integrations, MCP integrations and
#   MCP servers in a workspace. Organization owners and admins always may; workspace
#   managers may write a kind only when the effective setting for it is true;
#   workspace members may read. Everything else is denied.
#
#   input: {principal, action, resource, settings: {org, workspace}} where settings
#   are supplied by the sidecar from its own store, never by the caller.
package portkey.authz

# The organization-level setting that governs writes of each resource type.
setting_for_type := {
	"integration": "managersWriteWsIntegrations",
	"mcp_integration": "managersWriteWsMcpIntegrations",
	"mcp_server": "managersWriteMcpServers",
}

actions := {"create", "update", "delete", "read"}

write_actions := {"create", "update", "delete"}

org_roles := {"owner", "admin", "member"}

org_admin_roles := {"owner", "admin"}

workspace_roles := {"admin", "manager", "member"}

# Which workspace roles count as managers is operator configuration (bundle data).
manager_roles := {role | some role in data.portkey.config.manager_roles}

# Reasons that grant; every other reason denies.
allowing_reasons := {"org_admin", "workspace_read", "manager_write_enabled"}

# Reasons decided by a setting; their decisions name the setting and its source.
setting_reasons := {"manager_write_enabled", "manager_write_disabled"}

messages := {
	"invalid_input": "The input is not an object with principal, action and resource.",
	"unknown_action": "The action is not one of create, update, delete, read.",
	"unknown_resource_type": "The resource type is not one of integration, mcp_integration, mcp_server.",
	"invalid_principal": "The principal needs a non-empty id and orgId and a known orgRole.",
	"invalid_resource": "The resource needs a non-empty orgId and workspaceId.",
	"invalid_workspace_roles": "The principal's workspaceRoles must map workspace ids to admin, manager or member.",
	"cross_org": "The principal belongs to another organization.",
	"org_admin": "Organization owners and admins may manage every workspace of their organization.",
	"no_workspace_access": "The principal has no role in the workspace.",
	"workspace_read": "Every role in the workspace may read.",
	"read_only_role": "The principal's workspace role may read but not write.",
	"manager_write_enabled": "Workspace managers may write this resource type.",
	"manager_write_disabled": "The organization does not let workspace managers write this resource type.",
}

# METADATA
# title: Decision
# description: |
#   {allow, reason, message} and, when a setting decided, {setting, source} with
#   source one of workspace, org, default.
# entrypoint: true
decision := object.union(
	{"allow": reason in allowing_reasons, "reason": reason, "message": messages[reason]},
	setting_fields,
)

# METADATA
# title: Allow
# description: The boolean of the decision.
# entrypoint: true
default allow := false

allow := decision.allow

# The first clause that holds decides: malformed input, then tenancy, then roles.
# Every clause states its own condition, so that an input the chain does not
# understand falls through to the default, a denial.
default reason := "invalid_input"

reason := "invalid_input" if {
	not well_formed
} else := "unknown_action" if {
	not known_action
} else := "unknown_resource_type" if {
	not known_resource_type
} else := "invalid_principal" if {
	not valid_principal(input.principal)
} else := "invalid_resource" if {
	not valid_resource(input.resource)
} else := "invalid_workspace_roles" if {
	not valid_workspace_roles(object.get(input.principal, "workspaceRoles", {}))
} else := "cross_org" if {
	input.principal.orgId != input.resource.orgId
} else := "org_admin" if {
	input.principal.orgId == input.resource.orgId
	input.principal.orgRole in org_admin_roles
} else := "no_workspace_access" if {
	not workspace_role
} else := "workspace_read" if {
	workspace_role
	input.action == "read"
} else := "read_only_role" if {
	input.action in write_actions
	not workspace_role in manager_roles
} else := "manager_write_enabled" if {
	input.action in write_actions
	workspace_role in manager_roles
	governing_setting.value == true
} else := "manager_write_disabled" if {
	input.action in write_actions
	workspace_role in manager_roles
	governing_setting.value == false
}

# The principal's role in the target workspace; undefined when it has none.
workspace_role := input.principal.workspaceRoles[input.resource.workspaceId]

default setting_fields := {}

setting_fields := {"setting": setting_for_type[input.resource.type], "source": governing_setting.source} if {
	reason in setting_reasons
}

governing_setting := effective_setting(object.get(input, "settings", {}), setting_for_type[input.resource.type])

# METADATA
# description: |
#   The value of a setting and where it came from: the workspace's own value when
#   the organization lets workspaces configure it, else the organization's value,
#   else the default (true).
effective_setting(settings, name) := {"value": value, "source": "workspace"} if {
	object.get(settings, ["org", "allowWorkspaceOverrides", name], false) == true
	value := object.get(settings, ["workspace", name], null)
	is_boolean(value)
} else := {"value": value, "source": "org"} if {
	value := object.get(settings, ["org", name], null)
	is_boolean(value)
} else := {"value": true, "source": "default"}

# These three are rules rather than functions: `not f(x)` is undefined, not true,
# when x is undefined, while `not rule` is true whenever the rule does not hold.
well_formed if {
	is_object(input.principal)
	is_object(input.resource)
}

known_action if input.action in actions

known_resource_type if setting_for_type[input.resource.type]

valid_principal(principal) if {
	non_empty_string(principal.id)
	non_empty_string(principal.orgId)
	principal.orgRole in org_roles
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
