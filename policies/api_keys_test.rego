package portkey.authz_test

import data.portkey.authz

# API keys as principals, written out literally from the product's documentation of its
# key types ("API Keys (AuthN and AuthZ)"): an admin key reaches every workspace of its
# organization but never the data plane; a workspace key acts only in its workspace; a
# key needs the scope of what it does (AB03 otherwise); a workspace user key is also
# bound by its user's role and the settings, as the user would be.

admin_key(scopes) := {"type": "api_key", "keyType": "organisation-service", "id": "k-admin", "orgId": "org-1", "scopes": scopes}

service_key(workspace, scopes) := {
	"type": "api_key", "keyType": "workspace-service", "id": "k-svc",
	"orgId": "org-1", "workspaceId": workspace, "scopes": scopes,
}

user_key(workspace, scopes, user) := {
	"type": "api_key", "keyType": "workspace-user", "id": "k-user",
	"orgId": "org-1", "workspaceId": workspace, "scopes": scopes, "user": user,
}

manager := {"id": "u-1", "orgRole": "member", "workspaceRoles": {"ws-1": "manager"}}

key_request(key, action, type, workspace, settings) := {
	"principal": key,
	"action": action,
	"resource": {"type": type, "orgId": "org-1", "workspaceId": workspace},
	"settings": settings,
}

decide(key, action, type, workspace, settings) := {k: v |
	some k, v in authz.decision with input as key_request(key, action, type, workspace, settings)
	k != "message"
}

test_an_admin_key_with_the_scope_acts_in_every_workspace_of_its_organization if {
	every workspace in {"ws-1", "ws-2"} {
		decide(admin_key(["mcp_servers.create"]), "create", "mcp_server", workspace, {}) == {
			"allow": true, "reason": "admin_api_key", "scope": "mcp_servers.create",
		}
	}
}

test_an_admin_key_is_not_bound_by_the_managers_settings if {
	off := {"org": {"managersWriteMcpServers": false}}
	decide(admin_key(["mcp_servers.create"]), "create", "mcp_server", "ws-1", off).reason == "admin_api_key"
}

test_an_admin_key_never_calls_the_data_plane if {
	decide(admin_key(["completions.write"]), "create", "completion", "ws-1", {}) == {
		"allow": false, "reason": "admin_key_data_plane", "scope": "completions.write",
	}
}

test_a_key_without_the_scope_is_denied_missing_scope_naming_it if {
	decide(service_key("ws-1", ["mcp_servers.read"]), "create", "mcp_server", "ws-1", {}) == {
		"allow": false, "reason": "missing_scope", "scope": "mcp_servers.create",
	}
}

test_a_service_key_with_the_scope_acts_in_its_workspace if {
	decide(service_key("ws-1", ["mcp_servers.create"]), "create", "mcp_server", "ws-1", {}) == {
		"allow": true, "reason": "service_api_key", "scope": "mcp_servers.create",
	}
	decide(service_key("ws-1", ["completions.write"]), "create", "completion", "ws-1", {}).reason == "service_api_key"
}

test_a_workspace_key_acts_only_in_its_own_workspace if {
	decide(service_key("ws-1", ["mcp_servers.read"]), "read", "mcp_server", "ws-2", {}).reason == "key_workspace_mismatch"
	decide(user_key("ws-1", ["mcp_servers.read"], manager), "read", "mcp_server", "ws-2", {}).reason == "key_workspace_mismatch"
}

test_a_key_of_another_organization_is_cross_org if {
	key := object.union(admin_key(["mcp_servers.read"]), {"orgId": "org-2"})
	decide(key, "read", "mcp_server", "ws-1", {}) == {"allow": false, "reason": "cross_org", "scope": "mcp_servers.read"}
}

test_a_user_key_of_a_manager_writes_mcp_servers_exactly_when_the_setting_is_on if {
	key := user_key("ws-1", ["mcp_servers.create"], manager)
	decide(key, "create", "mcp_server", "ws-1", {}) == {
		"allow": true, "reason": "manager_write_enabled", "scope": "mcp_servers.create",
		"setting": "managersWriteMcpServers", "source": "default",
	}
	decide(key, "create", "mcp_server", "ws-1", {"org": {"managersWriteMcpServers": false}}) == {
		"allow": false, "reason": "manager_write_disabled", "scope": "mcp_servers.create",
		"setting": "managersWriteMcpServers", "source": "org",
	}
}

