package portkey.authz_test

import data.portkey.authz

# The family rules (policies/README.md) case by case, as a reader would check them; the matrix
# (matrix_test.rego) crosses them all.

request(org_role, ws_role, action, type, settings) := {
	"principal": principal(org_role, ws_role),
	"action": action,
	"resource": {"type": type, "orgId": "org-1", "workspaceId": "ws-1"},
	"settings": settings,
}

decided(req, want) if {
	d := authz.decision with input as req
	outcome(d) == want
	d.message == authz.messages[want.reason]
	authz.allow == want.allow with input as req
}

test_members_do_not_write_prompts_by_default if {
	decided(request("member", "member", "create", "prompt", {}), {
		"allow": false, "reason": "member_write_disabled",
		"setting": "membersWritePrompts", "source": "default",
	})
}

test_a_workspace_may_let_its_members_write_prompts_while_the_family_toggle_is_on if {
	decided(
		request("member", "member", "update", "prompt", {
			"org": {"allowWorkspaceOverrides": {"prompt-access": true}},
			"workspace": {"membersWritePrompts": true},
		}),
		{"allow": true, "reason": "member_write_enabled", "setting": "membersWritePrompts", "source": "workspace"},
	)
}

test_a_setting_s_own_toggle_does_not_open_a_family_with_one_toggle if {
	decided(
		request("member", "member", "update", "prompt", {
			"org": {"allowWorkspaceOverrides": {"membersWritePrompts": true}},
			"workspace": {"membersWritePrompts": true},
		}),
		{"allow": false, "reason": "member_write_disabled", "setting": "membersWritePrompts", "source": "default"},
	)
}

test_a_write_needs_view_and_the_view_setting_is_named if {
	decided(
		request("member", "manager", "create", "prompt", {"org": {"managersViewPrompts": false, "managersWritePrompts": true}}),
		{"allow": false, "reason": "manager_read_disabled", "setting": "managersViewPrompts", "source": "org"},
	)
}

test_members_never_write_guardrails if {
	decided(request("member", "member", "delete", "guardrail", {"org": {"membersViewGuardrails": true}}), {
		"allow": false,
		"reason": "read_only_role",
	})
}

test_a_view_setting_decides_a_read if {
	decided(request("member", "admin", "read", "analytics", {"org": {"managersViewAnalytics": false}}), {
		"allow": false, "reason": "manager_read_disabled",
		"setting": "managersViewAnalytics", "source": "org",
	})
	decided(request("member", "member", "read", "guardrail", {}), {
		"allow": true, "reason": "member_read_enabled",
		"setting": "membersViewGuardrails", "source": "default",
	})
}

test_an_action_the_family_does_not_list_is_denied_before_any_role if {
	decided(request("owner", "none", "create", "analytics", {}), {"allow": false, "reason": "unsupported_action"})
	decided(request("member", "manager", "delete", "log_metadata", {}), {"allow": false, "reason": "unsupported_action"})

	# before tenancy (the action does not exist, whoever asks); after an unknown resource type
	foreign := object.union(request("owner", "admin", "update", "log", {}), {"principal": {"orgId": "org-2"}})
	decided(foreign, {"allow": false, "reason": "unsupported_action"})
	decided(request("owner", "admin", "update", "logs", {}), {"allow": false, "reason": "unknown_resource_type"})
}

test_organization_admins_read_logs_as_the_logs_family_says if {
	decided(request("admin", "none", "read", "log", {"org": {"orgAdminViewLogs": false}}), {
		"allow": false, "reason": "org_admin_read_disabled",
		"setting": "orgAdminViewLogs", "source": "org",
	})
	decided(request("admin", "member", "read", "log_metadata", {}), {
		"allow": true, "reason": "org_admin_read_enabled",
		"setting": "orgAdminViewLogsMetadata", "source": "default",
	})
}

