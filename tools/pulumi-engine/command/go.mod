// pulumi-command v1.2.1. The Go module proxy answers 403 for this module (any version), so there is
// no go.sum: build.sh tries it each run and reports the error. See ../README.md.
module k3s-over-usb/tools/pulumi-engine/command

go 1.26

// Tag v1.2.1 is commit 7f3eb6f3b77c (2026-03-03 23:59:22 UTC); provider/ has no module tags of its own.
require github.com/pulumi/pulumi-command/provider v0.0.0-20260303235922-7f3eb6f3b77c

tool github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command
