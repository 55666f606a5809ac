// Package porttest checks, in a service's tests, that its default listen addresses are the ports the
// service topology gives it (charts/latchkey/routes.yaml), so a service started without HTTP_ADDR or
// INTERNAL_ADDR listens where the chart, the local stack and the other services expect it.
package porttest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// RoutesFile is the route table, relative to the repository root.
const RoutesFile = "charts/latchkey/routes.yaml"

// Ports returns the service's public and internal port from the route table, found above the working
// directory. It reads only the services: section's "port:" and "internalPort:" lines (the devstack
// routes package validates the whole table).
func Ports(service string) (public, internal int, err error) {
	dir, err := os.Getwd()
	if err != nil {
		return 0, 0, err
	}
	var path string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, RoutesFile)); err == nil {
			path = filepath.Join(d, RoutesFile)
			break
		}
		if filepath.Dir(d) == d {
			return 0, 0, fmt.Errorf("%s not found above %s", RoutesFile, dir)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	inServices, inService := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 0:
			inServices, inService = line == "services:", false
		case inServices && indent == 2:
			inService = trimmed == service+":"
		case inService && indent == 4:
			key, value, _ := strings.Cut(trimmed, ":")
			n, _ := strconv.Atoi(strings.TrimSpace(value))
			switch key {
			case "port":
				public = n
			case "internalPort":
				internal = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if public == 0 || internal == 0 {
		return 0, 0, fmt.Errorf("%s: no port and internalPort for service %q", path, service)
	}
	return public, internal, nil
}

// Check fails the test unless httpAddr and internalAddr (the service's defaults, e.g. ":8083") are
// the service's ports in the route table.
func Check(t testing.TB, service, httpAddr, internalAddr string) {
	t.Helper()
	public, internal, err := Ports(service)
	if err != nil {
		t.Fatal(err)
	}
	if want := ":" + strconv.Itoa(public); httpAddr != want {
		t.Errorf("%s's default HTTP_ADDR = %q, want %q (%s)", service, httpAddr, want, RoutesFile)
	}
	if want := ":" + strconv.Itoa(internal); internalAddr != want {
		t.Errorf("%s's default INTERNAL_ADDR = %q, want %q (%s)", service, internalAddr, want, RoutesFile)
	}
}
