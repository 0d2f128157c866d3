// pulumi-resource-random: k3s-over-usb's stand-in for the official provider 4.21.1 (see the package
// k3s-over-usb/tools/pulumi-engine/providers/random).
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"

	"k3s-over-usb/tools/pulumi-engine/providers/random"
)

func main() {
	prov, err := random.New()
	if err == nil {
		err = p.RunProvider(context.Background(), random.Name, random.Version, prov)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random: %v\n", err)
		os.Exit(1)
	}
}
