package portkey.authz

# The decision rules read the request from input, so each cell evaluates them with the
# input one decision request would have: the cell cannot differ from that decision. (One
# comprehension rather than helper functions: the WASM planner refuses a `with` on input
# inside a function.)

# METADATA
# title: Permissions
# description: |
#   What one principal may do in several workspaces, in one evaluation: every cell is the
#   decision document (without its message) that the decision entrypoint gives for the
#   same principal, action and resource under that workspace's settings.
#   input: {principal, resourceTypes: [type], actions: [action],
#   workspaces: {<workspaceId>: {orgId, settings: {org, workspace}}}}, where each
#   workspace's organization and settings come from the sidecar (its workspace directory
#   and its store), never from the caller.
#   result: {<workspaceId>: {<type>: {<action>: {allow, reason, setting?, source?}}}}.
# entrypoint: true
permissions := {workspace_id: {type: {action: cell |
	some action in input.actions
	request := {
		"principal": input.principal,
		"action": action,
		"resource": {"type": type, "orgId": place.orgId, "workspaceId": workspace_id},
		"settings": object.get(place, "settings", {}),
	}
	cell := object.remove(decision, {"message"}) with input as request
} |
	some type in input.resourceTypes
} |
	some workspace_id, place in input.workspaces
}
