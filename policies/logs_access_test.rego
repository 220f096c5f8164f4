package portkey.authz_test

# Logs Management (the product's "Configure Logs Access Permissions"):
# logs and their metadata are only read; managers, members and organization admins read
# them unless the settings say otherwise (owners always may); no workspace overrides.
family_specs["logs-access"] := {
	"types": ["log", "log_metadata"],
	"actions": {"read"},
	"overrides": "none",
	"defaults": {
		"managersViewLogs": true,
		"managersViewLogsMetadata": true,
		"membersViewLogs": true,
		"membersViewLogsMetadata": true,
		"orgAdminViewLogs": true,
		"orgAdminViewLogsMetadata": true,
	},
	"governs": {
		["manager", "log"]: {"read": "managersViewLogs"},
		["manager", "log_metadata"]: {"read": "managersViewLogsMetadata"},
		["member", "log"]: {"read": "membersViewLogs"},
		["member", "log_metadata"]: {"read": "membersViewLogsMetadata"},
		["org_admin", "log"]: {"read": "orgAdminViewLogs"},
		["org_admin", "log_metadata"]: {"read": "orgAdminViewLogsMetadata"},
	},
	# 12 role pairs x 2 types x 4 actions (3 not the family's) x 3 settings per type x 18 values
	"cases": 5184,
}

test_logs_access_matrix_for_owners if matrix_decides_as_the_spec_says("logs-access", "owner")

test_logs_access_matrix_for_admins if matrix_decides_as_the_spec_says("logs-access", "admin")

test_logs_access_matrix_for_members if matrix_decides_as_the_spec_says("logs-access", "member")
