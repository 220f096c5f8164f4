package portkey.authz_test

# Prompt Management (the product's "Configure Prompt Access Permissions"):
# managers view and write, members view but do not write, unless the settings say
# otherwise; a write needs view too; one toggle for the whole family.
family_specs["prompt-access"] := {
	"types": ["prompt"],
	"actions": {"create", "update", "delete", "read"},
	"overrides": "family",
	"defaults": {
		"managersViewPrompts": true,
		"managersWritePrompts": true,
		"membersViewPrompts": true,
		"membersWritePrompts": false,
	},
	"governs": {
		["manager", "prompt"]: {"read": "managersViewPrompts", "write": "managersWritePrompts"},
		["member", "prompt"]: {"read": "membersViewPrompts", "write": "membersWritePrompts"},
	},
	# 12 role pairs x 1 type x 4 actions x 4 settings x 18 values
	"cases": 3456,
}

test_prompt_access_matrix_for_owners if matrix_decides_as_the_spec_says("prompt-access", "owner")

test_prompt_access_matrix_for_admins if matrix_decides_as_the_spec_says("prompt-access", "admin")

test_prompt_access_matrix_for_members if matrix_decides_as_the_spec_says("prompt-access", "member")
