package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"reflect"
	"testing"

	"github.com/apedge/apedge/internal/pki"
)

func tlsState(leaf *x509.Certificate) tls.ConnectionState {
	return tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
}

func rules() map[string]pki.Rule {
	site := pki.Site{Code: "S1", Classes: []string{"door", "reader"},
		Devices: []pki.Identity{{Role: pki.RoleDevice, Class: "reader", ID: "r1"}}}
	m := map[string]pki.Rule{}
	for _, r := range pki.Merge(append(pki.SiteRules(site), pki.CentralRules([]string{"S1", "S2"})...)...) {
		m[r.Identity] = r
	}
	return m
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		who, topic string
		write, ok  bool
	}{
		// The bridge publishes device telemetry of its classes and its state.
		{"bridge", "apedge/v1/S1/dev/door/front/event", true, true},
		{"bridge", "apedge/v1/S1/dev/reader/r1/state", true, true},
		{"bridge", "apedge/v1/S1/dev/door/front/cmd/result", true, true},
		{"bridge", "apedge/v1/S1/bridge/state", true, true},
		{"bridge", "apedge/v1/S1/dev/camera/c1/event", true, false},
		{"bridge", "apedge/v1/S1/dev/door/front/cmd", true, false},
		{"bridge", "apedge/v1/S1/bridge/credentials", true, false},
		{"bridge", "apedge/v1/S1/bridge/ack", true, false},
		{"bridge", "apedge/v1/S2/dev/door/front/event", true, false},
		{"bridge", "apedge/v1/S1/dev/door/+/event", true, false},
		{"bridge", "apedge/v1/S1/dev/+/+/cmd", false, true},
		{"bridge", "apedge/v1/S1/bridge/credentials", false, true},
		{"bridge", "apedge/v1/S1/dev/+/+/event", false, false},
		{"bridge", "apedge/v1/S1/#", false, false},
		// The agent orders, lists, acks; it reads telemetry.
		{"agent", "apedge/v1/S1/dev/door/side/cmd", true, true},
		{"agent", "apedge/v1/S1/bridge/credentials", true, true},
		{"agent", "apedge/v1/S1/bridge/ack", true, true},
		{"agent", "apedge/v1/S1/agent/state", true, true},
		{"agent", "apedge/v1/S1/dev/door/side/event", true, false},
		{"agent", "apedge/v1/S1/bridge/state", true, false},
		{"agent", "apedge/v1/S1/dev/+/+/event", false, true},
		{"agent", "apedge/v1/S1/dev/+/+/cmd/result", false, true},
		{"agent", "apedge/v1/S1/dev/door/front/event", false, true},
		{"agent", "apedge/v1/S1/dev/#", false, false},
		{"agent", "apedge/v1/S1/bridge/credentials", false, false},
		// A device only on its own topics.
		{"device:reader:r1", "apedge/v1/S1/dev/reader/r1/event", true, true},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/r2/event", true, false},
		{"device:reader:r1", "apedge/v1/S1/dev/door/r1/event", true, false},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/r1/cmd", true, false},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/r1/cmd", false, true},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/+/cmd", false, false},
		{"device:reader:r1", "apedge/v1/S1/dev/reader/r1/event", false, false},
		// Read-only console.
		{"console", "apedge/v1/S1/bridge/state", false, true},
		{"console", "apedge/v1/S1/agent/state", true, false},
		// Central and the sites' uplinks.
		{"central", "apedge/v1/central/S1/ack", true, true},
		{"central", "apedge/v1/central/status", true, true},
		{"central", "apedge/v1/central/+/events", false, true},
		{"central", "$share/apedge-central/apedge/v1/central/+/events", false, true},
		{"central", "apedge/v1/central/S1/events", true, false},
		{"uplink:S1", "apedge/v1/central/S1/events", true, true},
		{"uplink:S1", "apedge/v1/central/S2/events", true, false},
		{"uplink:S1", "apedge/v1/central/S1/ack", true, false},
		{"uplink:S1", "apedge/v1/central/S1/ack", false, true},
		{"uplink:S1", "apedge/v1/central/S2/ack", false, false},
		{"uplink:S1", "apedge/v1/central/+/ack", false, false},
		{"uplink:S1", "apedge/v1/central/status", false, true},
		{"uplink:S1", "$share/x", false, false},
		// The monitor reads everything and writes nothing, on both brokers.
		{"monitor", "apedge/v1/S1/#", false, true},
		{"monitor", "apedge/v1/central/#", false, true},
		{"monitor", "apedge/v1/S2/#", false, false},
		{"monitor", "apedge/v1/S1/dev/door/front/cmd", true, false},
		{"monitor", "apedge/v1/central/S1/ack", true, false},
	}
	rs := rules()
	for _, tc := range tests {
		r, ok := rs[tc.who]
		if !ok {
			t.Fatalf("no rule for %s", tc.who)
		}
		if got := r.Allowed(tc.topic, tc.write); got != tc.ok {
			t.Errorf("%s write=%v %s: allowed %v, want %v", tc.who, tc.write, tc.topic, got, tc.ok)
		}
	}
}

func TestMerge(t *testing.T) {
	got := pki.Merge(
		pki.Rule{Identity: "a", Write: []string{"x"}, Read: []string{"r"}},
		pki.Rule{Identity: "b", Read: []string{"y"}},
		pki.Rule{Identity: "a", Write: []string{"x", "z"}},
	)
	want := []pki.Rule{{Identity: "a", Write: []string{"x", "z"}, Read: []string{"r"}}, {Identity: "b", Read: []string{"y"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge = %+v, want %+v", got, want)
	}
}
