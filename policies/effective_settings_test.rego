package portkey.authz_test

import data.portkey.authz

# The effective_settings entrypoint over every setting of every family and every
# org value x toggle x workspace value, from the same resolution tables as the matrix.
test_effective_settings_of_every_setting_follow_the_resolution_tables if {
	checked := {[family, setting, combination, got == want] |
		some family, spec in family_specs
		some setting, preset in spec.defaults
		some combination, [value, source] in resolution(spec)
		[_, _, ws_value] := combination
		request := {"settings": stored_settings(family, spec, setting, combination)}
		got := authz.effective_settings[family][setting] with input as request
		want := {
			"value": object.get({"default": preset}, [value], value),
			"source": source,
			"workspace_value_ignored": all_true([is_boolean(ws_value), source != "workspace"]),
		}
	}
	failures := {c | some c in checked; c[3] == false}
	print("effective settings failures:", failures)
	count(failures) == 0

	# every setting of every family of the table has a spec, and each was checked in every
	# combination of its family's resolution table (counted, not written down: a new family
	# in the table and its spec are all this needs)
	specified := {[family, setting] | some family, spec in family_specs; some setting, _ in spec.defaults}
	specified == {[family.name, setting.name] | some family in data.portkey.families; some setting in family.settings}
	count(checked) == sum([n | some _, spec in family_specs; n := count(spec.defaults) * count(resolution(spec))])
}

all_true(conditions) if {
	every condition in conditions {
		condition == true
	}
} else := false

test_effective_settings_have_every_family_and_setting_of_the_table if {
	got := authz.effective_settings with input as {}
	{name: {setting | some setting, _ in settings} | some name, settings in got} == {family.name: {setting.name | some setting in family.settings} | some family in data.portkey.families}
}

test_effective_settings_without_stored_settings_are_the_defaults if {
	got := authz.effective_settings with input as {}
	got["prompt-access"].membersWritePrompts == {"value": false, "source": "default", "workspace_value_ignored": false}
	got["integration-access"].managersWriteMcpServers == {"value": true, "source": "default", "workspace_value_ignored": false}
}

test_a_workspace_value_of_a_family_without_overrides_is_ignored if {
	got := authz.effective_settings with input as {"settings": {"workspace": {"managersViewLogs": false}}}
	got["logs-access"].managersViewLogs == {"value": true, "source": "default", "workspace_value_ignored": true}
}

test_effective_settings_ignore_what_is_not_a_boolean if {
	got := authz.effective_settings with input as {"settings": {
		"org": {"membersViewPrompts": "false", "allowWorkspaceOverrides": {"prompt-access": "yes"}},
		"workspace": {"membersViewPrompts": 0},
	}}
	got["prompt-access"].membersViewPrompts == {"value": true, "source": "default", "workspace_value_ignored": false}
}
