// Package command is k3s-over-usb's stand-in for pulumi-resource-command 1.2.1: the resources
// command:remote:Command and command:remote:CopyToRemote, schema-compatible with @pulumi/command 1.2.1.
// It is written from the documented behaviour of the official provider, whose Go module the proxy
// here refuses (../../README.md).
package command

import (
	"context"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"k3s-over-usb/tools/pulumi-engine/providers/command/remote"
)

// Name and Version are what the engine asks for: @pulumi/command 1.2.1 declares plugin command 1.2.1.
const Name = "command"

var Version = "1.2.1"

// New builds the provider.
func New() (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("Command").
		WithDescription("The Pulumi Command Provider enables you to execute commands and scripts either locally or "+
			"remotely as part of the Pulumi resource model. (k3s-over-usb's stand-in: command:remote:Command and "+
			"command:remote:CopyToRemote only.)").
		WithKeywords("pulumi", "command", "category/utility", "kind/native").
		WithHomepage("https://pulumi.com").
		WithLicense("Apache-2.0").
		WithRepository("https://github.com/pulumi/pulumi-command").
		WithPublisher("Pulumi").
		WithResources(infer.Resource(remote.Command{}), infer.Resource(remote.CopyToRemote{})).
		Build()
	if err != nil {
		return prov, err
	}
	diff := prov.Diff
	prov.Diff = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := diff(ctx, req)
		if err == nil {
			replaceTriggers(resp.DetailedDiff)
		}
		return resp, err
	}
	return prov, nil
}

// replaceTriggers makes every change below `triggers` a replacement. infer marks only changes of a
// whole replaceOnChanges property, but a diff names elements (triggers[0]). @pulumi/command also asks the
// engine for replaceOnChanges: ["triggers[*]"], so with its SDK this only keeps the preview honest.
func replaceTriggers(d map[string]p.PropertyDiff) {
	for k, v := range d {
		if k != "triggers" && !strings.HasPrefix(k, "triggers[") && !strings.HasPrefix(k, "triggers.") {
			continue
		}
		switch v.Kind {
		case p.Add:
			v.Kind = p.AddReplace
		case p.Delete:
			v.Kind = p.DeleteReplace
		case p.Update:
			v.Kind = p.UpdateReplace
		}
		d[k] = v
	}
}