test_organization_owners_read_logs_whatever_the_settings_say if {
	decided(
		request("owner", "none", "read", "log", {"org": {"orgAdminViewLogs": false, "managersViewLogs": false}}),
		{"allow": true, "reason": "org_admin"},
	)
}

test_the_logs_family_has_no_workspace_overrides if {
	decided(
		request("member", "member", "read", "log", {
			"org": {"membersViewLogs": false, "allowWorkspaceOverrides": {"logs-access": true, "membersViewLogs": true}},
			"workspace": {"membersViewLogs": true},
		}),
		{"allow": false, "reason": "member_read_disabled", "setting": "membersViewLogs", "source": "org"},
	)
}

test_organization_admins_keep_full_access_to_the_other_families if {
	settings := {"org": {"managersViewPrompts": false, "membersViewPrompts": false, "managersViewAnalytics": false}}
	decided(request("admin", "none", "delete", "prompt", settings), {"allow": true, "reason": "org_admin"})
	decided(request("admin", "member", "read", "analytics", settings), {"allow": true, "reason": "org_admin"})
}

test_manager_roles_from_bundle_data_apply_to_every_family if {
	req := request("member", "manager", "create", "prompt", {})
	d := authz.decision with input as req with data.portkey.config.manager_roles as ["admin"]
	outcome(d) == {"allow": false, "reason": "member_write_disabled", "setting": "membersWritePrompts", "source": "default"}
}

test_non_boolean_values_never_decide if {
	decided(
		request("member", "member", "read", "prompt", {
			"org": {"membersViewPrompts": "false", "allowWorkspaceOverrides": {"prompt-access": "yes"}},
			"workspace": {"membersViewPrompts": false},
		}),
		{"allow": true, "reason": "member_read_enabled", "setting": "membersViewPrompts", "source": "default"},
	)
}

test_every_reason_has_a_message if {
	every reason in {r | some r in authz.setting_reason_table} | {"org_admin", "workspace_read", "read_only_role", "unsupported_action"} {
		authz.messages[reason]
	}
}

# A family is data: one the table did not have before decides by its entry alone,
# including a setting for organization admins' writes, which no family has today.
config_family := {
	"name": "config-access",
	"label": "Config Management",
	"resource_types": ["config"],
	"actions": ["create", "update", "delete", "read"],
	"workspace_overrides": "setting",
	"settings": [
		{"name": "orgAdminWriteConfigs", "label": "Org-Admin Write Configs", "default": false, "role": "org_admin", "access": "write", "resource_types": ["config"]},
		{"name": "membersViewConfigs", "label": "Members View Configs", "default": true, "role": "member", "access": "read", "resource_types": ["config"]},
	],
}

test_a_new_family_is_a_table_entry if {
	families := array.concat(data.portkey.families, [config_family])
	create := request("admin", "none", "create", "config", {})
	d := authz.decision with input as create with data.portkey.families as families
	outcome(d) == {"allow": false, "reason": "org_admin_write_disabled", "setting": "orgAdminWriteConfigs", "source": "default"}

	enabled := request("admin", "none", "update", "config", {"org": {"orgAdminWriteConfigs": true}})
	e := authz.decision with input as enabled with data.portkey.families as families
	outcome(e) == {"allow": true, "reason": "org_admin_write_enabled", "setting": "orgAdminWriteConfigs", "source": "org"}

	read := authz.decision with input as request("admin", "none", "read", "config", {}) with data.portkey.families as families
	read.reason == "org_admin"

	view_off := request("member", "member", "read", "config", {
		"org": {"allowWorkspaceOverrides": {"membersViewConfigs": true}},
		"workspace": {"membersViewConfigs": false},
	})
	v := authz.decision with input as view_off with data.portkey.families as families
	outcome(v) == {"allow": false, "reason": "member_read_disabled", "setting": "membersViewConfigs", "source": "workspace"}

	without := authz.decision with input as create
	without.reason == "unknown_resource_type"
}
