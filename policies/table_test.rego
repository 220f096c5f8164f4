package portkey.authz_test

import data.portkey.authz

# The families table (data.portkey.families) is the only list of families, settings and
# resource types: these tests hold every entry to the shape the policy and the sidecar read.

table := data.portkey.families

setting_names := [setting.name | some family in table; some setting in family.settings]

test_setting_names_are_unique_across_families if {
	count(setting_names) == count({name | some name in setting_names})
}

test_family_names_are_unique_and_never_a_setting_name if {
	# Both key the organization's allowWorkspaceOverrides toggles.
	names := [family.name | some family in table]
	count(names) == count({name | some name in names})
	every name in names {
		not name in setting_names
	}
}

test_a_resource_type_belongs_to_one_family if {
	types := [type | some family in table; some type in family.resource_types]
	count(types) == count({type | some type in types})
}

# A family of "visibility" settings (Data Visibility) governs no resource type of its own:
# its settings name other families' types.
visibility_family(family) if every setting in family.settings {
	setting.access == "visibility"
}

test_every_family_is_well_formed if {
	every family in table {
		non_empty_string(family.name)
		non_empty_string(family.label)
		family.workspace_overrides in {"setting", "family", "none"}
		object.get(family, "roles_without_a_setting", "read") in {"read", "none"}
		has_types(family)
		every type in family.resource_types {
			non_empty_string(type)
		}
		every action in family.actions {
			action in authz.actions
		}
		count(family.settings) > 0
	}
}

has_types(family) if {
	count(family.resource_types) > 0
	count(family.actions) > 0
}

has_types(family) if {
	visibility_family(family)
	count(family.resource_types) == 0
	count(family.actions) == 0
}

all_types := {type | some family in table; some type in family.resource_types}

test_every_setting_is_well_formed if {
	every family in table {
		every setting in family.settings {
			non_empty_string(setting.name)
			non_empty_string(setting.label)
			is_boolean(setting.default)
			setting.role in {"manager", "member", "org_admin"}
			setting.access in {"read", "write", "visibility"}
			object.get(setting, "limit", "none") in {"none", "created_for_principal", "created_by_manager"}
			count(setting.resource_types) > 0
			every type in setting.resource_types {
				setting_governs(family, setting, type)
			}
		}
	}
}

setting_governs(family, setting, type) if {
	setting.access != "visibility"
	type in family.resource_types
}

setting_governs(family, setting, type) if {
	setting.access == "visibility"
	visibility_family(family)
	type in all_types
}

test_a_role_has_at_most_one_setting_per_access_and_type if {
	governed := [[setting.role, setting.access, type] |
		some family in table
		some setting in family.settings
		some type in setting.resource_types
	]
	count(governed) == count({g | some g in governed})
}

test_every_family_in_the_table_has_a_spec_in_the_tests if {
	{family.name | some family in table} == {name | some name, _ in family_specs}
}

test_every_spec_names_its_family_s_types_actions_and_settings if {
	every family in table {
		spec := family_specs[family.name]
		{type | some type in family.resource_types} == {type | some type in spec.types}
		{action | some action in family.actions} == spec.actions
		family.workspace_overrides == spec.overrides
		{setting.name | some setting in family.settings} == {name | some name, _ in spec.defaults}
	}
}

non_empty_string(value) if {
	is_string(value)
	value != ""
}

# The scope table (data.portkey.api_keys): the scope an API key needs for each resource
# type and action, and which key types may hold the scopes of each group.

scope_table := data.portkey.api_keys

test_every_family_type_and_action_has_a_scope if {
	every family in table {
		every type in family.resource_types {
			every action in family.actions {
				scope_table.scopes[type].actions[action]
			}
		}
	}
}

test_every_scope_is_well_formed_and_of_a_known_action_and_group if {
	every _, entry in scope_table.scopes {
		entry.group in object.keys(scope_table.scope_groups)
		count(entry.actions) > 0
		every action, scope in entry.actions {
			action in authz.actions
			regex.match(`^[a-z][a-z_]*\.[a-z][a-z_]*$`, scope)
		}
	}
}

test_a_scope_names_one_action_of_one_family if {
	# log and log_metadata share logs.view: one family, one action.
	uses := {scope: {[owner, action] |
		some type, entry in scope_table.scopes
		some action, named in entry.actions
		named == scope
		owner := object.get(family_of_type, type, type)
	} |
		some entry in scope_table.scopes
		some scope in entry.actions
	}
	every _, owners in uses {
		count(owners) == 1
	}
}

family_of_type[type] := family.name if {
	some family in table
	some type in family.resource_types
}

test_scope_groups_name_known_key_types if {
	every _, key_types in scope_table.scope_groups {
		every key_type in key_types {
			key_type in authz.key_types
		}
	}
}

test_data_plane_types_belong_to_no_family_and_admin_keys_hold_no_data_plane_scope if {
	data_plane := {type | some type, entry in scope_table.scopes; entry.group == "data_plane"}
	count(data_plane) > 0
	every type in data_plane {
		not family_of_type[type]
	}
	not "organisation-service" in scope_table.scope_groups.data_plane
}
