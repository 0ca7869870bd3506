package substance

import "slices"

// Default cut-offs.
//
// A cut-off is the concentration at or over which a screen reads non-negative.
// The oral-fluid analyser reports the cut-off of each panel it read in its OF record
// (the cassette carries it); urine cups have none to report, so the console takes
// the cut-offs printed on the cup's insert, with the defaults below where staff
// enter none. The defaults are configuration, not law: a site sets its own from the
// inserts of the cups and cassettes it buys. Every number below says where it comes
// from. Where no published figure was found, the comment says so and the value is a
// conservative choice, marked UNSOURCED: conservative here means no lower than the
// screening figures commonly printed for comparable panels, so that a preliminary
// non-negative (which staff act on until a laboratory answers) is less likely to be
// a false one.
//
// Sources, as cited below:
//
//   - [SAMHSA-OF]: HHS/SAMHSA, Mandatory Guidelines for Federal Workplace Drug
//     Testing Programs using Oral Fluid, 84 FR 57554 (25 October 2019, effective
//     1 January 2020), section 3.4, initial test cut-offs; the same table is 49 CFR
//     40.91 Table 1 (88 FR 27643, 2 May 2023).
//   - [SAMHSA-UR]: HHS/SAMHSA, Mandatory Guidelines for Federal Workplace Drug
//     Testing Programs using Urine, 82 FR 7920 (23 January 2017, effective 1 October
//     2017), section 3.4, initial test cut-offs, unchanged in the HHS Drug Testing
//     Panel—Urine of the Authorized Testing Panels notice, FR Doc 2025-00425 (16
//     January 2025), which adds fentanyl at 1 ng/ml.
//   - [DDT5000-THC]: Desrosiers et al., "On-site test for cannabinoids in oral
//     fluid", Clin Chem 2012;58(10):1418-25, evaluating the Dräger DrugTest 5000 at
//     its 5 µg/l and 10 µg/l THC cut-offs (1 µg/l = 1 ng/ml). The cut-offs of the
//     other DrugTest 5000 panels are in Table T1 of the Dräger DrugTest 5000 STK
//     instructions for use, whose values could not be read here.
//   - [RTL-OF]: Redwood Toxicology Laboratory, oral fluid screening cut-offs by EIA
//     (redwoodtoxicology.com, "Laboratory Testing Cutoffs & Methods").
//   - [OS-OF]: "Oral Screen Saliva Drug Test" package insert (forensic use; test,
//     calibrator and cut-off table).
//   - [CUP-1S]: "One Step Multi-Drug Test Cup" package insert (urine; forensic use).
//   - [CUP-TC]: T-Cup Compact Multi-Drug Urine Test Cup insert (UK supplier).
//   - [CUP-DIMA]: DIMA Drogenschnelltest general instructions (urine strip and
//     multi-dip tests), cut-off table.
//   - [ARK-PGB]: ARK Pregabalin Urine Assay, instructions for use (ARK Diagnostics,
//     2017): cut-off 500 ng/ml.
//   - [TOX-CH]: toxcontrol.ch, "Nachweisdauer" (urine rapid-test cut-offs sold in
//     Switzerland).

// Cutoffs maps a drug panel (as DrugPanels names them) to its cut-off in ng/ml.
type Cutoffs map[string]float64

// DrugPanels lists the drug panels in the order screens show them: sitebus.Panels
// without "alcohol" (the breath meter's, whose limit is
// DefaultBreathAlcoholLimitUg). It returns a new slice on every call.
func DrugPanels() []string {
	return []string{"amphetamine", "methamphetamine", "mdma", "cocaine", "opiates", "morphine",
		"methadone", "buprenorphine", "benzodiazepines", "thc", "synthetic-cannabinoids",
		"pregabalin", "gabapentin", "ketamine", "fentanyl"}
}

// isDrugPanel says p is one of DrugPanels.
func isDrugPanel(p string) bool {
	return slices.Contains(DrugPanels(), p)
}

