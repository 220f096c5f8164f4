// Checks the README's Envoy snippets against Envoy's own configuration types
// (go-control-plane): every block marked <!-- envoy-bootstrap: NAME --> must be a complete
// v3 bootstrap that unmarshals strictly and passes Envoy's validation rules, with every
// cluster a filter names defined. Prints one line per snippet; exits 1 on the first failure.
package main

import (
	"fmt"
	"os"
	"regexp"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	// The typed_config types the snippets use must be linked in for their Any to resolve.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// A marker comment, then the fenced yaml block right after it.
var snippet = regexp.MustCompile("(?s)<!-- envoy-bootstrap: ([a-z0-9-]+) -->\\s*```yaml\\n(.*?)\\n```")

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: envoy-config README.md")
		os.Exit(2)
	}
	text, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	found := snippet.FindAllSubmatch(text, -1)
	if len(found) == 0 {
		fail("no <!-- envoy-bootstrap: name --> yaml block in %s", os.Args[1])
	}
	for _, m := range found {
		name := string(m[1])
		if err := check(m[2]); err != nil {
			fail("%s: %v", name, err)
		}
		fmt.Printf("ok %s\n", name)
	}
}

func check(source []byte) error {
	asJSON, err := yaml.YAMLToJSON(source)
	if err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	var bootstrap bootstrapv3.Bootstrap
	// Strict: an unknown or misspelt field is an error, as it is for Envoy.
	if err := (protojson.UnmarshalOptions{}).Unmarshal(asJSON, &bootstrap); err != nil {
		return fmt.Errorf("not a v3 Bootstrap: %w", err)
	}
	if err := bootstrap.ValidateAll(); err != nil {
		return fmt.Errorf("invalid: %w", err)
	}
	return clustersDefined(&bootstrap)
}

// ValidateAll checks each message alone; a cluster named by a route or by ext_authz but never
// defined is only caught by Envoy at start, so it is checked here.
func clustersDefined(bootstrap *bootstrapv3.Bootstrap) error {
	defined := map[string]bool{}
	for _, c := range bootstrap.GetStaticResources().GetClusters() {
		defined[c.GetName()] = true
	}
	need := func(name, where string) error {
		if !defined[name] {
			return fmt.Errorf("%s names cluster %q, which static_resources.clusters does not define", where, name)
		}
		return nil
	}
	listeners := bootstrap.GetStaticResources().GetListeners()
	if len(listeners) == 0 {
		return fmt.Errorf("no listener")
	}
	authz := 0
	for _, l := range listeners {
		for _, chain := range l.GetFilterChains() {
			for _, f := range chain.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						if c := r.GetRoute().GetCluster(); c != "" {
							if err := need(c, "route "+r.GetMatch().String()); err != nil {
								return err
							}
						}
					}
				}
				for _, hf := range hcm.GetHttpFilters() {
					var ea extauthzv3.ExtAuthz
					if hf.GetTypedConfig() == nil || hf.GetTypedConfig().UnmarshalTo(&ea) != nil {
						continue
					}
					authz++
					if c := ea.GetHttpService().GetServerUri().GetCluster(); c != "" {
						if err := need(c, "ext_authz http_service.server_uri"); err != nil {
							return err
						}
					}
					if c := ea.GetGrpcService().GetEnvoyGrpc().GetClusterName(); c != "" {
						if err := need(c, "ext_authz grpc_service.envoy_grpc"); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	if authz == 0 {
		return fmt.Errorf("no ext_authz filter in any http_connection_manager")
	}
	return nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "envoy-config: "+format+"\n", args...)
	os.Exit(1)
}
