package portkey.authz_test

import data.portkey.authz

# API Key Management (the product's "Configure API Key Access Permissions"): managers view
# and manage user and service keys of their workspace, limited to keys created by workspace
# administrators; members view user keys only, and manage them when the setting says so,
# limited to the keys created for them. No workspace overrides. The limits read resource
# attributes the caller supplies: createdFor (the user a key was created for) and
# createdByRole (the role of who created it). The matrix's resources are within the limits.
family_specs["api-key-access"] := {
	"types": ["user_api_key", "service_api_key"],
	"actions": {"create", "update", "delete", "read"},
	"overrides": "none",
	"roles_without_a_setting": "none",
	"resource": {"createdFor": "u-1", "createdByRole": "manager"},
	"defaults": {
		"managersViewKeys": true,
		"managersManageKeys": true,
		"membersViewKeys": true,
		"membersManageKeys": false,
	},
	"governs": {
		["manager", "user_api_key"]: {"read": "managersViewKeys", "write": "managersManageKeys"},
		["manager", "service_api_key"]: {"read": "managersViewKeys", "write": "managersManageKeys"},
		["member", "user_api_key"]: {"read": "membersViewKeys", "write": "membersManageKeys"},
	},
	# 12 role pairs x 4 actions x (4 settings of user keys + 2 of service keys) x 18 values
	"cases": 5184,
}

test_api_key_access_matrix_for_owners if matrix_decides_as_the_spec_says("api-key-access", "owner")

test_api_key_access_matrix_for_admins if matrix_decides_as_the_spec_says("api-key-access", "admin")

test_api_key_access_matrix_for_members if matrix_decides_as_the_spec_says("api-key-access", "member")

key_resource(type, attributes) := object.union({"type": type, "orgId": "org-1", "workspaceId": "ws-1"}, attributes)

decide_key_access(ws_role, action, resource, settings) := [d.allow, d.reason] if {
	d := authz.decision with input as {
		"principal": {"id": "u-1", "orgId": "org-1", "orgRole": "member", "workspaceRoles": {"ws-1": ws_role}},
		"action": action,
		"resource": resource,
		"settings": settings,
	}
}

test_managers_see_and_manage_only_keys_created_by_workspace_managers if {
	by_manager := {"createdByRole": "manager", "createdFor": "u-9"}
	every action in {"read", "create", "delete"} {
		every type in {"user_api_key", "service_api_key"} {
			decide_key_access("manager", action, key_resource(type, by_manager), {})[0] == true
			decide_key_access("manager", action, key_resource(type, {"createdByRole": "org_admin"}), {}) == [false, "not_created_by_manager"]
			decide_key_access("manager", action, key_resource(type, {}), {}) == [false, "not_created_by_manager"]
		}
	}
}

test_members_see_only_user_keys_created_for_them_and_manage_them_when_the_setting_says_so if {
	mine := key_resource("user_api_key", {"createdFor": "u-1", "createdByRole": "manager"})
	theirs := key_resource("user_api_key", {"createdFor": "u-2", "createdByRole": "manager"})
	decide_key_access("member", "read", mine, {}) == [true, "member_read_enabled"]
	decide_key_access("member", "read", theirs, {}) == [false, "not_created_for_principal"]
	decide_key_access("member", "update", mine, {}) == [false, "member_write_disabled"]
	decide_key_access("member", "update", mine, {"org": {"membersManageKeys": true}}) == [true, "member_write_enabled"]
	decide_key_access("member", "update", theirs, {"org": {"membersManageKeys": true}}) == [false, "not_created_for_principal"]
	decide_key_access("member", "read", key_resource("service_api_key", {"createdFor": "u-1"}), {}) == [false, "no_access_for_role"]
}
