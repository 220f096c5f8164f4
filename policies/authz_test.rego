package portkey.authz_test

import data.portkey.authz

# The spec's tables, written out literally; the matrix test below crosses them.

# Org role x workspace role -> what a principal may do in the workspace:
#   "all": every action (org owners and admins), "manager": read, and write by setting,
#   "read": read only, "none": nothing.
role_table := {
	["owner", "none"]: "all",
	["owner", "admin"]: "all",
	["owner", "manager"]: "all",
	["owner", "member"]: "all",
	["admin", "none"]: "all",
	["admin", "admin"]: "all",
	["admin", "manager"]: "all",
	["admin", "member"]: "all",
	["member", "none"]: "none",
	["member", "admin"]: "manager",
	["member", "manager"]: "manager",
	["member", "member"]: "read",
}

# Org value x override toggle x workspace value -> effective value and its source.
resolution_table := {
	["unset", false, "unset"]: [true, "default"],
	["unset", false, true]: [true, "default"],
	["unset", false, false]: [true, "default"],
	["unset", true, "unset"]: [true, "default"],
	["unset", true, true]: [true, "workspace"],
	["unset", true, false]: [false, "workspace"],
	[true, false, "unset"]: [true, "org"],
	[true, false, true]: [true, "org"],
	[true, false, false]: [true, "org"],
	[true, true, "unset"]: [true, "org"],
	[true, true, true]: [true, "workspace"],
	[true, true, false]: [false, "workspace"],
	[false, false, "unset"]: [false, "org"],
	[false, false, true]: [false, "org"],
	[false, false, false]: [false, "org"],
	[false, true, "unset"]: [false, "org"],
	[false, true, true]: [true, "workspace"],
	[false, true, false]: [false, "workspace"],
}

settings_names := {
	"integration": "managersWriteWsIntegrations",
	"mcp_integration": "managersWriteWsMcpIntegrations",
	"mcp_server": "managersWriteMcpServers",
}

principal(org_role, ws_role) := p if {
	ws_role == "none"
	p := {"id": "u-1", "orgId": "org-1", "orgRole": org_role, "workspaceRoles": {"ws-other": "manager"}}
} else := {"id": "u-1", "orgId": "org-1", "orgRole": org_role, "workspaceRoles": {"ws-1": ws_role, "ws-other": "member"}}

# Stored settings for one resource type: only the set values are present.
settings(name, org_value, toggle, ws_value) := {
	"org": object.union(value_field(name, org_value), {"allowWorkspaceOverrides": {name: toggle}}),
	"workspace": value_field(name, ws_value),
}

value_field(_, "unset") := {}

value_field(name, value) := {name: value} if is_boolean(value)

expected(class, _, _) := {"allow": true, "reason": "org_admin"} if class == "all"

expected(class, _, _) := {"allow": false, "reason": "no_workspace_access"} if class == "none"

expected(class, action, _) := {"allow": true, "reason": "workspace_read"} if {
	class in {"read", "manager"}
	action == "read"
}

expected(class, action, _) := {"allow": false, "reason": "read_only_role"} if {
	class == "read"
	action != "read"
}

expected(class, action, resolved) := {
	"allow": resolved.value,
	"reason": {true: "manager_write_enabled", false: "manager_write_disabled"}[resolved.value],
	"setting": resolved.setting,
	"source": resolved.source,
} if {
	class == "manager"
	action != "read"
}

matrix_cases contains c if {
	some [org_role, ws_role], class in role_table
	some type, name in settings_names
	some action in {"create", "update", "delete", "read"}
	some [org_value, toggle, ws_value], [value, source] in resolution_table
	c := {
		"input": {
			"principal": principal(org_role, ws_role),
			"action": action,
			"resource": {"type": type, "orgId": "org-1", "workspaceId": "ws-1", "id": "r-1"},
			"settings": settings(name, org_value, toggle, ws_value),
		},
		"want": expected(class, action, {"value": value, "source": source, "setting": name}),
	}
}

