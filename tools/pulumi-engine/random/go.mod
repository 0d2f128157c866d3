// pulumi-random v4.21.1. The Go module proxy answers 403 for this module (any version), so there is
// no go.sum: build.sh tries it each run and reports the error. See ../README.md.
module k3s-over-usb/tools/pulumi-engine/random

go 1.26

// Tag v4.21.1 is commit f2d8b029d0f7 (2026-07-22 18:50:42 UTC); provider/ has no module tags of its own.
require github.com/pulumi/pulumi-random/provider/v4 v4.0.0-20260722185042-f2d8b029d0f7

replace (
	// Copied from upstream provider/go.mod: the bridge needs Pulumi's fork of the plugin SDK.
	github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
	// Upstream points this at its nested ./shim module, which is left out of the provider module's zip.
	github.com/terraform-providers/terraform-provider-random/shim => github.com/pulumi/pulumi-random/provider/shim v0.0.0-20260722185042-f2d8b029d0f7
)

tool github.com/pulumi/pulumi-random/provider/v4/cmd/pulumi-resource-random
