package portkey.authz_test

import data.portkey.authz

member_request(role, action, type, settings) := {
	"principal": {"id": "u-1", "orgId": "org-1", "orgRole": "member", "workspaceRoles": {"ws-1": role}},
	"action": action,
	"resource": {"type": type, "orgId": "org-1", "workspaceId": "ws-1"},
	"settings": settings,
}

test_an_action_the_family_does_not_list_is_denied if {
	d := authz.decision with input as member_request("manager", "create", "analytics", {})
	d.reason == "unsupported_action"
	not d.allow
}

test_view_off_denies_a_write if {
	d := authz.decision with input as member_request("manager", "create", "prompt", {"org": {"managersViewPrompts": false}})
	d == {
		"allow": false, "reason": "manager_read_disabled", "message": authz.messages.manager_read_disabled,
		"setting": "managersViewPrompts", "source": "org",
	}
}
