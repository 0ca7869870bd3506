package pki

import (
	"fmt"
	"regexp"
	"strings"
)

// Role is what an identity is on a broker: the part of its name before the first colon.
type Role string

// The roles of apedge's identities. An identity's name is its certificate's CommonName
// and, with Mosquitto's use_identity_as_username (and the embedded broker's TLS
// listener), its MQTT username.
const (
	// RoleBridge is the firmware bridge of the site: name "bridge".
	RoleBridge Role = "bridge"
	// RoleAgent is the site agent on the site bus: name "agent".
	RoleAgent Role = "agent"
	// RoleConsole is a site console running as its own bus client: name "console".
	// Today the console runs inside the agent and needs no identity of its own.
	RoleConsole Role = "console"
	// RoleCentral is the central receiver on central's broker: name "central".
	RoleCentral Role = "central"
	// RoleBroker is a broker's server certificate: name "broker". It is no MQTT client.
	RoleBroker Role = "broker"
	// RoleDevice is a device that speaks MQTT itself: name "device:{class}:{id}".
	RoleDevice Role = "device"
	// RoleUplink is site {site}'s agent on central's broker: name "uplink:{site}".
	RoleUplink Role = "uplink"
	// RoleMonitor reads everything on a broker and publishes nothing: name "monitor",
	// for an installer's mosquitto_sub while commissioning and for the end-to-end
	// tests. Issue it only when someone needs to watch, and revoke it after.
	RoleMonitor Role = "monitor"
)

// Identity is a parsed identity name.
type Identity struct {
	Role Role
	// Class and ID are a device's class and id (RoleDevice only).
	Class, ID string
	// Site is the site of an uplink identity (RoleUplink only).
	Site string
}

var (
	partRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	siteRE = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)
)

// ParseIdentity parses an identity name: "bridge", "agent", "console", "central",
// "broker", "device:{class}:{id}" or "uplink:{site}". Class and id are 1 to 64 of
// A-Z a-z 0-9 _ -; a site code is 1 to 16 of A-Z 0-9.
func ParseIdentity(name string) (Identity, error) {
	parts := strings.Split(name, ":")
	switch r := Role(parts[0]); r {
	case RoleBridge, RoleAgent, RoleConsole, RoleCentral, RoleBroker, RoleMonitor:
		if len(parts) == 1 {
			return Identity{Role: r}, nil
		}
	case RoleDevice:
		if len(parts) == 3 && partRE.MatchString(parts[1]) && partRE.MatchString(parts[2]) {
			return Identity{Role: r, Class: parts[1], ID: parts[2]}, nil
		}
	case RoleUplink:
		if len(parts) == 2 && siteRE.MatchString(parts[1]) {
			return Identity{Role: r, Site: parts[1]}, nil
		}
	}
	return Identity{}, fmt.Errorf("pki: %q is no identity: want bridge, agent, console, central, broker, monitor, device:{class}:{id} or uplink:{SITE}", name)
}

// String returns the identity's name.
func (id Identity) String() string {
	switch id.Role {
	case RoleDevice:
		return "device:" + id.Class + ":" + id.ID
	case RoleUplink:
		return "uplink:" + id.Site
	}
	return string(id.Role)
}

// fileStem is the base name of an identity's files: its name with ":" as ".".
func (id Identity) fileStem() string { return strings.ReplaceAll(id.String(), ":", ".") }
