// Package bwc is the agent's body-worn camera register: which camera is issued to
// which member of staff since when, whether each camera may be issued now, its
// return, the offload of its footage, and the alarms (an offload failed, a camera
// overdue, a camera gone from a dock with no issue). It decides; the agent
// journals, signs and forwards, and talks to the docks over the site bus.
//
// The engine does not read the docks' bus payloads (formats/sitebus): the agent
// maps each dock's per-slot telemetry onto a [SlotReading] and its online state
// (its last will) onto [Engine.DockState].
//
// # The rules, and where they come from
//
// Enhanced Security APs must use body-worn cameras (issue 18). The rules are those
// the camera makers' docking systems enforce:
//
//   - A camera is assigned to a user before use: "A camera doesn't function
//     unless a user is assigned to it. All LEDs flash red when you undock it"; with
//     a self-assign tag shown at the RFID reader "the system then assigns an
//     available camera to the user. All LEDs on the self-assigned camera flash
//     green, which means that the user can undock the camera" (AXIS W800 System
//     Controller user manual, help.axis.com, "Camera assignment"). Here a camera is
//     issued by a member of staff signed in on the console (who may issue it to a
//     colleague), or by a staff card at the dock's reader, when the engine chooses
//     the camera: docked, eligible, the highest battery.
//   - Charged before it goes out: Motorola Solutions VideoManager EX's "Full
//     battery required" device setting lets operators undock a camera with their
//     RFID card only when it is fully charged, or else after a minimum charge time
//     (VideoManager EX, Admin > Devices > Device Settings). apedge's default
//     minimum, [DefaultMinBatteryPct] = 80 %, is the site policy of issue 18, not a
//     maker's figure; a camera exactly at the minimum is issued. Axon gives "a
//     fully charged camera battery should provide enough power for approximately 12
//     hours of normal operation" (Axon Body 2 user manual, "Care and maintenance:
//     charge the battery"): at 80 % that is about 9.6 h, so a site whose cameras
//     must last a whole 12 h shift sets [Config.MinBatteryPct] to 100, as
//     VideoManager's full-battery rule does.
//   - Footage offloaded before anyone else takes it: footage leaves a camera only
//     in a dock ("Videos from paired body worn cameras ... must be placed in an
//     Axon Dock to upload": Axon View XL help, "Upload tab"; "When you place a
//     camera in the docking station ... the system controller then seamlessly
//     transfers all data from the camera to the content destination": AXIS W800
//     manual; to replace a camera, "dock the camera ... wait for the storage LED on
//     the camera to turn green, which means that all recordings are transferred":
//     AXIS W10 series manual, "Replace a camera"). So a camera returned is not
//     issued again until its dock reports the offload done.
//   - Not issued with a fault, nor twice, nor when not in a dock: a camera issued
//     is not available (AXIS W800: "assigns an available camera").
//   - A camera out longer than a shift raises bwc.overdue, once per issue: the
//     default shift, [DefaultShift] = 12 h, is an AP's long day or waking night and
//     Axon's 12 hours of a full battery (above); it is [Config.Shift].
//
// apedge adds: a member of staff has at most one camera issued; and an issue made
// while the camera is docked expects its undock within [Config.TakeWithin]
// ([DefaultTakeWithin] = 2 minutes, apedge's own figure: the walk from the office
// console to the dock). That undock is the issue taken (bwc.taken), never a
// removal; not taken in time, [Engine.Check] lapses the issue (bwc.returned with
// taken false) so that the next person to lift the camera from the dock raises the
// alarm. The bounds [MaxSlots] = 64 slots a dock (Axis's docking stations have 1
// or 8 bays: the AXIS W800 manual's hardware list) and [MaxFaults] = 16 faults a
// reading are apedge's checks of sanity, not makers' figures.
//
// # The workflow
//
//  1. [Engine.Reading]: each dock reports each slot: empty, or a camera (serial,
//     battery, charging, firmware, faults, offload idle, running, done or failed).
//     A camera leaving a slot while issued is the issue taken (bwc.taken); leaving
//     with no issue recorded raises bwc.removed-unissued (an alarm), once per
//     removal, and its footage must be offloaded when it is back before it is
//     issued. An issued camera docked again is returned (bwc.returned, with how
//     long it was out): the issue ends, and its footage must be offloaded. An
//     offload reported done then makes bwc.offloaded; failed, bwc.offload-failed
//     (an alarm), once until the camera's next return, removal or offload.
//  2. [Engine.Issue]: issue a camera (the console names it; a badge lets the engine
//     choose). A refusal is a [*Refusal] (errors.Is ErrRefused) with its reasons
//     and the slot whose LED the agent sets to "refused"; an issue is bwc.issued
//     {camera, dock, slot, staff, by, via, battery, issue}, and the agent sets the
//     slot's LED to "issued".
//  3. [Engine.Check], periodically: overdue cameras (bwc.overdue), issues not taken
//     in time lapse.
//  4. [Engine.DockState]: a dock offline (its last will, its readings stopped) makes
//     its cameras' state unknown ([LocationUnknown], said in the views): none is
//     issued from it; each slot's next reading, when it is back, says what changed.
//
// Views: [Engine.Cameras] (each camera: where it is, to whom it is issued since
// when, battery, offload state, faults, and whether it may be issued and why not),
// [Engine.Issued], [Engine.Overdue], [Engine.Docks].
//
// # Events
//
// Every change is returned as a [Draft]: its Type, time, camera, member of staff,
// a stable Key and Info, a JSON object holding everything a reader of the signed
// event needs without any other event:
//
//   - bwc.issued: [Issued] {camera, dock, slot, staff, by, via, battery, issue, at};
//   - bwc.taken: [Taken] {camera, dock, slot, staff, issue, issuedAt, at};
//   - bwc.returned: [Returned] {camera, staff, issue, dock, slot, taken, issuedAt,
//     outSeconds, at};
//   - bwc.offloaded: [Offloaded] {camera, dock, slot, bytes?, at};
//   - bwc.offload-failed (alarm): [OffloadFailure] {camera, dock, slot, detail?, at};
//   - bwc.overdue (alarm): [Overdue] {camera, staff, issue, issuedAt, outSeconds,
//     shiftSeconds, at};
//   - bwc.removed-unissued (alarm): [Removed] {camera, dock, slot, at}.
//
// # Event sourcing
//
// The engine does no I/O, reads no clock and starts no goroutines: every time comes
// in as an argument. Each method checks what is asked, builds the drafts and
// applies them to itself through [Engine.Apply], the one place the register
// changes, so the drafts a run returned, journaled and replayed with Apply into a
// new engine after a restart, rebuild the same register: each camera's issue,
// whether its footage is offloaded, the alarms raised, and where the journal last
// placed it. Batteries, faults and the docks' online states are telemetry, not
// journaled: they come back with the docks' next readings, and until a dock
// reports a slot its camera's state is unknown. A camera removed, or returned,
// while the agent was down is found by the first reading of its slot. Apply
// checks that an event fits the register (not issued twice, a return of the
// current issue, an offload with footage to offload) but not policy that may since
// have changed (the battery minimum, the shift): a journaled event is a fact. If
// the agent cannot journal a draft, the change must not stand: take [Engine.Clone]
// before the call and go back to it. An Engine is not safe for concurrent use.
package bwc
