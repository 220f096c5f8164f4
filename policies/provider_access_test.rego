package portkey.authz_test

# Provider Management (the product's "Configure Provider Access Permissions"): managers view
# and manage providers, members view them and never manage them; one "Allow workspace-level
# configuration" toggle for the section.
family_specs["provider-access"] := {
	"types": ["provider"],
	"actions": {"create", "update", "delete", "read"},
	"overrides": "family",
	"defaults": {
		"managersViewProviders": true,
		"managersManageProviders": true,
		"membersViewProviders": true,
	},
	"governs": {
		["manager", "provider"]: {"read": "managersViewProviders", "write": "managersManageProviders"},
		["member", "provider"]: {"read": "membersViewProviders"},
	},
	# 12 role pairs x 1 type x 4 actions x 3 settings x 18 values
	"cases": 2592,
}

test_provider_access_matrix_for_owners if matrix_decides_as_the_spec_says("provider-access", "owner")

test_provider_access_matrix_for_admins if matrix_decides_as_the_spec_says("provider-access", "admin")

test_provider_access_matrix_for_members if matrix_decides_as_the_spec_says("provider-access", "member")
