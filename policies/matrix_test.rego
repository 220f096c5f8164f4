package portkey.authz_test

import data.portkey.authz

# Every family's full matrix, crossed from the spec of each family, which its own test file
# writes out literally as family_specs[<family name>] (e.g. prompt_access_test.rego):
#   org role x workspace role x resource type x action
#   x org value x toggle x workspace value (of each setting that governs the type),
# and every pair of settings that govern the same type, in the four combinations of values.
# A spec is the product's documentation, not a copy of data.json: the matrix shows that
# the table in the bundle decides as the documentation says.

# Org role x workspace role -> the role the family settings speak of ("owner": never
# governed by a setting; "none": no role in the workspace).
actor_table := {
	["owner", "none"]: "owner",
	["owner", "admin"]: "owner",
	["owner", "manager"]: "owner",
	["owner", "member"]: "owner",
	["admin", "none"]: "org_admin",
	["admin", "admin"]: "org_admin",
	["admin", "manager"]: "org_admin",
	["admin", "member"]: "org_admin",
	["member", "none"]: "none",
	["member", "admin"]: "manager",
	["member", "manager"]: "manager",
	["member", "member"]: "member",
}

# Org value x override toggle x workspace value -> effective value and source of a setting,
# in a family with workspace overrides ("default": the setting's default).
override_resolution := {
	["unset", false, "unset"]: ["default", "default"],
	["unset", false, true]: ["default", "default"],
	["unset", false, false]: ["default", "default"],
	["unset", true, "unset"]: ["default", "default"],
	["unset", true, true]: [true, "workspace"],
	["unset", true, false]: [false, "workspace"],
	[true, false, "unset"]: [true, "org"],
	[true, false, true]: [true, "org"],
	[true, false, false]: [true, "org"],
	[true, true, "unset"]: [true, "org"],
	[true, true, true]: [true, "workspace"],
	[true, true, false]: [false, "workspace"],
	[false, false, "unset"]: [false, "org"],
	[false, false, true]: [false, "org"],
	[false, false, false]: [false, "org"],
	[false, true, "unset"]: [false, "org"],
	[false, true, true]: [true, "workspace"],
	[false, true, false]: [false, "workspace"],
}

# The same in a family without workspace overrides: a workspace value never counts, even
# with a toggle stored for the family.
no_override_resolution := {
	["unset", false, "unset"]: ["default", "default"],
	["unset", false, true]: ["default", "default"],
	["unset", false, false]: ["default", "default"],
	["unset", true, "unset"]: ["default", "default"],
	["unset", true, true]: ["default", "default"],
	["unset", true, false]: ["default", "default"],
	[true, false, "unset"]: [true, "org"],
	[true, false, true]: [true, "org"],
	[true, false, false]: [true, "org"],
	[true, true, "unset"]: [true, "org"],
	[true, true, true]: [true, "org"],
	[true, true, false]: [true, "org"],
	[false, false, "unset"]: [false, "org"],
	[false, false, true]: [false, "org"],
	[false, false, false]: [false, "org"],
	[false, true, "unset"]: [false, "org"],
	[false, true, true]: [false, "org"],
	[false, true, false]: [false, "org"],
}

resolution(spec) := no_override_resolution if spec.overrides == "none"

resolution(spec) := override_resolution if spec.overrides != "none"

# The settings of a spec that govern a resource type.
governing_settings(spec, type) := {name |
	some [_, governed_type], governed in spec.governs
	governed_type == type
	some name in governed
}

family_matrix(family, org_role) := {c |
	spec := family_specs[family]
	some ws_role in {"none", "admin", "manager", "member"}
	actor := actor_table[[org_role, ws_role]]
	some type in spec.types
	some action in {"create", "update", "delete", "read"}
	some setting in governing_settings(spec, type)
	some [org_value, toggle, ws_value], [value, source] in resolution(spec)
	states := object.union(
		default_states(spec),
		{setting: [object.get({"default": spec.defaults[setting]}, [value], value), source]},
	)
	c := {
		"combination": [org_role, ws_role, setting, org_value, toggle, ws_value],
		"input": family_input(spec, org_role, ws_role, action, type, stored_settings(family, spec, setting, [org_value, toggle, ws_value])),
		"want": spec_decision(spec, actor, type, action, states),
	}
}

