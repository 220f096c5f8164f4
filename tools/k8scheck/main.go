// k8scheck reads rendered Kubernetes manifests (a multi-document YAML stream, as
// `helm template` prints it) on stdin and decodes every object strictly into the Go types
// the API server itself uses (k8s.io/api, and prometheus-operator's for ServiceMonitor):
// a misspelt or misplaced field, a wrong type, or a kind it does not know fails the check.
// It prints one line per object and exits 1 on the first stream with any failure.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// The kinds a chart of ours may render, by apiVersion and kind.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/Pod":                                  func() any { return &corev1.Pod{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func check(doc []byte) (string, error) {
	var h header
	if err := yaml.Unmarshal(doc, &h); err != nil {
		return "", fmt.Errorf("not a YAML object: %w", err)
	}
	name := fmt.Sprintf("%s/%s %s", h.APIVersion, h.Kind, h.Metadata.Name)
	newObject, ok := kinds[h.APIVersion+"/"+h.Kind]
	if !ok {
		return name, fmt.Errorf("unknown kind %s/%s", h.APIVersion, h.Kind)
	}
	if h.Metadata.Name == "" {
		return name, fmt.Errorf("metadata.name is empty")
	}
	// UnmarshalStrict: unknown fields and duplicate keys are errors, as `kubectl apply
	// --validate=strict` makes them.
	if err := yaml.UnmarshalStrict(doc, newObject()); err != nil {
		return name, err
	}
	return name, nil
}

// documents splits a YAML stream on its "---" separator lines, dropping empty documents
// (helm prints one per template that rendered nothing).
func documents(r io.Reader) ([][]byte, error) {
	var docs [][]byte
	var current bytes.Buffer
	flush := func() {
		if strings.TrimSpace(stripComments(current.String())) != "" {
			docs = append(docs, bytes.Clone(current.Bytes()))
		}
		current.Reset()
	}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "---") {
			flush()
			continue
		}
		current.WriteString(line)
		current.WriteByte('\n')
	}
	flush()
	return docs, scanner.Err()
}

func stripComments(s string) string {
	var out strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	return out.String()
}

func main() {
	docs, err := documents(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "k8scheck: reading stdin: %v\n", err)
		os.Exit(2)
	}
	if len(docs) == 0 {
		fmt.Fprintln(os.Stderr, "k8scheck: no objects on stdin")
		os.Exit(1)
	}
	failed := 0
	for _, doc := range docs {
		name, err := check(doc)
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", name, err)
			continue
		}
		fmt.Printf("ok   %s\n", name)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "k8scheck: %d of %d objects failed the strict decode\n", failed, len(docs))
		os.Exit(1)
	}
}
