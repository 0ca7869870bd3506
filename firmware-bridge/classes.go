package bridge

import (
	"github.com/apedge/apedge/devices/camera"
	"github.com/apedge/apedge/devices/device"
	"github.com/apedge/apedge/devices/doorio"
	"github.com/apedge/apedge/devices/fingerprint"
	"github.com/apedge/apedge/devices/gpiodoor"
	"github.com/apedge/apedge/devices/osdp"
	"github.com/apedge/apedge/devices/osdpline"
	"github.com/apedge/apedge/devices/pattester"
	"github.com/apedge/apedge/devices/reader"
	"github.com/apedge/apedge/devices/rtsp"
	"github.com/apedge/apedge/devices/substance"
)

// Classes returns the table of device classes the bridge runs: each opens, from its
// own section of the configuration, the devices listed there. A new class is a
// package under devices/ (see package device) and one entry here.
func Classes() []device.Class {
	return []device.Class{
		gpiodoor.Class{},    // doors: contact, exit button, lock relay, Wiegand reader
		osdpline.Class{},    // OSDP readers on RS-485 lines
		camera.Class{},      // CCTV cameras, health-checked over RTSP
		substance.Class{},   // breath-alcohol meters and oral-fluid analysers on serial lines
		fingerprint.Class{}, // fingerprint terminals at doors and enrolment desks on serial lines
		pattester.Class{},   // portable appliance (PAT) testers downloading results on serial lines
	}
}

// Reader returns the simulated OSDP reader id, or nil.
func (s *Sim) Reader(id string) *osdp.Reader {
	r, _ := s.sims.Get(device.Ref{Class: reader.Class, ID: id}).(*osdp.Reader)
	return r
}

// Camera returns the simulated camera id, or nil.
func (s *Sim) Camera(id string) *rtsp.SimCamera {
	c, _ := s.sims.Get(device.Ref{Class: camera.ClassName, ID: id}).(*rtsp.SimCamera)
	return c
}

// SubstanceTester returns the simulated substance tester id, or nil.
func (s *Sim) SubstanceTester(id string) *substance.Sim {
	t, _ := s.sims.Get(device.Ref{Class: substance.ClassName, ID: id}).(*substance.Sim)
	return t
}

// PATTester returns the simulated PAT tester id, or nil.
func (s *Sim) PATTester(id string) *pattester.Sim {
	t, _ := s.sims.Get(device.Ref{Class: pattester.ClassName, ID: id}).(*pattester.Sim)
	return t
}

// Fingerprint returns the simulated fingerprint terminal id, or nil.
func (s *Sim) Fingerprint(id string) *fingerprint.Sim {
	f, _ := s.sims.Get(device.Ref{Class: fingerprint.ClassName, ID: id}).(*fingerprint.Sim)
	return f
}

// Door returns the simulated door id's pins, or nil.
func (s *Sim) Door(id string) *doorio.SimDoor {
	d, _ := s.sims.Get(device.Ref{Class: gpiodoor.DoorClass, ID: id}).(*doorio.SimDoor)
	return d
}
