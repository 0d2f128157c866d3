// pulumi-resource-command: k3s-over-usb's stand-in for the official provider 1.2.1 (see the package
// k3s-over-usb/tools/pulumi-engine/providers/command).
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"

	"k3s-over-usb/tools/pulumi-engine/providers/command"
)

func main() {
	prov, err := command.New()
	if err == nil {
		err = p.RunProvider(context.Background(), command.Name, command.Version, prov)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}