# Only the fields the tables speak of: the message is checked separately.
outcome(d) := object.filter(d, {"allow", "reason", "setting", "source"})

test_matrix_is_complete if {
	# 3 org roles x 4 workspace roles x 3 types x 4 actions x 18 settings combinations
	count(matrix_cases) == 2592
}

test_matrix_decisions_match_the_spec if {
	failures := {[c.input, got, c.want] |
		some c in matrix_cases
		got := outcome(authz.decision) with input as c.input
		got != c.want
	}
	print("matrix failures:", failures)
	count(failures) == 0
}

test_allow_is_the_decision_boolean if {
	mismatches := {c.input |
		some c in matrix_cases
		d := authz.decision with input as c.input
		a := authz.allow with input as c.input
		a != d.allow
	}
	count(mismatches) == 0
}

test_every_decision_has_a_message if {
	every c in matrix_cases {
		d := authz.decision with input as c.input
		d.message == authz.messages[d.reason]
	}
}

valid_input := {
	"principal": {"id": "u-1", "orgId": "org-1", "orgRole": "member", "workspaceRoles": {"ws-1": "manager"}},
	"action": "create",
	"resource": {"type": "mcp_server", "orgId": "org-1", "workspaceId": "ws-1"},
	"settings": {"org": {"managersWriteMcpServers": false}},
}

# A copy of request with the value at path (e.g. "/principal/workspaceRoles") replaced.
with_value(request, path, value) := json.patch(request, [{"op": "add", "path": path, "value": value}])

denied_for(reason, request) if {
	d := authz.decision with input as request
	d.allow == false
	d.reason == reason
	not d.setting
	not authz.allow with input as request
}

test_valid_input_is_decided_by_the_setting if {
	d := authz.decision with input as valid_input
	d == {
		"allow": false, "reason": "manager_write_disabled",
		"message": authz.messages.manager_write_disabled,
		"setting": "managersWriteMcpServers", "source": "org",
	}
}

test_owner_of_another_org_gets_nothing if {
	request := object.union(valid_input, {
		"principal": {"id": "u-9", "orgId": "org-2", "orgRole": "owner", "workspaceRoles": {"ws-1": "admin"}},
		"action": "read",
	})
	denied_for("cross_org", request)
}

test_manager_of_another_workspace_gets_nothing if {
	request := with_value(with_value(valid_input, "/principal/workspaceRoles", {"ws-2": "manager"}), "/action", "read")
	denied_for("no_workspace_access", request)
}

test_principal_without_workspace_roles_gets_nothing if {
	request := json.remove(valid_input, ["principal/workspaceRoles"])
	denied_for("no_workspace_access", request)
}

test_absent_input_is_denied if {
	d := authz.decision
	d.reason == "invalid_input"
	not authz.allow
}

