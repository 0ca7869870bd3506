// Package doorio is the hardware edge of one door: a door position switch
// (contact), a request-to-exit button, a lock relay and, optionally, a Wiegand
// reader on two inputs D0/D1, all on GPIO pins reached through periph.io.
//
// The package only reads and drives pins; door logic (forced open, held open,
// unlock timing) lives elsewhere. Inputs are read through gpio.PinIn alone, so
// real pins (sysfs or gpiochip, loaded by HostInit) and the simulated pins of
// SimDoor behave the same. Nothing busy-waits: inputs block in WaitForEdge with a
// timeout and measure time with time.Now.
//
// Pins are found by name in periph's process-wide registry (gpioreg), as OpenDoor
// does; SimDoor registers fake pins there under a caller-chosen prefix so that
// OpenDoor works on a simulated door unchanged.
package doorio