test_a_user_key_is_bound_by_its_user_s_role if {
	member := {"id": "u-2", "orgRole": "member", "workspaceRoles": {"ws-1": "member"}}
	decide(user_key("ws-1", ["mcp_servers.create"], member), "create", "mcp_server", "ws-1", {}).reason == "read_only_role"
	stranger := {"id": "u-3", "orgRole": "member"}
	decide(user_key("ws-1", ["mcp_servers.read"], stranger), "read", "mcp_server", "ws-1", {}).reason == "no_workspace_access"
	owner := {"id": "u-4", "orgRole": "owner"}
	decide(user_key("ws-1", ["mcp_servers.delete"], owner), "delete", "mcp_server", "ws-1", {}).reason == "org_admin"
}

test_the_data_plane_is_for_every_role_in_the_workspace_and_workspace_keys if {
	decide(user_key("ws-1", ["completions.write"], manager), "create", "completion", "ws-1", {}).reason == "data_plane"
	user := {"id": "u-1", "orgId": "org-1", "orgRole": "member", "workspaceRoles": {"ws-1": "member"}}
	d := authz.decision with input as key_request(user, "create", "prompt_render", "ws-1", {})
	d.allow == true
	d.reason == "data_plane"
	not d.scope
	outsider := object.remove(user, {"workspaceRoles"})
	denied := authz.decision with input as key_request(outsider, "create", "prompt_render", "ws-1", {})
	denied.reason == "no_workspace_access"
}

test_a_data_plane_type_has_only_its_own_actions if {
	decide(service_key("ws-1", ["completions.write"]), "read", "completion", "ws-1", {}).reason == "unsupported_action"
}

test_a_key_type_that_may_not_hold_the_scope_is_denied_for_it if {
	decide(user_key("ws-1", ["mcp_servers.read"], manager), "read", "mcp_server", "ws-1", {}).allow == true
	key_management := {"api_keys": {
		"scope_groups": {"control_plane": [], "data_plane": []},
		"scopes": {"mcp_server": {"group": "control_plane", "actions": {"read": "mcp_servers.read"}}},
	}}
	d := authz.decision with input as key_request(service_key("ws-1", ["mcp_servers.read"]), "read", "mcp_server", "ws-1", {})
		with data.portkey.api_keys as key_management.api_keys
	d.reason == "scope_not_for_key_type"
	d.allow == false
}

malformed_keys := [
	{"type": "api_key", "keyType": "organisation-key", "id": "k", "orgId": "org-1", "scopes": []},
	{"type": "api_key", "keyType": "organisation-service", "id": "", "orgId": "org-1", "scopes": []},
	{"type": "api_key", "keyType": "organisation-service", "id": "k", "scopes": []},
	{"type": "api_key", "keyType": "organisation-service", "id": "k", "orgId": "org-1", "scopes": "mcp_servers.read"},
	{"type": "api_key", "keyType": "organisation-service", "id": "k", "orgId": "org-1", "scopes": [1]},
	{"type": "api_key", "keyType": "organisation-service", "id": "k", "orgId": "org-1", "scopes": [], "workspaceId": "ws-1"},
	{"type": "api_key", "keyType": "organisation-service", "id": "k", "orgId": "org-1", "scopes": [], "user": manager},
	{"type": "api_key", "keyType": "workspace-service", "id": "k", "orgId": "org-1", "scopes": []},
	{"type": "api_key", "keyType": "workspace-service", "id": "k", "orgId": "org-1", "workspaceId": "ws-1", "scopes": [], "user": manager},
	{"type": "api_key", "keyType": "workspace-user", "id": "k", "orgId": "org-1", "workspaceId": "ws-1", "scopes": []},
	{"type": "api_key", "keyType": "workspace-user", "id": "k", "orgId": "org-1", "workspaceId": "ws-1", "scopes": [], "user": {"id": "u-1", "orgRole": "boss"}},
	{
		"type": "api_key", "keyType": "workspace-user", "id": "k", "orgId": "org-1", "workspaceId": "ws-1", "scopes": [],
		"user": {"id": "u-1", "orgRole": "member", "workspaceRoles": {"ws-1": "boss"}},
	},
]

