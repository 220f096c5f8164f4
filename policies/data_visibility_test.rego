package portkey.authz_test

import data.portkey.authz

# Data Visibility (the product's "Configure Data Visibility Settings"): managers and members
# see all the logs, analytics and traces of their workspace unless the organization turns
# their setting off; then they see only what their own API keys produced. Owners and admins
# always see all. One "Allow workspace-level configuration" toggle for the section. The
# settings allow and deny nothing: they say what an allowed read may show.
family_specs["data-visibility"] := {
	"types": [],
	"actions": set(),
	"overrides": "family",
	"defaults": {"managersViewAllData": true, "membersViewAllData": true},
	"governs": {},
	"cases": 0,
}

visibility_types := {"log", "log_metadata", "analytics"}

# Role in the workspace -> the setting that limits it (owners and org admins: none).
visibility_settings := {"manager": "managersViewAllData", "member": "membersViewAllData"}

user_of(org_role, ws_role) := {"id": "u-1", "orgId": "org-1", "orgRole": org_role, "workspaceRoles": {"ws-1": ws_role}}

read_of(principal, type, settings) := object.filter(d, {"allow", "reason", "visibility", "visibleTo"}) if {
	d := authz.decision with input as {
		"principal": principal,
		"action": "read",
		"resource": {"type": type, "orgId": "org-1", "workspaceId": "ws-1"},
		"settings": settings,
	}
}

test_managers_and_members_see_all_data_by_default if {
	every type in visibility_types {
		every ws_role in {"admin", "manager", "member"} {
			read_of(user_of("member", ws_role), type, {}).visibility == "all"
		}
	}
}

test_a_role_whose_setting_is_off_sees_only_its_own_keys_data if {
	every type in visibility_types {
		every ws_role, setting in visibility_settings {
			d := read_of(user_of("member", ws_role), type, {"org": {setting: false}})
			d.allow == true
			d.visibility == "own_api_keys"
			d.visibleTo == {"userId": "u-1"}
		}
	}
}

test_the_other_role_s_setting_does_not_limit if {
	read_of(user_of("member", "manager"), "log", {"org": {"membersViewAllData": false}}).visibility == "all"
	read_of(user_of("member", "member"), "log", {"org": {"managersViewAllData": false}}).visibility == "all"
}

test_owners_admins_admin_keys_and_service_keys_always_see_all if {
	off := {"org": {"managersViewAllData": false, "membersViewAllData": false}}
	every type in visibility_types {
		read_of(user_of("owner", "member"), type, off).visibility == "all"
		read_of(user_of("admin", "member"), type, off).visibility == "all"
		read_of(admin_key(["analytics.view", "logs.view"]), type, off).visibility == "all"
		read_of(service_key("ws-1", ["analytics.view", "logs.view"]), type, off).visibility == "all"
	}
}

test_a_workspace_user_key_sees_as_its_user_limited_to_the_key if {
	key := user_key("ws-1", ["logs.view"], {"id": "u-7", "orgRole": "member", "workspaceRoles": {"ws-1": "manager"}})
	read_of(key, "log", {}).visibility == "all"
	read_of(key, "log", {"org": {"managersViewAllData": false}}) == {
		"allow": true, "reason": "manager_read_enabled",
		"visibility": "own_api_keys", "visibleTo": {"userId": "u-7", "apiKeyIds": ["k-user"]},
	}
}

test_a_workspace_value_counts_only_while_the_section_s_toggle_is_on if {
	manager := user_of("member", "manager")
	off_in_workspace := {"org": {"allowWorkspaceOverrides": {"data-visibility": true}}, "workspace": {"managersViewAllData": false}}
	read_of(manager, "analytics", off_in_workspace).visibility == "own_api_keys"
	ignored := {"org": {"allowWorkspaceOverrides": {"data-visibility": false}}, "workspace": {"managersViewAllData": false}}
	read_of(manager, "analytics", ignored).visibility == "all"
	on_in_workspace := {"org": {"managersViewAllData": false, "allowWorkspaceOverrides": {"data-visibility": true}}, "workspace": {"managersViewAllData": true}}
	read_of(manager, "analytics", on_in_workspace).visibility == "all"
}

test_no_visibility_on_denials_writes_or_types_it_does_not_govern if {
	manager := user_of("member", "manager")
	not read_of(manager, "log", {"org": {"managersViewLogs": false}}).visibility
	not read_of(manager, "prompt", {"org": {"managersViewAllData": false}}).visibility
	not read_of(user_of("member", "manager"), "log", {}).visibleTo
	d := authz.decision with input as {
		"principal": manager, "action": "create",
		"resource": {"type": "prompt", "orgId": "org-1", "workspaceId": "ws-1"},
	}
	not d.visibility
}
