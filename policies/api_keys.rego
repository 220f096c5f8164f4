package portkey.authz

# API keys as principals. A key principal names its type, its organization, its
# workspace (workspace keys), its permission scopes and, for a workspace user key, the
# user it belongs to. Which scope each resource type and action needs, and which key
# types may hold a scope, are bundle data (data.portkey.api_keys, see policies/README.md):
# nothing here names a scope.

key_types := {"organisation-service", "workspace-service", "workspace-user"}

workspace_key_types := {"workspace-service", "workspace-user"}

scope_table := data.portkey.api_keys

is_api_key if input.principal.type == "api_key"

# The principal the role rules read: the caller, or for a workspace user key the user
# it belongs to, in the key's organization; undefined for admin and service keys, which
# have no role.
principal := input.principal if not is_api_key

principal := object.union(input.principal.user, {"orgId": input.principal.orgId}) if {
	input.principal.keyType == "workspace-user"
	is_object(input.principal.user)
}

# The resource type's entry in the scope table: its group and the scope of each action.
type_scopes := scope_table.scopes[input.resource.type]

# The scope the request needs; undefined for a type or action the table does not list.
required_scope := type_scopes.actions[input.action]

data_plane_type if type_scopes.group == "data_plane"

key_type_may_hold_scope if input.principal.keyType in scope_table.scope_groups[type_scopes.group]

key_holds_scope if required_scope in input.principal.scopes

# A key principal is well formed when its type, id, organization and scopes are, and it
# has a workspace and a user exactly when its type has them.
valid_api_key(key) if {
	key.keyType in key_types
	non_empty_string(key.id)
	non_empty_string(key.orgId)
	is_array(key.scopes)
	every scope in key.scopes {
		non_empty_string(scope)
	}
	valid_key_reach(key)
}

valid_key_reach(key) if {
	key.keyType == "organisation-service"
	not "workspaceId" in object.keys(key)
	not "user" in object.keys(key)
}

valid_key_reach(key) if {
	key.keyType == "workspace-service"
	non_empty_string(key.workspaceId)
	not "user" in object.keys(key)
}

valid_key_reach(key) if {
	key.keyType == "workspace-user"
	non_empty_string(key.workspaceId)
	valid_principal(object.union(key.user, {"orgId": key.orgId}))
	valid_workspace_roles(object.get(key.user, "workspaceRoles", {}))
}
