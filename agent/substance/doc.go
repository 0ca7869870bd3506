// Package substance is the agent's substance-testing engine: the tests staff start
// for residents, the device readings and entered cup results bound to them, whether
// each is valid, refusals, the chain of custody of a sample sent for confirmation
// and the laboratory's result. It decides; the agent journals, signs and forwards.
//
// # The law and the house rule
//
// Drug testing in Approved Premises rests on section 13A of the Offender Management
// Act 2007, inserted by section 1 of the Approved Premises (Substance Testing) Act
// 2022 (c. 27). Under s.13A(1) the power to test applies only while an
// authorisation given by the manager of the approved premises, specifying when the
// power may be exercised there, is in force; under s.13A(2) a member of staff may
// then, at the premises and in accordance with that authorisation, require a
// resident to provide a sample of urine to ascertain whether they have in their body
// a controlled drug, a prescription only medicine or a psychoactive substance; and
// s.13A(3) extends the power to a sample of any other description except an intimate
// sample (oral fluid, say). So a drug test (sample types oral-fluid and urine) is
// refused unless it names the written authorisation it rests on (reference, manager,
// period) and that authorisation covers the moment the test starts. Alcohol is not
// in s.13A: breath tests rest on the AP's house rules ("I must take a drug or alcohol
// test if staff ask me to") and need no authorisation; one may be named, and must
// then be in force too.
//
// A screen is preliminary: a non-negative drug screen stays preliminary until a
// laboratory confirms it, and a refusal or an inability to give a sample is itself
// a result, recorded with who witnessed it. A result bound to the wrong person can
// send someone back to prison, so a reading is never bound by guesswork.
//
// # The workflow
//
//  1. [Engine.StartTest]: staff start a test for a resident (CRN) with its reason
//     (random, suspicion, arrival, return), sample type (breath, oral-fluid,
//     urine), device (none for urine cups, which staff read), authorisation, the
//     member of staff and a witness (someone else). A device has at most one test
//     awaiting its sample: a second is refused ([ErrDeviceBusy]), so a reading at a
//     device can only ever be one person's. Event substance.test-started.
//  2. [Engine.Reading]: a device's reading (sitebus.SubstanceReading) is bound to
//     the test awaiting a sample at that device: by the test id keyed into the
//     device if it has one (it must name a test awaiting its sample at that very
//     device, or the reading is bound to nobody: never to the device's other test),
//     else to that device's one such test if it started no more than
//     [Config.BindWindow] before the reading was received and the device did not
//     measure it before the test started (allowing [Config.ClockSkew] for the
//     device's clock), and only if the reading's kind is the test's sample type. A
//     bound reading ends the test's sampling: event substance.tested, with the
//     outcome per panel. A reading that matches no test is held as unbound and
//     raised: event substance.reading-unbound, with the device, its figures and why
//     it matched no test, attached to no one ([Engine.Unbound] lists them).
//     [Engine.UrineResult] is the same for a urine cup whose result staff enter per
//     panel.
//  3. Validity: the whole reading is invalid, every panel with it, with each reason
//     listed, when the device's calibration was due before the reading's date, its
//     self-check failed (or was not reported), the ambient temperature was outside
//     the operating range ([Config.MinTemperatureC] to [Config.MaxTemperatureC],
//     by default the Dräger DrugTest 5000's +5 °C to +40 °C: DrugTest 5000 STK
//     instructions for use, section 3.1), the cassette (or cup) was past its expiry
//     date, or the device reported an error instead of a result. The reading's date
//     is the later of the device's date of measurement and the agent's date of
//     receipt, so that a device clock set back cannot make a lapsed calibration or
//     cassette look in date. Outcome per panel: negative, non-negative
//     (preliminary) or invalid; alcohol in µg/100 ml of breath against
//     [Config.BreathLimitUg], at or over which it is non-negative.
//  4. [Engine.Refused]: the resident refused, or was unable to give a sample, with
//     who witnessed it. Event substance.test-refused.
//  5. Chain of custody, for a non-negative drug screen sent for confirmation:
//     [Engine.Handover] stage collected (the confirmation sample taken), then
//     [Engine.Seal] with the seal or barcode number (stage sealed), then Handover
//     dispatched (event substance.sample-dispatched) and received (by the
//     laboratory); the other stages are event substance.custody. Stages go in that
//     order, each once, never back in time. [Engine.LabResult] enters the
//     laboratory's result per analyte (confirmed or not, with the method) and
//     closes the test: event substance.confirmed. [Engine.AwaitingLab] lists the
//     tests dispatched longer than [Config.LabOverdue] ago without a result.
//  6. [Engine.Close] ends a test no other way will: one started in error (the wrong
//     resident, say: it frees the device) or a non-negative not sent for
//     confirmation. Event substance.test-closed.
//
// A test's state is awaiting-sample until its reading, cup result or refusal;
// awaiting-confirmation after a non-negative drug screen; closed otherwise. A breath
// test closes at its reading whatever it says: there is no sample to send.
//
// # Events
//
// Every change is returned as a [Draft]: its Type, the time it happened, the
// resident's CRN, a stable Key, and Info, a JSON object holding everything a reader
// of the signed event needs without any other event: the test id, CRN, reason,
// sample type, device, authorisation (ref, manager, from, to), staff and witness,
// and by type:
//
//   - substance.test-started: [Start];
//   - substance.tested: [Screen] (panels with outcome and cut-off, overall outcome,
//     valid and invalidReasons, how it was bound, device serial, firmware, test
//     number, calibration due date and state, self-check, cassette or cup lot and
//     expiry, temperature, alcohol figure and limit, device error);
//   - substance.test-refused: [Refusal];
//   - substance.custody and substance.sample-dispatched: [Handover] (stage, seal,
//     by, at);
//   - substance.confirmed: [Confirmation] (results per analyte, outcome);
//   - substance.test-closed: [Closure];
//   - substance.reading-unbound: [UnboundReading] (the reading as the device sent
//     it, and why it matched no test).
//
// Substance results are special category health data: the Info of substance.tested,
// substance.confirmed and substance.reading-unbound carries them, and whoever reads
// the journal, the console or the central export must protect them accordingly.
//
// # Event sourcing
//
// The engine does no I/O, reads no clock and starts no goroutines: every time comes
// in as an argument. Each method checks what is asked, builds the draft and applies
// it to itself through [Engine.Apply], the one place state changes, so the drafts a
// run returned, journaled and replayed with Apply into a new engine after a restart,
// rebuild exactly the same state. Apply checks that an event fits the state
// (the test exists, the stage follows) but not policy that may since have changed
// (authorisations, the binding window): a journaled event is a fact. If the agent
// cannot journal a draft, the change must not stand: take [Engine.Clone] before the
// call and go back to it, or rebuild by replay. An Engine is not safe for
// concurrent use.
package substance