malformed_cases := {
	"invalid_input": [
		{},
		{"principal": "u-1", "action": "read", "resource": valid_input.resource},
		{"principal": valid_input.principal, "action": "read", "resource": ["mcp_server"]},
		json.remove(valid_input, ["resource"]),
		[],
		"read",
	],
	"unknown_action": [
		object.union(valid_input, {"action": "approve"}),
		object.union(valid_input, {"action": "CREATE"}),
		object.union(valid_input, {"action": 1}),
		json.remove(valid_input, ["action"]),
	],
	"unknown_resource_type": [
		object.union(valid_input, {"resource": {"type": "server", "orgId": "org-1", "workspaceId": "ws-1"}}),
		json.remove(valid_input, ["resource/type"]),
		with_value(valid_input, "/resource/type", ["mcp_server"]),
	],
	"invalid_principal": [
		json.remove(valid_input, ["principal/id"]),
		json.remove(valid_input, ["principal/orgId"]),
		json.remove(valid_input, ["principal/orgRole"]),
		object.union(valid_input, {"principal": {"id": "", "orgId": "org-1", "orgRole": "member"}}),
		object.union(valid_input, {"principal": {"id": 7, "orgId": "org-1", "orgRole": "member"}}),
		object.union(valid_input, {"principal": {"id": "u-1", "orgId": "org-1", "orgRole": "superuser"}}),
	],
	"invalid_resource": [
		json.remove(valid_input, ["resource/orgId"]),
		json.remove(valid_input, ["resource/workspaceId"]),
		object.union(valid_input, {"resource": {"type": "mcp_server", "orgId": "org-1", "workspaceId": ""}}),
		object.union(valid_input, {"resource": {"type": "mcp_server", "orgId": "org-1", "workspaceId": 1}}),
	],
	"invalid_workspace_roles": [
		object.union(valid_input, {"principal": {"workspaceRoles": {"ws-1": "owner"}}}),
		object.union(valid_input, {"principal": {"workspaceRoles": {"ws-1": true}}}),
		object.union(valid_input, {"principal": {"workspaceRoles": {"": "manager"}}}),
		with_value(valid_input, "/principal/workspaceRoles", ["ws-1"]),
	],
}

test_malformed_input_is_denied_with_its_own_reason if {
	failures := {[want, request, got] |
		some want, requests in malformed_cases
		some request in requests
		got := authz.decision with input as request
		not denied_with(got, want)
	}
	print("malformed failures:", failures)
	count(failures) == 0
}

denied_with(d, reason) if {
	d.allow == false
	d.reason == reason
	not d.setting
}

test_malformed_input_precedence if {
	# An unknown action wins over every other defect; a foreign principal loses to a defect.
	denied_for("unknown_action", {"principal": {}, "action": "approve", "resource": {"type": "x"}})
	denied_for("invalid_principal", object.union(valid_input, {"principal": {"id": "", "orgId": "org-2", "orgRole": "owner"}}))
}

test_non_boolean_setting_values_are_ignored if {
	request := object.union(valid_input, {"settings": {
		"org": {"managersWriteMcpServers": "false", "allowWorkspaceOverrides": {"managersWriteMcpServers": "yes"}},
		"workspace": {"managersWriteMcpServers": false},
	}})
	d := authz.decision with input as request
	d.allow == true
	d.source == "default"
}

test_caller_cannot_switch_the_toggle_from_the_workspace_side if {
	request := object.union(valid_input, {"settings": {
		"org": {"managersWriteMcpServers": false},
		"workspace": {"managersWriteMcpServers": true, "allowWorkspaceOverrides": {"managersWriteMcpServers": true}},
	}})
	denied_for_setting(request, "org")
}

denied_for_setting(request, source) if {
	d := authz.decision with input as request
	d.allow == false
	d.reason == "manager_write_disabled"
	d.source == source
}

test_manager_roles_come_from_bundle_data if {
	as_manager := json.remove(valid_input, ["settings"])
	d := authz.decision with input as as_manager with data.portkey.config.manager_roles as ["admin"]
	d.reason == "read_only_role"
	as_admin := object.union(as_manager, {"principal": {"workspaceRoles": {"ws-1": "admin"}}})
	e := authz.decision with input as as_admin with data.portkey.config.manager_roles as ["admin"]
	e.reason == "manager_write_enabled"
}

test_no_manager_roles_configured_means_no_manager_writes if {
	request := json.remove(valid_input, ["settings"])
	d := authz.decision with input as request with data.portkey.config as {}
	d.reason == "read_only_role"
}

test_the_chain_falls_through_to_a_denial if {
	# Defence in depth: were the effective setting ever not a boolean, nothing grants.
	d := authz.decision with input as valid_input with authz.governing_setting as {"value": null, "source": "org"}
	d.reason == "invalid_input"
	d.allow == false
	not authz.allow with authz.decision as {"reason": "org_admin"}
}
