package portkey.authz_test

# Integration Management (the product's "Configure Integration Access
# Permissions"): managers write each kind only when its setting says so, with one
# "allow workspace-level configuration" toggle per setting; everyone in the workspace reads.
# authz_test.rego has this family's own matrix; this spec puts it in the families' matrix too.
family_specs["integration-access"] := {
	"types": ["integration", "mcp_integration", "mcp_server"],
	"actions": {"create", "update", "delete", "read"},
	"overrides": "setting",
	"defaults": {
		"managersWriteWsIntegrations": true,
		"managersWriteWsMcpIntegrations": true,
		"managersWriteMcpServers": true,
	},
	"governs": {
		["manager", "integration"]: {"write": "managersWriteWsIntegrations"},
		["manager", "mcp_integration"]: {"write": "managersWriteWsMcpIntegrations"},
		["manager", "mcp_server"]: {"write": "managersWriteMcpServers"},
	},
	# 12 role pairs x 3 types x 4 actions x 1 setting per type x 18 values
	"cases": 2592,
}

test_integration_access_matrix_for_owners if matrix_decides_as_the_spec_says("integration-access", "owner")

test_integration_access_matrix_for_admins if matrix_decides_as_the_spec_says("integration-access", "admin")

test_integration_access_matrix_for_members if matrix_decides_as_the_spec_says("integration-access", "member")
