// Package random is k3s-over-usb's stand-in for pulumi-resource-random 4.21.1: the resource
// random:index/randomPassword:RandomPassword only, schema-compatible with @pulumi/random 4.21.1.
// The proxy here refuses the official provider's Go module (../../README.md).
package random

import (
	"context"
	"encoding/json"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

const Name = "random"

var Version = "4.21.1"

func New() (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("random").
		WithDescription("A Pulumi package to safely use randomness in Pulumi programs. (k3s-over-usb's stand-in: "+
			"RandomPassword only.)").
		WithKeywords("pulumi", "random").
		WithHomepage("https://pulumi.io").
		WithLicense("Apache-2.0").
		WithRepository("https://github.com/pulumi/pulumi-random").
		WithResources(infer.Resource(RandomPassword{})).
		Build()
	if err != nil {
		return prov, err
	}
	// The token random:index/randomPassword:RandomPassword nests a module under index, which a schema
	// allows only with the moduleFormat Terraform-bridged providers declare; infer cannot set it.
	getSchema := prov.GetSchema
	prov.GetSchema = func(ctx context.Context, req p.GetSchemaRequest) (p.GetSchemaResponse, error) {
		resp, err := getSchema(ctx, req)
		if err != nil {
			return resp, err
		}
		var spec map[string]any
		if err := json.Unmarshal([]byte(resp.Schema), &spec); err != nil {
			return resp, err
		}
		spec["meta"] = map[string]any{"moduleFormat": "(.*)(?:/[^/]*)"}
		b, err := json.Marshal(spec)
		return p.GetSchemaResponse{Schema: string(b)}, err
	}
	return prov, nil
}
