package portkey.authz_test

# Guardrail Management (the product's "Configure Guardrail Access
# Permissions"): managers view and write, members view and never write (the product
# has no such toggle); a write needs view too; one toggle for the whole family.
family_specs["guardrail-access"] := {
	"types": ["guardrail"],
	"actions": {"create", "update", "delete", "read"},
	"overrides": "family",
	"defaults": {
		"managersViewGuardrails": true,
		"managersWriteGuardrails": true,
		"membersViewGuardrails": true,
	},
	"governs": {
		["manager", "guardrail"]: {"read": "managersViewGuardrails", "write": "managersWriteGuardrails"},
		["member", "guardrail"]: {"read": "membersViewGuardrails"},
	},
	# 12 role pairs x 1 type x 4 actions x 3 settings x 18 values
	"cases": 2592,
}

test_guardrail_access_matrix_for_owners if matrix_decides_as_the_spec_says("guardrail-access", "owner")

test_guardrail_access_matrix_for_admins if matrix_decides_as_the_spec_says("guardrail-access", "admin")

test_guardrail_access_matrix_for_members if matrix_decides_as_the_spec_says("guardrail-access", "member")