# Two settings that govern the same resource type, both set at the org, in all four
# combinations of their values (a view that is off with a write that is on, ...).
setting_pairs(family, org_role) := {c |
	spec := family_specs[family]
	some ws_role in {"none", "admin", "manager", "member"}
	actor := actor_table[[org_role, ws_role]]
	some type in spec.types
	some action in {"create", "update", "delete", "read"}
	some first in governing_settings(spec, type)
	some second in governing_settings(spec, type)
	first < second
	some first_value in {true, false}
	some second_value in {true, false}
	states := object.union(default_states(spec), {first: [first_value, "org"], second: [second_value, "org"]})
	c := {
		"combination": [org_role, ws_role, first, first_value, second, second_value],
		"input": family_input(spec, org_role, ws_role, action, type, {"org": {first: first_value, second: second_value}}),
		"want": spec_decision(spec, actor, type, action, states),
	}
}

# A spec's "resource" adds attributes to every case's resource (those its settings' limits read).
family_input(spec, org_role, ws_role, action, type, settings) := {
	"principal": principal(org_role, ws_role),
	"action": action,
	"resource": object.union({"type": type, "orgId": "org-1", "workspaceId": "ws-1", "id": "r-1"}, object.get(spec, "resource", {})),
	"settings": settings,
}

# What the store holds: the setting under test as the case says and the org's toggle
# (keyed by the setting or by the family, as the family's overrides are).
stored_settings(family, spec, setting, [org_value, toggle, ws_value]) := {
	"org": object.union(
		value_field(setting, org_value),
		{"allowWorkspaceOverrides": {toggle_key(family, spec, setting): toggle}},
	),
	"workspace": value_field(setting, ws_value),
}

toggle_key(_, spec, setting) := setting if spec.overrides == "setting"

toggle_key(family, spec, _) := family if spec.overrides != "setting"

# Every setting of the family at its default: [effective value, source].
default_states(spec) := {name: [preset, "default"] | some name, preset in spec.defaults}

# The documented rules, in the order they apply.
spec_decision(spec, actor, type, action, states) := {"allow": false, "reason": "unsupported_action"} if {
	not action in spec.actions
} else := {"allow": true, "reason": "org_admin"} if {
	actor == "owner"
} else := {"allow": false, "reason": "no_workspace_access"} if {
	actor == "none"
} else := by_setting(actor, "read", view, states[view]) if {
	# A view setting that is off denies reads and writes.
	view := spec.governs[[actor, type]].read
	states[view][0] == false
} else := by_setting(actor, access, name, states[name]) if {
	access := {true: "read", false: "write"}[action == "read"]
	name := spec.governs[[actor, type]][access]
} else := {"allow": true, "reason": "org_admin"} if {
	actor == "org_admin"
} else := {"allow": false, "reason": "no_access_for_role"} if {
	# The family gives a role nothing that no setting grants.
	spec.roles_without_a_setting == "none"
} else := {"allow": true, "reason": "workspace_read"} if {
	action == "read"
} else := {"allow": false, "reason": "read_only_role"}

by_setting(actor, access, name, [value, source]) := {
	"allow": value,
	"reason": concat("_", [actor, access, {true: "enabled", false: "disabled"}[value]]),
	"setting": name,
	"source": source,
}

# The part of a family's matrix for one org role decides as its spec says: its size (a
# third of the matrix), every decision with its message, and allow (decision.allow, shown
# over the integration matrix in authz_test.rego) for one case of every reason. Each
# family's test file runs it once per org role, so that no test runs for long.
matrix_decides_as_the_spec_says(family, org_role) if {
	matrix := family_matrix(family, org_role)
	print(family, org_role, "matrix size:", count(matrix))
	count(matrix) * 3 == family_specs[family].cases
	cases := matrix | setting_pairs(family, org_role)

	results := {[c.combination, c.input, got, want] |
		some c in cases
		d := authz.decision with input as c.input
		got := object.union(outcome(d), {"message": d.message})
		want := object.union(c.want, {"message": authz.messages[c.want.reason]})
	}
	count(results) == count(cases)
	failures := {r | some r in results; r[2] != r[3]}
	print(family, org_role, "matrix failures:", count(failures), [f | some f in failures])
	count(failures) == 0

	every reason in {c.want.reason | some c in cases} {
		request := [c.input | some c in cases; c.want.reason == reason][0]
		d := authz.decision with input as request
		a := authz.allow with input as request
		a == d.allow
	}
}