test_a_malformed_key_principal_is_invalid_api_key if {
	every key in malformed_keys {
		d := authz.decision with input as key_request(key, "read", "mcp_server", "ws-1", {})
		d.reason == "invalid_api_key"
		d.allow == false
	}
}

test_a_principal_of_an_unknown_type_is_invalid if {
	robot := {"type": "robot", "id": "u-1", "orgId": "org-1", "orgRole": "owner"}
	refused := authz.decision with input as key_request(robot, "read", "mcp_server", "ws-1", {})
	refused.reason == "invalid_principal"
	user := object.union(robot, {"type": "user"})
	allowed := authz.decision with input as key_request(user, "read", "mcp_server", "ws-1", {})
	allowed.reason == "org_admin"
}

# The rules matrix (matrix_test.rego) crossed with key principals: in every case of a
# family's matrix, a workspace user key that holds the scope decides as its user does and
# names the scope.
key_matrix_decides_as_its_user(family, org_role) if {
	cases := family_matrix(family, org_role)
	count(cases) > 0
	failures := {[c.combination, c.input.action, c.input.resource.type, got, want] |
		some c in cases
		user_decision := authz.decision with input as c.input
		want := object.union(outcome(user_decision), scope_named(c.input))
		key := user_key("ws-1", [scope_of(c.input)], object.remove(c.input.principal, {"orgId"}))
		got := as_key(c.input, key)
		got != want
	}
	print(family, org_role, "key matrix failures:", count(failures), [f | some f in failures])
	count(failures) == 0
}

scope_of(request) := object.get(data.portkey.api_keys.scopes, [request.resource.type, "actions", request.action], "none.none")

scope_named(request) := {"scope": scope} if {
	scope := data.portkey.api_keys.scopes[request.resource.type].actions[request.action]
} else := {}

as_key(request, key) := object.filter(d, {"allow", "reason", "setting", "source", "scope"}) if {
	d := authz.decision with input as object.union(object.remove(request, {"principal"}), {"principal": key})
}

# Every type and action of every family, whatever the role and settings: without the scope
# a key is missing_scope; service and admin keys that hold it are allowed.
test_keys_without_a_role_hold_every_type_and_action_by_scope_alone if {
	failures := {[type, action, got] |
		some family in data.portkey.families
		some type in family.resource_types
		some action in family.actions
		request := key_request({}, action, type, "ws-1", {"org": {setting.name: false | some setting in family.settings}})
		scope := scope_of(request)
		got := [
			as_key(request, user_key("ws-1", [], manager)),
			as_key(request, service_key("ws-1", [scope])),
			as_key(request, admin_key([scope])),
		]
		got != [
			{"allow": false, "reason": user_key_denial(type), "scope": scope},
			{"allow": true, "reason": "service_api_key", "scope": scope},
			{"allow": true, "reason": "admin_api_key", "scope": scope},
		]
	}
	count(failures) == 0
}

# A user key without the scope: missing_scope, unless user keys may not hold it at all.
user_key_denial(type) := "missing_scope" if {
	"workspace-user" in data.portkey.api_keys.scope_groups[data.portkey.api_keys.scopes[type].group]
} else := "scope_not_for_key_type"

test_key_matrix_integration_access_owners if key_matrix_decides_as_its_user("integration-access", "owner")

test_key_matrix_integration_access_admins if key_matrix_decides_as_its_user("integration-access", "admin")

test_key_matrix_integration_access_members if key_matrix_decides_as_its_user("integration-access", "member")

test_key_matrix_prompt_access_members if key_matrix_decides_as_its_user("prompt-access", "member")

test_key_matrix_guardrail_access_members if key_matrix_decides_as_its_user("guardrail-access", "member")

test_key_matrix_analytics_access_members if key_matrix_decides_as_its_user("analytics-access", "member")

test_key_matrix_logs_access_members if key_matrix_decides_as_its_user("logs-access", "member")