// DefaultOralFluidCutoffs returns the default screening cut-offs for oral fluid, in
// ng/ml of oral fluid, one for every drug panel. It returns a new map on every
// call.
func DefaultOralFluidCutoffs() Cutoffs {
	return Cutoffs{
		// [SAMHSA-OF]: amphetamine/methamphetamine 50 ng/ml (target analyte of the
		// group; the same figure for both panels).
		"amphetamine":     50,
		"methamphetamine": 50,
		// [SAMHSA-OF]: MDMA/MDA 50 ng/ml.
		"mdma": 50,
		// [SAMHSA-OF]: cocaine/benzoylecgonine 15 ng/ml.
		"cocaine": 15,
		// [SAMHSA-OF]: codeine/morphine 30 ng/ml; the morphine panel is the same
		// group's target analyte.
		"opiates":  30,
		"morphine": 30,
		// [RTL-OF]: methadone 50 ng/ml ([OS-OF] prints 30 or 50; the higher is
		// taken). Methadone is not in [SAMHSA-OF].
		"methadone": 50,
		// [RTL-OF] and [OS-OF]: buprenorphine 5 ng/ml.
		"buprenorphine": 5,
		// [RTL-OF]: benzodiazepines 20 ng/ml ([OS-OF] prints oxazepam 10 or 50).
		"benzodiazepines": 20,
		// [DDT5000-THC]: the DrugTest 5000 THC cut-off of 5 ng/ml, a little over
		// [SAMHSA-OF]'s 4 ng/ml.
		"thc": 5,
		// [OS-OF]: K2 (JWH-018/JWH-073) 30 ng/ml.
		"synthetic-cannabinoids": 30,
		// UNSOURCED: no published oral-fluid screening cut-off was found for
		// pregabalin. The urine assay's 500 ng/ml ([ARK-PGB]) is used; therapeutic
		// plasma concentrations are of the order of µg/ml, so it still screens.
		"pregabalin": 500,
		// UNSOURCED: none found for gabapentin in oral fluid either; the urine
		// default (itself unsourced, below) is used.
		"gabapentin": 2000,
		// [OS-OF] prints ketamine 50 or 100 ng/ml; the higher is taken.
		"ketamine": 100,
		// [OS-OF]: fentanyl 10 ng/ml.
		"fentanyl": 10,
	}
}

// DefaultUrineCutoffs returns the default screening cut-offs for urine test cups,
// in ng/ml of urine, one for every drug panel. It returns a new map on every call.
func DefaultUrineCutoffs() Cutoffs {
	return Cutoffs{
		// [SAMHSA-UR]: amphetamine/methamphetamine 500 ng/ml.
		"amphetamine":     500,
		"methamphetamine": 500,
		// [SAMHSA-UR]: MDMA/MDA 500 ng/ml.
		"mdma": 500,
		// [SAMHSA-UR]: cocaine metabolite (benzoylecgonine) 150 ng/ml. Many cups
		// print COC 300 ([CUP-1S], [CUP-DIMA]): enter the cup's own.
		"cocaine": 150,
		// [SAMHSA-UR]: codeine/morphine 2000 ng/ml (the OPI 2000 strip of
		// [CUP-DIMA] and [CUP-1S]).
		"opiates": 2000,
		// [CUP-1S] and [CUP-DIMA]: morphine (MOP/MOR) 300 ng/ml, the lower-cut-off
		// morphine strip UK cups carry beside OPI 2000.
		"morphine": 300,
		// [CUP-1S] and [CUP-DIMA]: methadone (MTD) 300 ng/ml.
		"methadone": 300,
		// [CUP-TC], [CUP-1S] and [CUP-DIMA]: buprenorphine (BUP) 10 ng/ml.
		"buprenorphine": 10,
		// [CUP-1S] and [CUP-TC] (BZO300): oxazepam 300 ng/ml.
		"benzodiazepines": 300,
		// [SAMHSA-UR]: marijuana metabolite (Δ9-THC-COOH) 50 ng/ml.
		"thc": 50,
		// [CUP-1S]: K2 (JWH-073/JWH-018) 50 ng/ml.
		"synthetic-cannabinoids": 50,
		// [ARK-PGB]: pregabalin 500 ng/ml (a laboratory immunoassay; no cup insert
		// figure was found).
		"pregabalin": 500,
		// UNSOURCED: a Healgen gabapentin urine dip card insert (HDGP-114) exists,
		// but its cut-off could not be read here. 2000 ng/ml is chosen, marked
		// unsourced: set it from the cup's insert.
		"gabapentin": 2000,
		// [TOX-CH]: ketamine 1000 ng/ml.
		"ketamine": 1000,
		// [CUP-DIMA]: fentanyl (FYL) 10 ng/ml. [SAMHSA-UR]'s 2025 panel screens at
		// 1 ng/ml in the laboratory; a lateral-flow cup is read at its own.
		"fentanyl": 10,
	}
}

// DefaultBreathAlcoholLimitUg is the default breath-alcohol limit, in µg of alcohol
// per 100 ml of breath, at or over which a breath reading breaks the house rule.
//
// The UK drink-drive limit is 35 µg/100 ml (Road Traffic Act 1988 s.11(2)), 22 in
// Scotland since 5 December 2014 (SSI 2014/328 reg. 2). An Approved Premises rule is
// not to drink at all, so those limits are too high; but a zero limit would make
// meter noise and traces (mouthwash, mouth alcohol) breaches. The default is the
// lowest limit UK law sets for any activity: 9 µg/100 ml, the aviation limit of the
// Railways and Transport Safety Act 2003 s.93(2)(a) (20 mg/100 ml of blood). It is
// configuration: a site may set its own.
const DefaultBreathAlcoholLimitUg = 9.0
