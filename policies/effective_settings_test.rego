package portkey.authz_test

import data.portkey.authz

test_effective_settings_without_stored_settings_are_the_defaults if {
	got := authz.effective_settings with input as {}
	got["prompt-access"].membersWritePrompts == {"value": false, "source": "default", "workspace_value_ignored": false}
	got["integration-access"].managersWriteMcpServers == {"value": true, "source": "default", "workspace_value_ignored": false}
}

test_a_workspace_value_of_a_family_without_overrides_is_ignored if {
	got := authz.effective_settings with input as {"settings": {"workspace": {"managersViewLogs": false}}}
	got["logs-access"].managersViewLogs == {"value": true, "source": "default", "workspace_value_ignored": true}
}
