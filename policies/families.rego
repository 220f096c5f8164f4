package portkey.authz

# The permission families of the Security tab are bundle data (data.portkey.families,
# see policies/README.md): this file reads the table, and nothing in the policy names a
# family, a setting or a resource type.

families := data.portkey.families

# The family a resource type belongs to; undefined for a type no family has.
resource_family := family if {
	some family in families
	input.resource.type in family.resource_types
}

# The role a setting may govern the principal in: organization admins as "org_admin",
# a workspace role as "manager" (one of manager_roles) or "member". Owners are never
# governed by a setting; neither is anyone without a role in the target workspace.
actor_role := "org_admin" if {
	principal.orgRole == "admin"
} else := "manager" if {
	principal.orgRole == "member"
	workspace_role in manager_roles
} else := "member" if {
	principal.orgRole == "member"
	workspace_role
}

# The table's settings for the actor's role on the resource type, keyed by access
# (read, write): at most one each.
actor_settings[setting.access] := setting if {
	some setting in resource_family.settings
	setting.access in {"read", "write"}
	setting.role == actor_role
	input.resource.type in setting.resource_types
}

# A setting that allows may allow only some resources (the setting's "limit"): the keys
# created for the principal, or those created by workspace managers (the resource's
# createdFor and createdByRole, which the caller supplies). Undefined when the limit holds.
limit_reason := "not_created_for_principal" if {
	actor_settings[governing_setting.access].limit == "created_for_principal"
	object.get(input.resource, "createdFor", null) != principal.id
} else := "not_created_by_manager" if {
	actor_settings[governing_setting.access].limit == "created_by_manager"
	object.get(input.resource, "createdByRole", null) != "manager"
}

# Data Visibility: on an allowed read of a type a "visibility" setting governs, whether
# the principal sees all the data or only what its own API keys produced. Only a setting
# for the principal's role limits it: owners, organization admins, admin keys and service
# keys see all.
default visibility_fields := {}

visibility_fields := {"visibility": "own_api_keys", "visibleTo": visible_to} if {
	visibility_read
	visibility_setting.value == false
} else := {"visibility": "all"} if visibility_read

visibility_read if {
	allowed
	input.action == "read"
	some family in families
	some setting in family.settings
	setting.access == "visibility"
	input.resource.type in setting.resource_types
}

visibility_setting := effective_setting(object.get(input, "settings", {}), family, setting) if {
	some family in families
	some setting in family.settings
	setting.access == "visibility"
	setting.role == actor_role
	input.resource.type in setting.resource_types
}

visible_to := {"userId": principal.id, "apiKeyIds": [input.principal.id]} if is_api_key

visible_to := {"userId": principal.id} if not is_api_key

request_access := "read" if input.action == "read"

request_access := "write" if input.action in write_actions

# The setting that decides the request, with its effective value and source; undefined
# when no setting governs it. A view setting that is off decides reads and writes alike;
# otherwise the setting of the access asked for decides.
governing_setting := view if {
	view := setting_state(actor_settings.read)
	view.value == false
} else := setting_state(actor_settings[request_access])

setting_state(setting) := object.union(
	{"name": setting.name, "access": setting.access},
	effective_setting(object.get(input, "settings", {}), resource_family, setting),
)

# METADATA
# description: |
#   The value of a setting and where it came from: the workspace's own value when the
#   organization lets workspaces configure it (per setting or per family, as the table
#   says), else the organization's value, else the table's default.
effective_setting(settings, family, setting) := {"value": value, "source": "workspace"} if {
	object.get(settings, ["org", "allowWorkspaceOverrides", override_toggle(family, setting)], false) == true
	value := object.get(settings, ["workspace", setting.name], null)
	is_boolean(value)
} else := {"value": value, "source": "org"} if {
	value := object.get(settings, ["org", setting.name], null)
	is_boolean(value)
} else := {"value": setting.default, "source": "default"}

# The organization's "allow workspace-level configuration" toggle for a setting: one per
# setting, or one per family; a family without workspace overrides has none.
override_toggle(family, setting) := setting.name if family.workspace_overrides == "setting"

override_toggle(family, _) := family.name if family.workspace_overrides == "family"

# METADATA
# title: Effective settings
# description: |
#   Every family's settings as they decide for one workspace:
#   {family: {setting: {value, source, workspace_value_ignored}}}, where source is
#   workspace, org or default and workspace_value_ignored says that the workspace has a
#   value of its own that does not count (its toggle is off, or the family has no
#   workspace overrides). input: {settings: {org, workspace}}.
# entrypoint: true
effective_settings := {family.name: family_settings(object.get(input, "settings", {}), family) |
	some family in families
}

family_settings(settings, family) := {setting.name: object.union(state, {"workspace_value_ignored": ignored}) |
	some setting in family.settings
	state := effective_setting(settings, family, setting)
	ignored := workspace_value_ignored(settings, setting, state)
}

workspace_value_ignored(settings, setting, state) if {
	is_boolean(object.get(settings, ["workspace", setting.name], null))
	state.source != "workspace"
} else := false
