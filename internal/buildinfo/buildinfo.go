// Package buildinfo holds the product's name and version, stamped at build
// time with -ldflags "-X github.com/userflow-sync/userflow-sync/internal/buildinfo.Version=v1.2.3".
// When not stamped, Version falls back to the module version recorded by the
// go command (for `go install ...@v1.2.3`), else "dev".
package buildinfo

import "runtime/debug"

// Product is the product name used in the User-Agent and in logs.
const Product = "userflow-sync"

// Version is the build's version; see the package doc.
var Version = ""

func init() {
	if Version != "" {
		return
	}
	Version = "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		Version = bi.Main.Version
	}
}

// UserAgent is the User-Agent sent to Userflow: "userflow-sync/<version>".
func UserAgent() string { return Product + "/" + Version }
