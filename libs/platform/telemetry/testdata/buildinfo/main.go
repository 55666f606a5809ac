// Command buildinfo prints telemetry.BuildInfo(), for TestBuildInfoFromLinkerFlags.
package main

import (
	"fmt"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

func main() {
	ver, rev, goVersion := telemetry.BuildInfo()
	fmt.Println(ver, rev, goVersion)
}
