// Command envoy-grpc is a conformance client for Portcullis' Envoy ext_authz
// gRPC endpoint. It deliberately uses Envoy's own generated Go types (from
// go-control-plane) rather than the server's hand-written .proto, so a wrong
// field number or type on the server side shows up as a wrong/missing value
// here instead of being silently agreed upon by both ends.
//
// Usage: go run . -addr 127.0.0.1:9191 < cases.json > results.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

type testCase struct {
	Name              string            `json:"name"`
	Method            string            `json:"method"`
	Path              string            `json:"path"`
	Host              string            `json:"host"`
	Headers           map[string]string `json:"headers"`
	Body              string            `json:"body"`
	ContextExtensions map[string]string `json:"contextExtensions"`
}

type result struct {
	Name                 string            `json:"name"`
	GRPCCode             uint32            `json:"grpcCode"`
	StatusCode           int32             `json:"statusCode"`
	Kind                 string            `json:"kind"` // "ok" | "denied" | "none"
	HTTPStatus           int32             `json:"httpStatus"`
	Headers              map[string]string `json:"headers"`
	HeadersToRemove      []string          `json:"headersToRemove"`
	ResponseHeadersToAdd map[string]string `json:"responseHeadersToAdd"`
	Body                 string            `json:"body"`
	DynamicMetadata      json.RawMessage   `json:"dynamicMetadata"`
	Error                string            `json:"error,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9191", "ext_authz gRPC server address (host:port)")
	timeout := flag.Duration("timeout", 5*time.Second, "deadline for each Check call")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}

	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fatal("read stdin: %v", err)
	}
	var cases []testCase
	if err := json.Unmarshal(in, &cases); err != nil {
		fatal("parse stdin as a JSON array of cases: %v", err)
	}

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fatal("grpc client for %s: %v", *addr, err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)

	results := make([]result, 0, len(cases))
	for _, c := range cases {
		results = append(results, check(client, c, *timeout))
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		fatal("write stdout: %v", err)
	}
}

func check(client authv3.AuthorizationClient, c testCase, timeout time.Duration) result {
	// Envoy puts the full request target (path + query string) in http.path and
	// leaves http.query empty, so the case's path is passed through unsplit.
	req := &authv3.CheckRequest{
		Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{
				Http: &authv3.AttributeContext_HttpRequest{
					Method:  c.Method,
					Path:    c.Path,
					Host:    c.Host,
					Headers: lowerKeys(c.Headers), // Envoy sends header names lower-cased
					Body:    c.Body,
				},
			},
			ContextExtensions: c.ContextExtensions,
		},
	}

	r := result{
		Name:                 c.Name,
		Kind:                 "none",
		Headers:              map[string]string{},
		HeadersToRemove:      []string{},
		ResponseHeadersToAdd: map[string]string{},
		DynamicMetadata:      json.RawMessage("null"),
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := client.Check(ctx, req)
	if err != nil {
		st := status.Convert(err)
		r.GRPCCode = uint32(st.Code())
		r.Error = st.Message()
		return r
	}

	r.StatusCode = resp.GetStatus().GetCode()
	switch {
	case resp.GetDeniedResponse() != nil:
		d := resp.GetDeniedResponse()
		r.Kind = "denied"
		r.HTTPStatus = int32(d.GetStatus().GetCode())
		r.Headers = headerMap(d.GetHeaders())
		r.Body = d.GetBody()
	case resp.GetOkResponse() != nil:
		o := resp.GetOkResponse()
		r.Kind = "ok"
		r.Headers = headerMap(o.GetHeaders())
		r.ResponseHeadersToAdd = headerMap(o.GetResponseHeadersToAdd())
		if hs := o.GetHeadersToRemove(); hs != nil {
			r.HeadersToRemove = hs
		}
	}

	if md := resp.GetDynamicMetadata(); md != nil {
		b, err := protojson.Marshal(md)
		if err != nil {
			r.Error = "marshal dynamic_metadata: " + err.Error()
		} else {
			r.DynamicMetadata = b // encoding/json compacts it on output
		}
	}
	return r
}

// headerMap flattens HeaderValueOptions; repeated names are joined with ", "
// as HTTP list headers would be, so no value is silently dropped.
func headerMap(opts []*corev3.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, o := range opts {
		h := o.GetHeader()
		if h == nil {
			continue
		}
		k := strings.ToLower(h.GetKey())
		v := h.GetValue()
		if v == "" && len(h.GetRawValue()) > 0 {
			v = string(h.GetRawValue()) // newer Envoy prefers raw_value; accept either
		}
		if prev, ok := m[k]; ok {
			v = prev + ", " + v
		}
		m[k] = v
	}
	return m
}

func lowerKeys(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[strings.ToLower(k)] = v
	}
	return out
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "envoy-grpc: "+format+"\n", args...)
	os.Exit(1)
}
