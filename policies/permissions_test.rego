package portkey.authz_test

import data.portkey.authz

permissions_principal := {"id": "u-1", "orgId": "org-1", "orgRole": "member", "workspaceRoles": {"ws-1": "manager", "ws-2": "member"}}

permissions_input := {
	"principal": permissions_principal,
	"resourceTypes": [t | some family in data.portkey.families; some t in family.resource_types],
	"actions": ["create", "update", "delete", "read"],
	"workspaces": {
		"ws-1": {"orgId": "org-1", "settings": {"org": {"managersWriteMcpServers": false, "allowWorkspaceOverrides": {"prompt-access": true}}, "workspace": {"managersWritePrompts": false}}},
		"ws-2": {"orgId": "org-1", "settings": {"org": {}, "workspace": {}}},
		"ws-3": {"orgId": "org-1"},
		"ws-x": {"orgId": "org-2", "settings": {"org": {}, "workspace": {}}},
	},
}

# Every cell of the matrix is the decision of the same request, message left out.
test_every_permission_cell_is_the_decision_of_the_same_request if {
	got := authz.permissions with input as permissions_input
	checked := [[ws, type, action, cell == want] |
		some ws, place in permissions_input.workspaces
		some type in permissions_input.resourceTypes
		some action in permissions_input.actions
		cell := got[ws][type][action]
		request := {
			"principal": permissions_principal, "action": action,
			"resource": {"type": type, "orgId": place.orgId, "workspaceId": ws},
			"settings": object.get(place, "settings", {}),
		}
		decided := authz.decision with input as request
		want := object.remove(decided, {"message"})
	]
	failures := [c | some c in checked; c[3] == false]
	print("permission cell failures:", failures)
	count(failures) == 0

	# 4 workspaces x 11 types x 4 actions
	count(checked) == 176
}

test_permissions_name_the_setting_that_decided if {
	got := authz.permissions with input as permissions_input
	got["ws-1"].mcp_server.create == {"allow": false, "reason": "manager_write_disabled", "setting": "managersWriteMcpServers", "source": "org"}
	got["ws-1"].prompt.update == {"allow": false, "reason": "manager_write_disabled", "setting": "managersWritePrompts", "source": "workspace"}
	got["ws-2"].integration.create == {"allow": false, "reason": "read_only_role"}
	got["ws-3"].integration.read == {"allow": false, "reason": "no_workspace_access"}
	got["ws-x"].integration.read == {"allow": false, "reason": "cross_org"}
	got["ws-2"].analytics.create == {"allow": false, "reason": "unsupported_action"}
}

test_permissions_of_no_workspaces_are_empty if {
	got := authz.permissions with input as {"principal": permissions_principal, "resourceTypes": ["integration"], "actions": ["read"], "workspaces": {}}
	got == {}
}
