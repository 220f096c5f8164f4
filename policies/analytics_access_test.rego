package portkey.authz_test

# Analytics Management (the product's "Configure Analytics Access
# Permissions"): analytics are only read; managers and members read them unless the
# settings say otherwise; one toggle for the whole family.
family_specs["analytics-access"] := {
	"types": ["analytics"],
	"actions": {"read"},
	"overrides": "family",
	"defaults": {
		"managersViewAnalytics": true,
		"membersViewAnalytics": true,
	},
	"governs": {
		["manager", "analytics"]: {"read": "managersViewAnalytics"},
		["member", "analytics"]: {"read": "membersViewAnalytics"},
	},
	# 12 role pairs x 1 type x 4 actions (3 not the family's) x 2 settings x 18 values
	"cases": 1728,
}

test_analytics_access_matrix_for_owners if matrix_decides_as_the_spec_says("analytics-access", "owner")

test_analytics_access_matrix_for_admins if matrix_decides_as_the_spec_says("analytics-access", "admin")

test_analytics_access_matrix_for_members if matrix_decides_as_the_spec_says("analytics-access", "member")
